//! Issue 13's benchmarks: a directory app's full sync from a real slapd into the emulator,
//! and the change-to-Confluence latency of one change, with the persistent content-sync
//! search and with polling.
//!
//! 1. Full sync: slapd seeded with USERS people and GROUPS groups (MEMBERS each); the host
//!    starts with an empty store; measured from its start until Confluence has every person
//!    and every membership. Baseline in the same run: `ldapsearch` paging through the same
//!    entries (what reading the directory alone costs). Peak RSS of the host.
//! 2. Latency: one change at a time (a person's `mail`), from `ldapmodify` returning until
//!    Confluence has counted the update; with refreshAndPersist, then with refreshOnly
//!    polled every `poll_secs` (the changes spread over the poll's phase).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use clap::Args;
use usersync_tests::ldap_servers::{bulk_seed, Slapd};

use super::{counter, free_port, get_json, log, start_emulator, start_host, Common, Proc};

#[derive(Args)]
pub struct LdapArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    #[arg(long, default_value_t = 1_000)]
    pub groups: usize,
    /// Members of each group.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Changes measured per latency scenario.
    #[arg(long, default_value_t = 20)]
    pub changes: usize,
    /// The incremental interval of the polling scenario.
    #[arg(long, default_value_t = 5)]
    pub poll_secs: u64,
    /// Target: the full sync, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub max_secs: f64,
    /// Target: the host's peak RSS, in MB.
    #[arg(long, default_value_t = 300)]
    pub max_rss_mb: u64,
}

fn config(
    dir: &Path,
    port: u16,
    module: &Path,
    emulator: &str,
    slapd: &Slapd,
    extra: &str,
) -> anyhow::Result<std::path::PathBuf> {
    std::fs::write(dir.join("confluence-password"), "admin\n")?;
    std::fs::write(dir.join("ldap-password"), format!("{}\n", slapd.admin_password()))?;
    let module = module.canonicalize().with_context(|| format!("no module at {}", module.display()))?;
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\ndatabase = \"usersync.db\"\n\n\
         [confluence]\nurl = \"{emulator}\"\nusername = \"admin\"\npassword_file = \"confluence-password\"\n\n\
         [[apps]]\nname = \"corp\"\nkind = \"ldap\"\nrules = \"{}\"\n\
         [apps.directory]\nurls = [\"{}\"]\nbind_dn = \"{}\"\npassword_file = \"ldap-password\"\n\
         user_base = \"ou=people,dc=example,dc=com\"\ngroup_base = \"ou=groups,dc=example,dc=com\"\n{extra}\n\
         [apps.settings]\non_the_fly = true\n",
        module.display(),
        slapd.url(),
        slapd.admin_dn()
    );
    let path = dir.join("usersync.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Changes one person's `mail` at a time and times each until Confluence counts the update.
async fn latencies(
    http: &reqwest::Client,
    emulator: &str,
    slapd: &Slapd,
    changes: usize,
    spread: Duration,
    round: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(changes);
    for i in 0..changes {
        if !spread.is_zero() {
            // Spread the changes over the poll's phase (a fixed, reproducible pattern).
            let step = spread.as_millis() as u64 * ((i as u64 * 7) % 10) / 10;
            tokio::time::sleep(Duration::from_millis(step)).await;
        }
        let before = counter(&get_json(http, &format!("{emulator}/_emulator/counters")).await?, "users_updated");
        let uid = format!("user{}", (i * 37) % 1000);
        let ldif = format!(
            "dn: uid={uid},ou=people,dc=example,dc=com\nchangetype: modify\nreplace: mail\nmail: {uid}.r{round}c{i}@example.org\n"
        );
        slapd.ldapmodify(&ldif)?;
        let start = Instant::now();
        loop {
            let now = counter(&get_json(http, &format!("{emulator}/_emulator/counters")).await?, "users_updated");
            if now > before {
                break;
            }
            ensure!(start.elapsed() < Duration::from_secs(60), "change {i} did not reach Confluence within 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        out.push(start.elapsed().as_secs_f64());
    }
    Ok(out)
}

pub async fn run(args: LdapArgs) -> anyhow::Result<bool> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let c = &args.common;
    log(&format!("seeding slapd with {} people, {} groups of {}", args.users, args.groups, args.members));
    let seeded = Instant::now();
    let slapd = Slapd::start(&bulk_seed(args.users, args.groups, args.members))?;
    log(&format!("slapd seeded in {:.1} s", seeded.elapsed().as_secs_f64()));

    // Baseline: reading the same entries with ldapsearch, paged.
    let base = Instant::now();
    let listing = slapd.ldapsearch(&[
        "-LLL",
        "-E",
        "pr=500/noprompt",
        "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))",
        "*",
        "entryUUID",
    ])?;
    let baseline = base.elapsed().as_secs_f64();
    let entries = listing.lines().filter(|l| l.starts_with("dn: ")).count();
    ensure!(entries >= args.users + args.groups, "ldapsearch listed {entries} entries");

    let dir = c.work.join("ldap");
    std::fs::create_dir_all(&dir)?;
    let (emulator, emulator_url) = start_emulator(c, &dir, &http).await?;
    let port = free_port()?;
    let cfg = config(&dir, port, &c.module, &emulator_url, &slapd, "incremental_interval_secs = 5")?;
    let memberships = u64::try_from(args.groups * args.members.min(args.users))?;
    let started = Instant::now();
    let host: Proc = start_host(c, &cfg, port, &http).await?;
    loop {
        let counters = get_json(&http, &format!("{emulator_url}/_emulator/counters")).await?;
        if counter(&counters, "users_created") >= args.users as u64
            && counter(&counters, "members_added") >= memberships
        {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the full sync did not finish within 10 minutes: {counters}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let full = started.elapsed().as_secs_f64();
    let rss = host.rss_mb("VmHWM:");
    log(&format!("full sync: {full:.2} s, peak RSS {rss} MB"));

    // Latency with the persistent search (the host's detected strategy on slapd).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let persist = latencies(&http, &emulator_url, &slapd, args.changes, Duration::ZERO, 0).await?;
    host.stop().await?;

    // Latency with refreshOnly polling every poll_secs, resuming from the stored cookie.
    let cfg = config(
        &dir,
        port,
        &c.module,
        &emulator_url,
        &slapd,
        &format!("strategy = \"syncrepl\"\nincremental_interval_secs = {}", args.poll_secs),
    )?;
    let host = start_host(c, &cfg, port, &http).await?;
    tokio::time::sleep(Duration::from_secs(args.poll_secs + 1)).await;
    let polled =
        latencies(&http, &emulator_url, &slapd, args.changes.min(12), Duration::from_secs(args.poll_secs), 1).await?;
    host.stop().await?;
    emulator.stop().await?;

    let mut out = String::new();
    let _ = writeln!(out, "| scenario | figure |\n|---|---|");
    let _ = writeln!(
        out,
        "| full sync: {} people, {} groups × {} members → emulator | **{full:.2} s** (target < {:.0} s) |",
        args.users, args.groups, args.members, args.max_secs
    );
    let _ = writeln!(
        out,
        "| baseline: ldapsearch paging the same {entries} entries | {baseline:.2} s (full sync = {:.1}× it) |",
        full / baseline
    );
    let _ = writeln!(out, "| host peak RSS during the full sync | **{rss} MB** (target ≤ {} MB) |", args.max_rss_mb);
    let _ = writeln!(
        out,
        "| latency, refreshAndPersist ({} changes) | p50 **{:.3} s**, p90 {:.3} s, max {:.3} s |",
        persist.len(),
        median(persist.clone()),
        percentile(persist.clone(), 0.9),
        percentile(persist, 1.0)
    );
    let _ = writeln!(
        out,
        "| latency, refreshOnly polled every {} s ({} changes) | p50 **{:.3} s**, p90 {:.3} s, max {:.3} s |",
        args.poll_secs,
        polled.len(),
        median(polled.clone()),
        percentile(polled.clone(), 0.9),
        percentile(polled, 1.0)
    );
    print!("{out}");
    Ok(full < args.max_secs && rss <= args.max_rss_mb)
}
