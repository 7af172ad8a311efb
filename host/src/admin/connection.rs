//! The Confluence connection, editable live from the console: the base URL and how UserSync
//! signs in. A change is tested first (reached, the version read, the credentials checked
//! with an authenticated call), then saved, audited (never the secret), and applied to every
//! app: new credentials go into the running clients; a new URL gives each app a new
//! Confluence side (what is queued stays queued and goes to the new URL).

use super::{Admin, AdminError};
use crate::confluence::{Auth, ConfluenceClient, ConfluenceSettings};
use crate::store::connection_settings::ConnectionRow;

/// What the console's form sends.
#[derive(Debug, Clone, Default)]
pub struct ConnectionForm {
    pub url: String,
    /// `basic` or `token`.
    pub kind: String,
    pub username: String,
    /// Empty: keep the stored secret.
    pub secret: String,
    /// Save even when the test fails (Confluence is down for maintenance, say).
    pub save_untested: bool,
}

/// The credentials a stored connection holds.
pub fn auth_of(row: &ConnectionRow) -> Auth {
    match row.kind.as_str() {
        "token" => Auth::Token(row.secret.clone()),
        _ => Auth::Basic { username: row.username.clone().unwrap_or_default(), password: row.secret.clone() },
    }
}

/// How the console describes a stored connection's sign-in (never the secret).
pub fn sign_in_of(row: &ConnectionRow) -> String {
    match row.kind.as_str() {
        "token" => format!("personal access token set in the console by {} at {}", row.updated_by, row.updated_at),
        _ => format!(
            "user {}, password set in the console by {} at {}",
            row.username.as_deref().unwrap_or("?"),
            row.updated_by,
            row.updated_at
        ),
    }
}

impl Admin {
    /// Tests, saves and applies a new Confluence connection. Returns what the test found.
    ///
    /// # Errors
    /// Confluence is not configured, the form is invalid, or the test fails (unless saving
    /// untested was asked for); nothing changes then.
    pub async fn save_connection(&self, actor: &str, form: ConnectionForm) -> Result<String, AdminError> {
        let runtime = self.runtime()?;
        let wiring = runtime.confluence();
        if wiring.is_none() && runtime.enable_confluence.is_none() {
            return Err(AdminError::Invalid("Confluence cannot be configured here".into()));
        }
        let url = form.url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&url).map_err(|e| AdminError::Invalid(format!("the base URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(AdminError::Invalid("the base URL must be http:// or https:// with a host".into()));
        }
        let stored = self.db.confluence_connection().await?;
        let secret = match (form.secret.is_empty(), &stored) {
            (false, _) => form.secret.clone(),
            (true, Some(row)) if row.kind == form.kind => row.secret.clone(),
            (true, _) => return Err(AdminError::Invalid("give the password or token (it is not shown back)".into())),
        };
        let username = form.username.trim().to_owned();
        let row = ConnectionRow {
            url: url.clone(),
            kind: match form.kind.as_str() {
                "token" => "token".to_owned(),
                "basic" if !username.is_empty() => "basic".to_owned(),
                "basic" => return Err(AdminError::Invalid("give the Confluence administrator's username".into())),
                other => return Err(AdminError::Invalid(format!("{other:?} is not a way to sign in"))),
            },
            username: (form.kind == "basic").then_some(username),
            secret,
            updated_at: crate::clock::now_rfc3339(),
            updated_by: actor.to_owned(),
        };
        let auth = auth_of(&row);
        let tested = test_connection(&url, &auth).await;
        let note = match &tested {
            Ok(found) => found.clone(),
            Err(e) if form.save_untested => format!("saved untested: {e}"),
            Err(e) => return Err(AdminError::Refused(format!("Not saved: {e}"))),
        };
        self.db.put_confluence_connection(row.clone()).await?;
        let before = self.confluence_url();
        let secret_changed = stored.as_ref().is_none_or(|s| s.secret != row.secret);
        self.record(
            actor,
            "-",
            "confluence",
            &format!(
                "Confluence connection changed: URL {} → {}; sign-in {}{}",
                before.as_deref().unwrap_or("?"),
                url,
                sign_in_of(&row),
                if secret_changed { " (new secret)" } else { " (secret unchanged)" }
            ),
        )
        .await;
        let Some(wiring) = wiring else {
            // Confluence was not configured: from now on it is, for every app.
            self.enable_confluence(actor).await?;
            self.show_saved_connection(&row);
            tracing::info!(%actor, "Confluence connection configured");
            return Ok(note);
        };
        let url_changed = wiring.reconfigure(&url, auth.clone());
        for (name, sync) in self.inbound.confluence_apps() {
            if url_changed {
                let Some(app) = self.inbound.app(&name) else { continue };
                let def = self.current_definition(&name).await?;
                let fresh = wiring.start(&def, None).map_err(AdminError::Refused)?;
                self.inbound.put_app(app, Some(fresh));
                wiring.stop(&name, &sync, false);
            } else if let Err(e) = sync.client().set_auth(&auth) {
                tracing::error!(app = %name, error = %e, "cannot use the new Confluence credentials");
            }
        }
        self.show_saved_connection(&row);
        tracing::info!(%actor, url_changed, "Confluence connection changed");
        Ok(note)
    }
}

/// Reaches Confluence at `url`, reads its version and checks `auth` with an authenticated
/// call; says what it found.
async fn test_connection(url: &str, auth: &Auth) -> Result<String, String> {
    let client = ConfluenceClient::new(ConfluenceSettings::new(url, auth.clone())).map_err(|e| e.to_string())?;
    let info = client.probe().await.map_err(|e| e.to_string())?;
    let account = client.check_credentials().await.map_err(|e| e.to_string())?;
    Ok(format!("Connected to Confluence {} as {account}, who has administrator rights.", info.version))
}

impl Admin {
    /// What the Confluence page shows of a connection saved in the console.
    pub(super) fn show_saved_connection(&self, row: &ConnectionRow) {
        let username = if row.kind == "token" { None } else { row.username.clone() };
        self.set_confluence_view(row.url.clone(), sign_in_of(row), username);
    }

    /// Shows the connection saved in the console (it wins over the file's).
    #[must_use]
    pub fn with_saved_confluence(self, row: &ConnectionRow) -> Self {
        self.show_saved_connection(row);
        self
    }

    /// Turns Confluence on for every app served, from the connection just saved: each app's
    /// Confluence side started and served, and later apps given theirs.
    async fn enable_confluence(&self, actor: &str) -> Result<(), AdminError> {
        let runtime = self.runtime()?;
        let enable = runtime
            .enable_confluence
            .clone()
            .ok_or_else(|| AdminError::Invalid("Confluence cannot be configured here".into()))?;
        let mut defs = Vec::new();
        for app in self.inbound.apps() {
            defs.push(self.current_definition(&app.name).await?);
        }
        let (sides, wiring) = enable(&defs).map_err(AdminError::Refused)?;
        *runtime.confluence.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(wiring);
        for app in self.inbound.apps() {
            if let Some(sync) = sides.get(&*app.name) {
                self.inbound.put_app(app.clone(), Some(sync.clone()));
            }
        }
        tracing::info!(%actor, apps = sides.len(), "Confluence is configured: decisions are applied from now on");
        Ok(())
    }
}
