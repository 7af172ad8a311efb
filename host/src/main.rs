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
