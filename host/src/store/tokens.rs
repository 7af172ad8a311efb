//! Bearer tokens: created once and shown once, stored as SHA-256 only, checked in constant
//! time, scoped to one app.
//!
//! Tokens are 256 random bits, so a fast hash is enough (there is nothing to brute-force);
//! the hash is what the database and memory keep. [`TokenVerifier`] compares the presented
//! token's hash with each hash of *the addressed app* using `subtle`'s constant-time
//! equality and never stops early, so a token of app A is simply not among app B's
//! hashes. The server re-reads the table every few seconds, and at once (rate-limited) when
//! it sees an unknown token, so `usersync token create` / `revoke` take effect without a
//! restart.
//!
//! When a token was last used is kept in memory on the request path and written to the
//! table by [`TokenVerifier::flush_last_used`], off the request path, at most once a minute
//! per token. A rotated token keeps working until its `expires` time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{open_connection, StoreError};

/// A token as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub app: String,
    pub label: String,
    pub created: String,
    pub revoked: Option<String>,
    /// When it last opened its app (to the minute); `None`: never, as far as recorded.
    pub last_used: Option<String>,
    /// When it stops working (a rotated token's grace period ends).
    pub expires: Option<String>,
}

/// The SHA-256 of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh token: `ust_` followed by 43 base64url characters (256 random bits).
///
/// # Errors
/// The operating system's random source fails.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("ust_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

fn token_id(hash: &[u8; 32]) -> String {
    hash[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a token for `app` and returns (its id, the secret). Only the hash is stored.
///
/// # Errors
/// Randomness or the database fails.
pub fn create(conn: &Connection, app: &str, label: &str) -> Result<(String, String), StoreError> {
    let token =
        generate_token().map_err(|e| StoreError::Corrupt { id: "-".into(), detail: format!("no randomness: {e}") })?;
    let hash = hash_token(&token);
    let id = token_id(&hash);
    conn.execute(
        "INSERT INTO tokens (id, app, label, sha256, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, app, label, &hash[..], crate::clock::now_rfc3339()],
    )?;
    Ok((id, token))
}

/// Every token, or those of one app, oldest first.
///
/// # Errors
/// The database fails.
pub fn list(conn: &Connection, app: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, app, label, created, revoked, last_used, expires FROM tokens WHERE ?1 IS NULL OR app = ?1 \
         ORDER BY created, id",
    )?;
    let rows = stmt.query_map([app], |r| {
        Ok(TokenInfo {
            id: r.get(0)?,
            app: r.get(1)?,
            label: r.get(2)?,
            created: r.get(3)?,
            revoked: r.get(4)?,
            last_used: r.get(5)?,
            expires: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes the token with this id. Returns false if there is none (or it was revoked).
///
/// # Errors
/// The database fails.
pub fn revoke(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE tokens SET revoked = ?1 WHERE id = ?2 AND revoked IS NULL",
        params![crate::clock::now_rfc3339(), id],
    )?;
    Ok(n == 1)
}

/// Rotates the active token `id`: a new token for the same app and label, returned as (its
/// id, the secret), while the old one keeps working for `grace` and then stops. `None`
/// when there is no such active token.
///
/// # Errors
/// Randomness or the database fails.
pub fn rotate(conn: &Connection, id: &str, grace: Duration) -> Result<Option<(String, String)>, StoreError> {
    let old: Option<(String, String)> = conn
        .query_row("SELECT app, label FROM tokens WHERE id = ?1 AND revoked IS NULL AND expires IS NULL", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((app, label)) = old else { return Ok(None) };
    let created = create(conn, &app, &label)?;
    let until = crate::clock::system_time_rfc3339(SystemTime::now() + grace);
    conn.execute("UPDATE tokens SET expires = ?1 WHERE id = ?2", params![until, id])?;
    Ok(Some(created))
}

/// Checks presented tokens against the hashes of the addressed app.
pub struct TokenVerifier {
    db: PathBuf,
    /// Hashes from the config file (`token_env` / `token_file`), per app.
    fixed: HashMap<String, Vec<[u8; 32]>>,
    state: RwLock<VerifierState>,
    /// Token id → when it was last used and when that was last written.
    used: Mutex<HashMap<String, (SystemTime, Option<SystemTime>)>>,
}

/// How often a token's last use is written at most.
const LAST_USED_STEP: Duration = Duration::from_secs(60);

struct VerifierState {
    by_app: HashMap<String, Vec<ActiveToken>>,
    loaded: Instant,
}

/// A token that opens its app, as the verifier holds it.
struct ActiveToken {
    hash: [u8; 32],
    id: String,
    /// When it stops working (a rotated token).
    expires: Option<SystemTime>,
}

/// How often the token table is re-read in any case.
const REFRESH: Duration = Duration::from_secs(2);
/// The least time between two re-reads triggered by unknown tokens.
const MISS_REFRESH: Duration = Duration::from_millis(250);

impl TokenVerifier {
    /// `fixed` are the apps' bootstrap tokens from the config (hashed here, then dropped).
    ///
    /// # Errors
    /// The token table cannot be read.
    pub fn new(db: &Path, fixed: HashMap<String, Vec<String>>) -> Result<Arc<Self>, StoreError> {
        let fixed =
            fixed.into_iter().map(|(app, tokens)| (app, tokens.iter().map(|t| hash_token(t)).collect())).collect();
        let by_app = load_active(db)?;
        Ok(Arc::new(Self {
            db: db.to_owned(),
            fixed,
            state: RwLock::new(VerifierState { by_app, loaded: Instant::now() }),
            used: Mutex::new(HashMap::new()),
        }))
    }

    /// Is `token` a valid, unrevoked token of `app`?
    pub fn verify(&self, app: &str, token: &str) -> bool {
        let hash = hash_token(token);
        let (found, age) = self.check(app, &hash);
        if found && age < REFRESH {
            return true;
        }
        // Unknown token, or the cache is older than the refresh interval (a token may have
        // been revoked): re-read, rate-limited for misses so a flood of bad tokens cannot
        // turn into a flood of queries.
        if age >= REFRESH || (!found && age >= MISS_REFRESH) {
            self.reload();
            return self.check(app, &hash).0;
        }
        found
    }

    fn check(&self, app: &str, hash: &[u8; 32]) -> (bool, Duration) {
        let mut found = subtle::Choice::from(0u8);
        for h in self.fixed.get(app).into_iter().flatten() {
            found |= h.ct_eq(hash);
        }
        let Ok(state) = self.state.read() else { return (bool::from(found), Duration::ZERO) };
        let now = SystemTime::now();
        let mut matched: Option<&str> = None;
        for t in state.by_app.get(app).into_iter().flatten() {
            let equal = t.hash.ct_eq(hash) & subtle::Choice::from(u8::from(t.expires.is_none_or(|e| e > now)));
            found |= equal;
            if bool::from(equal) {
                matched = Some(&t.id);
            }
        }
        if let Some(id) = matched {
            self.note_use(id, now);
        }
        (bool::from(found), state.loaded.elapsed())
    }

    fn note_use(&self, id: &str, now: SystemTime) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        match used.get_mut(id) {
            Some(entry) => entry.0 = now,
            None => {
                used.insert(id.to_owned(), (now, None));
            }
        }
    }

    /// Writes when each token was last used, for those whose last write is a minute old or
    /// more (called in the background; a request never waits on it).
    ///
    /// # Errors
    /// The database fails; what was not written is written next time.
    pub fn flush_last_used(&self) -> Result<usize, StoreError> {
        let due: Vec<(String, SystemTime)> = {
            let used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            used.iter()
                .filter(|(_, (at, written))| {
                    written.is_none_or(|w| at.duration_since(w).unwrap_or_default() >= LAST_USED_STEP)
                })
                .map(|(id, (at, _))| (id.clone(), *at))
                .collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        let conn = open_connection(&self.db)?;
        for (id, at) in &due {
            conn.execute(
                "UPDATE tokens SET last_used = ?1 WHERE id = ?2",
                params![crate::clock::system_time_rfc3339(*at), id],
            )?;
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, at) in &due {
            if let Some(entry) = used.get_mut(id) {
                entry.1 = Some(*at);
            }
        }
        Ok(due.len())
    }

    /// Re-reads the token table now (after tokens or apps changed).
    pub fn reload(&self) {
        match load_active(&self.db) {
            Ok(by_app) => {
                if let Ok(mut state) = self.state.write() {
                    state.by_app = by_app;
                    state.loaded = Instant::now();
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot re-read bearer tokens; keeping the previous set"),
        }
    }
}

fn load_active(db: &Path) -> Result<HashMap<String, Vec<ActiveToken>>, StoreError> {
    let conn = open_connection(db)?;
    let mut stmt = conn.prepare("SELECT app, sha256, id, expires FROM tokens WHERE revoked IS NULL")?;
    let mut out: HashMap<String, Vec<ActiveToken>> = HashMap::new();
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
    })?;
    for row in rows {
        let (app, hash, id, expires) = row?;
        let expires = match expires.as_deref().map(crate::clock::parse_rfc3339) {
            None => None,
            Some(Some(at)) => Some(at),
            // An expiry that does not parse: the token is not trusted.
            Some(None) => Some(SystemTime::UNIX_EPOCH),
        };
        if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
            out.entry(app).or_default().push(ActiveToken { hash, id, expires });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_verify_scope_and_revoke() {
        let dir = std::env::temp_dir().join(format!("usersync-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let _ = std::fs::remove_file(&db);
        let mut conn = open_connection(&db).unwrap();
        super::super::migrate(&mut conn).unwrap();
        let (id, token) = create(&conn, "a", "test").unwrap();
        assert!(token.starts_with("ust_") && token.len() == 47);
        let stored: Vec<u8> = conn.query_row("SELECT sha256 FROM tokens WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
        assert_eq!(stored, hash_token(&token).to_vec());
        let fixed = HashMap::from([("b".to_owned(), vec!["bootstrap-token-for-b".to_owned()])]);
        let v = TokenVerifier::new(&db, fixed).unwrap();
        assert!(v.verify("a", &token));
        assert!(!v.verify("b", &token), "app a's token must not open app b");
        assert!(v.verify("b", "bootstrap-token-for-b"));
        assert!(!v.verify("a", "bootstrap-token-for-b"));
        assert!(!v.verify("a", "wrong"));
        assert!(revoke(&conn, &id).unwrap());
        assert!(!revoke(&conn, &id).unwrap());
        v.reload();
        assert!(!v.verify("a", &token));
        let listed = list(&conn, Some("a")).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rotated_token_works_until_its_grace_ends_and_use_is_recorded() {
        let dir = std::env::temp_dir().join(format!("usersync-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let _ = std::fs::remove_file(&db);
        let mut conn = open_connection(&db).unwrap();
        super::super::migrate(&mut conn).unwrap();
        let (old_id, old) = create(&conn, "a", "okta").unwrap();
        let v = TokenVerifier::new(&db, HashMap::new()).unwrap();
        assert!(v.verify("a", &old));
        assert_eq!(v.flush_last_used().unwrap(), 1, "the use is written");
        assert_eq!(v.flush_last_used().unwrap(), 0, "and not again within the minute");
        assert!(list(&conn, Some("a")).unwrap()[0].last_used.is_some());

        let (new_id, new) = rotate(&conn, &old_id, Duration::from_secs(3600)).unwrap().unwrap();
        assert!(rotate(&conn, &old_id, Duration::from_secs(3600)).unwrap().is_none(), "a token rotates once");
        v.reload();
        assert!(v.verify("a", &old) && v.verify("a", &new), "both work during the grace period");
        let listed = list(&conn, Some("a")).unwrap();
        let rotated = listed.iter().find(|t| t.id == old_id).unwrap();
        assert!(rotated.expires.is_some() && rotated.revoked.is_none());
        assert_eq!(listed.iter().find(|t| t.id == new_id).unwrap().label, "okta", "the new one keeps the label");

        // The grace period over: the old token stops, the new one goes on.
        conn.execute("UPDATE tokens SET expires = ?1 WHERE id = ?2", params!["2000-01-01T00:00:00Z", old_id]).unwrap();
        v.reload();
        assert!(!v.verify("a", &old));
        assert!(v.verify("a", &new));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
