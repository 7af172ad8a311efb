//! `confluence-emulator`: the Confluence Data Center REST emulator as a process, for demos
//! and cross-process tests. Prints its base URL and credentials, then serves until Ctrl-C
//! or SIGTERM. Runtime controls live under `{base}/_emulator/` (state, counters, faults,
//! rate-limit, seed, reset).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use usersync_tests::emulator::{
    self, ConfluenceVersion, DeletedUserLookup, EmulatorConfig, GroupCreateStatus, GroupNameCase, LdapMode,
    PersonalAccessToken, RateLimit, SeedUser, StatusForm,
};

#[derive(Parser)]
#[command(disable_version_flag = true, about = "Confluence Data Center REST emulator (users, groups, memberships)")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Confluence version to emulate (routes are gated by it).
    #[arg(long = "version", visible_alias = "confluence-version", default_value = "9.2.1")]
    confluence_version: ConfluenceVersion,
    /// `buildNumber` of the applinks manifest.
    #[arg(long, default_value_t = 9012)]
    build_number: u32,
    #[arg(long, default_value = "admin")]
    admin_user: String,
    #[arg(long, default_value = "admin", env = "CONFLUENCE_EMULATOR_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    /// A PAT for the admin (repeatable). Default: the emulator's built-in admin token.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// A non-admin user as NAME:PASSWORD (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// Licence seats (active users); creating beyond them answers 402.
    #[arg(long)]
    licences: Option<u64>,
    /// Context path, e.g. /confluence.
    #[arg(long, default_value = "")]
    context: String,
    /// Base URL to advertise in links (behind a proxy).
    #[arg(long)]
    public_url: Option<String>,
    /// Largest page size; larger limits are lowered to it.
    #[arg(long, default_value_t = 200)]
    max_limit: usize,
    /// Default limit of /user/list and /admin/users/list/active.
    #[arg(long, default_value_t = 100)]
    user_list_default_limit: usize,
    /// Milliseconds a user-delete long task runs.
    #[arg(long, default_value_t = 0)]
    delete_delay_ms: u64,
    /// Success status of POST /rest/api/admin/group: 200 or 201.
    #[arg(long, default_value = "201")]
    group_create_status: GroupCreateStatus,
    /// `expand=status` form: text or object.
    #[arg(long, default_value = "text")]
    status_form: StatusForm,
    /// Upper-case group names on create: lower or reject.
    #[arg(long, default_value = "lower")]
    group_case: GroupNameCase,
    /// GET /user for a deleted user: not-found or unknown.
    #[arg(long, default_value = "not-found")]
    deleted_user_lookup: DeletedUserLookup,
    /// Status of writes to read-only (LDAP) users and groups.
    #[arg(long, default_value_t = 403)]
    read_only_status: u16,
    /// LDAP directory permission: read-only or read-only-local-groups.
    #[arg(long, default_value = "read-only")]
    ldap_mode: LdapMode,
    /// First version with membership PUT/DELETE.
    #[arg(long, default_value = "8.2.0")]
    membership_since: ConfluenceVersion,
    /// First version with PUT /rest/api/admin/user/{u}, or "never".
    #[arg(long, default_value = "9.0.0")]
    update_user_since: String,
    /// First version with GET /rest/api/group/{g}/groupmember, or "never".
    #[arg(long, default_value = "9.0.0")]
    nested_groups_since: String,
    /// Turn the rate limiter on.
    #[arg(long)]
    rate_limit: bool,
    /// Rate limiter bucket size.
    #[arg(long, default_value_t = 100)]
    rate_max: u32,
    /// Rate limiter tokens per interval.
    #[arg(long, default_value_t = 20)]
    rate_fill: u32,
    /// Rate limiter interval in seconds.
    #[arg(long, default_value_t = 1)]
    rate_interval: u64,
    /// Exempt PAT (Bearer) traffic from rate limiting.
    #[arg(long)]
    rate_skip_pats: bool,
    /// Seed of user keys and fault draws.
    #[arg(long)]
    seed: Option<u64>,
    /// Generate this many users (user000001 …, password = username) for demos and benchmarks.
    #[arg(long, default_value_t = 0)]
    generate_users: usize,
    /// Generate this many groups (group00001 …), members spread round-robin.
    #[arg(long, default_value_t = 0)]
    generate_groups: usize,
    /// Members per generated group.
    #[arg(long, default_value_t = 20)]
    members_per_group: usize,
}

fn optional_version(text: &str) -> anyhow::Result<Option<ConfluenceVersion>> {
    if text == "never" {
        return Ok(None);
    }
    Ok(Some(text.parse()?))
}

fn config(cli: &Cli) -> anyhow::Result<EmulatorConfig> {
    let defaults = EmulatorConfig::default();
    let tokens = if cli.tokens.is_empty() {
        defaults.tokens.clone()
    } else {
        cli.tokens.iter().map(|t| PersonalAccessToken { token: t.clone(), username: cli.admin_user.clone() }).collect()
    };
    let mut users = Vec::new();
    for spec in &cli.users {
        let (name, password) = spec.split_once(':').context("--user takes NAME:PASSWORD")?;
        users.push(SeedUser::new(name, name, format!("{name}@example.com")).with_password(password));
    }
    Ok(EmulatorConfig {
        version: cli.confluence_version,
        build_number: cli.build_number,
        context_path: cli.context.clone(),
        public_base_url: cli.public_url.clone(),
        admin_username: cli.admin_user.clone(),
        admin_password: cli.admin_password.clone(),
        tokens,
        users,
        licences: cli.licences,
        max_limit: cli.max_limit,
        user_list_default_limit: cli.user_list_default_limit,
        group_create_status: cli.group_create_status,
        status_form: cli.status_form,
        group_name_case: cli.group_case,
        deleted_user_lookup: cli.deleted_user_lookup,
        read_only_status: cli.read_only_status,
        ldap_mode: cli.ldap_mode,
        membership_since: cli.membership_since,
        update_user_since: optional_version(&cli.update_user_since)?,
        nested_groups_since: optional_version(&cli.nested_groups_since)?,
        delete_task_delay: Duration::from_millis(cli.delete_delay_ms),
        rate_limit: RateLimit {
            enabled: cli.rate_limit,
            max_requests: cli.rate_max,
            fill_rate: cli.rate_fill,
            interval_secs: cli.rate_interval,
            limit_pats: !cli.rate_skip_pats,
            exempt_users: Vec::new(),
        },
        seed: cli.seed.unwrap_or(defaults.seed),
        ..defaults
    })
}

fn generate(emulator: &emulator::Emulator, cli: &Cli) {
    let name = |i: usize| format!("user{i:06}");
    emulator.seed_users((1..=cli.generate_users).map(|i| {
        let username = name(i);
        SeedUser::new(username.clone(), format!("User {i}"), format!("{username}@example.com")).with_password(username)
    }));
    if cli.generate_users == 0 {
        return;
    }
    let mut next = 0;
    for g in 1..=cli.generate_groups {
        let members: Vec<String> = (0..cli.members_per_group.min(cli.generate_users))
            .map(|_| {
                next = next % cli.generate_users + 1;
                name(next)
            })
            .collect();
        emulator.seed_group(&format!("group{g:05}"), members);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = config(&cli)?;
    let emulator = emulator::start(config, cli.listen).await?;
    generate(&emulator, &cli);
    let config = emulator.config();
    println!("Confluence {} emulator listening on {}", config.version, emulator.local_addr());
    println!("base URL:  {}", emulator.base_url());
    println!("admin:     {} / {}", config.admin_username, config.admin_password);
    for token in &config.tokens {
        println!("PAT:       {} (Authorization: Bearer, acts as {})", token.token, token.username);
    }
    for user in &config.users {
        println!("user:      {} (non-admin)", user.username);
    }
    println!("control:   {}/_emulator/{{state,counters,faults,rate-limit,seed,reset}}", emulator.base_url());
    wait_for_signal().await?;
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
