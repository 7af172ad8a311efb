//! `usersync-rules-bench`: the rules-engine benchmark behind `tests/bench/rules.sh`.
//!
//! - **Decision latency**: the standard rules module, loaded with a realistic set of settings,
//!   decides about one realistic person `--iterations` times on one thread
//!   ([`RulesEngine::decide`]: fresh store and instance, the module's `decide`, validation),
//!   each call timed. In the same run, interleaved in blocks so that both see the same
//!   machine, the baseline: the same logic natively (the standard rules crate's
//!   [`Rules::decide`], on the same input). With `--floor-module`, a module with trivial logic
//!   too: the engine's fixed cost of a decision. Exact percentiles, and the ratio to native.
//! - **Throughput**: decisions per second over a fixed window with 1 and with `--threads`
//!   threads sharing one loaded module, and the native calls the same way.
//! - **Reload latency**: a [`ModuleRegistry`] watching one app's module file in a temporary
//!   folder; two versions of a ~1 MB module (the standard module grown with copies of its own
//!   function bodies, see [`grow`]) are written over it in turn, by temporary file + rename and
//!   in place, and `current(app)` is polled every millisecond until the new hash serves.
//!
//! Prints markdown tables and the target check; exits 1 when a target is missed (and on any
//! error). Method and figures: BENCHMARKS.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use usersync::rules::types::{
    AttributeDecision, CustomField, Decisions, GroupDecision, IdpGroup, RuleInput, Setting, SettingValue, UserMapping,
};
use usersync::rules::{content_hash, AppModule, LoadedModule, ModuleRegistry, NoDirectory, RuleLimits, RulesEngine};
use usersync_rules::Rules;
use usersync_standard_rules::Standard;

/// The server's allocator, so that allocation costs are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Targets from the issue.
const TARGET_P50: Duration = Duration::from_micros(30);
const TARGET_P99: Duration = Duration::from_micros(100);
const TARGET_RELOAD: Duration = Duration::from_secs(1);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Parser)]
#[command(version, about = "Decision and reload latency of the UserSync rules engine")]
struct Cli {
    /// The standard rules' core module, as `cargo build --profile rules --target
    /// wasm32-unknown-unknown -p usersync-standard-rules` writes it.
    #[arg(long)]
    module: PathBuf,
    /// A module whose logic is trivial (the hostile test guest, which in its default mode
    /// copies and lower-cases a few fields), measured alongside: the engine's fixed cost of a
    /// decision on the same input.
    #[arg(long)]
    floor_module: Option<PathBuf>,
    /// Measured decisions (and as many native baseline calls).
    #[arg(long, default_value_t = 20_000)]
    iterations: usize,
    /// Decisions (and native calls) before the measurement.
    #[arg(long, default_value_t = 1_000)]
    warmup: usize,
    /// Decisions and native calls alternate in blocks of this many.
    #[arg(long, default_value_t = 500)]
    block: usize,
    /// Threads for the multi-threaded throughput run.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Measured window of each throughput run, in seconds.
    #[arg(long, default_value_t = 3.0)]
    throughput_secs: f64,
    /// Reloads by temporary file + rename, alternating the two versions.
    #[arg(long, default_value_t = 10)]
    reload_rounds: usize,
    /// Reloads by writing the file in place.
    #[arg(long, default_value_t = 3)]
    inplace_rounds: usize,
    /// Size the reloaded module is grown to, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    reload_bytes: usize,
    /// How long to wait for one reload before counting it as failed, in seconds.
    #[arg(long, default_value_t = 10)]
    reload_timeout_secs: u64,
    /// Also write the two grown modules into this folder (to inspect them).
    #[arg(long)]
    keep_modules: Option<PathBuf>,
    /// Skip the reload benchmark.
    #[arg(long)]
    no_reload: bool,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    ensure!(cli.iterations > 0 && cli.block > 0 && cli.threads > 0, "iterations, block and threads must be positive");
    let core = std::fs::read(&cli.module).with_context(|| format!("cannot read {}", cli.module.display()))?;
    let settings = bench_settings();
    let input = bench_input(&settings);
    let native_input = to_sdk(&input);
    let engine = RulesEngine::new().context("cannot start the rules engine")?;
    let limits = RuleLimits::default();

    eprintln!("loadavg before: {}", loadavg());
    let loaded = Instant::now();
    let module = engine.load("standard", &core, limits, &settings).context("cannot load the standard module")?;
    let standard_load = loaded.elapsed();
    let component_len = usersync::rules::componentize(&core).map(|c| c.len()).context("cannot componentize")?;

    // The two paths must decide the same thing, or the comparison means nothing.
    let decided = engine
        .decide(&module, &input, Arc::new(NoDirectory))
        .context("the standard module refused the bench person")?;
    ensure!(
        matches!(decided.attributes, AttributeDecision::Provision(_)),
        "the bench person is not provisioned: {:?}",
        decided.attributes
    );
    let native = native_decisions(&native_input);
    ensure!(
        (&decided.attributes, &decided.custom_fields, &decided.groups) == (&native.0, &native.1, &native.2),
        "the module and the native rules disagree:\nmodule: {decided:?}\nnative: {native:?}"
    );

    let floor = match &cli.floor_module {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            // The floor module declares none of the bench settings: loaded for no app.
            Some(engine.load("floor", &bytes, limits, &[]).context("cannot load the floor module")?)
        }
        None => None,
    };

    eprintln!("decision latency: {} warm-up + {} measured calls on each path", cli.warmup, cli.iterations);
    let (wasm, floor_samples, native) = latencies(&engine, &module, floor.as_deref(), &input, &native_input, &cli)?;
    eprintln!("throughput: {} s with 1 thread, then with {}", cli.throughput_secs, cli.threads);
    let window = Duration::from_secs_f64(cli.throughput_secs);
    let decide = || decide_once(&engine, &module, &input);
    let natively = || {
        native_once(&native_input);
        Ok(())
    };
    let one = throughput(1, window, &decide)?;
    let many = throughput(cli.threads, window, &decide)?;
    let native_one = throughput(1, window, &natively)?;
    let native_many = throughput(cli.threads, window, &natively)?;

    let reload = if cli.no_reload { None } else { Some(reload_bench(&engine, &core, &settings, &cli)?) };
    eprintln!("loadavg after: {}", loadavg());

    let (wasm_stats, native_stats) = (Stats::of(wasm), Stats::of(native));
    println!(
        "\n### Rules engine: standard module ({} bytes core, {} bytes as a component), {} decisions after {} warm-up\n",
        core.len(),
        component_len,
        cli.iterations,
        cli.warmup
    );
    println!("| path | calls | p50 µs | p90 µs | p99 µs | max µs | mean µs | vs native (p50) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, s: &Stats| {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.1} |",
            s.count,
            us(s.p50),
            us(s.p90),
            us(s.p99),
            us(s.max),
            us(s.mean),
            s.p50.as_secs_f64() / native_stats.p50.as_secs_f64().max(f64::EPSILON)
        );
    };
    row("native: the standard rules' `Rules::decide`", &native_stats);
    row("module: `engine.decide` (fresh instance + `decide` + validation)", &wasm_stats);
    if !floor_samples.is_empty() {
        row("floor: `engine.decide` of a trivial module, same input", &Stats::of(floor_samples));
    }
    println!();
    println!("| throughput | 1 thread, decisions/s | {} threads, decisions/s | scaling |", cli.threads);
    println!("|---|---:|---:|---:|");
    for (name, one, many) in [("module", one, many), ("native", native_one, native_many)] {
        println!("| {name} | {} | {} | {:.2} |", thousands(one), thousands(many), many / one.max(f64::EPSILON));
    }
    println!();
    println!("- standard module load (validate, componentize, compile, self-test): {} ms", ms(standard_load));
    println!("- loadavg: {}", loadavg());

    let mut missed = Vec::new();
    let mut targets = vec![
        target_row("decision p50 ≤ 30 µs", format!("{} µs", us(wasm_stats.p50)), wasm_stats.p50 <= TARGET_P50),
        target_row("decision p99 ≤ 100 µs", format!("{} µs", us(wasm_stats.p99)), wasm_stats.p99 <= TARGET_P99),
    ];
    if let Some(reload) = &reload {
        reload.print();
        let worst = reload.rename.iter().chain(&reload.in_place).copied().max();
        let ok = reload.failures == 0 && worst.is_some_and(|w| w <= TARGET_RELOAD);
        let measured = match worst {
            Some(w) => format!("max {} ms over {} reloads, {} failed", ms(w), reload.count(), reload.failures),
            None => format!("no reload served; {} failed", reload.failures),
        };
        targets.push(target_row("reload ≤ 1 s for a 1 MB module", measured, ok));
    }
    println!("\n| target | measured | |\n|---|---|---|");
    for (line, ok, name) in targets {
        println!("{line}");
        if !ok {
            missed.push(name);
        }
    }
    println!();
    if missed.is_empty() {
        println!("All targets met.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("Targets missed: {}", missed.join("; "));
        Ok(ExitCode::FAILURE)
    }
}

fn target_row(name: &'static str, measured: String, ok: bool) -> (String, bool, &'static str) {
    (format!("| {name} | {measured} | {} |", if ok { "met" } else { "**missed**" }), ok, name)
}

/// What a typical app configures: a manual mapping for one IdP group (by name) and one by
/// id, everything else on the fly except the catch-all groups, a default group for new
/// users, two custom fields, and usernames without their domain.
fn bench_settings() -> Vec<Setting> {
    let mapping = |pairs: &[(&str, &str)]| {
        SettingValue::Mapping(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    };
    let setting = |key: &str, value: SettingValue| Setting { key: key.into(), value };
    vec![
        setting("username_regex", SettingValue::Text("@.*$".into())),
        setting(
            "group_mapping",
            mapping(&[("Engineering", "confluence-engineering"), ("g-admins", "confluence-administrators")]),
        ),
        setting("default_groups_new", SettingValue::TextList(vec!["confluence-users".into()])),
        setting("on_the_fly", SettingValue::Flag(true)),
        setting("on_the_fly_exclude", SettingValue::Text("^(Everyone|Domain Users)$".into())),
        setting(
            "custom_fields",
            mapping(&[("Department", &format!("{ENTERPRISE}:department")), ("Location", "location")]),
        ),
    ]
}

/// The host's sample person (every common attribute, one custom attribute), in five IdP
/// groups, coming through an Okta app with [`bench_settings`]; not yet in Confluence.
fn bench_input(settings: &[Setting]) -> RuleInput {
    let mut input = usersync::rules::sample::input(settings);
    input.app.name = "okta".into();
    input.app.idp_kind = "okta".into();
    let group = |id: &str, name: &str| IdpGroup { id: id.into(), display_name: name.into() };
    input.person.groups.extend([
        group("g-admins", "Confluence Admins"),
        group("g-apollo", "Project Apollo"),
        group("g-writers", "Technical Writers"),
    ]);
    input
}

/// The host's input as the SDK's (what the module receives, field for field).
fn to_sdk(input: &RuleInput) -> usersync_rules::Input {
    use usersync::rules::types as host;
    use usersync_rules as sdk;
    let p = &input.person;
    let typed = |vs: &[host::TypedValue]| -> Vec<sdk::TypedValue> {
        vs.iter()
            .map(|v| sdk::TypedValue { value: v.value.clone(), kind: v.kind.clone(), primary: v.primary })
            .collect()
    };
    sdk::Input {
        person: sdk::Person {
            source: match p.source {
                host::Source::Scim => sdk::Source::Scim,
                host::Source::Ldap => sdk::Source::Ldap,
            },
            id: p.id.clone(),
            external_id: p.external_id.clone(),
            user_name: p.user_name.clone(),
            display_name: p.display_name.clone(),
            name: p.name.as_ref().map(|n| sdk::Name {
                formatted: n.formatted.clone(),
                family_name: n.family_name.clone(),
                given_name: n.given_name.clone(),
                middle_name: n.middle_name.clone(),
                honorific_prefix: n.honorific_prefix.clone(),
                honorific_suffix: n.honorific_suffix.clone(),
            }),
            nick_name: p.nick_name.clone(),
            title: p.title.clone(),
            user_type: p.user_type.clone(),
            preferred_language: p.preferred_language.clone(),
            locale: p.locale.clone(),
            timezone: p.timezone.clone(),
            active: p.active,
            emails: typed(&p.emails),
            phone_numbers: typed(&p.phone_numbers),
            enterprise: p.enterprise.as_ref().map(|e| sdk::Enterprise {
                employee_number: e.employee_number.clone(),
                cost_center: e.cost_center.clone(),
                organization: e.organization.clone(),
                division: e.division.clone(),
                department: e.department.clone(),
                manager_id: e.manager_id.clone(),
                manager_name: e.manager_name.clone(),
            }),
            attributes: p
                .attributes
                .iter()
                .map(|a| sdk::Attribute { schema: a.schema.clone(), name: a.name.clone(), values: a.values.clone() })
                .collect(),
            groups: p
                .groups
                .iter()
                .map(|g| sdk::IdpGroup { id: g.id.clone(), display_name: g.display_name.clone() })
                .collect(),
            raw_json: p.raw_json.clone(),
        },
        app: sdk::App {
            name: input.app.name.clone(),
            idp_kind: input.app.idp_kind.clone(),
            settings: input
                .app
                .settings
                .iter()
                .map(|s| sdk::Setting {
                    key: s.key.clone(),
                    value: match &s.value {
                        SettingValue::Text(t) => sdk::SettingValue::Text(t.clone()),
                        SettingValue::Flag(b) => sdk::SettingValue::Flag(*b),
                        SettingValue::Number(n) => sdk::SettingValue::Number(*n),
                        SettingValue::TextList(l) => sdk::SettingValue::TextList(l.clone()),
                        SettingValue::Mapping(m) => sdk::SettingValue::Mapping(m.clone()),
                    },
                })
                .collect(),
        },
        confluence: sdk::ConfluenceUser {
            exists: input.confluence.exists,
            username: input.confluence.username.clone(),
            full_name: input.confluence.full_name.clone(),
            email: input.confluence.email.clone(),
            active: input.confluence.active,
            groups: input.confluence.groups.clone(),
            granted: input.confluence.granted.clone(),
        },
    }
}

/// The native decisions, in the host's types, to compare with the module's.
fn native_decisions(input: &usersync_rules::Input) -> (AttributeDecision, Vec<CustomField>, GroupDecision) {
    use usersync_rules as sdk;
    let sdk::Decisions { attributes, custom_fields, groups: g } = Standard::decide(input);
    let attributes = match attributes {
        sdk::AttributeDecision::Provision(m) => AttributeDecision::Provision(UserMapping {
            username: m.username,
            full_name: m.full_name,
            email: m.email,
            active: m.active,
        }),
        sdk::AttributeDecision::Skip(reason) => AttributeDecision::Skip(reason),
        sdk::AttributeDecision::Reject(reason) => AttributeDecision::Reject(reason),
    };
    let fields = custom_fields.into_iter().map(|f| CustomField { name: f.name, value: f.value }).collect();
    (attributes, fields, GroupDecision { add: g.add, remove: g.remove, create: g.create })
}

/// One native decision: what the module's `decide` runs, on the same input.
fn native_once(input: &usersync_rules::Input) {
    drop(black_box(Standard::decide(black_box(input))));
}

fn decide_once(engine: &RulesEngine, module: &LoadedModule, input: &RuleInput) -> anyhow::Result<()> {
    let decisions: Decisions =
        engine.decide(module, black_box(input), Arc::new(NoDirectory)).context("a decision failed")?;
    drop(black_box(decisions));
    Ok(())
}

type Samples = Vec<Duration>;

/// Each call's latency on every path (module, floor module if any, native), alternating
/// blocks of `cli.block` calls.
fn latencies(
    engine: &RulesEngine,
    module: &LoadedModule,
    floor: Option<&LoadedModule>,
    input: &RuleInput,
    native_input: &usersync_rules::Input,
    cli: &Cli,
) -> anyhow::Result<(Samples, Samples, Samples)> {
    for _ in 0..cli.warmup {
        decide_once(engine, module, input)?;
        if let Some(floor) = floor {
            decide_once(engine, floor, input)?;
        }
        native_once(native_input);
    }
    let mut wasm = Vec::with_capacity(cli.iterations);
    let mut floor_samples = Vec::new();
    let mut native = Vec::with_capacity(cli.iterations);
    while wasm.len() < cli.iterations {
        let block = cli.block.min(cli.iterations - wasm.len());
        for _ in 0..block {
            let started = Instant::now();
            decide_once(engine, module, input)?;
            wasm.push(started.elapsed());
        }
        if let Some(floor) = floor {
            for _ in 0..block {
                let started = Instant::now();
                decide_once(engine, floor, input)?;
                floor_samples.push(started.elapsed());
            }
        }
        for _ in 0..block {
            let started = Instant::now();
            native_once(native_input);
            native.push(started.elapsed());
        }
    }
    Ok((wasm, floor_samples, native))
}

/// Calls of `work` per second with `threads` threads calling it in a loop for `window`
/// (after a quarter of it as warm-up).
fn throughput(threads: usize, window: Duration, work: &(dyn Fn() -> anyhow::Result<()> + Sync)) -> anyhow::Result<f64> {
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| -> anyhow::Result<Duration> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    barrier.wait();
                    let mut counted = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        work()?;
                        if measuring.load(Ordering::Relaxed) {
                            counted += 1;
                        }
                    }
                    done.fetch_add(counted, Ordering::Relaxed);
                    Ok(())
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(window / 4);
        measuring.store(true, Ordering::Relaxed);
        let started = Instant::now();
        std::thread::sleep(window);
        measuring.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            match worker.join() {
                Ok(outcome) => outcome?,
                Err(_) => bail!("a throughput thread panicked"),
            }
        }
        Ok(elapsed)
    })?;
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// The reload measurements.
struct Reload {
    sizes: [usize; 2],
    component_sizes: [usize; 2],
    standard_len: usize,
    /// `engine.load` of each grown version, directly (no registry, no file events).
    direct_loads: Vec<Duration>,
    /// `componentize` alone, of the grown module.
    componentize: Duration,
    /// `ModuleRegistry::start` with the first version (loads it on the calling thread).
    initial: Duration,
    rename: Vec<Duration>,
    in_place: Vec<Duration>,
    failures: usize,
}

impl Reload {
    fn count(&self) -> usize {
        self.rename.len() + self.in_place.len() + self.failures
    }

    fn print(&self) {
        println!(
            "\n### Reload: a ~1 MB module ({} and {} bytes core, {} and {} bytes as components; the {} byte standard module grown with copies of its own function bodies)\n",
            self.sizes[0], self.sizes[1], self.component_sizes[0], self.component_sizes[1], self.standard_len
        );
        println!("| file written by | reloads | min ms | median ms | max ms |");
        println!("|---|---:|---:|---:|---:|");
        for (name, samples) in [("temporary file + rename", &self.rename), ("write in place", &self.in_place)] {
            if samples.is_empty() {
                continue;
            }
            let s = Stats::of(samples.clone());
            println!("| {name} | {} | {} | {} | {} |", s.count, ms(s.min), ms(s.p50), ms(s.max));
        }
        let direct = Stats::of(self.direct_loads.clone());
        println!();
        println!(
            "- where the time goes: the registry loads a file renamed into place or closed after writing at once (other events wait for 100 ms of quiet); `engine.load` of the 1 MB module alone (validate, componentize, compile, self-test) took {}–{} ms (median {} ms over {}), of which `componentize` {} ms",
            ms(direct.min),
            ms(direct.max),
            ms(direct.p50),
            direct.count,
            ms(self.componentize)
        );
        println!(
            "- `ModuleRegistry::start` with the 1 MB module (first load, on the caller's thread): {} ms",
            ms(self.initial)
        );
        if self.failures > 0 {
            println!("- **{} reloads did not serve the new version in time**", self.failures);
        }
    }
}

fn reload_bench(engine: &Arc<RulesEngine>, standard: &[u8], settings: &[Setting], cli: &Cli) -> anyhow::Result<Reload> {
    let versions = [grow(standard, cli.reload_bytes, 0)?, grow(standard, cli.reload_bytes, 1)?];
    let hashes = [content_hash(&versions[0]), content_hash(&versions[1])];
    ensure!(hashes[0] != hashes[1], "the two grown versions are identical");
    let mut component_sizes = [0; 2];
    for (i, version) in versions.iter().enumerate() {
        component_sizes[i] = usersync::rules::componentize(version).context("cannot componentize")?.len();
    }
    if let Some(folder) = &cli.keep_modules {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
        for (i, version) in versions.iter().enumerate() {
            let file = folder.join(format!("standard-1mb-{i}.wasm"));
            std::fs::write(&file, version).with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    let limits = RuleLimits::default();

    eprintln!("reload: loading the two {} byte versions directly", versions[0].len());
    let started = Instant::now();
    let _ = usersync::rules::componentize(&versions[0]).context("cannot componentize")?;
    let componentize = started.elapsed();
    let mut direct_loads = Vec::new();
    for _ in 0..2 {
        for version in &versions {
            let started = Instant::now();
            let module = engine.load("standard", version, limits, settings).context("cannot load the grown module")?;
            direct_loads.push(started.elapsed());
            drop(module);
        }
    }

    let folder = std::env::temp_dir().join(format!("usersync-rules-bench.{}", std::process::id()));
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let outcome = reload_rounds(engine, &folder, &versions, &hashes, settings, cli);
    let _ = std::fs::remove_dir_all(&folder);
    let (initial, rename, in_place, failures) = outcome?;
    Ok(Reload {
        sizes: [versions[0].len(), versions[1].len()],
        component_sizes,
        standard_len: standard.len(),
        direct_loads,
        componentize,
        initial,
        rename,
        in_place,
        failures,
    })
}

type Rounds = (Duration, Vec<Duration>, Vec<Duration>, usize);

fn reload_rounds(
    engine: &Arc<RulesEngine>,
    folder: &Path,
    versions: &[Vec<u8>; 2],
    hashes: &[String; 2],
    settings: &[Setting],
    cli: &Cli,
) -> anyhow::Result<Rounds> {
    const APP: &str = "bench";
    let path = folder.join("standard.wasm");
    let temporary = folder.join(".standard.wasm.tmp");
    std::fs::write(&path, &versions[0]).with_context(|| format!("cannot write {}", path.display()))?;
    let app =
        AppModule { app: APP.into(), path: path.clone(), limits: RuleLimits::default(), settings: settings.to_vec() };
    let started = Instant::now();
    let registry = ModuleRegistry::start(Arc::clone(engine), vec![app]).context("cannot start the registry")?;
    let initial = started.elapsed();
    ensure!(
        registry.current(APP).is_some_and(|m| m.id().hash == hashes[0]),
        "the registry did not load the first version: {:?}",
        registry.status()
    );
    let timeout = Duration::from_secs(cli.reload_timeout_secs);
    let (mut rename, mut in_place, mut failures) = (Vec::new(), Vec::new(), 0);
    let mut serving = 0;
    for round in 0..cli.reload_rounds + cli.inplace_rounds {
        // Let the previous reload's events and load settle.
        std::thread::sleep(Duration::from_millis(300));
        let next = 1 - serving;
        let by_rename = round < cli.reload_rounds;
        if by_rename {
            std::fs::write(&temporary, &versions[next])
                .with_context(|| format!("cannot write {}", temporary.display()))?;
            std::fs::rename(&temporary, &path).with_context(|| format!("cannot rename over {}", path.display()))?;
        } else {
            std::fs::write(&path, &versions[next]).with_context(|| format!("cannot write {}", path.display()))?;
        }
        let written = Instant::now();
        match wait_for(&registry, APP, &hashes[next], written, timeout) {
            Some(took) => {
                eprintln!("reload {}: {} ms ({})", round + 1, ms(took), if by_rename { "rename" } else { "in place" });
                if by_rename {
                    rename.push(took);
                } else {
                    in_place.push(took);
                }
                serving = next;
            }
            None => {
                eprintln!("reload {}: not served after {timeout:?}; status {:?}", round + 1, registry.status());
                failures += 1;
                // Whatever serves now is what the next round must differ from.
                if registry.current(APP).is_some_and(|m| m.id().hash == hashes[next]) {
                    serving = next;
                }
            }
        }
    }
    drop(registry);
    Ok((initial, rename, in_place, failures))
}

/// Polls `current(app)` every millisecond until its hash is `hash`; the time since `since`.
fn wait_for(registry: &ModuleRegistry, app: &str, hash: &str, since: Instant, timeout: Duration) -> Option<Duration> {
    loop {
        if registry.current(app).is_some_and(|m| m.id().hash == hash) {
            return Some(since.elapsed());
        }
        if since.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The core module `core` grown to at least `target` bytes with real code: copies of its own
/// function bodies (each with its own type) appended to its function and code sections,
/// taken in order from body `version` on, round-robin. The copies are valid functions
/// (the same locals, calls, globals, memory and data as the originals) that nothing calls,
/// so decisions do not change but wasmtime validates and compiles every one of them (it
/// compiles all of a module's functions), as it would a module written that large.
/// Different `version`s give different bytes of about the same size.
fn grow(core: &[u8], target: usize, version: usize) -> anyhow::Result<Vec<u8>> {
    ensure!(core.get(..8) == Some(b"\0asm\x01\0\0\0".as_slice()), "not a core WebAssembly module");
    let mut sections: Vec<(u8, &[u8])> = Vec::new();
    let mut pos = 8;
    while pos < core.len() {
        let id = *core.get(pos).context("truncated module")?;
        pos += 1;
        let size = read_u32(core, &mut pos)? as usize;
        let payload = core.get(pos..pos + size).context("truncated section")?;
        sections.push((id, payload));
        pos += size;
    }
    let section = |id: u8| sections.iter().find(|(i, _)| *i == id).map(|(_, p)| *p);
    let functions = section(3).context("no function section")?;
    let code = section(10).context("no code section")?;

    let mut at = 0;
    let count = read_u32(functions, &mut at)?;
    let types = (0..count).map(|_| read_u32(functions, &mut at)).collect::<anyhow::Result<Vec<u32>>>()?;
    let mut at = 0;
    ensure!(read_u32(code, &mut at)? == count, "the function and code sections disagree");
    let mut bodies = Vec::with_capacity(types.len());
    for _ in 0..count {
        let size = read_u32(code, &mut at)? as usize;
        bodies.push(code.get(at..at + size).context("truncated code section")?);
        at += size;
    }
    ensure!(!bodies.is_empty(), "the module defines no functions");

    let (mut extra_types, mut extra_bodies) = (Vec::new(), Vec::new());
    let mut grown = core.len();
    let mut next = version;
    while grown < target {
        let k = next % bodies.len();
        extra_types.push(types[k]);
        extra_bodies.push(bodies[k]);
        grown += bodies[k].len() + leb_len(bodies[k].len()) + leb_len(types[k] as usize);
        next += 1;
    }

    let mut function_section = Vec::new();
    write_u32(&mut function_section, u32::try_from(types.len() + extra_types.len())?);
    for t in types.iter().chain(&extra_types) {
        write_u32(&mut function_section, *t);
    }
    let mut code_section = Vec::new();
    write_u32(&mut code_section, u32::try_from(bodies.len() + extra_bodies.len())?);
    for body in bodies.iter().chain(&extra_bodies) {
        write_u32(&mut code_section, u32::try_from(body.len())?);
        code_section.extend_from_slice(body);
    }

    let mut out = b"\0asm\x01\0\0\0".to_vec();
    for (id, payload) in &sections {
        let payload = match id {
            3 => &function_section[..],
            10 => &code_section[..],
            _ => payload,
        };
        out.push(*id);
        write_u32(&mut out, u32::try_from(payload.len())?);
        out.extend_from_slice(payload);
    }
    Ok(out)
}

fn read_u32(bytes: &[u8], pos: &mut usize) -> anyhow::Result<u32> {
    let mut value = 0u64;
    for shift in [0, 7, 14, 21, 28] {
        let byte = *bytes.get(*pos).context("truncated LEB128")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value).context("LEB128 above u32");
        }
    }
    bail!("LEB128 too long")
}

/// Bytes of `value` as unsigned LEB128.
fn leb_len(value: usize) -> usize {
    (usize::BITS - value.leading_zeros()).max(1).div_ceil(7) as usize
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Exact percentiles (nearest rank).
struct Stats {
    count: usize,
    min: Duration,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort_unstable();
        let n = samples.len();
        let at = |p: f64| {
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n.max(1));
            samples.get(rank - 1).copied().unwrap_or_default()
        };
        let total: Duration = samples.iter().sum();
        Stats {
            count: n,
            min: samples.first().copied().unwrap_or_default(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
            mean: total.checked_div(u32::try_from(n).unwrap_or(u32::MAX).max(1)).unwrap_or_default(),
        }
    }
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

fn thousands(rate: f64) -> String {
    let digits = format!("{:.0}", rate);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
