//! `usersync-demo`: UserSync's main job on one machine, with nothing to install. It starts
//! the Confluence emulator (as Confluence), builds the standard rules module, writes a
//! config with one OneLogin app, creates its SCIM bearer token and a console login, prints
//! the console's URL and what an administrator would paste into OneLogin, and serves until
//! Ctrl-C.
//!
//! ```text
//! cargo run --release -p usersync-tests --bin usersync-demo
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Parser;
use usersync::config::Config;
use usersync::store::{migrate, open_connection, tokens};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "UserSync demo: the host, the standard rules and an emulated Confluence")]
struct Cli {
    /// Where the config, database and module go.
    #[arg(long, default_value = "usersync-demo")]
    dir: PathBuf,
    /// Where UserSync listens (SCIM).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the emulated Confluence listens.
    #[arg(long, default_value = "127.0.0.1:8090")]
    confluence: SocketAddr,
}

const SETTINGS: &str = r#"username_regex = "@.*$"        # ada@example.com -> ada
on_the_fly = true                # IdP groups become Confluence groups, created if missing
default_groups_new = ["confluence-users"]

[apps.settings.custom_fields]
department = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
"#;

fn main() -> Result<()> {
    let cli = Cli::parse();
    usersync::server::init_logging();
    std::fs::create_dir_all(&cli.dir).with_context(|| format!("cannot create {}", cli.dir.display()))?;
    let dir = cli.dir.canonicalize()?;

    eprintln!("Building the standard rules module (cargo, wasm32-unknown-unknown) ...");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("no workspace")?;
    // In a folder of its own: the watcher of the module's folder would otherwise hear
    // every write to the database beside it.
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).with_context(|| format!("cannot create {}", rules_dir.display()))?;
    let module = rules_dir.join("standard.wasm");
    usersync::cli::rules_crate::build(&workspace.join("sample-rules/standard"), Some(&module))?;

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(&cli, &dir))
}

async fn run(cli: &Cli, dir: &Path) -> Result<()> {
    let emulator = usersync_tests::emulator::start(Default::default(), cli.confluence)
        .await
        .with_context(|| format!("cannot start the Confluence emulator on {}", cli.confluence))?;
    let confluence = emulator.base_url();
    std::fs::write(dir.join("confluence-password"), "admin\n")?;
    let listen = cli.listen;
    let text = format!(
        "# Written by usersync-demo. See the README for every setting.\n\
         [server]\nlisten = \"{listen}\"\npublic_url = \"http://{listen}\"\ndatabase = \"usersync.db\"\n\n\
         # The emulated Confluence Data Center. For a real one: its URL, and an administrator\n\
         # (username + password_env/password_file) or a personal access token (token_env/token_file).\n\
         [confluence]\nurl = \"{confluence}\"\nusername = \"admin\"\npassword_file = \"confluence-password\"\n\n\
         [[apps]]\nname = \"onelogin\"\nkind = \"onelogin\"\nrules = \"rules/standard.wasm\"\n\n[apps.settings]\n{SETTINGS}"
    );
    let path = dir.join("usersync.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let config = Config::load(&path)?;
    let mut conn = open_connection(&config.database_path())?;
    migrate(&mut conn)?;
    let (_, secret) = tokens::create(&conn, "onelogin", "demo")?;
    let (_, admin) = tokens::create(&conn, usersync::http::admin::ADMIN, "demo")?;
    drop(conn);
    // A bootstrap console account with a fresh password (reset on every demo start).
    let console_password = tokens::generate_token()
        .map_err(|e| anyhow::anyhow!("no randomness: {e}"))?
        .trim_start_matches("ust_")
        .chars()
        .take(20)
        .collect::<String>();
    let db = usersync::store::Database::new(&config.database_path());
    usersync::admin::create_account(&db, "admin", &console_password, usersync::admin::Role::Admin, true).await?;

    println!();
    println!("  UserSync demo (config: {})", path.display());
    println!();
    println!("  Console:             {}/console/", config.public_url());
    println!("  Console login:       admin / {console_password}");
    println!();
    println!("  SCIM Base URL:       {}/scim/v2/onelogin", config.public_url());
    println!("  SCIM Bearer Token:   {secret}");
    println!();
    println!("  Confluence (emulated Data Center {}): {confluence}  (admin / admin)", emulator.config().version);
    println!("  Confluence's state:  curl -s {confluence}/_emulator/state");
    println!("  Admin API token:     {admin}   (usersync audit/sync, /admin/v1)");
    println!();
    println!("  Try: curl -H 'Authorization: Bearer {secret}' {}/scim/v2/onelogin/Users", config.public_url());
    println!();
    usersync::server::serve(&config).await?;
    emulator.shutdown().await;
    Ok(())
}
