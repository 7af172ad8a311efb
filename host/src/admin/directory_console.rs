//! What the console needs of directory apps beyond the admin API's services
//! (`directory.rs`): whether a bind password is stored (never the password), a definition's
//! TLS settings checked before it is stored, and creating or changing an app together with
//! its write-only bind password.
//!
//! The password is stored before the app is served, so its runner's first run binds with
//! it instead of failing for want of one (and leaving a failed run in the app's history).

use super::apps::{ChangeError, NewApp};
use super::{Admin, AdminError};
use crate::config::{AppConfig, DirectoryConfig};

/// Where a directory app's bind password comes from, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Stored through the console or the admin API (write-only).
    Stored,
    /// None stored: the app binds without one (and a bind DN then fails).
    Missing,
    /// The configuration's environment variable, by name.
    Env(String),
    /// The configuration's file, by path.
    File(String),
}

impl Admin {
    /// Where `app`'s bind password comes from; never the password itself.
    ///
    /// # Errors
    /// No such app, or the database fails.
    pub async fn directory_password_source(&self, app: &str) -> Result<PasswordSource, AdminError> {
        self.known(app)?;
        let def = self.definition(app).await?;
        let dir = def.definition.get("directory");
        let named = |key: &str| dir.and_then(|d| d.get(key)).and_then(serde_json::Value::as_str).map(str::to_owned);
        if let Some(var) = named("password_env") {
            return Ok(PasswordSource::Env(var));
        }
        if let Some(file) = named("password_file") {
            return Ok(PasswordSource::File(file));
        }
        Ok(match self.db.directory_password(app.to_owned()).await? {
            Some(p) if !p.is_empty() => PasswordSource::Stored,
            _ => PasswordSource::Missing,
        })
    }

    /// Whether a directory definition's TLS settings can be used (its CA file read and
    /// parsed, relative paths against the database's folder as the runner resolves them).
    ///
    /// # Errors
    /// The CA file cannot be read or holds no certificate; the message names the file.
    pub fn check_directory_tls(&self, config: &DirectoryConfig) -> Result<(), String> {
        crate::directory::client::Target::new(config.clone(), None, self.db.folder())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Creates a directory app with its bind password (`None`: none yet). The password is
    /// stored first, so the runner started with the app binds with it from its first run;
    /// if the app is not made, it is forgotten again.
    ///
    /// # Errors
    /// As [`Admin::create_app`]; a name that is taken is refused before anything is stored.
    pub async fn create_directory_app(
        &self,
        actor: &str,
        def: AppConfig,
        module_from: Option<&str>,
        password: Option<&str>,
    ) -> Result<NewApp, ChangeError> {
        let name = def.name.clone();
        if def.directory.is_none() {
            return Err(AdminError::Invalid(format!("app {name} has no directory settings")).into());
        }
        let password = password.filter(|p| !p.is_empty());
        if password.is_some() {
            // The store keys the password by name: refuse a taken name before writing it.
            let taken = match self.definition(&name).await {
                Ok(_) => true,
                Err(AdminError::NoApp(_)) => self.inbound.apps().iter().any(|a| a.name.eq_ignore_ascii_case(&name)),
                Err(e) => return Err(e.into()),
            };
            if taken {
                return Err(AdminError::Invalid(format!("an app named {name} exists already")).into());
            }
            self.db
                .set_directory_password(name.clone(), password.map(str::to_owned))
                .await
                .map_err(AdminError::from)?;
        }
        // A directory app takes no SCIM writes; its first token is never shown.
        match self.create_app(actor, def, module_from, "unused: a directory app takes no SCIM writes").await {
            Ok(created) => {
                // Nobody ever sees that token; revoked, it opens nothing (not even SCIM reads).
                match self.db.revoke_token(name.clone(), created.token_id.clone()).await {
                    Ok(_) => {
                        if let Some(tokens) = self.runtime.as_ref().and_then(|r| r.tokens.as_ref()) {
                            tokens.reload();
                        }
                    }
                    Err(e) => tracing::warn!(app = %name, error = %e, "cannot revoke a directory app's unused token"),
                }
                if password.is_some() {
                    self.record(actor, &name, "directory", "bind password set").await;
                }
                Ok(created)
            }
            Err(e) => {
                if password.is_some() && self.inbound.app(&name).is_none() {
                    if let Err(forget) = self.db.set_directory_password(name.clone(), None).await {
                        tracing::error!(app = %name, error = %forget, "cannot forget the password of an app not made");
                    }
                }
                Err(e)
            }
        }
    }

    /// Changes a console-managed directory app (as [`Admin::update_app`]) and, when one is
    /// given, its bind password. The password is stored first so the runner restarted by
    /// the change binds with it; the previous one is put back if the change is refused.
    ///
    /// # Errors
    /// As [`Admin::update_app`].
    pub async fn update_directory_app(
        &self,
        actor: &str,
        name: &str,
        def: AppConfig,
        version: u64,
        password: Option<&str>,
    ) -> Result<u64, ChangeError> {
        let Some(password) = password.filter(|p| !p.is_empty()) else {
            return self.update_app(actor, name, def, version).await;
        };
        let def_view = self.definition(name).await?;
        if def_view.managed_by == "file" {
            return Err(AdminError::ReadOnly(name.to_owned()).into());
        }
        if def_view.version != version {
            return Err(ChangeError::Changed { name: name.to_owned(), current: Some(Box::new(def_view)) });
        }
        let before = self.db.directory_password(name.to_owned()).await.map_err(AdminError::from)?;
        self.db.set_directory_password(name.to_owned(), Some(password.to_owned())).await.map_err(AdminError::from)?;
        match self.update_app(actor, name, def, version).await {
            Ok(next) => {
                self.record(actor, name, "directory", "bind password changed").await;
                Ok(next)
            }
            Err(e) => {
                if let Err(restore) = self.db.set_directory_password(name.to_owned(), before).await {
                    tracing::error!(app = %name, error = %restore, "cannot restore the previous bind password");
                }
                Err(e)
            }
        }
    }
}
