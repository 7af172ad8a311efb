//! The `usersync` command: run the service, administer its tokens, build and try rules
//! modules, synchronize, and read the audit log, the decisions and the outbox.
//!
//! - [`run`]: parses the command line and does what it says (the binary's `main`);
//! - [`rules_crate`]: `usersync rules build`, also used by the demo;
//! - [`check`]: `usersync rules check`.
//!
//! **Architecture invariant:** the CLI sits above every other module; nothing else in the
//! crate imports it. It is the one place besides `main` where errors are `anyhow`.

pub mod check;
pub mod ldap;
pub mod rules_crate;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::{migrate, open_connection, tokens};

#[derive(Parser)]
#[command(name = "usersync", version, about = "Keeps Confluence users and groups in step with identity providers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service in the foreground.
    Serve {
        /// The configuration file.
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
    },
    /// The console's administrator accounts: create (or reset), list, disable.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Create, list and revoke the bearer tokens identity providers use.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Build, try and inspect rules modules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Synchronize: run every person of an app through the rules again, compare with
    /// Confluence and repair the drift. Uses the running server (with an admin token),
    /// or, when none runs, does the work in this process.
    Sync {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: String,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// An admin token, for a running server (`usersync token create --admin`).
        #[arg(long, env = "USERSYNC_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// The audit log: every decision and Confluence operation, newest first.
    Audit {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: Option<String>,
        /// One person (their SCIM id).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// What the rules decided for one person (Confluence username, groups, custom fields).
    Person {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: String,
        /// Their SCIM id, or their Confluence username.
        id: String,
    },
    /// Directory (LDAP, Active Directory) apps: run reports, Test Sync, a run now, approval.
    Ldap {
        #[command(subcommand)]
        command: ldap::LdapCommand,
    },
    /// Confluence operations waiting in the outbox (and why, when UserSync's own setup holds
    /// them), those the deprovisioning circuit breaker holds, and those Confluence refused;
    /// `approve` or `discard` the held ones.
    Outbox {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: Option<String>,
        #[command(subcommand)]
        command: Option<OutboxCommand>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator account for the console. The password is read from the
    /// environment variable named by `--password-env`, or else from the first line of
    /// standard input.
    Create {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        /// The account name (lower-case).
        #[arg(long)]
        username: String,
        /// `admin` (changes everything) or `viewer` (reads everything but secrets).
        #[arg(long, default_value = "admin")]
        role: String,
        /// The environment variable that holds the password.
        #[arg(long)]
        password_env: Option<String>,
        /// Set a new password and role on an existing account (ends its sessions).
        #[arg(long)]
        reset: bool,
    },
    /// List the accounts (never their passwords).
    List {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
    },
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        username: String,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Release the operations the deprovisioning circuit breaker holds for an app: they
    /// are applied to Confluence, in order, and the app's window starts afresh.
    Approve(HeldArgs),
    /// Drop the operations the breaker holds for an app: nothing of them is applied.
    Discard(HeldArgs),
}

#[derive(clap::Args)]
struct HeldArgs {
    #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
    config: PathBuf,
    #[arg(long)]
    app: String,
    /// An admin token, for a running server (`usersync token create --admin`).
    #[arg(long, env = "USERSYNC_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Build a rules crate (made with the rules SDK) into a module the server loads:
    /// `cargo build --release --target wasm32-unknown-unknown`, then made a component and
    /// checked against the rules world.
    Build {
        /// The crate's folder (holding its Cargo.toml).
        crate_dir: PathBuf,
        /// Where to write the module. Default: `<crate name>.wasm` here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A dry run: load a module and print its three decisions for one person.
    Check {
        /// The module (`.wasm`).
        module: PathBuf,
        /// The person, as a SCIM user resource in JSON (as the IdP sends it). IdP groups
        /// are read from its `groups` attribute: `[{"value": "<id>", "display": "<name>"}]`.
        #[arg(long)]
        input: PathBuf,
        /// The app's settings: a TOML file with the keys of `[apps.settings]`.
        #[arg(long)]
        settings: Option<PathBuf>,
        /// The app's IdP kind, as the module sees it.
        #[arg(long, default_value = "generic")]
        idp_kind: String,
        /// The app's name, as the module sees it.
        #[arg(long, default_value = "check")]
        app: String,
        /// Decide as for an existing Confluence user with these groups (comma-separated;
        /// empty for an existing user with none). Default: a new user.
        #[arg(long)]
        existing_groups: Option<String>,
    },
    /// Each app's module as the running server has it (version, load time, last error),
    /// from its admin API (`/admin/v1/health`, with an admin token); when the server is not
    /// running, or no token is given, whether each file loads.
    Status {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        /// An admin token, for a running server (`usersync token create --admin`).
        #[arg(long, env = "USERSYNC_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for an app and print it (once: only its hash is stored).
    Create {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        /// The app (as named in the config file).
        #[arg(long, required_unless_present = "admin")]
        app: Option<String>,
        /// An admin token instead, for the admin API (`/admin/v1/`, `usersync sync`).
        #[arg(long, conflicts_with = "app")]
        admin: bool,
        /// A note to recognise the token by, e.g. "OneLogin production".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (ids and labels, never secrets).
    List {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        #[arg(long)]
        app: Option<String>,
    },
    /// Revoke a token by id; the server stops accepting it within two seconds.
    Revoke {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        id: String,
    },
}

/// Parses the command line and runs the command.
///
/// # Errors
/// Whatever the command fails with, for `main` to print.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    crate::server::init_logging();
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(crate::server::serve(&config))?;
        }
        Command::Admin { command } => admin(command)?,
        Command::Token { command } => token(command)?,
        Command::Rules { command } => rules(command)?,
        Command::Sync { config, app, dry_run, token } => sync(&Config::load(&config)?, &app, dry_run, token)?,
        Command::Audit { config, app, subject, limit } => {
            let config = Config::load(&config)?;
            let conn = open_db(&config)?;
            let entries = crate::store::desired::audit(&conn, app.as_deref(), subject.as_deref(), limit)?;
            println!(
                "{:<24} {:<12} {:<38} {:<20} {:<11} {:<9} {:<12} DETAIL",
                "AT", "APP", "PERSON", "USER", "ACTION", "OUTCOME", "MODULE"
            );
            for e in entries {
                let hash = e.module_hash.get(..12).unwrap_or(&e.module_hash);
                println!(
                    "{:<24} {:<12} {:<38} {:<20} {:<11} {:<9} {:<12} {}",
                    e.at, e.app, e.subject, e.user_name, e.action, e.outcome, hash, e.detail
                );
            }
        }
        Command::Person { config, app, id } => {
            let config = Config::load(&config)?;
            let conn = open_db(&config)?;
            match crate::store::desired::find(&conn, &app, &id)? {
                Some(d) => println!("{:#}", crate::http::admin::desired_json(&d)),
                None => bail!("no decision stored for {id:?} in app {app}"),
            }
        }
        Command::Ldap { command } => ldap::run(command)?,
        Command::Outbox { command: Some(OutboxCommand::Approve(args)), .. } => settle_held(args, true)?,
        Command::Outbox { command: Some(OutboxCommand::Discard(args)), .. } => settle_held(args, false)?,
        Command::Outbox { config, app, command: None } => {
            let config = Config::load(&config)?;
            print!("{}", outbox_report(&config, app.as_deref())?);
        }
    }
    Ok(())
}

/// `usersync outbox`: what waits, and why, as the database holds it (the server need not
/// run): the apps whose operations are held and the reason, the queued operations, the
/// memberships waiting for a group, and the recent refusals.
///
/// # Errors
/// The database cannot be opened or read.
pub fn outbox_report(config: &Config, app: Option<&str>) -> Result<String> {
    use std::fmt::Write as _;
    let conn = open_db(config)?;
    let mut out = String::new();
    for (held_app, hold) in crate::store::outbox::holds(&conn, app)? {
        writeln!(out, "{held_app}: {} (since {}); its operations wait until this is fixed", hold.summary, hold.since)?;
        writeln!(out, "  {}", hold.detail)?;
    }
    let pending = crate::store::outbox::pending(&conn)?;
    let pending: Vec<_> = pending.into_iter().filter(|r| app.is_none_or(|a| a == r.app)).collect();
    writeln!(out, "{} operation(s) waiting", pending.len())?;
    for r in pending.iter().take(50) {
        writeln!(out, "  #{:<8} {:<12} {:<20} {}", r.seq, r.app, r.subject, r.op)?;
    }
    let held = crate::store::outbox::held(&conn, app)?;
    writeln!(
        out,
        "{} operation(s) held by the deprovisioning circuit breaker{}",
        held.len(),
        if held.is_empty() { "" } else { " (usersync outbox approve|discard --app NAME)" }
    )?;
    for r in held.iter().take(50) {
        writeln!(out, "  #{:<8} {:<12} {:<20} {}", r.seq, r.app, r.subject, r.op)?;
    }
    let blocked = crate::store::outbox::blocked(&conn, app)?;
    writeln!(out, "{} membership(s) waiting for a group Confluence does not have", blocked.len())?;
    for b in blocked.iter().take(50) {
        writeln!(out, "  #{:<8} {:<12} {:<20} {} -- {}", b.row.seq, b.row.app, b.row.subject, b.row.op, b.reason)?;
    }
    let failed = crate::store::outbox::failed(&conn, app, 50)?;
    writeln!(out, "{} recent operation(s) Confluence refused", failed.len())?;
    for f in failed {
        writeln!(
            out,
            "  #{:<8} {:<12} {:<20} {} -- {} ({})",
            f.row.seq, f.row.app, f.row.subject, f.row.op, f.error, f.failed_at
        )?;
    }
    Ok(out)
}

fn open_db(config: &Config) -> Result<rusqlite::Connection> {
    let path = config.database_path();
    let mut conn = open_connection(&path).with_context(|| format!("cannot open {}", path.display()))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn admin(command: AdminCommand) -> Result<()> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    match command {
        AdminCommand::Create { config, username, role, password_env, reset } => {
            let config = Config::load(&config)?;
            open_db(&config)?; // migrated
            let role =
                crate::admin::Role::parse(&role).with_context(|| format!("no role {role:?}: admin or viewer"))?;
            let password = match password_env {
                Some(var) => {
                    std::env::var(&var).with_context(|| format!("the environment variable {var} is not set"))?
                }
                None => {
                    eprintln!(
                        "Password (one line on standard input, at least {} characters):",
                        crate::admin::accounts::MIN_PASSWORD_CHARS
                    );
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("cannot read the password")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let db = crate::store::Database::new(&config.database_path());
            runtime.block_on(crate::admin::create_account(&db, &username, &password, role, reset))?;
            eprintln!(
                "{} account {username} ({}). Log in at {}/console/",
                if reset { "Reset" } else { "Created" },
                role.as_str(),
                config.public_url()
            );
        }
        AdminCommand::List { config } => {
            let config = Config::load(&config)?;
            open_db(&config)?;
            let db = crate::store::Database::new(&config.database_path());
            println!("{:<32} {:<8} {:<26} DISABLED", "ACCOUNT", "ROLE", "CREATED");
            for a in runtime.block_on(db.accounts())? {
                println!("{:<32} {:<8} {:<26} {}", a.username, a.role, a.created, a.disabled.as_deref().unwrap_or("-"));
            }
        }
        AdminCommand::Disable { config, username } => {
            let config = Config::load(&config)?;
            open_db(&config)?;
            let db = crate::store::Database::new(&config.database_path());
            if !runtime.block_on(db.disable_account(username.clone()))? {
                bail!("no enabled account {username}");
            }
            eprintln!("Disabled account {username}; its sessions have ended.");
        }
    }
    Ok(())
}

fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create { config, app, admin, label } => {
            let config = Config::load(&config)?;
            let conn = open_db(&config)?;
            if admin {
                let (id, secret) = tokens::create(&conn, crate::http::admin::ADMIN, &label)?;
                eprintln!("Created admin token {id}. Copy it now: it is not shown again.");
                println!("{secret}");
                return Ok(());
            }
            let app = app.unwrap_or_default();
            if config.app(&app).is_none() {
                bail!("there is no app {app:?} in the config file");
            }
            let (id, secret) = tokens::create(&conn, &app, &label)?;
            eprintln!("Created token {id} for app {app}. Copy it now: it is not shown again.");
            eprintln!("SCIM base URL: {}/scim/v2/{app}", config.public_url());
            println!("{secret}");
        }
        TokenCommand::List { config, app } => {
            let config = Config::load(&config)?;
            let conn = open_db(&config)?;
            println!("{:<14} {:<16} {:<26} {:<26} {:<34} LABEL", "ID", "APP", "CREATED", "LAST USED", "STATE");
            for t in tokens::list(&conn, app.as_deref())? {
                let state = match (&t.revoked, &t.expires) {
                    (Some(r), _) => format!("revoked {r}"),
                    (None, Some(e)) => format!("rotated, works until {e}"),
                    (None, None) => "active".to_owned(),
                };
                let last_used = t.last_used.as_deref().unwrap_or("never");
                println!("{:<14} {:<16} {:<26} {:<26} {:<34} {}", t.id, t.app, t.created, last_used, state, t.label);
            }
        }
        TokenCommand::Revoke { config, id } => {
            let config = Config::load(&config)?;
            let conn = open_db(&config)?;
            if !tokens::revoke(&conn, &id)? {
                bail!("no active token with id {id}");
            }
            eprintln!("Revoked token {id}.");
        }
    }
    Ok(())
}

fn rules(command: RulesCommand) -> Result<()> {
    use crate::rules::{RuleLimits, RulesEngine};
    match command {
        RulesCommand::Build { crate_dir, out } => {
            let path = rules_crate::build(&crate_dir, out.as_deref())?;
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let engine = RulesEngine::new()?;
            let name = path.file_stem().map_or_else(|| "rules".into(), |s| s.to_string_lossy().into_owned());
            let module = engine.load(&name, &bytes, RuleLimits::default(), &[])?;
            eprintln!("Built {} ({} bytes, sha256 {}).", path.display(), bytes.len(), module.id().hash);
            eprintln!("It passed its self-test; point an app's `rules` at it and the server loads it.");
        }
        RulesCommand::Check { module, input, settings, idp_kind, app, existing_groups } => {
            let settings = match settings {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    let table: toml::Table =
                        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
                    crate::config::settings_from_toml(&table).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => Vec::new(),
            };
            let text = std::fs::read_to_string(&input).with_context(|| format!("cannot read {}", input.display()))?;
            let person: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", input.display()))?;
            let existing_groups = existing_groups
                .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect());
            let how = check::CheckInput { app_name: app, idp_kind, settings: settings.clone(), existing_groups };
            let rule_input = check::input_from_json(&person, &how)?;
            let bytes = std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
            let name = module.file_stem().map_or_else(|| "rules".into(), |s| s.to_string_lossy().into_owned());
            let engine = RulesEngine::new()?;
            let loaded = engine.load(&name, &bytes, RuleLimits::default(), &settings)?;
            // The decisions go to stdout as JSON; what the module declares, to stderr.
            eprint!("{}", module_summary(&loaded));
            match engine.decide(&loaded, &rule_input, std::sync::Arc::new(crate::rules::NoDirectory)) {
                Ok(decisions) => println!("{:#}", check::decisions_json(&decisions)),
                Err(e) => bail!("{e}"),
            }
        }
        RulesCommand::Status { config, token } => rules_status(&Config::load(&config)?, token.as_deref())?,
    }
    Ok(())
}

/// What a loaded module declares: its world, its settings, and the Confluence groups the
/// settings it was loaded with need.
fn module_summary(module: &crate::rules::LoadedModule) -> String {
    let mut out = format!("module {} (world {})\n", module.id().name, module.world());
    match module.declaration() {
        Some(declaration) => {
            out.push_str("settings the module declares:\n");
            out.push_str(&crate::rules::describe_declaration(declaration));
        }
        None => out.push_str("settings: none declared (a 1.0.0 module; app settings are not checked)\n"),
    }
    if !module.needed_groups().is_empty() {
        out.push_str(&format!("groups these settings need in Confluence: {}\n", module.needed_groups().join(", ")));
    }
    out
}

/// The running server's health: in detail (`/admin/v1/health`) with a valid admin `token`,
/// else its bare status (`/healthz`) with a `detail` saying why there is no more; `None`
/// when no server answers.
async fn server_health(config: &Config, token: Option<&str>) -> Option<serde_json::Value> {
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().ok()?;
    let base = format!("http://{}", config.server.listen);
    let mut bare: serde_json::Value = client.get(format!("{base}/healthz")).send().await.ok()?.json().await.ok()?;
    let Some(token) = token else {
        bare["detail"] = "give an admin token (--token or USERSYNC_ADMIN_TOKEN) for the details".into();
        return Some(bare);
    };
    let response = client.get(format!("{base}/admin/v1/health")).bearer_auth(token).send().await.ok()?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() || status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Some(body);
    }
    bare["detail"] = format!("the admin API refused: {}", body["detail"].as_str().unwrap_or("?")).into();
    Some(bare)
}

/// `usersync rules status`: asks the running server (with an admin token); without one,
/// loads each file.
fn rules_status(config: &Config, token: Option<&str>) -> Result<()> {
    use crate::rules::{RulesEngine, RulesError};
    let url = format!("http://{}/admin/v1/health", config.server.listen);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let health = runtime.block_on(server_health(config, token));
    // Running, but without (a valid) admin token: its status only, and the files loaded here.
    let bare = health.as_ref().filter(|h| h.get("rules").is_none()).map(|h| {
        let detail = h["detail"].as_str().unwrap_or_default();
        format!(
            "server: {} at {url}, without details ({detail}); the files were loaded here",
            h["status"].as_str().unwrap_or("?")
        )
    });
    let health = health.filter(|h| h.get("rules").is_some());
    println!("{:<16} {:<24} {:<14} {:<26} {:>7}  LAST ERROR", "APP", "MODULE", "HASH", "LOADED", "RELOADS");
    if let Some(health) = health {
        for m in health["rules"].as_array().into_iter().flatten() {
            let text = |k: &str| m[k].as_str().unwrap_or("-").to_owned();
            let hash = text("hash");
            println!(
                "{:<16} {:<24} {:<14} {:<26} {:>7}  {}",
                text("app"),
                text("module"),
                hash.get(..12).unwrap_or(&hash),
                text("loadedAt"),
                m["reloads"].as_u64().unwrap_or(0),
                text("lastError")
            );
        }
        for m in health["rules"].as_array().into_iter().flatten() {
            println!("\n{} (world {}): settings", m["app"].as_str().unwrap_or("?"), m["world"].as_str().unwrap_or("-"));
            match m["settings"].as_array() {
                None => println!("  (none declared: a 1.0.0 module, or none loaded)"),
                Some(list) if list.is_empty() => println!("  (no settings)"),
                Some(list) => {
                    for s in list {
                        let text = |k: &str| s[k].as_str().unwrap_or("-").to_owned();
                        println!("  {:<28} {:<10} {:<24} {}", text("key"), text("kind"), text("default"), text("help"));
                    }
                }
            }
        }
        for c in health["confluence"].as_array().into_iter().flatten() {
            let missing: Vec<&str> =
                c["missingGroups"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str).collect();
            if !missing.is_empty() {
                println!(
                    "\n{}: groups Confluence does not have: {}",
                    c["app"].as_str().unwrap_or("?"),
                    missing.join(", ")
                );
            }
        }
        println!("server: {} ({url})", health["status"].as_str().unwrap_or("?"));
        return Ok(());
    }
    let engine = RulesEngine::new()?;
    for app in &config.apps {
        let Some(path) = app.rules_path(&config.base_dir) else { continue };
        let name = path.file_stem().map_or_else(|| app.name.clone(), |s| s.to_string_lossy().into_owned());
        let loaded =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display())).and_then(|bytes| {
                let settings = app.rule_settings().map_err(|e| e.to_string())?;
                engine
                    .load(&name, &bytes, app.rules_limits.to_limits(), &settings)
                    .map_err(|e: RulesError| e.to_string())
            });
        match loaded {
            Ok(m) => {
                println!(
                    "{:<16} {:<24} {:<14} {:<26} {:>7}  -",
                    app.name,
                    name,
                    m.id().short_hash(),
                    "(not running)",
                    0
                );
                print!("{}", module_summary(&m));
            }
            Err(e) => println!("{:<16} {:<24} {:<14} {:<26} {:>7}  {e}", app.name, name, "-", "(not running)", 0),
        }
    }
    match bare {
        Some(line) => println!("{line}"),
        None => println!("server: not running at {url}; the files were loaded here instead"),
    }
    Ok(())
}

/// `usersync outbox approve|discard`: through the running server's admin API (which
/// holds the operations in memory too), else on the database directly.
fn settle_held(args: HeldArgs, approved: bool) -> Result<()> {
    let config = Config::load(&args.config)?;
    let app = args.app.as_str();
    if config.app(app).is_none() {
        bail!("there is no app {app:?} in the config file");
    }
    let verb = if approved { "approved" } else { "discarded" };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let health = format!("http://{}/healthz", config.server.listen);
    let count = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build()?;
        if client.get(&health).send().await.is_ok() {
            let Some(token) = args.token else {
                bail!("the server is running at {health}: give an admin token (--token or USERSYNC_ADMIN_TOKEN; `usersync token create --admin`)");
            };
            let action = if approved { "approve" } else { "discard" };
            let url = format!("http://{}/admin/v1/apps/{app}/outbox/{action}", config.server.listen);
            let response = client.post(&url).bearer_auth(token).send().await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            if !status.is_success() {
                bail!("the server refused: {} {}", status, body["detail"].as_str().unwrap_or_default());
            }
            return Ok(body[verb].as_u64().unwrap_or(0));
        }
        let store = crate::store::Store::open(&config.database_path(), std::sync::Arc::new(|_: &str, _: &mut serde_json::Value| {}))?;
        let conn = open_db(&config)?;
        let held = crate::store::outbox::held(&conn, Some(app))?;
        drop(conn);
        let note = if approved { "released by an administrator" } else { "discarded by an administrator: not applied" };
        let mut mutations = vec![crate::store::Mutation::Release { seqs: held.iter().map(|r| r.seq).collect(), approved }];
        mutations.extend(held.iter().map(|r| {
            crate::store::Mutation::Audit(crate::store::AuditEntry {
                at: crate::clock::now_rfc3339(),
                app: app.to_owned(),
                subject: r.origin.clone(),
                user_name: r.subject.clone(),
                action: "confluence".into(),
                outcome: verb.into(),
                module_name: String::new(),
                module_hash: r.module_hash.clone(),
                detail: format!("{}: {note}", r.op),
            })
        }));
        store.commit(mutations).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(held.len() as u64)
    })?;
    println!("{count} held operation(s) of app {app} {verb}");
    Ok(())
}

/// `usersync sync`: through the running server's admin API, else in this process.
fn sync(config: &Config, app: &str, dry_run: bool, token: Option<String>) -> Result<()> {
    use std::io::IsTerminal as _;
    if config.app(app).is_none() {
        bail!("there is no app {app:?} in the config file");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let health = format!("http://{}/healthz", config.server.listen);
    let details = format!("http://{}/admin/v1/health", config.server.listen);
    let running = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build().ok()?;
        client.get(&health).send().await.ok().map(|_| ())
    });
    let report = if running.is_some() {
        let Some(token) = token else {
            bail!("the server is running at {health}: give an admin token (--token or USERSYNC_ADMIN_TOKEN; `usersync token create --admin`)");
        };
        eprintln!("Synchronizing app {app} through the running server{} ...", if dry_run { " (dry run)" } else { "" });
        let url = format!("http://{}/admin/v1/apps/{app}/sync?dryRun={dry_run}", config.server.listen);
        let terminal = std::io::stderr().is_terminal();
        let app_name = app.to_owned();
        runtime.block_on(async {
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3600)).build()?;
            // Progress while the server works: its queue of Confluence operations for the app.
            let watcher = client.clone();
            let watcher_token = token.clone();
            let progress = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let Ok(r) = watcher.get(&details).bearer_auth(&watcher_token).send().await else { continue };
                    let Ok(h) = r.json::<serde_json::Value>().await else { continue };
                    let queued = h["confluence"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| c["app"] == app_name.as_str())
                        .and_then(|c| c["queued"].as_u64())
                        .unwrap_or(0);
                    if terminal {
                        eprint!("\r\x1b[2K  working; {queued} Confluence operations queued");
                    } else {
                        eprintln!("  working; {queued} Confluence operations queued");
                    }
                }
            });
            let response = client.post(&url).bearer_auth(token).send().await;
            progress.abort();
            if terminal {
                eprintln!();
            }
            let response = response?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            if !status.is_success() {
                bail!("the server refused: {} {}", status, body["detail"].as_str().unwrap_or_default());
            }
            Ok(body)
        })?
    } else {
        eprintln!(
            "No server at {health}; synchronizing app {app} in this process{} ...",
            if dry_run { " (dry run)" } else { "" }
        );
        let terminal = std::io::stderr().is_terminal();
        let progress = move |line: &str| {
            if terminal {
                eprint!("\r\x1b[2K  {line}");
            } else {
                eprintln!("  {line}");
            }
        };
        let report = runtime.block_on(async {
            let service = crate::server::build(config)?;
            let report =
                service.inbound.synchronize(app, dry_run, std::time::Duration::from_secs(24 * 3600), &progress).await;
            anyhow::Ok(report.map_err(|e| anyhow::anyhow!("{}", e.detail))?)
        })?;
        if terminal {
            eprintln!();
        }
        crate::http::admin::report_json(&report)
    };
    if dry_run {
        for step in report["plan"].as_array().into_iter().flatten() {
            println!(
                "{}  (person {})",
                step["operation"].as_str().unwrap_or_default(),
                step["person"].as_str().unwrap_or_default()
            );
        }
    }
    let s = &report["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    eprintln!(
        "{}: {} people, {} in step; users: {} created, {} updated, {} enabled, {} disabled; groups created: {}; memberships: {} added, {} removed{}",
        if dry_run { "Plan" } else { "Done" },
        n("people"), n("inStep"), n("usersCreated"), n("usersUpdated"), n("usersEnabled"), n("usersDisabled"),
        n("groupsCreated"), n("membersAdded"), n("membersRemoved"),
        if dry_run { " (nothing changed)" } else { "" }
    );
    for f in report["failed"].as_array().into_iter().flatten() {
        eprintln!(
            "  not decided: person {}: {}",
            f["person"].as_str().unwrap_or_default(),
            f["error"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}
