//! `usersync ldap`: a directory app's run reports, Test Sync, a run now, and the approval
//! of a run the deletion threshold stopped.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

use crate::config::Config;
use crate::directory::client::Target;
use crate::directory::test_sync;

#[derive(Subcommand)]
pub enum LdapCommand {
    /// The app's runs, newest first: what each added, updated, disabled, deleted and
    /// skipped. With `--run`, that run's whole report.
    Runs {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: String,
        #[arg(long)]
        run: Option<i64>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Test Sync: look one person up by the app's username attribute and show their
    /// attributes (decoded), their groups and the rules' three decisions. Changes nothing.
    Test {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: String,
        /// The value of the username attribute (`sAMAccountName`, `uid`…).
        #[arg(long)]
        user: String,
    },
    /// Approve a run the deletion threshold stopped: the running server runs it again at
    /// once with the threshold lifted to what the run reported.
    Approve(RunArgs),
    /// Discard a run the deletion threshold stopped: nothing of it is applied.
    Discard(RunArgs),
    /// Ask the running server for a run now.
    Sync {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: String,
        /// A full reconcile rather than the next incremental run.
        #[arg(long)]
        full: bool,
        #[arg(long, env = "USERSYNC_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
    config: PathBuf,
    #[arg(long)]
    app: String,
    #[arg(long)]
    run: i64,
}

/// Runs one `usersync ldap` command.
///
/// # Errors
/// The config, the database or the directory fails; the message says which.
pub fn run(command: LdapCommand) -> Result<()> {
    match command {
        LdapCommand::Runs { config, app, run, limit } => {
            print!("{}", runs(&Config::load(&config)?, &app, run, limit)?);
            Ok(())
        }
        LdapCommand::Test { config, app, user } => {
            println!("{}", serde_json::to_string_pretty(&test(&Config::load(&config)?, &app, &user)?)?);
            Ok(())
        }
        LdapCommand::Approve(args) => settle(args, true),
        LdapCommand::Discard(args) => settle(args, false),
        LdapCommand::Sync { config, app, full, token } => sync(&Config::load(&config)?, &app, full, token),
    }
}

fn directory_app<'a>(config: &'a Config, app: &str) -> Result<&'a crate::config::AppConfig> {
    match config.app(app) {
        Some(a) if a.directory.is_some() => Ok(a),
        Some(_) => bail!("app {app:?} is not a directory (LDAP) app"),
        None => bail!("there is no app {app:?} in the config file"),
    }
}

/// `usersync ldap runs`: the runs as lines, or one run's report as JSON.
///
/// # Errors
/// No such directory app or run, or the database fails.
pub fn runs(config: &Config, app: &str, run: Option<i64>, limit: usize) -> Result<String> {
    use std::fmt::Write as _;
    directory_app(config, app)?;
    let conn = super::open_db(config)?;
    if let Some(id) = run {
        let Some(r) = crate::store::directory::run(&conn, id)?.filter(|r| r.app == app) else {
            bail!("app {app} has no run #{id}");
        };
        let report: serde_json::Value = serde_json::from_str(&r.report).unwrap_or(serde_json::Value::Null);
        return Ok(format!("{report:#}\n"));
    }
    let runs = crate::store::directory::runs(&conn, Some(app), limit)?;
    let mut out = String::new();
    if runs.is_empty() {
        let _ = writeln!(out, "app {app} has no runs yet");
    }
    for r in runs {
        let _ = writeln!(out, "#{:<6} {:<12} {:<18} {}  {}", r.id, r.kind, r.status, r.finished_at, r.summary);
    }
    Ok(out)
}

/// `usersync ldap test`: Test Sync in this process (the server need not run), the app's
/// module loaded here to decide.
///
/// # Errors
/// No such directory app, the directory fails or has no such person.
pub fn test(config: &Config, app_name: &str, user: &str) -> Result<test_sync::TestSync> {
    let app = directory_app(config, app_name)?;
    let cfg = app.directory.clone().context("directory")?;
    let password = cfg.password(&config.base_dir)?;
    let target = Target::new(cfg.clone(), password, &config.base_dir)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (person, groups) = runtime.block_on(test_sync::look_up(&target, user))?;
    let mut shown = test_sync::shown(&cfg, &person, &groups);
    match app.rules_path(&config.base_dir) {
        None => shown.decision_error = Some(format!("app {app_name} has no rules module")),
        Some(path) => match decide(app, &path, &cfg, &person, &groups) {
            Ok(view) => shown.decisions = Some(view),
            Err(e) => shown.decision_error = Some(e.to_string()),
        },
    }
    Ok(shown)
}

/// The app's module deciding about the person, loaded here (the server need not run).
fn decide(
    app: &crate::config::AppConfig,
    module: &std::path::Path,
    cfg: &crate::config::DirectoryConfig,
    person: &crate::directory::client::Entry,
    groups: &[test_sync::FoundGroup],
) -> Result<test_sync::DecisionsView> {
    use crate::rules::types::{AppInfo, ConfluenceUser, RuleInput};
    let settings = app.rule_settings()?;
    let bytes = std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let engine = crate::rules::RulesEngine::new()?;
    let limits = app.rules_limits.to_limits();
    let loaded = engine.load(&app.name, &bytes, limits, &settings)?;
    let (stored, idp_groups) = test_sync::as_stored(cfg, person, groups).map_err(anyhow::Error::msg)?;
    let input = RuleInput {
        person: crate::inbound::person::person_from_directory(&stored, idp_groups)?,
        app: AppInfo { name: app.name.clone(), idp_kind: "ldap".into(), settings },
        confluence: ConfluenceUser::default(),
    };
    let decisions = engine.decide(&loaded, &input, std::sync::Arc::new(crate::rules::NoDirectory))?;
    Ok(test_sync::view(&decisions))
}

fn settle(args: RunArgs, approve: bool) -> Result<()> {
    let config = Config::load(&args.config)?;
    directory_app(&config, &args.app)?;
    let conn = super::open_db(&config)?;
    let Some(mut run) = crate::store::directory::run(&conn, args.run)?.filter(|r| r.app == args.app) else {
        bail!("app {} has no run #{}", args.app, args.run);
    };
    if run.status != "awaiting_approval" {
        bail!("run #{} is {}, not awaiting approval", run.id, run.status);
    }
    run.status = if approve { "approved" } else { "discarded" }.to_owned();
    crate::store::directory::put_run(&conn, &run)?;
    if approve {
        println!("run #{} approved: the server runs it again within seconds ({})", run.id, run.summary);
    } else {
        println!("run #{} discarded: nothing of it is applied", run.id);
    }
    Ok(())
}

fn sync(config: &Config, app: &str, full: bool, token: Option<String>) -> Result<()> {
    directory_app(config, app)?;
    let Some(token) = token else {
        bail!("give an admin token (--token or USERSYNC_ADMIN_TOKEN; `usersync token create --admin`)");
    };
    let url = format!("http://{}/admin/v1/apps/{app}/directory/sync", config.server.listen);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        let response = client
            .post(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "full": full }))
            .send()
            .await
            .with_context(|| format!("the server does not answer at {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            bail!("the server refused: {status} {}", body["detail"].as_str().unwrap_or_default());
        }
        println!(
            "{} run of app {app} started; `usersync ldap runs --app {app}` shows its report",
            if full { "a full" } else { "an incremental" }
        );
        Ok(())
    })
}
