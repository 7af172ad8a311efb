//! Wiring: from a [`Config`] to a running service (store, token verifier, router).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;

use crate::config::{Config, ConfigError};
use crate::http::{router, HttpLimits, HttpState};
use crate::inbound::{apps_from_config, relocate, Inbound, RulesHook};
use crate::rules::{AppModule, ModuleRegistry, RulesEngine, RulesError};
use crate::scim::normalize::Limits;
use crate::store::tokens::TokenVerifier;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

/// Everything a running service holds.
pub struct Service {
    pub router: Router,
    pub inbound: Arc<Inbound>,
}

/// Opens the store and builds the router for `config`.
///
/// # Errors
/// The config names a bad extension or an unreadable token secret, or the database cannot
/// be opened.
pub fn build(config: &Config) -> Result<Service, StartError> {
    let apps = apps_from_config(config)?;
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
    let mut inbound = Inbound::new(store.clone(), apps, Limits::default(), config.server.max_results);
    if let Some(rules) = rules_hook(config, store)? {
        inbound = inbound.with_rules(rules);
    }
    let inbound = Arc::new(inbound);
    let limits = HttpLimits {
        max_body_bytes: config.server.max_body_bytes,
        bulk_max_operations: config.server.bulk_max_operations,
        bulk_max_payload_bytes: config.server.bulk_max_payload_bytes,
    };
    let router = router(HttpState { inbound: inbound.clone(), tokens, limits });
    Ok(Service { router, inbound })
}

/// The rules of the apps that name a module: one engine, and a registry that loads each
/// module now and reloads it when its file changes. `None` when no app has rules.
///
/// # Errors
/// An app's settings are invalid, or the engine or the file watcher cannot start. A module
/// that fails to load is not an error here: its app answers 503 until the file is fixed,
/// and `usersync rules status` and `/healthz` say why.
pub fn rules_hook(config: &Config, store: Store) -> Result<Option<Arc<RulesHook>>, StartError> {
    let mut modules = Vec::new();
    let mut settings = HashMap::new();
    for app in &config.apps {
        let Some(path) = app.rules_path(&config.base_dir) else { continue };
        let app_settings = app.rule_settings()?;
        modules.push(AppModule {
            app: app.name.clone(),
            path,
            limits: app.rules_limits.to_limits(),
            settings: app_settings.clone(),
        });
        settings.insert(app.name.clone(), app_settings);
    }
    if modules.is_empty() {
        return Ok(None);
    }
    let engine = RulesEngine::new()?;
    let registry = ModuleRegistry::start(engine.clone(), modules)?;
    for status in registry.status() {
        match (&status.module, &status.last_error) {
            (Some(m), _) => tracing::info!(app = %status.app, module = %m.name, hash = %m.short_hash(), "rules module serving"),
            (None, Some(e)) => tracing::error!(app = %status.app, error = %e, "no rules module serving: SCIM writes to this app answer 503 until its module loads"),
            (None, None) => {}
        }
    }
    Ok(Some(Arc::new(RulesHook::new(engine, registry, settings, store))))
}

/// Runs the service until Ctrl-C or SIGTERM.
///
/// # Errors
/// As [`build`], or the address cannot be bound.
pub async fn serve(config: &Config) -> Result<(), StartError> {
    let service = build(config)?;
    let addr = config.server.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    let public = config.public_url();
    tracing::info!(%addr, "listening");
    for app in &config.apps {
        tracing::info!(app = %app.name, kind = app.kind.as_str(), base_url = %format!("{public}/scim/v2/{}", app.name), "SCIM app");
    }
    axum::serve(listener, service.router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|source| StartError::Listen { addr, source })
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
