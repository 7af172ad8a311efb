//! `usersync-e2e-bench`: the two end-to-end benchmarks of issue 4, behind
//! `tests/bench/e2e.sh`. Every part runs as its own process, so each one's CPU time can be
//! read from `/proc`: `usersync serve` (the host), `confluence-emulator`, and this driver
//! (the SCIM clients).
//!
//! - `provision`: SCIM provisioning throughput with Confluence applied, against the same
//!   traffic with no `[confluence]` (decisions stored, nothing applied) in the same run.
//!   One provisioning is `POST /Users` and then three `PATCH /Groups/{id}` (add the user as
//!   a member), each request after the previous one's answer, by one client. With
//!   Confluence it counts as done only when the emulator has the user and all three
//!   memberships (the outbox drained).
//! - `sync`: `usersync sync` (in-process mode) of an app with N users in M groups against an
//!   emulator seeded with the same people plus drift; wall time, peak RSS (`/usr/bin/time
//!   -v`), phases from the progress lines, and a check that the drift was repaired exactly.
//!
//! Both print a markdown table and one JSON line (prefixed `json: `) on stdout; progress
//! goes to stderr. `sync` exits with status 2 when its target (wall time, peak RSS) is
//! missed, after printing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};
use usersync_tests::load::{Connection, Endpoint};

#[derive(Parser)]
#[command(about = "End-to-end benchmarks of UserSync with the Confluence emulator (issue 4)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Provisioning throughput: SCIM create + three group PATCHes, applied to Confluence.
    Provision(ProvisionArgs),
    /// Synchronize of a large app against a drifted emulator.
    Sync(SyncArgs),
    /// One SCIM Bulk request of many creates: its response time, and how long until
    /// Confluence has them all.
    Bulk(BulkArgs),
    /// A directory app (issue 13): full sync from slapd, and one change's latency.
    Ldap(ldap::LdapArgs),
}

#[path = "usersync-e2e-bench/ldap.rs"]
mod ldap;

#[derive(Args)]
struct BulkArgs {
    #[command(flatten)]
    common: Common,
    /// Operations in the Bulk request (POST /Users each).
    #[arg(long, default_value_t = 1000)]
    operations: usize,
    /// Latency the emulator adds to every Confluence request, in milliseconds.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
}

#[derive(Args, Clone)]
struct Common {
    /// The `usersync` binary.
    #[arg(long)]
    usersync: PathBuf,
    /// The `confluence-emulator` binary.
    #[arg(long)]
    emulator: PathBuf,
    /// The standard rules module (`usersync rules build sample-rules/standard`).
    #[arg(long)]
    module: PathBuf,
    /// An empty working folder (configs, databases, logs).
    #[arg(long)]
    work: PathBuf,
    /// Concurrent SCIM clients, one keep-alive connection each.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// `[confluence] max_concurrency` (outbox workers and requests in flight per app).
    #[arg(long, default_value_t = 4)]
    max_concurrency: usize,
    /// `[apps.rules_limits] deadline_ms` of the measured hosts (the host's default is 50).
    /// Seeding, which is not measured, always runs with 10,000.
    #[arg(long, default_value_t = 50)]
    rules_deadline_ms: u64,
}

#[derive(Args)]
struct ProvisionArgs {
    #[command(flatten)]
    common: Common,
    /// Provisionings per run.
    #[arg(long, default_value_t = 10_000)]
    provisionings: usize,
    /// SCIM groups the users are spread over (three each, round-robin).
    #[arg(long, default_value_t = 300)]
    groups: usize,
}

#[derive(Args)]
struct SyncArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 5_000)]
    groups: usize,
    /// IdP groups per user.
    #[arg(long, default_value_t = 3)]
    memberships: usize,
    /// Target: wall time of `usersync sync`, in seconds.
    #[arg(long, default_value_t = 60.0)]
    max_secs: f64,
    /// Target: peak RSS of `usersync sync`, in MB.
    #[arg(long, default_value_t = 500)]
    max_rss_mb: u64,
    /// `/usr/bin/time` (GNU time, for `-v`).
    #[arg(long, default_value = "/usr/bin/time")]
    time_bin: PathBuf,
    /// The host's store from an earlier run of this scenario with the same sizes (its
    /// `sync/usersync.db`, kept with `KEEP=1`): copied instead of seeding the host again.
    #[arg(long)]
    seeded_db: Option<PathBuf>,
}

const APP: &str = "bench";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the clients, the polling and the child processes' pipes share it, which
    // leaves the cores to the host and the emulator.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the Tokio runtime")?;
    match cli.command {
        Cmd::Provision(args) => runtime.block_on(provision(args)),
        Cmd::Bulk(args) => runtime.block_on(bulk(args)),
        Cmd::Ldap(args) => {
            if !runtime.block_on(ldap::run(args))? {
                std::process::exit(2);
            }
            Ok(())
        }
        Cmd::Sync(args) => {
            let met = runtime.block_on(sync(args))?;
            if !met {
                std::process::exit(2);
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes

/// A child process that is killed when dropped (a failed run leaves nothing behind).
struct Proc {
    name: &'static str,
    child: Child,
    pid: u32,
}

impl Proc {
    fn spawn(name: &'static str, mut command: Command, log: &Path) -> anyhow::Result<Proc> {
        let log_file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let out = log_file.try_clone()?;
        command.stdout(out).stderr(log_file).stdin(Stdio::null()).kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("cannot start {name}"))?;
        let pid = child.id().context("the child has no pid")?;
        Ok(Proc { name, child, pid })
    }

    /// User + system CPU seconds so far.
    fn cpu_secs(&self) -> anyhow::Result<f64> {
        cpu_secs(&format!("/proc/{}/stat", self.pid))
    }

    fn rss_mb(&self, field: &str) -> u64 {
        status_kb(self.pid, field) / 1024
    }

    /// SIGTERM, then wait (SIGKILL after 20 s).
    async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                status.with_context(|| format!("waiting for {}", self.name))?;
            }
            Err(_) => {
                eprintln!("== {} did not stop on SIGTERM; killing it", self.name);
                self.child.kill().await?;
            }
        }
        Ok(())
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early: {status}", self.name);
        }
        Ok(())
    }
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

fn cpu_secs(stat_path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(stat_path).with_context(|| format!("cannot read {stat_path}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / clk_tck())
}

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn log(line: &str) {
    eprintln!("== {line}");
}

/// Polls `url` until it answers 2xx; fails when `proc` exits or after two minutes.
async fn wait_ready(http: &reqwest::Client, url: &str, proc: &mut Proc) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        proc.check_alive()?;
        ensure!(Instant::now() < deadline, "{} did not answer {url} within 120 s", proc.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A host config: one app with the standard rules, and `[confluence]` when `confluence` is
/// the emulator's base URL.
fn write_config(
    dir: &Path,
    port: u16,
    module: &Path,
    confluence: Option<&str>,
    max_concurrency: usize,
    rules_deadline_ms: u64,
) -> anyhow::Result<PathBuf> {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         database = \"usersync.db\"\n"
    );
    if let Some(url) = confluence {
        std::fs::write(dir.join("confluence-password"), "admin\n")?;
        let _ = write!(
            text,
            "\n[confluence]\nurl = \"{url}\"\nusername = \"admin\"\npassword_file = \"confluence-password\"\n\
             max_concurrency = {max_concurrency}\n"
        );
    }
    let module = module.canonicalize().with_context(|| format!("no module at {}", module.display()))?;
    let _ = write!(
        text,
        "\n[[apps]]\nname = \"{APP}\"\nkind = \"generic\"\nrules = \"{}\"\n[apps.rules_limits]\n\
         deadline_ms = {rules_deadline_ms}\n[apps.settings]\nusername_regex = \"@.*$\"\non_the_fly = true\n",
        module.display()
    );
    let path = dir.join("usersync.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// `usersync token create` for the app; returns the secret.
async fn create_token(usersync: &Path, config: &Path) -> anyhow::Result<String> {
    let out = Command::new(usersync)
        .args(["token", "create", "--config"])
        .arg(config)
        .args(["--app", APP])
        .stdin(Stdio::null())
        .output()
        .await?;
    ensure!(out.status.success(), "usersync token create failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    let token = text.lines().last().unwrap_or_default().trim().to_owned();
    ensure!(!token.is_empty(), "usersync token create printed no token");
    Ok(token)
}

async fn start_host(common: &Common, config: &Path, port: u16, http: &reqwest::Client) -> anyhow::Result<Proc> {
    let dir = config.parent().context("config has no folder")?;
    let mut command = Command::new(&common.usersync);
    command.args(["serve", "--config"]).arg(config).env("USERSYNC_LOG", "usersync=warn");
    let mut host = Proc::spawn("usersync serve", command, &dir.join("server.log"))?;
    wait_ready(http, &format!("http://127.0.0.1:{port}/healthz"), &mut host).await?;
    Ok(host)
}

async fn start_emulator(common: &Common, dir: &Path, http: &reqwest::Client) -> anyhow::Result<(Proc, String)> {
    let port = free_port()?;
    let mut command = Command::new(&common.emulator);
    command.arg("--listen").arg(format!("127.0.0.1:{port}"));
    let mut emulator = Proc::spawn("confluence-emulator", command, &dir.join("emulator.log"))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(http, &format!("{base}/_emulator/counters"), &mut emulator).await?;
    Ok((emulator, base))
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await?.error_for_status()?;
    Ok(response.json().await?)
}

fn counter(counters: &Value, name: &str) -> u64 {
    counters[name].as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// SCIM traffic

fn user_name(i: usize) -> String {
    format!("p{i:06}@example.com")
}

/// The Confluence username the standard rules make of `user_name(i)` (`@.*$` removed).
fn username(i: usize) -> String {
    format!("p{i:06}")
}

fn full_name(i: usize) -> String {
    format!("Person {i}")
}

fn user_body(i: usize) -> Bytes {
    let name = user_name(i);
    Bytes::from(
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "name": {"givenName": "Person", "familyName": i.to_string()},
            "displayName": full_name(i),
            "emails": [{"value": name, "type": "work", "primary": true}],
            "active": true
        })
        .to_string(),
    )
}

fn add_member_body(id: &str) -> Bytes {
    Bytes::from(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})
        .to_string(),
    )
}

/// One client's connection, reopened after a failure.
struct Client {
    endpoint: Endpoint,
    conn: Option<Connection>,
}

impl Client {
    fn new(endpoint: &Endpoint) -> Client {
        Client { endpoint: endpoint.clone(), conn: None }
    }

    async fn send(&mut self, method: Method, path: String, body: Option<Bytes>) -> anyhow::Result<(StatusCode, Bytes)> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => Connection::open(&self.endpoint).await?,
        };
        let conn = self.conn.insert(conn);
        match conn.send(method, path, body).await {
            Ok(reply) => Ok((reply.status, reply.body)),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }

    /// Sends and requires `expected`; returns the body.
    async fn expect(
        &mut self,
        method: Method,
        path: String,
        body: Option<Bytes>,
        expected: &[u16],
    ) -> anyhow::Result<Bytes> {
        let what = format!("{method} {path}");
        let (status, body) = self.send(method, path, body).await?;
        if !expected.contains(&status.as_u16()) {
            bail!("{what}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
        }
        Ok(body)
    }
}

fn id_of(body: &[u8]) -> anyhow::Result<String> {
    let value: Value = serde_json::from_slice(body)?;
    value["id"].as_str().map(str::to_owned).context("the response has no id")
}

/// Runs `count` jobs with `clients` concurrent clients; `job(client, index)`.
async fn run_clients<F, Fut>(endpoint: &Endpoint, clients: usize, count: usize, job: F) -> anyhow::Result<Vec<u32>>
where
    F: Fn(Client, usize) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = (Client, anyhow::Result<()>)> + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (next, stop, job, endpoint) = (next.clone(), stop.clone(), job.clone(), endpoint.clone());
        tasks.spawn_local(async move {
            let mut client = Client::new(&endpoint);
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count || stop.load(Ordering::Relaxed) {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let started = Instant::now();
                let (back, result) = job(client, i).await;
                client = back;
                if let Err(e) = result {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e.context(format!("job {i}")));
                }
                latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
        });
    }
    let mut all = Vec::with_capacity(count);
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(mut l) => all.append(&mut l),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    all.sort_unstable();
    Ok(all)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `tokio::task::spawn_local` needs a `LocalSet`.
async fn local<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(f).await
}

// ---------------------------------------------------------------------------------------
// Scenario 1: provisioning throughput

struct ProvisionRun {
    label: &'static str,
    secs: f64,
    scim_secs: f64,
    latencies: Vec<u32>,
    host_cpu: f64,
    emulator_cpu: Option<f64>,
    driver_cpu: f64,
    host_rss_mb: u64,
    counters: Option<Value>,
}

async fn provision(args: ProvisionArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let n = args.provisionings;
    let mut runs = Vec::new();
    for (label, with_confluence) in [("baseline: no [confluence]", false), ("Confluence (emulator)", true)] {
        log(&format!("provisioning run: {label}, {n} provisionings, {} clients", args.common.clients));
        runs.push(local(provision_run(&args, &http, label, with_confluence)).await?);
    }
    let base = &runs[0];
    let base_rate = n as f64 / base.secs;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Provisioning: {n} × (POST /Users + 3 group PATCHes), {} clients, {} SCIM groups, max_concurrency {}\n",
        args.common.clients, args.groups, args.common.max_concurrency
    );
    let _ = writeln!(
        out,
        "| run | provisionings/s | vs baseline | SCIM answered (s) | done (s) | p50 ms | p90 ms | p99 ms | host CPU ms/prov | emulator CPU ms/prov | driver CPU ms/prov | host RSS MB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut json_runs = Vec::new();
    for r in &runs {
        let rate = n as f64 / r.secs;
        let per = |cpu: f64| cpu * 1000.0 / n as f64;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.2} | {} |",
            r.label,
            rate,
            rate / base_rate,
            r.scim_secs,
            r.secs,
            percentile(&r.latencies, 50.0) as f64 / 1000.0,
            percentile(&r.latencies, 90.0) as f64 / 1000.0,
            percentile(&r.latencies, 99.0) as f64 / 1000.0,
            per(r.host_cpu),
            r.emulator_cpu.map_or("—".to_owned(), |c| format!("{:.2}", per(c))),
            per(r.driver_cpu),
            r.host_rss_mb,
        );
        json_runs.push(json!({"label": r.label, "per_sec": rate, "secs": r.secs, "scim_secs": r.scim_secs,
            "p50_us": percentile(&r.latencies, 50.0), "p99_us": percentile(&r.latencies, 99.0),
            "host_cpu_s": r.host_cpu, "emulator_cpu_s": r.emulator_cpu, "driver_cpu_s": r.driver_cpu,
            "counters": r.counters}));
    }
    if let Some(c) = runs.get(1).and_then(|r| r.counters.as_ref()) {
        let per = |k: &str| counter(c, k) as f64 / n as f64;
        let _ = writeln!(
            out,
            "\n- Confluence requests per provisioning: {:.2} (users created {}, groups created {}, memberships added {}, no-op adds {}, 429 {}, injected errors {})",
            per("requests"),
            counter(c, "users_created"),
            counter(c, "groups_created"),
            counter(c, "members_added"),
            counter(c, "noop_member_adds"),
            counter(c, "rate_limited"),
            counter(c, "injected_errors"),
        );
    }
    print!("{out}");
    println!("json: {}", json!({"provisionings": n, "runs": json_runs}));
    Ok(())
}

async fn provision_run(
    args: &ProvisionArgs,
    http: &reqwest::Client,
    label: &'static str,
    with_confluence: bool,
) -> anyhow::Result<ProvisionRun> {
    let common = &args.common;
    let n = args.provisionings;
    let dir = common.work.join(if with_confluence { "provision-confluence" } else { "provision-baseline" });
    std::fs::create_dir_all(&dir)?;
    let emulator = if with_confluence { Some(start_emulator(common, &dir, http).await?) } else { None };
    let port = free_port()?;
    let config = write_config(
        &dir,
        port,
        &common.module,
        emulator.as_ref().map(|(_, url)| url.as_str()),
        common.max_concurrency,
        common.rules_deadline_ms,
    )?;
    let token = create_token(&common.usersync, &config).await?;
    let host = start_host(common, &config, port, http).await?;
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}/scim/v2/{APP}"), Some(&token))?;
    let base = endpoint.base_path().to_owned();

    // The SCIM groups, empty: their Confluence groups are created on the fly by the first
    // member's decision, inside the measured run.
    let groups = args.groups.max(3);
    let group_ids: Arc<Mutex<Vec<(usize, String)>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let (ids, base) = (group_ids.clone(), base.clone());
        run_clients(&endpoint, common.clients, groups, move |mut client, g| {
            let (ids, base) = (ids.clone(), base.clone());
            async move {
                let body = Bytes::from(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Team{g:04}")})
                        .to_string(),
                );
                let result = async {
                    let created = client.expect(Method::POST, format!("{base}/Groups"), Some(body), &[201]).await?;
                    ids.lock().unwrap_or_else(PoisonError::into_inner).push((g, id_of(&created)?));
                    Ok(())
                }
                .await;
                (client, result)
            }
        })
        .await?;
    }
    let mut ids = std::mem::take(&mut *group_ids.lock().unwrap_or_else(PoisonError::into_inner));
    ids.sort();
    let group_ids: Arc<Vec<String>> = Arc::new(ids.into_iter().map(|(_, id)| id).collect());

    let host_cpu0 = host.cpu_secs()?;
    let emu_cpu0 = emulator.as_ref().map(|(e, _)| e.cpu_secs()).transpose()?;
    let driver_cpu0 = cpu_secs("/proc/self/stat")?;
    let counters0 = match &emulator {
        Some((_, url)) => Some(get_json(http, &format!("{url}/_emulator/counters")).await?),
        None => None,
    };
    let started = Instant::now();
    let latencies = {
        let (group_ids, base) = (group_ids.clone(), base.clone());
        let k = groups;
        run_clients(&endpoint, common.clients, n, move |mut client, i| {
            let (group_ids, base) = (group_ids.clone(), base.clone());
            async move {
                let result = async {
                    let created =
                        client.expect(Method::POST, format!("{base}/Users"), Some(user_body(i)), &[201]).await?;
                    let id = id_of(&created)?;
                    for j in 0..3 {
                        let group = &group_ids[(3 * i + j) % k];
                        client
                            .expect(
                                Method::PATCH,
                                format!("{base}/Groups/{group}"),
                                Some(add_member_body(&id)),
                                &[200, 204],
                            )
                            .await?;
                    }
                    Ok(())
                }
                .await;
                (client, result)
            }
        })
        .await?
    };
    let scim_secs = started.elapsed().as_secs_f64();
    let mut counters = None;
    if let (Some((_, url)), Some(c0)) = (&emulator, &counters0) {
        // Done when Confluence has every user and every membership.
        let want_users = counter(c0, "users_created") + n as u64;
        let want_members = counter(c0, "members_added") + 3 * n as u64;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let c = get_json(http, &format!("{url}/_emulator/counters")).await?;
            if counter(&c, "users_created") >= want_users && counter(&c, "members_added") >= want_members {
                break;
            }
            ensure!(Instant::now() < deadline, "Confluence did not get every user and membership within 600 s: {c}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let host_cpu = host.cpu_secs()? - host_cpu0;
    let emulator_cpu = match (&emulator, emu_cpu0) {
        (Some((e, _)), Some(c0)) => Some(e.cpu_secs()? - c0),
        _ => None,
    };
    let driver_cpu = cpu_secs("/proc/self/stat")? - driver_cpu0;
    let host_rss_mb = host.rss_mb("VmHWM:");
    if let (Some((_, url)), Some(c0)) = (&emulator, &counters0) {
        let c1 = get_json(http, &format!("{url}/_emulator/counters")).await?;
        let mut diff = serde_json::Map::new();
        if let (Some(a), Some(b)) = (c0.as_object(), c1.as_object()) {
            for (k, v) in b {
                let before = a.get(k).and_then(Value::as_u64).unwrap_or(0);
                diff.insert(k.clone(), json!(v.as_u64().unwrap_or(0).saturating_sub(before)));
            }
        }
        counters = Some(Value::Object(diff));
        // Check the end state: every user, in exactly the three groups.
        let state = get_json(http, &format!("{url}/_emulator/state")).await?;
        let mut wrong = 0usize;
        for i in 0..n {
            let user = username(i);
            let present = state["users"].get(&user).is_some();
            let in_groups = (0..3).all(|j| {
                let g = format!("team{:04}", (3 * i + j) % groups);
                state["groups"][&g].as_array().is_some_and(|m| m.iter().any(|v| v.as_str() == Some(&user)))
            });
            if !present || !in_groups {
                wrong += 1;
            }
        }
        ensure!(wrong == 0, "{wrong} of {n} provisionings are not (fully) in Confluence");
        log("checked: every user is in Confluence with its three memberships");
    }
    host.stop().await?;
    if let Some((e, _)) = emulator {
        e.stop().await?;
    }
    Ok(ProvisionRun { label, secs, scim_secs, latencies, host_cpu, emulator_cpu, driver_cpu, host_rss_mb, counters })
}

// ---------------------------------------------------------------------------------------
// Scenario 2: Synchronize

/// The IdP groups of user `i` (indexes into `0..groups`), distinct.
fn groups_of(i: usize, groups: usize, memberships: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..memberships).map(|k| (i * memberships + k) % groups).collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn group_name(g: usize) -> String {
    format!("Dept{g:05}")
}

/// The drift seeded into Confluence, decided per user / membership, so that the expected
/// repairs are known exactly.
fn missing_user(i: usize) -> bool {
    i % 100 == 37
}
fn renamed_user(i: usize) -> bool {
    i % 100 == 71
}
fn missing_membership(i: usize, g: usize) -> bool {
    (i * 7 + g * 3) % 100 == 5
}
/// A stray member the app's decisions do not want: one per 50 groups. The app did not grant
/// it (it stands for a membership made by hand), so Synchronize leaves it alone.
fn stray_member(g: usize, users: usize, groups: usize, memberships: usize) -> Option<usize> {
    if g % 50 != 0 {
        return None;
    }
    let i = (g * 13 + 1) % users;
    (!groups_of(i, groups, memberships).contains(&g) && !missing_user(i)).then_some(i)
}

#[derive(Default, Debug)]
struct Expected {
    created: usize,
    updated: usize,
    added: usize,
    /// Hand-made memberships, kept.
    stray: usize,
}

/// Seeds the host's store in `dir` through SCIM, without Confluence: `users` users, then
/// `groups` groups with their `members`. Returns the seconds each took and the host's RSS
/// in MB.
async fn seed_host(
    common: &Common,
    dir: &Path,
    users: usize,
    groups: usize,
    members: Arc<Vec<Vec<usize>>>,
) -> anyhow::Result<(f64, f64, u64)> {
    let http = reqwest::Client::new();
    let port = free_port()?;
    let config = write_config(dir, port, &common.module, None, common.max_concurrency, 10_000)?;
    let token = create_token(&common.usersync, &config).await?;
    let host = start_host(common, &config, port, &http).await?;
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}/scim/v2/{APP}"), Some(&token))?;
    let base = endpoint.base_path().to_owned();
    log(&format!("seeding the host: {users} users with {} clients", common.clients));
    let t = Instant::now();
    let ids: Arc<Mutex<Vec<(usize, String)>>> = Arc::new(Mutex::new(Vec::with_capacity(users)));
    {
        let (ids, base) = (ids.clone(), base.clone());
        local(run_clients(&endpoint, common.clients, users, move |mut client, i| {
            let (ids, base) = (ids.clone(), base.clone());
            async move {
                let result = async {
                    let created =
                        client.expect(Method::POST, format!("{base}/Users"), Some(user_body(i)), &[201]).await?;
                    ids.lock().unwrap_or_else(PoisonError::into_inner).push((i, id_of(&created)?));
                    Ok(())
                }
                .await;
                (client, result)
            }
        }))
        .await?;
    }
    let seed_users_secs = t.elapsed().as_secs_f64();
    let mut pairs = std::mem::take(&mut *ids.lock().unwrap_or_else(PoisonError::into_inner));
    pairs.sort();
    let ids: Arc<Vec<String>> = Arc::new(pairs.into_iter().map(|(_, id)| id).collect());
    log(&format!("seeding the host: {groups} groups with their members"));
    let t = Instant::now();
    {
        let (ids, members, base) = (ids.clone(), members.clone(), base.clone());
        local(run_clients(&endpoint, common.clients, groups, move |mut client, g| {
            let (ids, members, base) = (ids.clone(), members.clone(), base.clone());
            async move {
                let list: Vec<Value> = members[g].iter().map(|&i| json!({"value": ids[i]})).collect();
                let body = Bytes::from(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": group_name(g),
                        "members": list})
                    .to_string(),
                );
                let result =
                    client.expect(Method::POST, format!("{base}/Groups"), Some(body), &[201]).await.map(|_| ());
                (client, result)
            }
        }))
        .await?;
    }
    let seed_groups_secs = t.elapsed().as_secs_f64();
    let host_rss = host.rss_mb("VmRSS:");
    host.stop().await?;
    log(&format!(
        "host seeded: users in {seed_users_secs:.1} s, groups in {seed_groups_secs:.1} s; host RSS {host_rss} MB"
    ));
    Ok((seed_users_secs, seed_groups_secs, host_rss))
}

/// Copies a kept SQLite store with its write-ahead log, if there is one: commits not yet
/// checkpointed into the database file are only there.
fn copy_store(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("cannot copy the seeded store {}", from.display()))?;
    let wal = |p: &Path| PathBuf::from(format!("{}-wal", p.display()));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to)).with_context(|| format!("cannot copy {}", wal(from).display()))?;
    }
    Ok(())
}

/// The users in each group: user `i` is in the groups [`groups_of`] gives.
fn members_of_groups(users: usize, groups: usize, memberships: usize) -> Vec<Vec<usize>> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for i in 0..users {
        for g in groups_of(i, groups, memberships) {
            members[g].push(i);
        }
    }
    members
}

async fn sync(args: SyncArgs) -> anyhow::Result<bool> {
    let common = &args.common;
    let http = reqwest::Client::new();
    let (users, groups, memberships) = (args.users, args.groups.max(1), args.memberships);
    let dir = common.work.join("sync");
    std::fs::create_dir_all(&dir)?;

    // 1. The host's store: users and their IdP groups through SCIM, without Confluence.
    let members = Arc::new(members_of_groups(users, groups, memberships));
    let (seed_users_secs, seed_groups_secs, host_rss) = match &args.seeded_db {
        Some(db) => {
            copy_store(db, &dir.join("usersync.db"))?;
            log(&format!("host store copied from {}", db.display()));
            (0.0, 0.0, 0)
        }
        None => seed_host(common, &dir, users, groups, members.clone()).await?,
    };

    // 2. The emulator: the same people and groups, with drift.
    let (emulator, emulator_url) = start_emulator(common, &dir, &http).await?;
    let mut expected = Expected::default();
    let mut seed_users = Vec::with_capacity(users);
    for i in 0..users {
        if missing_user(i) {
            expected.created += 1;
            continue;
        }
        let name = if renamed_user(i) {
            expected.updated += 1;
            format!("Old Name {i}")
        } else {
            full_name(i)
        };
        seed_users
            .push(json!({"username": username(i), "full_name": name, "email": format!("{}@example.com", username(i))}));
    }
    let mut seed_groups = Vec::with_capacity(groups);
    for (g, wanted) in members.iter().enumerate() {
        let mut list: Vec<String> = Vec::with_capacity(wanted.len() + 1);
        for &i in wanted {
            if missing_user(i) || missing_membership(i, g) {
                expected.added += 1;
            } else {
                list.push(username(i));
            }
        }
        if let Some(i) = stray_member(g, users, groups, memberships) {
            expected.stray += 1;
            list.push(username(i));
        }
        seed_groups.push(json!({"name": group_name(g).to_lowercase(), "members": list}));
    }
    let t = Instant::now();
    let seeded: Value = http
        .post(format!("{emulator_url}/_emulator/seed"))
        .json(&json!({"users": seed_users, "groups": seed_groups}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    drop((seed_users, seed_groups));
    log(&format!("emulator seeded in {:.1} s: {seeded}; expected repairs {expected:?}", t.elapsed().as_secs_f64()));

    // 3. `usersync sync`, in-process (nothing listens at the config's address).
    let sync_port = free_port()?;
    let config = write_config(
        &dir,
        sync_port,
        &common.module,
        Some(&emulator_url),
        common.max_concurrency,
        common.rules_deadline_ms,
    )?;
    let counters0 = get_json(&http, &format!("{emulator_url}/_emulator/counters")).await?;
    let emu_cpu0 = emulator.cpu_secs()?;
    let time_out = dir.join("time.txt");
    let mut command = Command::new(&args.time_bin);
    command
        .arg("-v")
        .arg("-o")
        .arg(&time_out)
        .arg(&common.usersync)
        .args(["sync", "--config"])
        .arg(&config)
        .args(["--app", APP])
        .env("USERSYNC_LOG", "usersync=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    log(&format!("running: {} -v usersync sync --config {} --app {APP}", args.time_bin.display(), config.display()));
    let started = Instant::now();
    let mut child = command.spawn().context("cannot start usersync sync under /usr/bin/time")?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let lines: Arc<Mutex<Vec<(f64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut stderr = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = stderr.next_line().await {
                let at = started.elapsed().as_secs_f64();
                lines.lock().unwrap_or_else(PoisonError::into_inner).push((at, line));
            }
        })
    };
    let out_reader = tokio::spawn(async move {
        let mut text = String::new();
        let mut stdout = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = stdout.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let status = child.wait().await?;
    let wall = started.elapsed().as_secs_f64();
    let _ = reader.await;
    let _ = out_reader.await;
    let emulator_cpu = emulator.cpu_secs()? - emu_cpu0;
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
    for (at, line) in &lines {
        // Keep the log short: the member and applying lines come every few ms.
        if !line.contains("reading group members:") && !line.contains("applying:") && !line.contains("decided ") {
            eprintln!("   {at:7.2} s  {line}");
        }
    }
    ensure!(status.success(), "usersync sync failed ({status}); its stderr is above");
    let time_text = std::fs::read_to_string(&time_out)?;
    let time_field = |name: &str| {
        time_text
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_owned()))
            .unwrap_or_default()
    };
    let max_rss_kb: u64 = time_field("Maximum resident set size (kbytes)").parse().unwrap_or(0);
    let user_cpu: f64 = time_field("User time (seconds)").parse().unwrap_or(0.0);
    let sys_cpu: f64 = time_field("System time (seconds)").parse().unwrap_or(0.0);
    let counters1 = get_json(&http, &format!("{emulator_url}/_emulator/counters")).await?;
    let delta = |k: &str| counter(&counters1, k).saturating_sub(counter(&counters0, k));

    // 4. Check: Confluence is now exactly what the decisions want.
    let state = get_json(&http, &format!("{emulator_url}/_emulator/state")).await?;
    let mut wrong_users = 0usize;
    for i in 0..users {
        if state["users"][username(i)]["full_name"].as_str() != Some(full_name(i).as_str()) {
            wrong_users += 1;
        }
    }
    let mut wrong_groups = 0usize;
    for (g, wanted) in members.iter().enumerate() {
        let stray = stray_member(g, users, groups, memberships);
        let want: BTreeSet<String> = wanted.iter().chain(stray.as_ref()).map(|&i| username(i)).collect();
        let have: BTreeSet<String> = state["groups"][group_name(g).to_lowercase()]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if want != have {
            wrong_groups += 1;
        }
    }
    drop(state);
    emulator.stop().await?;

    // Phases, from the progress lines' arrival times.
    let first = |needle: &str| lines.iter().find(|(_, l)| l.contains(needle)).map(|(t, _)| *t);
    let last = |needle: &str| lines.iter().rev().find(|(_, l)| l.contains(needle)).map(|(t, _)| *t);
    let marks: Vec<(&str, Option<f64>)> = vec![
        ("start-up (open the store, load the rules module)", Some(0.0)),
        ("reading Confluence users", first("reading Confluence users")),
        ("reading Confluence groups", first("reading Confluence groups")),
        ("reading every group's members", first("reading group members")),
        ("re-deciding every person (rules, store commits), then the diff", first("deciding about")),
        ("queueing the repairs (outbox, durable)", first("queueing")),
        ("applying the repairs (outbox workers)", first("applying:")),
        ("report and exit", last("applying:").or(first("Done:"))),
    ];
    let mut phases: BTreeMap<usize, (&str, f64)> = BTreeMap::new();
    let known: Vec<(usize, &str, f64)> =
        marks.iter().enumerate().filter_map(|(n, (name, t))| t.map(|t| (n, *name, t))).collect();
    for (k, (n, name, t)) in known.iter().enumerate() {
        let end = known.get(k + 1).map_or(wall, |(_, _, t)| *t);
        phases.insert(*n, (name, (end - t).max(0.0)));
    }
    let summary = lines.iter().find(|(_, l)| l.starts_with("Done:")).map(|(_, l)| l.clone()).unwrap_or_default();

    let rss_mb = max_rss_kb / 1024;
    let met = wall <= args.max_secs && rss_mb <= args.max_rss_mb;
    let repairs_ok = wrong_users == 0 && wrong_groups == 0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Synchronize: {users} users, {groups} groups ({memberships} per user), max_concurrency {}\n",
        common.max_concurrency
    );
    let _ = writeln!(out, "| phase | seconds | share |");
    let _ = writeln!(out, "|---|---:|---:|");
    for (name, secs) in phases.values() {
        let _ = writeln!(out, "| {name} | {secs:.2} | {:.0}% |", secs / wall * 100.0);
    }
    let _ = writeln!(out, "| **total wall time** | **{wall:.2}** | |");
    let _ = writeln!(out);
    let _ = writeln!(out, "| target | measured | |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| wall time ≤ {:.0} s | {wall:.1} s | {} |",
        args.max_secs,
        if wall <= args.max_secs { "met" } else { "**missed**" }
    );
    let _ = writeln!(
        out,
        "| peak RSS ≤ {} MB | {rss_mb} MB | {} |",
        args.max_rss_mb,
        if rss_mb <= args.max_rss_mb { "met" } else { "**missed**" }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- sync process CPU: {user_cpu:.1} s user + {sys_cpu:.1} s system; emulator CPU {emulator_cpu:.1} s"
    );
    let _ = writeln!(
        out,
        "- Confluence requests during the sync: {} ({} users created, {} updated, {} memberships added, {} removed, {} groups created)",
        delta("requests"),
        delta("users_created"),
        delta("users_updated"),
        delta("members_added"),
        delta("members_removed"),
        delta("groups_created"),
    );
    let _ = writeln!(
        out,
        "- drift seeded: {} users missing, {} renamed, {} memberships missing (missing users' included), {} stray members (made by hand: kept)",
        expected.created, expected.updated, expected.added, expected.stray
    );
    let _ = writeln!(out, "- sync summary: {summary}");
    let _ = writeln!(
        out,
        "- end state: {}",
        if repairs_ok {
            "every user and every group is as decided, hand-made members kept".to_owned()
        } else {
            format!("**{wrong_users} users and {wrong_groups} groups differ from the decisions**")
        }
    );
    let _ = writeln!(
        out,
        "- setup (not timed): host seeded with {users} SCIM users in {seed_users_secs:.1} s and {groups} SCIM groups in {seed_groups_secs:.1} s ({} clients, rules on, no [confluence]); host RSS then {host_rss} MB",
        common.clients
    );
    print!("{out}");
    println!(
        "json: {}",
        json!({"users": users, "groups": groups, "wall_secs": wall, "max_rss_mb": rss_mb, "user_cpu": user_cpu,
            "sys_cpu": sys_cpu, "emulator_cpu": emulator_cpu, "requests": delta("requests"),
            "phases": phases.values().map(|(n, s)| json!({"phase": n, "secs": s})).collect::<Vec<_>>(),
            "repairs_ok": repairs_ok, "met": met})
    );
    ensure!(repairs_ok, "the Synchronize did not repair the drift exactly");
    Ok(met)
}

// ---------------------------------------------------------------------------------------
// Bulk

/// One Bulk request of `operations` creates to a fresh host: without `[confluence]`
/// (the baseline: stored and decided only), then with the emulator at `latency_ms`.
async fn bulk(args: BulkArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let n = args.operations;
    let operations = (0..n)
        .map(|i| {
            let body: Value = serde_json::from_slice(&user_body(i))?;
            Ok(json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": body}))
        })
        .collect::<anyhow::Result<Vec<Value>>>()?;
    let request =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations}).to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Bulk: one request of {n} POST /Users, emulator latency {} ms, max_concurrency {}\n",
        args.latency_ms, args.common.max_concurrency
    );
    let _ = writeln!(
        out,
        "| run | Bulk answered (s) | vs baseline | all in Confluence (s) | Confluence users created | host CPU (s) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let mut baseline = None;
    for (label, with_confluence) in [("baseline: no [confluence]", false), ("Confluence (emulator)", true)] {
        let dir = args.common.work.join(if with_confluence { "bulk-confluence" } else { "bulk-baseline" });
        std::fs::create_dir_all(&dir)?;
        let emulator = if with_confluence { Some(start_emulator(&args.common, &dir, &http).await?) } else { None };
        if let Some((_, base)) = &emulator {
            http.put(format!("{base}/_emulator/faults"))
                .json(&json!({"latency_ms": args.latency_ms}))
                .send()
                .await?
                .error_for_status()?;
        }
        let port = free_port()?;
        let config = write_config(
            &dir,
            port,
            &args.common.module,
            emulator.as_ref().map(|(_, base)| base.as_str()),
            args.common.max_concurrency,
            args.common.rules_deadline_ms,
        )?;
        let token = create_token(&args.common.usersync, &config).await?;
        let host = start_host(&args.common, &config, port, &http).await?;
        let cpu0 = host.cpu_secs()?;
        log(&format!("bulk run: {label}, {n} operations"));
        let started = Instant::now();
        let response = http
            .post(format!("http://127.0.0.1:{port}/scim/v2/{APP}/Bulk"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(request.clone())
            .send()
            .await?;
        ensure!(response.status().as_u16() == 200, "the Bulk answered {}", response.status());
        let body: Value = response.json().await?;
        let answered = started.elapsed().as_secs_f64();
        let ok = body["Operations"].as_array().map_or(0, |ops| ops.iter().filter(|o| o["status"] == "201").count());
        ensure!(ok == n, "{ok} of {n} operations succeeded");
        let (landed, created) = match &emulator {
            Some((_, base)) => {
                let deadline = Instant::now() + Duration::from_secs(600);
                loop {
                    let created =
                        counter(&get_json(&http, &format!("{base}/_emulator/counters")).await?, "users_created");
                    if created as usize >= n {
                        break (Some(started.elapsed().as_secs_f64()), Some(created));
                    }
                    ensure!(Instant::now() < deadline, "Confluence has {created} of {n} users after 600 s");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            None => (None, None),
        };
        let cpu = host.cpu_secs()? - cpu0;
        let base_secs = *baseline.get_or_insert(answered);
        let _ = writeln!(
            out,
            "| {label} | {answered:.2} | {:.2} | {} | {} | {cpu:.2} |",
            answered / base_secs,
            landed.map_or("—".to_owned(), |s| format!("{s:.2}")),
            created.map_or("—".to_owned(), |c| c.to_string()),
        );
        drop(host);
        drop(emulator);
    }
    print!("{out}");
    Ok(())
}
