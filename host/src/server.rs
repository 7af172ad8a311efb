//! Wiring: from a [`Config`] to a running service (store, token verifier, router).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;

use std::time::Duration;

use crate::admin::apps::{parse_definition, AppRuntime, ConfluenceApps};
use crate::admin::Admin;
use crate::config::{AppConfig, Config, ConfigError, ConfluenceConfig, ConfluenceCredentials, DeprovisionPolicy};
use crate::confluence::{Auth, Backoff, ConfluenceClient, ConfluenceSettings};
use crate::console::ConsoleState;
use crate::http::throttle::Throttle;
use crate::http::{router, HttpLimits, HttpState, ListenSettings};
use crate::inbound::{relocate, App, AppSource, Inbound, RulesHook};
use crate::rules::{AppModule, ModuleRegistry, RulesEngine, RulesError};
use crate::scim::normalize::Limits;
use crate::store::tokens::TokenVerifier;
use crate::store::{apps as stored_apps, migrate, open_connection, outbox};
use crate::store::{Database, Store, StoreError};
use crate::sync::{AppSync, AppSyncSettings, BreakerSettings, CredentialSource, Deprovision, Outbox};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("Confluence: {0}")]
    Confluence(String),
    #[error("TLS: {0}")]
    Tls(#[from] crate::http::tls::TlsError),
    #[error("directory: {0}")]
    Directory(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

/// Everything a running service holds.
pub struct Service {
    pub router: Router,
    pub inbound: Arc<Inbound>,
    /// Each app's Confluence side (empty without `[confluence]`).
    pub confluence: HashMap<String, Arc<AppSync>>,
    /// Each directory app's runner.
    pub directories: Arc<crate::directory::Directories>,
    /// The admin side the console and the admin API share.
    admin: Arc<Admin>,
}

impl Service {
    /// Builds the console's people-search index in the background, so that the first
    /// search does not. Only for a server: the index holds a line of text per person (about
    /// 36 MB for 100,000), which a one-off `usersync sync` never reads.
    pub fn warm_people_search(&self) {
        let warm = Arc::downgrade(&self.admin);
        tokio::task::spawn_blocking(move || {
            if let Some(admin) = warm.upgrade() {
                admin.search_people("", None);
            }
        });
    }
}

/// Logs to stderr, filtered by `USERSYNC_LOG` (`tracing` directives; default
/// `usersync=info`): what `usersync` and the demo set up first.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("USERSYNC_LOG").unwrap_or_else(|_| "usersync=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Opens the store and builds the router for `config`.
///
/// # Errors
/// The config names a bad extension or an unreadable token secret, or the database cannot
/// be opened.
pub fn build(file_config: &Config) -> Result<Service, StartError> {
    // The apps served: the file's, then those made through the admin side.
    let stored = console_apps(file_config)?;
    let mut config = file_config.clone();
    config.apps.extend(stored.iter().map(|(a, _)| a.clone()));
    let config = &config;
    let public = config.public_url();
    let mut apps = HashMap::new();
    for (precedence, a) in config.apps.iter().enumerate() {
        let source = stored
            .iter()
            .find(|(s, _)| s.name == a.name)
            .map_or(AppSource::File, |(_, version)| AppSource::Console { version: *version });
        apps.insert(a.name.clone(), Arc::new(App::from_config(a, &public, precedence, source)?));
    }
    let mut fixed = HashMap::new();
    for app in &config.apps {
        let tokens = app.bootstrap_tokens(&config.base_dir)?;
        if !tokens.is_empty() {
            fixed.insert(app.name.clone(), tokens);
        }
    }
    let db = config.database_path();
    let store = Store::open(&db, relocate(&apps))?;
    let tokens = TokenVerifier::new(&db, fixed)?;
    let mut inbound = Inbound::new(store.clone(), apps, Limits::default(), config.server.max_results)
        .with_member_cap(config.server.max_members_per_request);
    // Confluence: the file's `[confluence]`, or, without one, the connection saved in the
    // console (every other setting at its default).
    // One connection for what start-up reads outside the writer.
    let startup = open_connection(&db)?;
    let saved = crate::store::connection_settings::get(&startup)?;
    let confluence_config =
        config.confluence.clone().or_else(|| saved.as_ref().map(|row| ConfluenceConfig::with_url(&row.url)));
    let (confluence, wiring) = match &confluence_config {
        Some(c) => confluence_sync(config, c, &store)?,
        None => (HashMap::new(), None),
    };
    // Without either, the console can turn Confluence on later: the same wiring, built then.
    let enable: Arc<crate::admin::apps::EnableConfluence> = {
        let (config, store) = (config.clone(), store.clone());
        Arc::new(move |apps: &[AppConfig]| {
            let conn = open_connection(&config.database_path()).map_err(|e| e.to_string())?;
            let row = crate::store::connection_settings::get(&conn)
                .map_err(|e| e.to_string())?
                .ok_or("no Confluence connection is saved")?;
            let mut config = config.clone();
            config.apps = apps.to_vec();
            let (sides, wiring) =
                confluence_sync(&config, &ConfluenceConfig::with_url(&row.url), &store).map_err(|e| e.to_string())?;
            let wiring = wiring.ok_or("Confluence could not be wired")?;
            Ok((sides, wiring as Arc<dyn ConfluenceApps>))
        })
    };
    inbound = inbound.with_rules(rules_hook(config, store.clone())?);
    let confluence_apps = confluence.clone();
    inbound = inbound.with_confluence(confluence);
    let inbound = Arc::new(inbound);
    if let Some(any) = confluence_apps.values().next().cloned() {
        let background = inbound.clone();
        tokio::spawn(async move {
            if let Err(e) = background.observe_if_never_read().await {
                tracing::warn!(error = %e.detail, "cannot read Confluence for the rules yet; the next Synchronize will");
            }
            // The groups the rules need: at start-up, then after every module change (and,
            // while some are missing, until they appear).
            while !any.is_stopped() {
                background.check_needed_groups().await;
                tokio::time::sleep(NEEDED_GROUPS_CHECK).await;
            }
        });
    }
    let limits = HttpLimits {
        max_body_bytes: config.server.max_body_bytes,
        bulk_max_operations: config.server.bulk_max_operations,
        bulk_max_payload_bytes: config.server.bulk_max_payload_bytes,
    };
    let throttle = Arc::new(Throttle::new(&config.server));
    let summaries = Arc::downgrade(&throttle);
    tokio::spawn(async move {
        // The summary of refused requests, also when no request follows the last burst.
        while let Some(throttle) = summaries.upgrade() {
            throttle.log_summary();
            drop(throttle);
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    // When each token was last used, written off the request path.
    let last_used = Arc::downgrade(&tokens);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            let Some(tokens) = last_used.upgrade() else { return };
            let flushed = tokio::task::spawn_blocking(move || tokens.flush_last_used()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "cannot record when tokens were last used; will try again");
            }
        }
    });
    let runtime = AppRuntime {
        public_url: public.clone(),
        server: config.server.clone(),
        file_apps: file_config.apps.clone(),
        confluence: std::sync::RwLock::new(wiring.map(|w| w as Arc<dyn ConfluenceApps>)),
        enable_confluence: Some(enable),
        tokens: Some(tokens.clone()),
    };
    // Directory apps: each pulled on its own schedule, into the same pipeline.
    let stored_apps: Vec<String> = stored.iter().map(|(a, _)| a.name.clone()).collect();
    let directories = Arc::new(crate::directory::Directories::default());
    for app in config.apps.iter().filter(|a| a.directory.is_some()) {
        let stored = crate::store::directory::password(&startup, &app.name)?;
        let base =
            if stored_apps.contains(&app.name) { db.parent().unwrap_or(&config.base_dir) } else { &config.base_dir };
        let runner = crate::directory::start(app, base, inbound.clone(), store.clone(), Database::new(&db), stored)
            .map_err(|e| StartError::Directory(format!("app {}: {e}", app.name)))?;
        directories.insert(&app.name, runner);
    }
    let mut admin = Admin::new(inbound.clone(), store, Database::new(&db))
        .with_runtime(runtime)
        .with_directories(directories.clone());
    // The Confluence page: the connection saved in the console, which wins, else the file's.
    if let Some(row) = &saved {
        admin = admin.with_saved_confluence(row);
    } else if let Some(c) = &config.confluence {
        let sign_in = match (&c.username, &c.password_env, &c.password_file, &c.token_env, &c.token_file) {
            (Some(user), Some(var), _, _, _) => format!("user {user}, password from ${var}"),
            (Some(user), _, Some(file), _, _) => format!("user {user}, password from {}", file.display()),
            (_, _, _, Some(var), _) => format!("personal access token from ${var}"),
            (_, _, _, _, Some(file)) => format!("personal access token from {}", file.display()),
            _ => "not set".to_owned(),
        };
        admin = admin.with_confluence(c.url.trim_end_matches('/').to_owned(), sign_in, c.username.clone());
    }
    let admin = Arc::new(admin);
    let api = router(HttpState { inbound: inbound.clone(), tokens, limits, admin: admin.clone(), throttle });
    let router = if config.console.enabled {
        let console = ConsoleState {
            admin: admin.clone(),
            config: config.console.clone(),
            origin: crate::console::origin_of(&config.public_url()),
            tls: config.tls_files().is_some(),
        };
        Router::new()
            .merge(crate::console::router(console))
            .route("/", axum::routing::get(|| async { axum::response::Redirect::to("/console/") }))
            .fallback_service(api)
    } else {
        api
    };
    Ok(Service { router, inbound, confluence: confluence_apps, directories, admin })
}

/// How often the groups the rules need are checked again (only after a module change, or
/// while some are missing).
const NEEDED_GROUPS_CHECK: Duration = Duration::from_secs(5);

/// The apps made through the admin side, as stored (with their versions). An app that no
/// longer parses or validates, or whose name the configuration file now uses, is logged and
/// not served; it stays stored.
///
/// # Errors
/// The database cannot be opened or read.
fn console_apps(config: &Config) -> Result<Vec<(AppConfig, u64)>, StartError> {
    let mut conn = open_connection(&config.database_path())?;
    migrate(&mut conn)?;
    let mut out = Vec::new();
    for record in stored_apps::list(&conn)? {
        if config.apps.iter().any(|a| a.name.eq_ignore_ascii_case(&record.name)) {
            tracing::error!(app = %record.name, "an app made in the console has the name of an app of the configuration file; the file's is served");
            continue;
        }
        match parse_definition(&record.definition).and_then(|a| {
            a.validate(&config.server).map_err(|e| crate::admin::AdminError::Invalid(e.to_string()))?;
            Ok(a)
        }) {
            Ok(app) => out.push((app, record.version)),
            Err(e) => tracing::error!(app = %record.name, error = %e, "a stored app cannot be served"),
        }
    }
    Ok(out)
}

/// What every app's Confluence side is made from, for the apps of the start and for those
/// made or changed later.
struct ConfluenceWiring {
    config: ConfluenceConfig,
    /// The base URL and credentials in use (the console's, once saved, else the file's).
    current: std::sync::Mutex<(String, Auth)>,
    reread: CredentialSource,
    outbox: Arc<Outbox>,
    store: Store,
    backoff: Backoff,
}

impl ConfluenceWiring {
    fn policy(app: &AppConfig) -> Deprovision {
        match app.deprovision {
            DeprovisionPolicy::Disable => Deprovision::Disable,
            DeprovisionPolicy::Delete => Deprovision::Delete,
        }
    }

    /// `app`'s Confluence side (its workers not started), its outbox queues and breaker set.
    fn app_sync(&self, app: &AppConfig) -> Result<Arc<AppSync>, String> {
        let c = &self.config;
        let (url, auth) = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut settings = ConfluenceSettings::new(url, auth);
        settings.request_timeout = Duration::from_millis(c.request_timeout_ms.max(1));
        settings.max_concurrency = c.max_concurrency.max(1);
        settings.version = c.version.clone();
        let client = ConfluenceClient::new(settings).map_err(|e| e.to_string())?;
        let settings = AppSyncSettings {
            apply_deadline: Duration::from_millis(c.apply_deadline_ms),
            policy: Self::policy(app),
            workers: c.max_concurrency.max(1),
            backoff: self.backoff,
        };
        self.outbox.add_app(&app.name);
        self.set_breaker(app);
        Ok(AppSync::new(
            &app.name,
            client,
            self.outbox.clone(),
            self.store.clone(),
            settings,
            Some(self.reread.clone()),
        ))
    }

    fn set_breaker(&self, app: &AppConfig) {
        let b = app.breaker;
        self.outbox.set_breaker(
            &app.name,
            BreakerSettings {
                enabled: b.enabled,
                max_deprovisions: b.max_deprovisions,
                max_share: b.max_share,
                window: Duration::from_secs(b.window_secs),
            },
        );
    }
}

impl ConfluenceApps for ConfluenceWiring {
    fn start(&self, app: &AppConfig, current: Option<Arc<AppSync>>) -> Result<Arc<AppSync>, String> {
        if let Some(current) = current.filter(|c| c.policy == Self::policy(app) && !c.is_stopped()) {
            self.set_breaker(app);
            return Ok(current);
        }
        let sync = self.app_sync(app)?;
        sync.spawn_workers();
        Ok(sync)
    }

    fn stop(&self, app: &str, sync: &AppSync, forget: bool) {
        sync.stop();
        if forget {
            self.outbox.remove_app(app);
        }
    }

    fn reconfigure(&self, url: &str, auth: Auth) -> bool {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = current.0 != url;
        *current = (url.to_owned(), auth);
        changed
    }
}

/// Each app's Confluence side by name, and what later apps' sides are made from.
type ConfluenceSides = (HashMap<String, Arc<AppSync>>, Option<Arc<ConfluenceWiring>>);

/// Each app's Confluence side when `[confluence]` is configured: a client (with the app's
/// own concurrency limit), the outbox restored from the database, and the workers, started
/// on the current Tokio runtime (each app also checks the credentials with an authenticated
/// call); and what later apps' sides are made from. Empty without `[confluence]`.
///
/// # Errors
/// The credentials cannot be read, the URL is not usable, or the database fails.
fn confluence_sync(config: &Config, c: &ConfluenceConfig, store: &Store) -> Result<ConfluenceSides, StartError> {
    let auth_of = |credentials| match credentials {
        ConfluenceCredentials::Basic { username, password } => Auth::Basic { username, password },
        ConfluenceCredentials::Token(token) => Auth::Token(token),
    };
    let conn = open_connection(&config.database_path())?;
    // The connection saved in the console, once there is one, wins over the file's.
    let stored = crate::store::connection_settings::get(&conn)?;
    let (url, auth) = match &stored {
        Some(row) => (row.url.clone(), crate::admin::connection::auth_of(row)),
        None => (c.url.clone(), auth_of(c.credentials(&config.base_dir)?)),
    };
    // While Confluence rejects them, the credentials are read again at every retry: the
    // console may have saved new ones, or the secret file or variable been renewed.
    let reread: CredentialSource = {
        let (c, base_dir, db) = (c.clone(), config.base_dir.clone(), config.database_path());
        Arc::new(move || {
            let saved = open_connection(&db).and_then(|conn| crate::store::connection_settings::get(&conn));
            match saved {
                Ok(Some(row)) => Ok(crate::admin::connection::auth_of(&row)),
                Ok(None) => c.credentials(&base_dir).map(auth_of).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    };
    let max_seq = outbox::max_seq(&conn).map_err(StoreError::from)?;
    let pending = outbox::pending(&conn).map_err(StoreError::from)?;
    let blocked = outbox::blocked(&conn, None).map_err(StoreError::from)?;
    let held = outbox::held(&conn, None).map_err(StoreError::from)?;
    drop(conn);
    let outbox = Outbox::new(config.apps.iter().map(|a| a.name.as_str()), max_seq);
    let backoff = Backoff { base: Duration::from_millis(250), cap: Duration::from_millis(c.max_backoff_ms.max(1)) };
    let wiring = Arc::new(ConfluenceWiring {
        config: c.clone(),
        current: std::sync::Mutex::new((url, auth)),
        reread,
        outbox: outbox.clone(),
        store: store.clone(),
        backoff,
    });
    let mut out = HashMap::new();
    for app in &config.apps {
        let sync = wiring.app_sync(app).map_err(StartError::Confluence)?;
        out.insert(app.name.clone(), sync);
    }
    let orphans = outbox.restore(pending);
    outbox.restore_parked(blocked);
    outbox.restore_held(held);
    if !orphans.is_empty() {
        tracing::warn!(count = orphans.len(), "outbox operations of apps no longer configured stay in the database");
    }
    for (name, sync) in &out {
        let queued = outbox.len(name);
        if queued > 0 {
            tracing::info!(app = %name, queued, "resuming Confluence operations from the outbox");
        }
        sync.spawn_workers();
    }
    if let Some(sync) = out.values().next() {
        let client = sync.client().clone();
        tokio::spawn(async move { announce_version(client).await });
    }
    Ok((out, Some(wiring)))
}

/// Detects the Confluence version (retrying while Confluence is unreachable) and logs
/// what it cannot do.
async fn announce_version(client: ConfluenceClient) {
    let backoff = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(60) };
    for attempt in 0u32.. {
        match client.probe().await {
            Ok(info) => {
                tracing::info!(version = %info.version.as_str(), "Confluence detected");
                for limitation in info.limitations() {
                    tracing::warn!(%limitation, "Confluence limitation");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot detect the Confluence version yet");
                tokio::time::sleep(backoff.delay(attempt, e.retry_after())).await;
            }
        }
    }
}

/// The rules of the apps that name a module: one engine, and a registry that loads each
/// module now and reloads it when its file changes (apps given a module later join it).
///
/// # Errors
/// An app's settings are invalid, or the engine or the file watcher cannot start. A module
/// that fails to load is not an error here: its app answers 503 until the file is fixed,
/// and `usersync rules status` and `/healthz` say why.
pub fn rules_hook(config: &Config, store: Store) -> Result<Arc<RulesHook>, StartError> {
    let mut modules = Vec::new();
    let database_folder = config.database_path().parent().and_then(|f| f.canonicalize().ok());
    for app in &config.apps {
        let Some(path) = app.rules_path(&config.base_dir) else { continue };
        let module_folder = path.parent().and_then(|f| f.canonicalize().ok());
        if module_folder.is_some() && module_folder == database_folder {
            tracing::warn!(
                app = %app.name,
                module = %path.display(),
                "the rules module shares its folder with the database, so every database write wakes the module \
                 file watcher (CPU spent on every SCIM write); put modules in a folder of their own"
            );
        }
        let app_settings = app.rule_settings()?;
        modules.push(AppModule {
            app: app.name.clone(),
            path,
            limits: app.rules_limits.to_limits(),
            settings: app_settings,
        });
    }
    let engine = RulesEngine::with_budget(config.server.rules_budget())?;
    let registry = ModuleRegistry::start(engine.clone(), modules)?;
    for status in registry.status() {
        match (&status.module, &status.last_error) {
            (Some(m), _) => {
                tracing::info!(app = %status.app, module = %m.name, hash = %m.short_hash(), "rules module serving")
            }
            (None, Some(e)) => {
                tracing::error!(app = %status.app, error = %e, "no rules module serving: SCIM writes to this app answer 503 until its module loads")
            }
            (None, None) => {}
        }
    }
    Ok(Arc::new(RulesHook::new(engine, registry, store)))
}

/// Runs the service until Ctrl-C or SIGTERM.
///
/// # Errors
/// As [`build`], or the address cannot be bound.
pub async fn serve(config: &Config) -> Result<(), StartError> {
    let service = build(config)?;
    service.warm_people_search();
    let addr = config.server.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    tracing::info!(%addr, "listening");
    for app in service.inbound.apps() {
        let managed_by = if app.source == AppSource::File { "file" } else { "console" };
        tracing::info!(app = %app.name, kind = app.kind.as_str(), base_url = %app.base_url, managed_by, "SCIM app");
    }
    let mut settings = ListenSettings::from_config(&config.server);
    settings.max_connections =
        crate::http::listen::fit_to_open_file_limit(settings.max_connections, descriptor_reserve(config));
    let tls = match config.tls_files() {
        Some((cert, key)) => {
            let store = crate::http::tls::CertStore::open(&cert, &key)?;
            store.watch();
            tracing::info!(cert = %cert.display(), "TLS on: the certificate is read again when its files change");
            Some(store.acceptor()?)
        }
        None => None,
    };
    crate::http::serve_tls(listener, service.router, settings, tls, shutdown_signal())
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

/// File descriptors kept for everything but client connections: the database and its
/// journal, the rules' files and watchers, logging, the runtime, and each app's Confluence
/// connections.
fn descriptor_reserve(config: &Config) -> usize {
    let confluence = config.confluence.as_ref().map_or(0, |c| c.max_concurrency.max(1) * config.apps.len());
    64 + confluence + 2 * config.apps.len()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
