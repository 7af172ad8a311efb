//! Emulator settings: the Confluence version being emulated, the accounts that exist at
//! start, and one setting for every behaviour the reference marks **UNCERTAIN**.
//!
//! `EmulatorConfig::default()` is Confluence Data Center 9.2.1 with every uncertain
//! behaviour at the value `confluence-dc-rest.md` suggests. Each field's doc names its
//! default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::faults::Faults;
use super::ratelimit::RateLimit;

/// The PAT the default configuration issues to the admin account.
pub const DEFAULT_ADMIN_TOKEN: &str = "NDE3NTI5MzgxNjQ0OkVtdWxhdG9yQWRtaW5Ub2tlbjAx";

/// A setting given as text (CLI flag, control API) that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting}: {value:?} (expected {expected})")]
pub struct InvalidSetting {
    pub setting: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl InvalidSetting {
    fn new(setting: &'static str, value: &str, expected: &'static str) -> Self {
        Self { setting, value: value.to_owned(), expected }
    }
}

/// A Confluence release, compared field by field (`8.2.0 < 8.4.0 < 9.3.0 < 10.0.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfluenceVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl ConfluenceVersion {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self { major, minor, patch }
    }
}

impl fmt::Display for ConfluenceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ConfluenceVersion {
    type Err = InvalidSetting;

    /// `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidSetting::new("version", text, "MAJOR.MINOR[.PATCH]");
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| match parts.next() {
            Some(part) => part.parse::<u16>().map_err(|_| invalid()),
            None if required => Err(invalid()),
            None => Ok(0),
        };
        let version = Self::new(next(true)?, next(true)?, next(false)?);
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(version)
    }
}

/// Success status of `POST /rest/api/admin/group` (reference §1.7: **UNCERTAIN**, 200 or 201).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupCreateStatus {
    Ok,
    #[default]
    Created,
}

impl FromStr for GroupCreateStatus {
    type Err = InvalidSetting;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "200" => Ok(Self::Ok),
            "201" => Ok(Self::Created),
            _ => Err(InvalidSetting::new("group create status", text, "200 or 201")),
        }
    }
}

/// How `expand=status` renders a person's status (reference §1.6: **UNCERTAIN**).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusForm {
    /// `"status": "Active"` or `"status": "Deactivated"` (what the reference suggests).
    #[default]
    Text,
    /// `"status": {"value": "Active"}`: a stand-in for "an object", to test client tolerance.
    Object,
}

impl FromStr for StatusForm {
    type Err = InvalidSetting;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Self::Text),
            "object" => Ok(Self::Object),
            _ => Err(InvalidSetting::new("status form", text, "text or object")),
        }
    }
}

/// What group creation does with upper-case names (reference §4.2: **UNCERTAIN**).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupNameCase {
    /// Store the name lower-cased (what the reference suggests).
    #[default]
    LowerCase,
    /// Answer 400.
    Reject,
}

impl FromStr for GroupNameCase {
    type Err = InvalidSetting;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "lower" | "lowercase" => Ok(Self::LowerCase),
            "reject" => Ok(Self::Reject),
            _ => Err(InvalidSetting::new("group name case", text, "lower or reject")),
        }
    }
}

/// What `GET /rest/api/user` answers for a deleted user (reference §9.5: **UNCERTAIN**).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletedUserLookup {
    /// 404, as for a user that never existed.
    #[default]
    NotFound,
    /// 200 with `{"type": "unknown", "username", "displayName"}` (the anonymised alias).
    Unknown,
}

impl FromStr for DeletedUserLookup {
    type Err = InvalidSetting;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "not-found" | "404" => Ok(Self::NotFound),
            "unknown" => Ok(Self::Unknown),
            _ => Err(InvalidSetting::new("deleted user lookup", text, "not-found or unknown")),
        }
    }
}

/// Permission of the optional LDAP directory (reference §4.1). Both are read-only for its
/// own users, groups and memberships.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LdapMode {
    /// LDAP users cannot be added to or removed from any group.
    #[default]
    ReadOnly,
    /// LDAP users can be added to and removed from local (internal) groups.
    ReadOnlyWithLocalGroups,
}

impl FromStr for LdapMode {
    type Err = InvalidSetting;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "read-only" => Ok(Self::ReadOnly),
            "read-only-local-groups" => Ok(Self::ReadOnlyWithLocalGroups),
            _ => Err(InvalidSetting::new("LDAP mode", text, "read-only or read-only-local-groups")),
        }
    }
}

/// The directory a user or group lives in. The internal directory comes first and is the
/// only writable one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserDirectory {
    #[default]
    Internal,
    /// The read-only LDAP directory: its users and groups answer writes with
    /// [`EmulatorConfig::read_only_status`].
    Ldap,
}

impl fmt::Display for UserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Internal => "internal",
            Self::Ldap => "ldap",
        })
    }
}

/// A Personal Access Token and the user it acts as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalAccessToken {
    pub token: String,
    pub username: String,
}

/// A user to put in the directory without going through the REST API (no validation, no
/// counters). Usernames are lower-cased. Seeding an existing username overwrites its
/// details and keeps its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedUser {
    pub username: String,
    pub full_name: String,
    pub email: String,
    #[serde(default = "default_true")]
    pub active: bool,
    /// `None`: the user cannot log in with Basic auth (as after a create with
    /// `notifyViaEmail: true`).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub directory: UserDirectory,
}

fn default_true() -> bool {
    true
}

impl SeedUser {
    /// An active internal-directory user without a password.
    pub fn new(username: impl Into<String>, full_name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            full_name: full_name.into(),
            email: email.into(),
            active: true,
            password: None,
            directory: UserDirectory::Internal,
        }
    }

    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }

    pub fn in_directory(mut self, directory: UserDirectory) -> Self {
        self.directory = directory;
        self
    }
}

/// A group to put in the directory at start. Members that are not users are skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedGroup {
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub directory: UserDirectory,
}

/// Everything about the emulated site. Fixed for the emulator's life, except faults and
/// the rate limiter, which can be changed at run time.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The release being emulated; routes appear as in reference §9.1. Default 9.2.1.
    pub version: ConfluenceVersion,
    /// `buildNumber` in the applinks manifest. Default 9012.
    pub build_number: u32,
    /// `applinksVersion` in the applinks manifest. Default "9.0.0".
    pub applinks_version: String,
    /// Context path such as `/confluence`; every route, the control routes included, lives
    /// under it. Default "" (none).
    pub context_path: String,
    /// Base URL used in `_links.base`, `self` links and the manifest. Default `None`:
    /// `http://{bound address}{context_path}`.
    pub public_base_url: Option<String>,
    /// The administrator, seeded into [`Self::admin_groups`] and [`Self::default_groups`].
    /// Default `admin` / `admin`.
    pub admin_username: String,
    pub admin_password: String,
    /// PATs accepted as `Authorization: Bearer`. Default: [`DEFAULT_ADMIN_TOKEN`] for `admin`.
    pub tokens: Vec<PersonalAccessToken>,
    /// Users and groups seeded at start and again by reset. Default none.
    pub users: Vec<SeedUser>,
    pub groups: Vec<SeedGroup>,
    /// Licence seats: creating a user while this many active users exist answers 402
    /// (disabled users do not count). Default `None` (unlimited).
    pub licences: Option<u64>,
    /// Groups whose members are administrators; deleting the last of them answers 400.
    /// Default `["confluence-administrators"]`.
    pub admin_groups: Vec<String>,
    /// Groups a user created over REST joins (**UNCERTAIN**: Confluence's user accessor adds
    /// new users to its default group). Default `["confluence-users"]`.
    pub default_groups: Vec<String>,
    /// Largest page a list endpoint returns; a larger `limit` is lowered to it. Default 200.
    pub max_limit: usize,
    /// `limit` of `/user/list` and `/admin/users/list/active` when absent (the doc says both
    /// 100 and 200). Default 100. Other lists default to 200 as documented.
    pub user_list_default_limit: usize,
    /// Default [`GroupCreateStatus::Created`] (201).
    pub group_create_status: GroupCreateStatus,
    /// Default [`StatusForm::Text`].
    pub status_form: StatusForm,
    /// Default [`GroupNameCase::LowerCase`].
    pub group_name_case: GroupNameCase,
    /// Default [`DeletedUserLookup::NotFound`].
    pub deleted_user_lookup: DeletedUserLookup,
    /// Status for writes to read-only (LDAP) users, groups and memberships (**UNCERTAIN**).
    /// Default 403.
    pub read_only_status: u16,
    /// Default [`LdapMode::ReadOnly`].
    pub ldap_mode: LdapMode,
    /// First version with `PUT`/`DELETE /rest/api/user/{u}/group/{g}` (**UNCERTAIN**).
    /// Default 8.2.0.
    pub membership_since: ConfluenceVersion,
    /// First version with `PUT /rest/api/admin/user/{u}` (**UNCERTAIN**, "recent"); `None`
    /// never. Default `Some(9.0.0)`.
    pub update_user_since: Option<ConfluenceVersion>,
    /// First version with `GET /rest/api/group/{g}/groupmember` (**UNCERTAIN**); `None` never.
    /// Nested groups are not modelled, so it always answers an empty page. Default
    /// `Some(9.0.0)`.
    pub nested_groups_since: Option<ConfluenceVersion>,
    /// How long a user-delete long task runs before the user disappears. Default zero: the
    /// task has finished by the time the 202 is sent.
    pub delete_task_delay: Duration,
    /// Default: off (see [`RateLimit`]).
    pub rate_limit: RateLimit,
    /// Faults active at start and after reset. Default none.
    pub faults: Faults,
    /// Seed of the generators behind user keys, ids and random faults. Default a constant,
    /// so runs are reproducible.
    pub seed: u64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            version: ConfluenceVersion::new(9, 2, 1),
            build_number: 9012,
            applinks_version: "9.0.0".to_owned(),
            context_path: String::new(),
            public_base_url: None,
            admin_username: "admin".to_owned(),
            admin_password: "admin".to_owned(),
            tokens: vec![PersonalAccessToken { token: DEFAULT_ADMIN_TOKEN.to_owned(), username: "admin".to_owned() }],
            users: Vec::new(),
            groups: Vec::new(),
            licences: None,
            admin_groups: vec!["confluence-administrators".to_owned()],
            default_groups: vec!["confluence-users".to_owned()],
            max_limit: 200,
            user_list_default_limit: 100,
            group_create_status: GroupCreateStatus::Created,
            status_form: StatusForm::Text,
            group_name_case: GroupNameCase::LowerCase,
            deleted_user_lookup: DeletedUserLookup::NotFound,
            read_only_status: 403,
            ldap_mode: LdapMode::ReadOnly,
            membership_since: ConfluenceVersion::new(8, 2, 0),
            update_user_since: Some(ConfluenceVersion::new(9, 0, 0)),
            nested_groups_since: Some(ConfluenceVersion::new(9, 0, 0)),
            delete_task_delay: Duration::ZERO,
            rate_limit: RateLimit::default(),
            faults: Faults::default(),
            seed: 0x5eed_c0f1_0e4c_e000,
        }
    }
}
