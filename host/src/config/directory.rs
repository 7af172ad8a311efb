//! `[apps.directory]`: an app fed by an LDAP or Active Directory directory that UserSync
//! pulls, instead of an identity provider that pushes SCIM.
//!
//! The defaults follow the server type: OpenLDAP reads `uid` and `entryUUID` and lists
//! `member`; Active Directory reads `sAMAccountName` and `objectGUID`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Which kind of directory server: the defaults of the other settings follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryType {
    /// OpenLDAP, 389-ds and other RFC 4512 servers.
    #[default]
    Openldap,
    /// Microsoft Active Directory or Samba as a domain controller.
    ActiveDirectory,
}

/// How deep a search goes below its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchScope {
    /// The base and everything below it.
    #[default]
    Sub,
    /// The base's immediate children.
    One,
}

/// Where a person's groups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Membership {
    /// Groups list their members' DNs in `member` (groupOfNames, AD groups).
    #[serde(rename = "member")]
    Member,
    /// People list their groups' DNs in `memberOf` (OpenLDAP's memberof overlay, AD).
    #[serde(rename = "memberOf")]
    MemberOf,
    /// Groups list their members in `uniqueMember` (groupOfUniqueNames; an optional
    /// `#'…'B` UID suffix is ignored).
    #[serde(rename = "uniqueMember")]
    UniqueMember,
}

/// How changes between two full reconciles are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStrategy {
    /// RFC 4533 content sync, the search kept open (refreshAndPersist); polls with
    /// refreshOnly while the server refuses or drops it.
    SyncreplPersist,
    /// RFC 4533 content sync polled (refreshOnly) at each incremental interval.
    Syncrepl,
    /// Active Directory's DirSync control, polled with its cookie (the bind account needs
    /// "Replicating Directory Changes").
    Dirsync,
    /// Active Directory's `uSNChanged`, polled, with the DC's `invocationId` recorded.
    Usn,
    /// `modifyTimestamp` polled: the last resort (deletions only at the full reconcile).
    Timestamp,
    /// Full reconciles only.
    Full,
}

impl SyncStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStrategy::SyncreplPersist => "syncrepl_persist",
            SyncStrategy::Syncrepl => "syncrepl",
            SyncStrategy::Dirsync => "dirsync",
            SyncStrategy::Usn => "usn",
            SyncStrategy::Timestamp => "timestamp",
            SyncStrategy::Full => "full",
        }
    }
}

/// `[apps.directory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    #[serde(default)]
    pub server_type: DirectoryType,
    /// One or more `ldap://` or `ldaps://` URLs, tried in order.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the CAs that sign the server's certificate (relative to the config
    /// file). Without it, the system's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Check that the certificate names the server. Default true.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
    /// The DN (or, for AD, `user@domain`) UserSync binds as; anonymous without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// An environment variable holding the bind password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A file holding the bind password (trailing newline ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Where people are searched.
    pub user_base: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_filter: Option<String>,
    #[serde(default)]
    pub user_scope: SearchScope,
    /// Where groups are searched; without it, no groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_filter: Option<String>,
    #[serde(default)]
    pub group_scope: SearchScope,
    /// The attributes fetched for each person; empty for all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The attribute that names a person: `uid`, `sAMAccountName`, `userPrincipalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_attribute: Option<String>,
    /// The attribute that identifies an entry for good, across renames and moves:
    /// `entryUUID`, `objectGUID` (decoded from binary), or one the administrator names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
    /// Flatten nested groups with AD's LDAP_MATCHING_RULE_IN_CHAIN. Other servers refuse it.
    #[serde(default)]
    pub nested_groups: bool,
    /// Seconds between incremental runs (default 300).
    #[serde(default = "default_incremental")]
    pub incremental_interval_secs: u64,
    /// Seconds between full reconciles (default 86400).
    #[serde(default = "default_full")]
    pub full_interval_secs: u64,
    /// How changes are found between full reconciles; detected from the root DSE without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<SyncStrategy>,
    /// A run that would deprovision more people than this share of the app (percent,
    /// default 10)...
    #[serde(default = "default_threshold_percent")]
    pub deletion_threshold_percent: f64,
    /// ...or than this many (whichever is larger) stops before applying and waits for an
    /// administrator's approval. Default 10.
    #[serde(default = "default_threshold_count")]
    pub deletion_threshold_count: usize,
    /// Entries per page of a paged search (default 500; AD answers at most 1,000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Every connect, bind and search operation's time limit (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_true() -> bool {
    true
}
fn default_incremental() -> u64 {
    300
}
fn default_full() -> u64 {
    86_400
}
fn default_threshold_percent() -> f64 {
    10.0
}
fn default_threshold_count() -> usize {
    10
}
fn default_page_size() -> u32 {
    500
}
fn default_timeout() -> u64 {
    30
}

impl DirectoryConfig {
    pub fn is_ad(&self) -> bool {
        self.server_type == DirectoryType::ActiveDirectory
    }

    pub fn user_filter(&self) -> &str {
        self.user_filter.as_deref().unwrap_or(if self.is_ad() {
            "(&(objectCategory=person)(objectClass=user))"
        } else {
            "(|(objectClass=inetOrgPerson)(objectClass=posixAccount)(objectClass=person))"
        })
    }

    pub fn group_filter(&self) -> &str {
        self.group_filter.as_deref().unwrap_or(if self.is_ad() {
            "(objectClass=group)"
        } else {
            "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
        })
    }

    pub fn username_attribute(&self) -> &str {
        self.username_attribute.as_deref().unwrap_or(if self.is_ad() { "sAMAccountName" } else { "uid" })
    }

    pub fn id_attribute(&self) -> &str {
        self.id_attribute.as_deref().unwrap_or(if self.is_ad() { "objectGUID" } else { "entryUUID" })
    }

    pub fn membership(&self) -> Membership {
        self.membership.unwrap_or(Membership::Member)
    }

    /// The bind password, from the environment or a file; `None` when neither is named.
    ///
    /// # Errors
    /// The variable is unset or the file unreadable (the message never holds the value).
    pub fn password(&self, base_dir: &Path) -> Result<Option<String>, ConfigError> {
        if let Some(var) = &self.password_env {
            return std::env::var(var).map(Some).map_err(|_| {
                ConfigError::Invalid(format!("directory password: environment variable {var} is not set"))
            });
        }
        if let Some(file) = &self.password_file {
            let path = if file.is_absolute() { file.clone() } else { base_dir.join(file) };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::Invalid(format!("directory password: cannot read {}: {e}", path.display()))
            })?;
            return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(None)
    }

    /// The CA file, resolved against the config file's directory.
    pub fn ca_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.ca_file.as_ref().map(|p| if p.is_absolute() { p.clone() } else { base_dir.join(p) })
    }

    /// # Errors
    /// A setting out of range, a URL of another scheme, a filter that does not parse.
    pub fn validate(&self, app: &str) -> Result<(), ConfigError> {
        let bad = |what: String| Err(ConfigError::Invalid(format!("app {app}: directory: {what}")));
        if self.urls.is_empty() {
            return bad("give at least one URL (ldap://host:389 or ldaps://host:636)".into());
        }
        for url in &self.urls {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("ldap://") || lower.starts_with("ldaps://")) {
                return bad(format!("{url:?} is not an ldap:// or ldaps:// URL"));
            }
            if self.starttls && lower.starts_with("ldaps://") {
                return bad(format!("{url:?}: StartTLS is for ldap:// URLs; ldaps:// is TLS already"));
            }
        }
        if self.user_base.trim().is_empty() {
            return bad("user_base is required".into());
        }
        for (name, filter) in [("user_filter", self.user_filter()), ("group_filter", self.group_filter())] {
            if let Err(e) = crate::directory::codec::check_filter(filter) {
                return bad(format!("{name} {filter:?}: {e}"));
            }
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            return bad("give password_env or password_file, not both".into());
        }
        if !(1..=7 * 86_400).contains(&self.incremental_interval_secs) {
            return bad("incremental_interval_secs must be 1-604800".into());
        }
        if !(60..=30 * 86_400).contains(&self.full_interval_secs) {
            return bad("full_interval_secs must be 60-2592000".into());
        }
        if !(0.0..=100.0).contains(&self.deletion_threshold_percent) {
            return bad("deletion_threshold_percent must be 0-100".into());
        }
        if !(1..=1000).contains(&self.page_size) {
            return bad("page_size must be 1-1000".into());
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return bad("timeout_secs must be 1-600".into());
        }
        if self.nested_groups && !self.is_ad() {
            return bad(
                "nested_groups uses Active Directory's matching rule; set server_type = \"active_directory\"".into()
            );
        }
        for attr in [self.username_attribute(), self.id_attribute()] {
            if attr.is_empty() || !attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                return bad(format!("{attr:?} is not an attribute name"));
            }
        }
        Ok(())
    }
}
