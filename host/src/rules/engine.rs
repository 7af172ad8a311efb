//! The one place that drives wasmtime: engine configuration, the pooling allocator, the
//! epoch ticker, per-decision limits, loading (compile, type-check, read the settings
//! declaration, check the app's settings, self-test) and running a decision. The rest of
//! the host sees [`RulesEngine::load`] and [`RulesEngine::decide`].
//!
//! Two worlds are served: `usersync:rules@2.0.0` (`rules-sdk/wit/rules.wit`) and, so that
//! modules built before it keep working, `usersync:rules@1.0.0` (`host/wit/rules-1.0.0.wit`).
//! A component is of 2.0.0 when it exports `settings` or imports a 2.x interface, else of
//! 1.0.0; each world has its own linker. A 1.0.0 module gets the 2.0.0 input without the
//! fields it does not know, cannot call `find-user`, and declares no settings (its app's
//! settings are not checked).
//!
//! `find-user` is answered by the [`Directory`] the caller passes to `decide`, at most
//! [`FIND_USER_CALLS`] times per decision: the call past the cap traps, so a module cannot
//! scan the directory (and a module that needs so many lookups is broken, better refused
//! than answered "nobody").
//!
//! Every decision runs in a fresh store and instance from the pooling allocator (an
//! instance that trapped is never entered again), under an epoch deadline (CPU) and a
//! memory cap (all of the instance's memories together; a refused `memory.grow` traps at
//! once and is reported as the memory limit, not as whatever the guest's allocator does
//! next). No WASI is linked: a module can call `usersync:rules/host.log` and nothing else.
//!
//! Before it starts, a decision is admitted by the gate (`gate.rs`): it reserves its
//! module's memory limit from the host-wide [`RulesBudget`] and one of [`CONCURRENT_DECISIONS`]
//! slots, waiting a bounded time (without holding an async thread) and otherwise failing
//! with [`RuleFailure::Busy`].
//!
//! A Rust guest built with `panic = "abort"` (the SDK's `rules` profile) turns a panic into
//! `unreachable`, indistinguishable from an explicit trap. A decision is reported as
//! [`RuleFailure::Panic`] when the module logged a line starting `panicked at` (what a
//! panic hook that logs `PanicHookInfo` writes) before it trapped, else as
//! [`RuleFailure::Trap`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::gate::{Admission, Gate, RulesBudget, Ticket};
use super::pace::Pace;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits,
    Trap,
};

use super::contract::{v1, v2, LogLevel};
use super::error::{RuleFailure, RulesError};
use super::types::{
    ConfluenceUser, Decisions, Directory, ModuleId, NoDirectory, RuleInput, Setting, SettingDeclaration,
};

/// Limits for each decision of one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleLimits {
    /// Wall-clock time for one decision (instantiation and the three calls), enforced by
    /// epoch interruption with a 1 ms tick. Default 50 ms.
    pub deadline: Duration,
    /// Linear memory the module's instance may grow to, all its memories together, in
    /// bytes; at most [`RuleLimits::MAX_MEMORY_BYTES`]. Each decision reserves this much
    /// of the engine's [`RulesBudget`]. Default 16 MiB.
    pub memory_bytes: usize,
    /// Log lines kept per decision; more are counted and dropped. Default 100.
    pub log_lines: usize,
}

impl RuleLimits {
    /// The largest memory the engine's pool gives any instance (256 MiB).
    pub const MAX_MEMORY_BYTES: usize = 256 << 20;
}

impl Default for RuleLimits {
    fn default() -> Self {
        Self { deadline: Duration::from_millis(50), memory_bytes: 16 << 20, log_lines: 100 }
    }
}

/// A log line is cut to this many bytes.
const LOG_LINE_BYTES: usize = 1024;
/// Decisions that can run at once (pool slots); more wait for a slot, as long as a decision
/// may wait for memory ([`RulesBudget::admission_wait`]). Decisions use no I/O, so more of
/// them than the host has cores gain nothing; each slot also holds up to [`KEEP_RESIDENT`]
/// bytes between decisions.
pub const CONCURRENT_DECISIONS: u32 = 16;
/// Bytes of each instance's linear memory kept resident (and reset in place) between
/// decisions; see [`RulesEngine::new`]. A decision of the standard module dirties well under
/// this; a memory-hungry one leaves at most this much behind in its slot.
const KEEP_RESIDENT: usize = 1 << 20;
/// Slots a module may leave warm before another module's instance takes a slot it used
/// rather than a fresh one: a few apps each keep their own slots warm, and a burst does
/// not leave every slot of the pool dirty.
const MAX_UNUSED_WARM_SLOTS: u32 = 4;
/// How long loading a module (declaration, groups, self-test) waits to be admitted: it runs
/// on the reload thread, not for a request, and must not fail because requests are busy.
const LOAD_ADMISSION_WAIT: Duration = Duration::from_secs(30);
/// The same for each instance's tables.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;
/// The epoch ticker's period.
const TICK: Duration = Duration::from_millis(1);
/// `find-user` calls a module may make in one decision; the next one traps. A module looks
/// up the one or two usernames it considers, not the directory.
pub const FIND_USER_CALLS: u32 = 64;

/// The world a module was built against, with what was prepared to instantiate it.
enum Pre {
    V1(v1::RulesPre<DecisionState>),
    V2(v2::RulesPre<DecisionState>),
}

/// A compiled module, type-checked against the world and self-tested: ready to run
/// decisions. Share it as an `Arc`; a decision holds its own, so a reload never pulls a
/// module from under a decision in flight.
pub struct LoadedModule {
    id: ModuleId,
    pre: Pre,
    limits: RuleLimits,
    /// The settings a 2.0.0 module declares; `None` for a 1.0.0 module.
    declaration: Option<Vec<SettingDeclaration>>,
    /// The Confluence groups the app's settings need to exist (`groups-needed`, 2.0.0).
    needed_groups: Vec<String>,
    /// Whether its decisions run inline or on blocking threads ([`RulesEngine::decide_async`]).
    pace: Pace,
}

impl LoadedModule {
    /// Whether its decisions run on the calling thread (see [`RulesEngine::decide_async`]):
    /// `false` once it hit its deadline or was slow repeatedly.
    pub fn runs_inline(&self) -> bool {
        !self.pace.blocking()
    }

    /// The module's name and content hash.
    pub fn id(&self) -> &ModuleId {
        &self.id
    }

    /// The settings the module declares (its `settings` export, read once at load), in
    /// its order; `None` for a 1.0.0 module, which cannot declare any. Render it with
    /// [`describe_declaration`](super::describe_declaration).
    pub fn declaration(&self) -> Option<&[SettingDeclaration]> {
        self.declaration.as_deref()
    }

    /// The Confluence groups the module says the app's settings (as loaded) put people in
    /// without creating them: they must exist. Empty for a 1.0.0 module.
    pub fn needed_groups(&self) -> &[String] {
        &self.needed_groups
    }

    /// The version of the rules world the module was built against: `"1.0.0"` or `"2.0.0"`.
    pub fn world(&self) -> &str {
        match self.pre {
            Pre::V1(_) => "1.0.0",
            Pre::V2(_) => "2.0.0",
        }
    }

    /// The limits each decision runs under.
    pub fn limits(&self) -> RuleLimits {
        self.limits
    }
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("id", &self.id)
            .field("world", &self.world())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The process's one wasmtime engine, a linker per world (the host's log and, for 2.0.0,
/// `find-user`; nothing else) and its epoch ticker.
pub struct RulesEngine {
    engine: Engine,
    linker_v1: Linker<DecisionState>,
    linker_v2: Linker<DecisionState>,
    gate: Arc<Gate>,
}

/// The engine must be shareable between the runtime's threads and the reload thread.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<RulesEngine>();
    shareable::<LoadedModule>();
};

impl RulesEngine {
    /// [`RulesEngine::with_budget`] with the default [`RulesBudget`] (512 MiB, 2 s).
    ///
    /// # Errors
    /// As [`RulesEngine::with_budget`].
    pub fn new() -> Result<Arc<RulesEngine>, RulesError> {
        Self::with_budget(RulesBudget::default())
    }

    /// Configures the engine (Cranelift, component model, epoch interruption, a pooling
    /// allocator of [`CONCURRENT_DECISIONS`] instances whose memories can grow to
    /// [`RuleLimits::MAX_MEMORY_BYTES`]), with `budget` for the memory of all decisions
    /// together, and starts the epoch ticker thread, which ticks every millisecond while a
    /// decision runs, sleeps otherwise, and ends with the engine.
    ///
    /// # Errors
    /// [`RuleFailure::Compile`] (module `-`) when wasmtime cannot set the engine up, for
    /// example without the address space for the pool.
    pub fn with_budget(budget: RulesBudget) -> Result<Arc<RulesEngine>, RulesError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| RulesError {
            module: "-".into(),
            hash: String::new(),
            cause: RuleFailure::Compile(format!("cannot set up the rules engine: {what}: {e}")),
        };
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(CONCURRENT_DECISIONS)
            .total_core_instances(CONCURRENT_DECISIONS * 4)
            .total_memories(CONCURRENT_DECISIONS * 2)
            .total_tables(CONCURRENT_DECISIONS * 4)
            .max_memory_size(RuleLimits::MAX_MEMORY_BYTES)
            // A decision dirties a few dozen pages of its instance's memory. Resetting them in
            // place (found with Linux's PAGEMAP_SCAN where the kernel has it, 6.7+) keeps them
            // resident, so the next decision in that slot takes no page faults; beyond
            // `KEEP_RESIDENT` bytes, memory is returned to the kernel at once (decommits
            // are not batched). So after a burst of memory-hungry decisions the pool keeps
            // at most `CONCURRENT_DECISIONS * KEEP_RESIDENT` bytes.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT_TABLE)
            .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS)
            .decommit_batch_size(1)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| fail("engine", &e))?;
        let mut linker_v1 = Linker::new(&engine);
        v1::Rules::add_to_linker::<DecisionState, HasSelf<DecisionState>>(&mut linker_v1, |state| state)
            .map_err(|e| fail("linker (1.0.0)", &e))?;
        let mut linker_v2 = Linker::new(&engine);
        v2::Rules::add_to_linker::<DecisionState, HasSelf<DecisionState>>(&mut linker_v2, |state| state)
            .map_err(|e| fail("linker (2.0.0)", &e))?;
        let gate = Arc::new(Gate::new(CONCURRENT_DECISIONS, budget));
        let (ticker_engine, ticker_gate) = (engine.clone(), Arc::clone(&gate));
        std::thread::Builder::new()
            .name("rules-epoch".into())
            .spawn(move || ticker_gate.tick_while_running(TICK, || ticker_engine.increment_epoch()))
            .map_err(|e| fail("epoch ticker", &e))?;
        Ok(Arc::new(RulesEngine { engine, linker_v1, linker_v2, gate }))
    }

    /// The decisions running now and the memory they reserved, with the peaks since the
    /// engine started and the refusals.
    pub fn admission(&self) -> Admission {
        self.gate.admission()
    }

    /// The host-wide limits the engine admits decisions under.
    pub fn budget(&self) -> RulesBudget {
        self.gate.budget()
    }

    /// Loads a module: a component, or a core module carrying the rules world in
    /// wit-bindgen's `component-type` custom section (what the SDK builds), which is made a
    /// component here. The bytes are compiled, never deserialised as precompiled code. The
    /// module is then type-checked against its `rules` world (2.0.0 or 1.0.0, see the
    /// module docs; imports and exports). A 2.0.0 module's settings declaration is read
    /// (its `settings` export, in an instance of its own) and checked, and `app_settings`
    /// are checked against it ([`super::declaration::check_settings`]): every key declared,
    /// every value of its kind. Then the module runs one decision on the built-in sample
    /// person ([`super::sample::input`]) with `app_settings`; it must not trap, time out,
    /// exceed its memory or return an invalid decision (a rejection or skip is fine: the
    /// sample person may not be one the module accepts). A self-test that hits the deadline
    /// is run once more, since the first instance of a module is the slowest.
    ///
    /// `app_settings` are the settings of the app the module is loaded for (empty to load
    /// a module for no app, as `usersync rules build` does). A 1.0.0 module declares
    /// nothing, so its app's settings are not checked.
    ///
    /// `limits.memory_bytes` above [`RuleLimits::MAX_MEMORY_BYTES`], or above the engine's
    /// whole [`RulesBudget`], is lowered to it (a module whose decisions could never be
    /// admitted would fail every one).
    ///
    /// # Errors
    /// [`RuleFailure::Compile`] for bytes that are not valid WebAssembly;
    /// [`RuleFailure::WrongWorld`] for a module without the world, a component importing
    /// anything but its world's `usersync:rules/host` (naming the import), with the wrong
    /// exports, or whose settings declaration is unsound (a key declared twice, a default
    /// of the wrong kind) or cannot be read (it traps);
    /// [`RuleFailure::Settings`] when an app setting is not declared or is of the wrong
    /// kind (naming the key); [`RuleFailure::SelfTest`] when the sample decision fails.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        limits: RuleLimits,
        app_settings: &[Setting],
    ) -> Result<Arc<LoadedModule>, RulesError> {
        let started = Instant::now();
        let id = ModuleId { name: name.to_owned(), hash: content_hash(bytes) };
        let fail = |cause: RuleFailure| RulesError::new(&id, cause);
        let mut limits = limits;
        if limits.memory_bytes > RuleLimits::MAX_MEMORY_BYTES {
            tracing::warn!(module = %id.name, requested = limits.memory_bytes, max = RuleLimits::MAX_MEMORY_BYTES, "memory limit lowered to the engine's maximum");
            limits.memory_bytes = RuleLimits::MAX_MEMORY_BYTES;
        }
        let budget = self.gate.budget().memory_bytes;
        if limits.memory_bytes > budget {
            tracing::warn!(module = %id.name, requested = limits.memory_bytes, budget, "memory limit lowered to the rules memory budget");
            limits.memory_bytes = budget;
        }
        let wrapped;
        let component_bytes = match wasm_kind(bytes) {
            WasmKind::Component => bytes,
            WasmKind::Core => {
                wasmtime::Module::validate(&self.engine, bytes)
                    .map_err(|e| fail(RuleFailure::Compile(format!("not a valid WebAssembly module: {e:#}"))))?;
                wrapped = componentize(bytes).map_err(|e| fail(e.cause))?;
                &wrapped[..]
            }
            WasmKind::Neither => {
                return Err(fail(RuleFailure::Compile("not a WebAssembly module or component".into())));
            }
        };
        let component =
            Component::new(&self.engine, component_bytes).map_err(|e| fail(RuleFailure::Compile(format!("{e:#}"))))?;
        let v2 = self.is_v2(&component);
        self.check_imports(&component, v2).map_err(|why| fail(RuleFailure::WrongWorld(why)))?;
        let wrong_world = |e: wasmtime::Error| fail(RuleFailure::WrongWorld(format!("{e:#}")));
        let pre = if v2 {
            Pre::V2(self.linker_v2.instantiate_pre(&component).and_then(v2::RulesPre::new).map_err(wrong_world)?)
        } else {
            Pre::V1(self.linker_v1.instantiate_pre(&component).and_then(v1::RulesPre::new).map_err(wrong_world)?)
        };
        let compiled = started.elapsed();
        let mut module =
            LoadedModule { id, pre, limits, declaration: None, needed_groups: Vec::new(), pace: Pace::default() };
        let declaration = match &module.pre {
            Pre::V2(pre) => Some(self.read_declaration(&module, pre)?),
            Pre::V1(_) => None,
        };
        if let Some(declaration) = &declaration {
            let fail = |cause: RuleFailure| RulesError::new(&module.id, cause);
            super::declaration::check_declaration(declaration).map_err(|why| fail(RuleFailure::WrongWorld(why)))?;
            super::declaration::check_settings(declaration, app_settings)
                .map_err(|why| fail(RuleFailure::Settings(why)))?;
        }
        module.declaration = declaration;
        if let Pre::V2(pre) = &module.pre {
            module.needed_groups = self.read_needed_groups(&module, pre, app_settings);
        }
        let module = Arc::new(module);
        self.self_test(&module, app_settings)?;
        tracing::info!(
            module = %module.id.name,
            hash = %module.id.short_hash(),
            world = module.world(),
            compile_ms = compiled.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "rules module loaded"
        );
        Ok(module)
    }

    /// Makes the three decisions for one person, in a fresh instance (one call of the
    /// module's `decide`), then validates them against Confluence's naming
    /// rules ([`super::validate`]). Synchronous and CPU-bound, up to the module's deadline:
    /// async callers use [`RulesEngine::decide_async`]. When [`CONCURRENT_DECISIONS`] decisions
    /// are running, it waits for one to finish.
    ///
    /// `directory` answers the module's `find-user` calls (at most [`FIND_USER_CALLS`]);
    /// pass `Arc::new(NoDirectory)` where there is no Confluence. A 1.0.0 module cannot
    /// call it.
    ///
    /// The decision is admitted first (its module's memory reserved from the budget),
    /// blocking this thread for at most the budget's `admission_wait`; from async code use
    /// [`RulesEngine::decide_async`].
    ///
    /// # Errors
    /// [`RuleFailure::Trap`], [`RuleFailure::Panic`], [`RuleFailure::Deadline`],
    /// [`RuleFailure::MemoryLimit`] when the module misbehaves (nothing of the decision is
    /// returned; calling `find-user` past its cap is a trap); [`RuleFailure::Rejected`]
    /// when it rejects the person; [`RuleFailure::InvalidDecision`] when a decision breaks
    /// a naming rule; [`RuleFailure::Busy`] when it was not admitted in time.
    pub fn decide(
        &self,
        module: &LoadedModule,
        input: &RuleInput,
        directory: Arc<dyn Directory>,
    ) -> Result<Decisions, RulesError> {
        self.decide_within(module, input, directory, self.gate.budget().admission_wait)
    }

    /// [`RulesEngine::decide`], waiting at most `wait` to be admitted.
    fn decide_within(
        &self,
        module: &LoadedModule,
        input: &RuleInput,
        directory: Arc<dyn Directory>,
        wait: Duration,
    ) -> Result<Decisions, RulesError> {
        let ticket = self.admit_blocking(module, wait)?;
        self.decide_admitted(module, input, directory, &ticket)
    }

    fn admit_blocking(&self, module: &LoadedModule, wait: Duration) -> Result<Ticket, RulesError> {
        self.gate
            .admit_blocking(module.limits.memory_bytes, wait)
            .map_err(|refusal| RulesError::new(&module.id, RuleFailure::Busy(refusal.to_string())))
    }

    /// A decision holding its `ticket`.
    fn decide_admitted(
        &self,
        module: &LoadedModule,
        input: &RuleInput,
        directory: Arc<dyn Directory>,
        ticket: &Ticket,
    ) -> Result<Decisions, RulesError> {
        let fail = |cause: RuleFailure| RulesError::new(&module.id, cause);
        // The input is converted for the module's world before the call takes a slot.
        let decisions = match &module.pre {
            Pre::V1(pre) => {
                let input = v1::to_wit(input);
                self.call(module, directory, ticket, |store| {
                    let rules = pre.instantiate(&mut *store)?;
                    rules.call_decide(&mut *store, &input).map(|d| v1::from_wit(d, module.id.clone()))
                })
            }
            Pre::V2(pre) => {
                let input = v2::to_wit(input);
                self.call(module, directory, ticket, |store| {
                    let rules = pre.instantiate(&mut *store)?;
                    rules.call_decide(&mut *store, &input).map(|d| v2::from_wit(d, module.id.clone()))
                })
            }
        }
        .map_err(fail)?;
        if let super::types::AttributeDecision::Reject(reason) = decisions.attributes {
            return Err(fail(RuleFailure::Rejected(reason)));
        }
        super::validate::decisions(&decisions).map_err(|why| fail(RuleFailure::InvalidDecision(why)))?;
        Ok(decisions)
    }

    /// [`RulesEngine::decide`] from async code. The decision is admitted first, waiting
    /// without holding the thread (for at most the budget's `admission_wait`); then it runs
    /// on the calling thread, where a decision of a module that keeps to its pace costs no
    /// more than the decision (see `pace.rs`), or on a blocking thread for a module that hit
    /// its deadline or was repeatedly slow.
    ///
    /// The deadline is wall time, so a thread preempted on a busy machine can pass it in a
    /// decision that takes microseconds. A decision that hits it is tried once more, on a
    /// blocking thread: a module that loops fails again (and stays on blocking threads); one
    /// that was only stalled succeeds, and its decisions come back to the calling thread.
    ///
    /// # Errors
    /// As [`RulesEngine::decide`]; [`RuleFailure::Trap`] if the blocking task was lost (the
    /// runtime is shutting down).
    pub async fn decide_async(
        self: &Arc<Self>,
        module: Arc<LoadedModule>,
        input: RuleInput,
        directory: Arc<dyn Directory>,
    ) -> Result<Decisions, RulesError> {
        // One admission for every attempt: the ticket goes with the decision to whichever
        // thread runs it, and is given back when the last attempt ends.
        let ticket = Arc::new(
            self.gate
                .admit(module.limits.memory_bytes)
                .await
                .map_err(|refusal| RulesError::new(&module.id, RuleFailure::Busy(refusal.to_string())))?,
        );
        let inline = !module.pace.blocking();
        if inline {
            let started = Instant::now();
            let result = self.decide_admitted(&module, &input, directory.clone(), &ticket);
            let hit_deadline = is_deadline(&result);
            module.pace.record(started.elapsed(), hit_deadline);
            if !hit_deadline {
                return result;
            }
        }
        let (result, took) =
            self.decide_blocking(module.clone(), input.clone(), directory.clone(), ticket.clone()).await;
        match (is_deadline(&result), inline) {
            // Past the deadline inline, quick here: the calling thread had stalled.
            (false, true) if took <= super::pace::SLOW => module.pace.forgive(),
            (false, _) | (true, true) => {}
            // Already on blocking threads: it may have stalled there too; once more.
            (true, false) => return self.decide_blocking(module, input, directory, ticket).await.0,
        }
        result
    }

    /// One decision on a blocking thread, with how long it took there.
    async fn decide_blocking(
        self: &Arc<Self>,
        module: Arc<LoadedModule>,
        input: RuleInput,
        directory: Arc<dyn Directory>,
        ticket: Arc<Ticket>,
    ) -> (Result<Decisions, RulesError>, Duration) {
        let engine = self.clone();
        let id = module.id.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = engine.decide_admitted(&module, &input, directory, &ticket);
            (result, started.elapsed())
        })
        .await
        .unwrap_or_else(|e| {
            let lost = RulesError::new(&id, RuleFailure::Trap(format!("the decision's thread failed: {e}")));
            (Err(lost), Duration::ZERO)
        })
    }

    /// Runs `call` (instantiate, call one export) in a fresh store for `module`, with its
    /// memory cap, log budget, deadline and `find-user` budget, while the caller holds the
    /// decision's `_admitted` ticket; a failure is classified ([`DecisionState::failure`]).
    fn call<T>(
        &self,
        module: &LoadedModule,
        directory: Arc<dyn Directory>,
        _admitted: &Ticket,
        call: impl FnOnce(&mut Store<DecisionState>) -> wasmtime::Result<T>,
    ) -> Result<T, RuleFailure> {
        let mut store = Store::new(&self.engine, DecisionState::new(module, directory));
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(deadline_ticks(module.limits.deadline));
        let outcome = call(&mut store);
        // Dropping the store gives the instance's slot back to the pool before the caller's
        // ticket lets another decision in.
        let state = store.into_data();
        state.log.finish();
        outcome.map_err(|e| state.failure(&e, module.limits))
    }

    /// Calls a 2.0.0 module's `settings` export, in an instance of its own under the
    /// module's limits (the first instance is the slowest: one retry on the deadline).
    fn read_declaration(
        &self,
        module: &LoadedModule,
        pre: &v2::RulesPre<DecisionState>,
    ) -> Result<Vec<SettingDeclaration>, RulesError> {
        let attempt = || {
            let ticket = self.admit_blocking(module, LOAD_ADMISSION_WAIT).map_err(|e| e.cause)?;
            self.call(module, Arc::new(NoDirectory), &ticket, |store| {
                let rules = pre.instantiate(&mut *store)?;
                rules.call_settings(&mut *store)
            })
        };
        let mut outcome = attempt();
        if let Err(RuleFailure::Deadline(_)) = outcome {
            outcome = attempt();
        }
        outcome.map(v2::declaration_from_wit).map_err(|cause| {
            RulesError::new(&module.id, RuleFailure::WrongWorld(format!("its `settings` export failed: {cause}")))
        })
    }

    /// Calls a 2.0.0 module's `groups-needed` export with the app's settings. A module that
    /// fails it claims nothing (logged): the check is advice, the decisions are what count.
    fn read_needed_groups(
        &self,
        module: &LoadedModule,
        pre: &v2::RulesPre<DecisionState>,
        settings: &[Setting],
    ) -> Vec<String> {
        let app = v2::app_to_wit(&super::sample::input(settings).app);
        let outcome = self.admit_blocking(module, LOAD_ADMISSION_WAIT).map_err(|e| e.cause).and_then(|ticket| {
            self.call(module, Arc::new(NoDirectory), &ticket, |store| {
                let rules = pre.instantiate(&mut *store)?;
                rules.call_groups_needed(&mut *store, &app)
            })
        });
        match outcome {
            Ok(mut groups) => {
                groups.sort();
                groups.dedup();
                groups
            }
            Err(cause) => {
                tracing::warn!(module = %module.id.name, %cause, "the module's groups-needed export failed");
                Vec::new()
            }
        }
    }

    fn self_test(&self, module: &LoadedModule, settings: &[Setting]) -> Result<(), RulesError> {
        let input = super::sample::input(settings);
        let decide = || self.decide_within(module, &input, Arc::new(NoDirectory), LOAD_ADMISSION_WAIT);
        let mut outcome = decide();
        if let Err(RulesError { cause: RuleFailure::Deadline(_), .. }) = outcome {
            outcome = decide();
        }
        match outcome {
            Ok(_) => Ok(()),
            Err(RulesError { cause: RuleFailure::Rejected(reason), .. }) => {
                tracing::warn!(module = %module.id.name, hash = %module.id.short_hash(), %reason, "the module rejects the self-test's sample person");
                Ok(())
            }
            Err(e) => Err(RulesError::new(&module.id, RuleFailure::SelfTest(e.cause.to_string()))),
        }
    }

    /// Whether `component` targets world 2.0.0: it exports `settings`, or imports a 2.x
    /// interface of the contract. (A module need not import `host` at all: wit-component
    /// drops imports a module never calls.)
    fn is_v2(&self, component: &Component) -> bool {
        let ty = component.component_type();
        let exports_settings = ty.exports(&self.engine).any(|(name, _)| name == "settings");
        exports_settings
            || ty.imports(&self.engine).any(|(name, _)| v2::IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
    }

    /// Names the imports a rules component of its world may not have (WASI, say) before
    /// the linker gives its less direct "no matching implementation" error.
    fn check_imports(&self, component: &Component, v2: bool) -> Result<(), String> {
        let (allowed, world) = if v2 { (v2::IMPORT_PREFIXES, "2.0.0") } else { (v1::IMPORT_PREFIXES, "1.0.0") };
        let ty = component.component_type();
        let foreign: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name)
            .filter(|name| !allowed.iter().any(|p| name.starts_with(p)))
            .map(|name| format!("`{name}`"))
            .collect();
        if foreign.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "it imports {}; a rules module of world {world} may import only usersync:rules/host@{world} (build it for wasm32-unknown-unknown, not WASI)",
                foreign.join(", ")
            ))
        }
    }
}

impl Drop for RulesEngine {
    fn drop(&mut self) {
        self.gate.shut_down();
    }
}

/// Wraps a core module that carries the rules world's `component-type` custom section
/// (what the SDK's bindings embed) into a component: what `usersync rules build` writes.
///
/// # Errors
/// [`RuleFailure::WrongWorld`] for a module without the section, whose imports or exports
/// do not fit the world it names, or that is not valid WebAssembly. The error's module is
/// `-`.
pub fn componentize(core_wasm: &[u8]) -> Result<Vec<u8>, RulesError> {
    let fail = |cause: RuleFailure| RulesError { module: "-".into(), hash: content_hash(core_wasm), cause };
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(core_wasm)
        .and_then(|mut encoder| encoder.encode())
        .map_err(|e| fail(RuleFailure::WrongWorld(format!("cannot make a component of this module: {e:#}"))))
}

/// The SHA-256 of a module's bytes, in lower-case hex.
pub fn content_hash(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes).iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

enum WasmKind {
    Core,
    Component,
    Neither,
}

/// Core modules and components share the magic number; the layer field tells them apart.
fn wasm_kind(bytes: &[u8]) -> WasmKind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => WasmKind::Core,
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => WasmKind::Component,
        _ => WasmKind::Neither,
    }
}

fn is_deadline<T>(result: &Result<T, RulesError>) -> bool {
    matches!(result, Err(RulesError { cause: RuleFailure::Deadline(_), .. }))
}

/// Epoch ticks for `deadline`: one more than its milliseconds, since the first tick may
/// come at once.
fn deadline_ticks(deadline: Duration) -> u64 {
    u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX / 2).max(1) + 1
}

/// One decision's store data: its memory limiter, its log budget, and the directory that
/// answers `find-user` with that call's budget.
struct DecisionState {
    limiter: MemoryCap,
    log: GuestLog,
    directory: Arc<dyn Directory>,
    /// `find-user` calls left in this decision.
    lookups_left: u32,
    /// The module called `find-user` past its cap (and so trapped).
    lookups_exceeded: bool,
}

impl DecisionState {
    fn new(module: &LoadedModule, directory: Arc<dyn Directory>) -> Self {
        DecisionState {
            limiter: MemoryCap {
                tables: StoreLimits::default(),
                cap: module.limits.memory_bytes,
                used: 0,
                refused: false,
            },
            log: GuestLog {
                module: module.id.name.clone(),
                hash: module.id.short_hash().to_owned(),
                left: module.limits.log_lines,
                dropped: 0,
                panic: None,
            },
            directory,
            lookups_left: FIND_USER_CALLS,
            lookups_exceeded: false,
        }
    }

    /// What a failed decision is reported as (see the module docs for panics).
    fn failure(&self, error: &wasmtime::Error, limits: RuleLimits) -> RuleFailure {
        if self.limiter.refused {
            return RuleFailure::MemoryLimit(limits.memory_bytes);
        }
        let trap = error.downcast_ref::<Trap>();
        if trap == Some(&Trap::Interrupt) {
            return RuleFailure::Deadline(limits.deadline);
        }
        if let Some(line) = &self.log.panic {
            return RuleFailure::Panic(line.clone());
        }
        if self.lookups_exceeded {
            return RuleFailure::Trap(format!(
                "called find-user more than {FIND_USER_CALLS} times in one decision (a module may look up a few usernames, not scan the directory)"
            ));
        }
        match trap {
            Some(Trap::UnreachableCodeReached) => RuleFailure::Trap(format!(
                "{} (an explicit trap, or a panic the module did not log)",
                Trap::UnreachableCodeReached
            )),
            Some(trap) => RuleFailure::Trap(trap.to_string()),
            None => RuleFailure::Trap(format!("{error:#}")),
        }
    }
}

/// The decision's memory cap: every memory of the instance together may hold at most `cap`
/// bytes (what the decision reserved from the budget), and a refused or failed grow traps,
/// noting that memory was refused so the failure is reported as the memory limit. Tables
/// keep wasmtime's default limits.
struct MemoryCap {
    tables: StoreLimits,
    cap: usize,
    /// Bytes of all the instance's memories.
    used: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.cap || maximum.is_some_and(|max| desired > max) {
            self.refused = true;
            wasmtime::bail!("forcing a trap: growing memory to {desired} bytes would pass the decision's memory limit");
        }
        self.used = used;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refused = true;
        Err(error.context("forcing a memory growth failure to be a trap"))
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.tables.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("forcing a table growth failure to be a trap"))
    }

    fn instances(&self) -> usize {
        self.tables.instances()
    }

    fn tables(&self) -> usize {
        self.tables.tables()
    }

    fn memories(&self) -> usize {
        self.tables.memories()
    }
}

/// The module's log lines for one decision: capped in number and length, attributed to
/// the module, and watched for a panic message.
struct GuestLog {
    module: String,
    hash: String,
    left: usize,
    dropped: usize,
    panic: Option<String>,
}

impl GuestLog {
    fn line(&mut self, level: LogLevel, mut message: String) {
        if message.len() > LOG_LINE_BYTES {
            let mut end = LOG_LINE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        if self.panic.is_none() && message.starts_with("panicked at") {
            self.panic = Some(message.clone());
        }
        if self.left == 0 {
            self.dropped += 1;
            return;
        }
        self.left -= 1;
        let (module, hash) = (self.module.as_str(), self.hash.as_str());
        match level {
            LogLevel::Debug => tracing::debug!(target: "usersync::rules::module", module, hash, "{message}"),
            LogLevel::Info => tracing::info!(target: "usersync::rules::module", module, hash, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "usersync::rules::module", module, hash, "{message}"),
            LogLevel::Error => tracing::error!(target: "usersync::rules::module", module, hash, "{message}"),
        }
    }

    fn finish(&self) {
        if self.dropped > 0 {
            tracing::warn!(target: "usersync::rules::module", module = %self.module, hash = %self.hash, dropped = self.dropped, "the module logged more lines than its limit; the rest were dropped");
        }
    }
}

impl v1::bindings::usersync::rules::host::Host for DecisionState {
    fn log(&mut self, level: v1::wit::LogLevel, message: String) {
        self.log.line(v1::log_level(level), message);
    }
}

impl v1::wit::Host for DecisionState {}

impl v2::bindings::usersync::rules::host::Host for DecisionState {
    fn log(&mut self, level: v2::wit::LogLevel, message: String) {
        self.log.line(v2::log_level(level), message);
    }

    /// Answers from the decision's directory; traps past [`FIND_USER_CALLS`].
    fn find_user(&mut self, username: String) -> wasmtime::Result<Option<v2::wit::ConfluenceUser>> {
        if self.lookups_left == 0 {
            self.lookups_exceeded = true;
            wasmtime::bail!("find-user called more than {FIND_USER_CALLS} times in one decision");
        }
        self.lookups_left -= 1;
        let found = self.directory.find_user(&username);
        Ok(found.map(|user| v2::confluence_user(&ConfluenceUser { exists: true, ..user })))
    }
}

impl v2::wit::Host for DecisionState {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_hashes() {
        assert!(matches!(wasm_kind(b"\0asm\x01\0\0\0"), WasmKind::Core));
        assert!(matches!(wasm_kind(b"\0asm\x0d\0\x01\0"), WasmKind::Component));
        assert!(matches!(wasm_kind(b"\0asm"), WasmKind::Neither));
        assert!(matches!(wasm_kind(b"MZ\0\0\0\0\0\0"), WasmKind::Neither));
        assert_eq!(content_hash(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(deadline_ticks(Duration::from_millis(50)), 51);
        assert_eq!(deadline_ticks(Duration::ZERO), 2);
    }

    #[test]
    fn log_lines_are_capped_and_cut() {
        let mut log = GuestLog { module: "m".into(), hash: "h".into(), left: 2, dropped: 0, panic: None };
        for _ in 0..5 {
            log.line(LogLevel::Info, "é".repeat(2000));
        }
        assert_eq!((log.left, log.dropped), (0, 3));
        log.line(LogLevel::Error, format!("panicked at src/lib.rs:1:1:\n{}", "x".repeat(5000)));
        let panic = log.panic.unwrap();
        assert!(panic.starts_with("panicked at src/lib.rs") && panic.len() <= LOG_LINE_BYTES + '…'.len_utf8());
    }

    #[test]
    fn not_wasm_is_a_compile_error() {
        let engine = RulesEngine::new().unwrap();
        let err = engine.load("junk", b"definitely not wasm", RuleLimits::default(), &[]).unwrap_err();
        assert!(matches!(err.cause, RuleFailure::Compile(_)), "{err}");
        assert_eq!(err.module, "junk");
        assert_eq!(err.hash, content_hash(b"definitely not wasm"));
        // A valid core module with no rules world in it.
        let bare = engine.load("bare", b"\0asm\x01\0\0\0", RuleLimits::default(), &[]).unwrap_err();
        assert!(matches!(bare.cause, RuleFailure::WrongWorld(_)), "{bare}");
        assert!(bare.to_string().starts_with("rules module bare (") && bare.to_string().contains(&bare.hash[..12]));
        // A truncated core module.
        let cut = engine.load("cut", b"\0asm\x01\0\0\0\x01\x05", RuleLimits::default(), &[]).unwrap_err();
        assert!(matches!(cut.cause, RuleFailure::Compile(_)), "{cut}");
    }
}
