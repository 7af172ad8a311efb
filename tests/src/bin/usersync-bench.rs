//! `usersync-bench`: the load generator and the bare-axum baseline behind
//! `tests/bench/scim.sh`. One binary with subcommands, to keep link time down.
//!
//! - `baseline`: serve fixed bytes on every GET (the throughput reference).
//! - `seed`: create N users and write their ids, one per line, in seeding order.
//! - `load`: run one scenario for a warm-up plus a measured window; print one JSON line.
//! - `verify`: check that userNames exist (the durability check after a crash).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use usersync_tests::load::{
    baseline_router, created_user_name, run_load, seed_users, verify_user_names, Endpoint, LoadPlan, Scenario,
};

#[derive(Parser)]
#[command(version, about = "Load generator and baseline server for the UserSync SCIM benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bytes of --body-file as application/scim+json on every GET (bare axum).
    Baseline(BaselineArgs),
    /// POST --users Okta-style users (user0@example.com …) and write their ids to --ids-out.
    Seed(SeedArgs),
    /// Run one scenario and print one JSON line with throughput and latency percentiles.
    Load(LoadArgs),
    /// Look up every userName in --names-file; exit 1 if any is missing.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct BaselineArgs {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    body_file: PathBuf,
}

/// Where to send requests and with which generator runtime.
#[derive(Args)]
struct Target {
    /// SCIM base URL, e.g. http://127.0.0.1:18080/scim/v2/bench (plain http only).
    #[arg(long)]
    url: String,
    /// Bearer token (or USERSYNC_BENCH_TOKEN, which keeps it out of `ps`).
    #[arg(long, env = "USERSYNC_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Generator runtime threads; 1 runs every client on one thread, leaving the other core
    /// to the server.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Args)]
struct SeedArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long)]
    users: u64,
    /// File to write the created ids to, one per line (line i is user{i}@example.com).
    #[arg(long)]
    ids_out: PathBuf,
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    target: Target,
    /// get, filter, create or baseline.
    #[arg(long)]
    scenario: Scenario,
    /// Length of the measured window.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Requests sent but not counted before the window.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Ids written by `seed` (needed by get, filter and baseline).
    #[arg(long)]
    ids_file: Option<PathBuf>,
    /// create only: write the userName of every user the server acknowledged with 201.
    #[arg(long)]
    acked_out: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    target: Target,
    /// userNames, one per line.
    #[arg(long)]
    names_file: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Baseline(args) => baseline(args),
        Command::Seed(args) => {
            let runtime = runtime(args.target.threads)?;
            runtime.block_on(seed(args))
        }
        Command::Load(args) => {
            let runtime = runtime(args.target.threads)?;
            runtime.block_on(load(args))
        }
        Command::Verify(args) => {
            let runtime = runtime(args.target.threads)?;
            runtime.block_on(verify(args))
        }
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build().context("cannot start the Tokio runtime")
}

/// The baseline runs on Tokio's default multi-thread runtime, as a plain axum server would.
fn baseline(args: BaselineArgs) -> anyhow::Result<()> {
    let body = std::fs::read(&args.body_file).with_context(|| format!("cannot read {}", args.body_file.display()))?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the Tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!("baseline: serving {} bytes on {}", body.len(), args.listen);
        axum::serve(listener, baseline_router(Bytes::from(body))).await.context("baseline server failed")
    })
}

fn endpoint(target: &Target) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::parse(&target.url, target.token.as_deref())?)
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let endpoint = endpoint(&args.target)?;
    let done = Arc::new(AtomicU64::new(0));
    let progress = tokio::spawn(report_progress(Arc::clone(&done), args.users));
    let outcome = seed_users(&endpoint, args.users, args.target.concurrency, done).await;
    progress.abort();
    let outcome = outcome.context("seeding failed")?;
    write_lines(&args.ids_out, outcome.ids.iter())?;
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "seeded": outcome.ids.len(),
            "secs": round2(secs),
            "per_sec": round2(outcome.ids.len() as f64 / secs.max(f64::EPSILON)),
            "ids_file": args.ids_out,
        })
    );
    Ok(())
}

/// Prints seeding progress to stderr every 10 s.
async fn report_progress(done: Arc<AtomicU64>, total: u64) {
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        eprintln!("seed: {} / {total}", done.load(Ordering::Relaxed));
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let endpoint = endpoint(&args.target)?;
    let ids: Arc<[String]> = match &args.ids_file {
        Some(path) => read_lines(path)?.into(),
        None => Arc::from(Vec::new()),
    };
    let plan = LoadPlan {
        scenario: args.scenario,
        concurrency: args.target.concurrency,
        warmup: Duration::from_secs(args.warmup_secs),
        measure: Duration::from_secs(args.duration_secs),
        run_tag: run_tag(),
    };
    let report = run_load(&endpoint, &plan, ids)
        .await
        .with_context(|| format!("{} scenario against {}", plan.scenario, args.target.url))?;
    if let Some(path) = &args.acked_out {
        let mut name = String::new();
        let names = report.acknowledged.iter().map(|&(task, seq)| {
            created_user_name(&mut name, plan.run_tag, task, seq);
            name.clone()
        });
        write_lines(path, names)?;
    }
    let mut line = serde_json::to_value(&report)?;
    line["throughput_per_sec"] = round2(report.throughput_per_sec).into();
    println!("{line}");
    Ok(())
}

async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let endpoint = endpoint(&args.target)?;
    let names: Arc<[String]> = read_lines(&args.names_file)?.into();
    let outcome = verify_user_names(&endpoint, names, args.target.concurrency).await.context("verification failed")?;
    println!(
        "{}",
        serde_json::json!({
            "checked": outcome.checked,
            "missing": outcome.missing.len(),
            "first_missing": outcome.missing.iter().take(5).collect::<Vec<_>>(),
        })
    );
    if !outcome.missing.is_empty() {
        bail!("{} of {} userNames are missing", outcome.missing.len(), outcome.checked);
    }
    Ok(())
}

/// A tag unique to this process, so created userNames never collide across runs.
fn run_tag() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 48)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect())
}

fn write_lines<S: AsRef<str>>(path: &Path, lines: impl Iterator<Item = S>) -> anyhow::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(line.as_ref());
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
