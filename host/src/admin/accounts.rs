//! Administrator accounts for the console: argon2id password hashes, two roles, server-side
//! sessions, and the throttle on failed logins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Changes everything.
    Admin,
    /// Reads everything but secrets; changes nothing.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// `admin` or `viewer`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// The shortest password accepted for an account.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// An account name: 1–64 of lower-case letters, digits, `.`, `_`, `-` and `@`.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The argon2id hash (PHC string) of a password, with a fresh salt and the crate's default
/// cost (19 MiB, 2 passes: OWASP's recommendation).
///
/// # Errors
/// The random source fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches the stored PHC string (compared in constant time by argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the account does not exist, so an unknown name takes as
/// long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

/// Failed logins before an account or an address waits.
const FREE_FAILURES: u32 = 5;
/// How long failures are remembered after the last one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most per map (addresses beyond it evict the oldest).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins per account and per client address: after five, each further attempt
/// waits 2^(n−5) seconds (at most 15 minutes) from the last failure; a success clears the
/// account's count. Bounded in memory.
#[derive(Default)]
pub struct LoginThrottle {
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginThrottle {
    /// How long the attempt must wait, if it must.
    pub fn wait(&self, username: &str, address: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let account = self.accounts.lock().ok().and_then(|m| m.get(username).and_then(|f| remaining(f, now)));
        let addr =
            address.and_then(|a| self.addresses.lock().ok().and_then(|m| m.get(&a).and_then(|f| remaining(f, now))));
        account.max(addr)
    }

    pub fn failed(&self, username: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        if let Ok(mut m) = self.accounts.lock() {
            bump(&mut m, username.to_owned(), now);
        }
        if let (Some(a), Ok(mut m)) = (address, self.addresses.lock()) {
            bump(&mut m, a, now);
        }
    }

    pub fn succeeded(&self, username: &str) {
        if let Ok(mut m) = self.accounts.lock() {
            m.remove(username);
        }
    }
}

fn remaining(f: &Failures, now: Instant) -> Option<Duration> {
    if f.count < FREE_FAILURES {
        return None;
    }
    let wait = Duration::from_secs(1u64 << (f.count - FREE_FAILURES).min(20)).min(MAX_WAIT);
    (f.last + wait).checked_duration_since(now)
}

fn bump<K: std::hash::Hash + Eq + Clone>(m: &mut HashMap<K, Failures>, key: K, now: Instant) {
    m.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
    if m.len() >= MAX_ENTRIES && !m.contains_key(&key) {
        if let Some(oldest) = m.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) {
            m.remove(&oldest);
        }
    }
    let f = m.entry(key).or_insert(Failures { count: 0, last: now });
    f.count += 1;
    f.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterx", &phc));
        assert!(!verify_password("anything", "not a phc string"));
        assert_ne!(hash_password("correct horse battery").unwrap(), phc, "a fresh salt each time");
    }

    #[test]
    fn the_throttle_waits_after_five_failures_per_account_and_per_address() {
        let t = LoginThrottle::default();
        let here: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(t.wait("ada", Some(here)), None);
            t.failed("ada", Some(here));
        }
        assert!(t.wait("ada", None).is_some(), "the account waits");
        assert!(t.wait("grace", Some(here)).is_some(), "so does the address, for any account");
        assert_eq!(t.wait("grace", Some("10.0.0.2".parse().unwrap())), None);
        t.succeeded("ada");
        assert_eq!(t.wait("ada", None), None);
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("ada.lovelace@example.com"));
        assert!(!valid_username("Ada"));
        assert!(!valid_username("<script>"));
        assert!(!valid_username(""));
    }
}
