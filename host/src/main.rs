//! The `usersync` command: run the service and administer its tokens.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use usersync::config::Config;
use usersync::store::{migrate, open_connection, tokens};

/// mimalloc returns freed memory to the OS far better than glibc's per-thread arenas,
/// which kept the transient JSON of every request around as resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run a local demo: writes a config with one OneLogin app under `--dir`, creates a
    /// token, prints the SCIM base URL and the token, and serves.
    Demo {
        #[arg(long, default_value = "usersync-demo")]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
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
    /// from its `/healthz`; when the server is not running, whether each file loads.
    Status {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for an app and print it (once: only its hash is stored).
    Create {
        #[arg(long, env = "USERSYNC_CONFIG", default_value = "usersync.toml")]
        config: PathBuf,
        /// The app (as named in the config file).
        #[arg(long)]
        app: String,
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("USERSYNC_LOG").unwrap_or_else(|_| "usersync=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(usersync::server::serve(&config))?;
        }
        Command::Token { command } => token(command)?,
        Command::Rules { command } => rules(command)?,
        Command::Demo { dir, listen } => demo(&dir, listen)?,
    }
    Ok(())
}

fn open_db(config: &Config) -> Result<rusqlite::Connection> {
    let path = config.database_path();
    let mut conn = open_connection(&path).with_context(|| format!("cannot open {}", path.display()))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create { config, app, label } => {
            let config = Config::load(&config)?;
            if config.app(&app).is_none() {
                bail!("there is no app {app:?} in the config file");
            }
            let conn = open_db(&config)?;
            let (id, secret) = tokens::create(&conn, &app, &label)?;
            eprintln!("Created token {id} for app {app}. Copy it now: it is not shown again.");
            eprintln!("SCIM base URL: {}/scim/v2/{app}", config.public_url());
            println!("{secret}");
        }
        TokenCommand::List { config, app } => {
            let config = Config::load(&config)?;
            let conn = open_db(&config)?;
            println!("{:<14} {:<16} {:<26} {:<26} LABEL", "ID", "APP", "CREATED", "REVOKED");
            for t in tokens::list(&conn, app.as_deref())? {
                let revoked = t.revoked.as_deref().unwrap_or("-");
                println!("{:<14} {:<16} {:<26} {:<26} {}", t.id, t.app, t.created, revoked, t.label);
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
    use usersync::rules::{tool, RuleLimits, RulesEngine};
    match command {
        RulesCommand::Build { crate_dir, out } => {
            let path = tool::build(&crate_dir, out.as_deref())?;
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
                    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
                    usersync::config::settings_from_toml(&table).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => Vec::new(),
            };
            let text = std::fs::read_to_string(&input).with_context(|| format!("cannot read {}", input.display()))?;
            let person: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", input.display()))?;
            let existing_groups = existing_groups
                .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect());
            let check = tool::CheckInput { app_name: app, idp_kind, settings: settings.clone(), existing_groups };
            let rule_input = tool::input_from_json(&person, &check)?;
            let bytes = std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
            let name = module.file_stem().map_or_else(|| "rules".into(), |s| s.to_string_lossy().into_owned());
            let engine = RulesEngine::new()?;
            let loaded = engine.load(&name, &bytes, RuleLimits::default(), &settings)?;
            match engine.decide(&loaded, &rule_input) {
                Ok(decisions) => println!("{:#}", tool::decisions_json(&decisions)),
                Err(e) => bail!("{e}"),
            }
        }
        RulesCommand::Status { config } => rules_status(&Config::load(&config)?)?,
    }
    Ok(())
}

/// `usersync rules status`: asks the running server; without one, loads each file.
fn rules_status(config: &Config) -> Result<()> {
    use usersync::rules::{RulesEngine, RulesError};
    let url = format!("http://{}/healthz", config.server.listen);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let health: Option<serde_json::Value> = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().ok()?;
        client.get(&url).send().await.ok()?.json().await.ok()
    });
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
        println!("server: {} ({url})", health["status"].as_str().unwrap_or("?"));
        return Ok(());
    }
    let engine = RulesEngine::new()?;
    for app in &config.apps {
        let Some(path) = app.rules_path(&config.base_dir) else { continue };
        let name = path.file_stem().map_or_else(|| app.name.clone(), |s| s.to_string_lossy().into_owned());
        let loaded = std::fs::read(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|bytes| {
                let settings = app.rule_settings().map_err(|e| e.to_string())?;
                engine.load(&name, &bytes, app.rules_limits.to_limits(), &settings).map_err(|e: RulesError| e.to_string())
            });
        match loaded {
            Ok(m) => println!("{:<16} {:<24} {:<14} {:<26} {:>7}  -", app.name, name, m.id().short_hash(), "(not running)", 0),
            Err(e) => println!("{:<16} {:<24} {:<14} {:<26} {:>7}  {e}", app.name, name, "-", "(not running)", 0),
        }
    }
    println!("server: not running at {url}; the files were loaded here instead");
    Ok(())
}

fn demo(dir: &std::path::Path, listen: std::net::SocketAddr) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("usersync.toml");
    let text = format!(
        "# Written by `usersync demo`. Edit freely; see the README for every setting.\n\
         [server]\nlisten = \"{listen}\"\npublic_url = \"http://{listen}\"\ndatabase = \"usersync.db\"\n\n\
         [[apps]]\nname = \"onelogin\"\nkind = \"onelogin\"\n"
    );
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let config = Config::load(&path)?;
    let conn = open_db(&config)?;
    let (_, secret) = tokens::create(&conn, "onelogin", "demo")?;
    drop(conn);
    println!();
    println!("  UserSync demo is starting (config: {}).", path.display());
    println!("  SCIM Base URL:      {}/scim/v2/onelogin", config.public_url());
    println!("  SCIM Bearer Token:  {secret}");
    println!();
    println!("  Try: curl -H 'Authorization: Bearer {secret}' {}/scim/v2/onelogin/Users", config.public_url());
    println!();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(usersync::server::serve(&config))?;
    Ok(())
}
