//! Admission of decisions: the engine's decision slots and the host-wide budget of guest
//! memory ([`RulesBudget`]).
//!
//! A decision reserves its module's memory limit (`rules_limits.memory_mb`, the most its
//! instance may grow to) and a slot before it starts, and gives both back when it ends. When
//! either is exhausted it waits, for at most [`RulesBudget::admission_wait`], and then fails
//! with [`RuleFailure::Busy`](super::RuleFailure::Busy). So the memory of every running guest
//! together never exceeds the budget, whatever the modules do, and an overload is an error
//! naming the module rather than memory the host does not have.
//!
//! Async callers wait on a [`Notify`], so a decision waiting for memory never holds a
//! runtime thread; the engine's own threads (loading a module, the CLI) wait on a
//! [`Condvar`]. Admission is not first come, first served: whoever retries first when
//! memory is given back gets it, and the bounded wait turns starvation into an error.
//!
//! The gate also lets the epoch ticker sleep while no decision runs.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The rules engine's host-wide limits (`[server] rules_memory_mb` and
/// `rules_admission_wait_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesBudget {
    /// Guest memory that all running decisions may reserve together, in bytes. Default
    /// 512 MiB.
    pub memory_bytes: usize,
    /// How long a decision waits for memory or a slot before it fails. Default 2 s.
    pub admission_wait: Duration,
}

impl Default for RulesBudget {
    fn default() -> Self {
        Self { memory_bytes: 512 << 20, admission_wait: Duration::from_secs(2) }
    }
}

/// What the gate holds now, and the most it has held: what a test or an operator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Decisions running now.
    pub running: u32,
    /// Guest memory they have reserved, in bytes.
    pub reserved_bytes: usize,
    /// The most decisions that ever ran at once.
    pub peak_running: u32,
    /// The most memory ever reserved at once, in bytes.
    pub peak_reserved_bytes: usize,
    /// Decisions refused because memory or a slot stayed taken for the whole wait.
    pub refused: u64,
    /// The budget, in bytes.
    pub budget_bytes: usize,
    /// Decisions that may run at once (the pool's instance slots).
    pub slots: u32,
}

pub(super) struct Gate {
    state: Mutex<GateState>,
    /// Wakes the ticker (a decision started while it slept) and blocking waiters (one ended).
    changed: Condvar,
    /// Wakes async waiters (a decision ended).
    released: Notify,
    slots: u32,
    budget: RulesBudget,
}

#[derive(Default)]
struct GateState {
    running: u32,
    reserved: usize,
    peak_running: u32,
    peak_reserved: usize,
    refused: u64,
    waiting_blocking: u32,
    waiting_async: u32,
    /// The epoch ticker waits on `changed` for a decision to start: only then does one
    /// need to wake it.
    ticker_asleep: bool,
    shut_down: bool,
}

/// Ticks the ticker goes on ticking after the last decision ended before it sleeps. Waking
/// a sleeping thread is a system call; requests that each make one decision would
/// otherwise wake it for nearly every decision.
const LINGER_TICKS: u32 = 50;

/// An admitted decision's slot and memory; dropping it gives both back. Owned, so it can go
/// with the decision to a blocking thread.
pub(super) struct Ticket {
    gate: Arc<Gate>,
    bytes: usize,
}

/// Why a decision was not admitted: facts for [`RuleFailure::Busy`](super::RuleFailure::Busy).
#[derive(Debug)]
pub(super) struct Refusal {
    needed: usize,
    budget: usize,
    slots: u32,
    /// `None` when the decision could never fit: it needs more than the whole budget.
    waited: Option<Duration>,
    running: u32,
    reserved: usize,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (needed, budget) = (mib(self.needed), mib(self.budget));
        match self.waited {
            None => write!(
                f,
                "a decision of this module may use {needed} of memory, more than the host's whole rules memory budget of {budget} ([server] rules_memory_mb)"
            ),
            Some(waited) => write!(
                f,
                "the host's rules memory budget is in use: waited {} ms for {needed} while {} decisions held {} of {budget} ([server] rules_memory_mb; {} decisions may run at once). Retry later; if this persists, raise rules_memory_mb or lower the app's rules_limits.memory_mb",
                waited.as_millis(),
                self.running,
                mib(self.reserved),
                self.slots
            ),
        }
    }
}

/// `16 MiB`, or `1.5 MiB` for a size that is not a whole number of MiB.
fn mib(bytes: usize) -> String {
    if bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}

impl Gate {
    pub(super) fn new(slots: u32, budget: RulesBudget) -> Self {
        Self { state: Mutex::default(), changed: Condvar::new(), released: Notify::new(), slots, budget }
    }

    pub(super) fn budget(&self) -> RulesBudget {
        self.budget
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn admission(&self) -> Admission {
        let s = self.lock();
        Admission {
            running: s.running,
            reserved_bytes: s.reserved,
            peak_running: s.peak_running,
            peak_reserved_bytes: s.peak_reserved,
            refused: s.refused,
            budget_bytes: self.budget.memory_bytes,
            slots: self.slots,
        }
    }

    /// Admits a decision needing `bytes` if memory and a slot are free now.
    fn admit_now(self: &Arc<Self>, state: &mut GateState, bytes: usize) -> Option<Ticket> {
        if state.running >= self.slots || state.reserved + bytes > self.budget.memory_bytes {
            return None;
        }
        state.running += 1;
        state.reserved += bytes;
        state.peak_running = state.peak_running.max(state.running);
        state.peak_reserved = state.peak_reserved.max(state.reserved);
        // Only the ticker may need waking, and only if it has gone to sleep.
        if state.ticker_asleep {
            self.changed.notify_all();
        }
        Some(Ticket { gate: Arc::clone(self), bytes })
    }

    fn refuse(&self, state: &mut GateState, bytes: usize, waited: Option<Duration>) -> Refusal {
        state.refused += 1;
        Refusal {
            needed: bytes,
            budget: self.budget.memory_bytes,
            slots: self.slots,
            waited,
            running: state.running,
            reserved: state.reserved,
        }
    }

    /// A decision that can never fit is refused at once.
    fn check_fits(&self, bytes: usize) -> Result<(), Refusal> {
        if bytes > self.budget.memory_bytes {
            let mut state = self.lock();
            return Err(self.refuse(&mut state, bytes, None));
        }
        Ok(())
    }

    /// Admits a decision needing `bytes`, blocking this thread for at most `wait`.
    ///
    /// # Errors
    /// A [`Refusal`] when the decision needs more than the budget, or when memory or a slot
    /// stayed taken for `wait`.
    pub(super) fn admit_blocking(self: &Arc<Self>, bytes: usize, wait: Duration) -> Result<Ticket, Refusal> {
        self.check_fits(bytes)?;
        let started = Instant::now();
        let mut state = self.lock();
        loop {
            if let Some(ticket) = self.admit_now(&mut state, bytes) {
                return Ok(ticket);
            }
            let Some(left) = wait.checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
                return Err(self.refuse(&mut state, bytes, Some(wait)));
            };
            state.waiting_blocking += 1;
            state = self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
            state.waiting_blocking -= 1;
        }
    }

    /// Admits a decision needing `bytes`, waiting (without holding the thread) for at most
    /// the budget's `admission_wait`.
    ///
    /// # Errors
    /// As [`Gate::admit_blocking`].
    pub(super) async fn admit(self: &Arc<Self>, bytes: usize) -> Result<Ticket, Refusal> {
        self.check_fits(bytes)?;
        {
            let mut state = self.lock();
            if let Some(ticket) = self.admit_now(&mut state, bytes) {
                return Ok(ticket);
            }
            state.waiting_async += 1;
        }
        // Counted as waiting until this returns or its request is dropped.
        let _waiting = AsyncWaiter(self);
        let wait = self.budget.admission_wait;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a release between the two is not missed.
            released.as_mut().enable();
            if let Some(ticket) = self.admit_now(&mut self.lock(), bytes) {
                return Ok(ticket);
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                let mut state = self.lock();
                return match self.admit_now(&mut state, bytes) {
                    Some(ticket) => Ok(ticket),
                    None => Err(self.refuse(&mut state, bytes, Some(wait))),
                };
            }
        }
    }

    pub(super) fn shut_down(&self) {
        self.lock().shut_down = true;
        self.changed.notify_all();
    }

    /// The epoch ticker: one tick per `tick` while a decision runs, and for
    /// [`LINGER_TICKS`] after the last one ended; then it sleeps until one starts.
    pub(super) fn tick_while_running(&self, tick: Duration, on_tick: impl Fn()) {
        let mut idle_ticks = 0;
        loop {
            {
                let mut state = self.lock();
                idle_ticks = if state.running == 0 { idle_ticks + 1 } else { 0 };
                if idle_ticks > LINGER_TICKS {
                    state.ticker_asleep = true;
                    while state.running == 0 && !state.shut_down {
                        state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                    state.ticker_asleep = false;
                    idle_ticks = 0;
                }
                if state.shut_down {
                    return;
                }
            }
            on_tick();
            std::thread::sleep(tick);
        }
    }
}

struct AsyncWaiter<'a>(&'a Gate);

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting_async -= 1;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let gate = &self.gate;
        let mut state = gate.lock();
        state.running -= 1;
        state.reserved -= self.bytes;
        let (blocking, waiting_async) = (state.waiting_blocking > 0, state.waiting_async > 0);
        drop(state);
        if blocking {
            gate.changed.notify_all();
        }
        if waiting_async {
            gate.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1 << 20;

    fn gate(slots: u32, budget_mb: usize, wait_ms: u64) -> Arc<Gate> {
        Arc::new(Gate::new(
            slots,
            RulesBudget { memory_bytes: budget_mb * MB, admission_wait: Duration::from_millis(wait_ms) },
        ))
    }

    #[test]
    fn memory_and_slots_are_reserved_and_given_back() {
        let g = gate(3, 64, 20);
        let a = g.admit_blocking(32 * MB, Duration::ZERO).unwrap();
        let b = g.admit_blocking(16 * MB, Duration::ZERO).unwrap();
        // 16 MiB left: 32 does not fit, and is refused after the wait.
        let started = Instant::now();
        let refusal = g.admit_blocking(32 * MB, Duration::from_millis(20)).err().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20));
        let text = refusal.to_string();
        assert!(text.contains("waited 20 ms for 32 MiB while 2 decisions held 48 MiB of 64 MiB"), "{text}");
        let c = g.admit_blocking(16 * MB, Duration::ZERO).unwrap();
        // Memory is left (none), and so are slots (none): a tiny decision waits for a slot.
        assert!(g.admit_blocking(MB / 2, Duration::ZERO).is_err());
        drop(a);
        let d = g.admit_blocking(MB / 2, Duration::ZERO).unwrap();
        let now = g.admission();
        assert_eq!((now.running, now.reserved_bytes), (3, 32 * MB + MB / 2));
        assert_eq!((now.peak_running, now.peak_reserved_bytes, now.refused), (3, 64 * MB, 2));
        drop((b, c, d));
        assert_eq!((g.admission().running, g.admission().reserved_bytes), (0, 0));
        // More than the whole budget is refused at once, saying so.
        let never = g.admit_blocking(65 * MB, Duration::from_secs(60)).err().unwrap().to_string();
        assert!(never.contains("65 MiB") && never.contains("whole rules memory budget of 64 MiB"), "{never}");
    }

    #[test]
    fn a_blocking_waiter_is_admitted_when_memory_comes_back() {
        let g = gate(4, 32, 5_000);
        let held = g.admit_blocking(32 * MB, Duration::ZERO).unwrap();
        let waiter = {
            let g = Arc::clone(&g);
            std::thread::spawn(move || g.admit_blocking(8 * MB, Duration::from_secs(5)).map(drop).is_ok())
        };
        while g.lock().waiting_blocking == 0 {
            std::thread::yield_now();
        }
        drop(held);
        assert!(waiter.join().unwrap());
    }

    #[tokio::test]
    async fn an_async_waiter_holds_no_thread_and_is_admitted_or_refused_in_time() {
        // One runtime thread: the waiter must not block it, or the release below never runs.
        let g = gate(4, 32, 5_000);
        let held = g.admit(24 * MB).await.unwrap();
        let waiter = tokio::spawn({
            let g = Arc::clone(&g);
            async move { g.admit(16 * MB).await.map(drop).is_ok() }
        });
        while g.lock().waiting_async == 0 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(waiter.await.unwrap());
        assert_eq!(g.lock().waiting_async, 0);
        // Refused after the wait when nothing comes back.
        let g = gate(4, 32, 30);
        let _held = g.admit(32 * MB).await.unwrap();
        let started = Instant::now();
        let refusal = g.admit(MB).await.err().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(30), "{refusal}");
        assert_eq!(g.admission().refused, 1);
        // A waiter whose request is dropped stops counting as waiting.
        let cancelled = tokio::time::timeout(Duration::from_millis(5), g.admit(MB)).await;
        assert!(cancelled.is_err());
        assert_eq!(g.lock().waiting_async, 0);
    }

    /// Waits up to 5 s for `done`.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(5), "{what}: not within 5 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_ticker_sleeps_when_idle_and_a_decision_wakes_it() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let g = gate(4, 32, 20);
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = {
            let (g, ticks) = (Arc::clone(&g), Arc::clone(&ticks));
            std::thread::spawn(move || {
                g.tick_while_running(Duration::from_millis(1), || {
                    ticks.fetch_add(1, Ordering::Relaxed);
                })
            })
        };
        // Nothing runs: it lingers, then sleeps and stops ticking.
        eventually("asleep", || g.lock().ticker_asleep);
        let asleep_at = ticks.load(Ordering::Relaxed);
        assert!(asleep_at >= u64::from(LINGER_TICKS), "slept after {asleep_at} ticks");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ticks.load(Ordering::Relaxed), asleep_at, "ticked while asleep");
        // A decision wakes it: the epoch moves on while it runs (its deadline can pass).
        let ticket = g.admit_blocking(MB, Duration::ZERO).unwrap();
        eventually("ticking again", || ticks.load(Ordering::Relaxed) >= asleep_at + 5);
        assert!(!g.lock().ticker_asleep);
        // Once the decision ends, it lingers and sleeps again.
        drop(ticket);
        eventually("asleep again", || g.lock().ticker_asleep);
        g.shut_down();
        ticker.join().unwrap();
    }
}
