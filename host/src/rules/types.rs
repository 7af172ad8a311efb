//! The host's own mirror of the WIT records of `rules-sdk/wit/rules.wit` (world 2.0.0, a
//! superset of 1.0.0's): plain Rust, no wasmtime types, so the rest of the host can build
//! inputs, answer `find-user` ([`Directory`]) and read decisions and setting declarations
//! without knowing how modules run. The engine wrapper converts at its boundary.

/// Where a person came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Scim,
    Ldap,
}

/// A SCIM `name` (RFC 7643 §4.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

/// One value of a multi-valued attribute such as `emails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedValue {
    pub value: String,
    pub kind: Option<String>,
    pub primary: bool,
}

/// The SCIM enterprise extension (RFC 7643 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enterprise {
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub manager_name: Option<String>,
}

/// Any other attribute, with its schema URN when it has one; values rendered as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub schema: Option<String>,
    pub name: String,
    pub values: Vec<String>,
}

/// A group the person belongs to in the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpGroup {
    pub id: String,
    pub display_name: String,
}

/// The person as the identity provider describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub source: Source,
    /// SCIM `id` or LDAP DN.
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub name: Option<Name>,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub active: bool,
    pub emails: Vec<TypedValue>,
    pub phone_numbers: Vec<TypedValue>,
    pub enterprise: Option<Enterprise>,
    /// Custom-extension, undeclared and LDAP attributes.
    pub attributes: Vec<Attribute>,
    pub groups: Vec<IdpGroup>,
    /// The whole SCIM resource or LDAP entry as JSON.
    pub raw_json: String,
}

/// A value of an app setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Text(String),
    Flag(bool),
    Number(i64),
    TextList(Vec<String>),
    /// Ordered key → value pairs, e.g. IdP group → Confluence group.
    Mapping(Vec<(String, String)>),
}

impl SettingValue {
    /// The kind of this value.
    pub fn kind(&self) -> SettingKind {
        match self {
            SettingValue::Text(_) => SettingKind::Text,
            SettingValue::Flag(_) => SettingKind::Flag,
            SettingValue::Number(_) => SettingKind::Number,
            SettingValue::TextList(_) => SettingKind::TextList,
            SettingValue::Mapping(_) => SettingKind::Mapping,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: SettingValue,
}

/// The kind of value a setting takes (WIT `setting-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingKind {
    Text,
    Flag,
    Number,
    TextList,
    Mapping,
}

impl SettingKind {
    /// The name used in the WIT, in messages and in tables: `text`, `flag`, `number`,
    /// `text-list`, `mapping`.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKind::Text => "text",
            SettingKind::Flag => "flag",
            SettingKind::Number => "number",
            SettingKind::TextList => "text-list",
            SettingKind::Mapping => "mapping",
        }
    }
}

impl std::fmt::Display for SettingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One app setting a (2.0.0) module reads, as its `settings` export declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDeclaration {
    /// The key under `[apps.settings]`, matched ignoring ASCII case.
    pub key: String,
    pub kind: SettingKind,
    /// What the module uses when the app does not set the key; `None`: no value.
    pub default: Option<SettingValue>,
    /// One line for administrators.
    pub help: String,
}

/// The app the person came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    pub name: String,
    pub idp_kind: String,
    pub settings: Vec<Setting>,
}

/// A Confluence user as UserSync knows them (WIT `confluence-user`): what Confluence holds,
/// as of the last time UserSync read or wrote it. The default is a user Confluence does not
/// have.
///
/// A 1.0.0 module sees `exists`, `username` and `groups` only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfluenceUser {
    /// Confluence has this user (as far as UserSync knows). Not "this app decided before":
    /// a user whose creation is still queued does not exist yet.
    pub exists: bool,
    /// Their Confluence username (lower-case); `None` when Confluence does not have them.
    pub username: Option<String>,
    /// Their current full name, when known.
    pub full_name: Option<String>,
    /// Their current e-mail address, when known.
    pub email: Option<String>,
    /// Whether their account is active, when known.
    pub active: Option<bool>,
    /// Every Confluence group they are in now, whoever put them there.
    pub groups: Vec<String>,
    /// The groups of `groups` that the app deciding granted (and still holds).
    pub granted: Vec<String>,
}

/// Where a module's `find-user` calls are answered: the Confluence users UserSync knows,
/// by username, with `granted` filled in for the app whose module is deciding. Answered
/// from memory, never over the network: a decision runs under a deadline of milliseconds.
///
/// `Some(user)` means Confluence has the user (the engine hands the module `exists: true`
/// whatever `user.exists` says); `None` that it does not. The username is passed as the
/// module wrote it; Confluence usernames are lower-case, so an implementation should
/// compare ignoring case.
pub trait Directory: Send + Sync {
    /// The Confluence user with this username, if Confluence has one.
    fn find_user(&self, username: &str) -> Option<ConfluenceUser>;
}

/// A [`Directory`] that knows nobody: for decisions made without Confluence (the
/// self-test, `usersync rules check`, apps without `[confluence]`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl Directory for NoDirectory {
    fn find_user(&self, _username: &str) -> Option<ConfluenceUser> {
        None
    }
}

/// Everything one decision is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInput {
    pub person: Person,
    pub app: AppInfo,
    pub confluence: ConfluenceUser,
}

/// The Confluence user the person should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMapping {
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub active: bool,
}

/// The attribute-mapping decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeDecision {
    /// Provision this Confluence user.
    Provision(UserMapping),
    /// Leave the person out of Confluence (logged and audited).
    Skip(String),
    /// Refuse the person: the identity provider is told why, and nothing is stored.
    Reject(String),
}

/// A custom profile field and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    pub name: String,
    pub value: String,
}

/// The group-mapping decision, in Confluence group names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupDecision {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Groups to create if they do not exist (a subset of `add`).
    pub create: Vec<String>,
}

/// A module's name (its file name without `.wasm`) and the SHA-256, in hex, of its bytes
/// as loaded: recorded with every decision, so the audit log says which code decided.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleId {
    pub name: String,
    pub hash: String,
}

impl ModuleId {
    /// The first 12 hex digits of the hash, for messages.
    pub fn short_hash(&self) -> &str {
        short_hash(&self.hash)
    }
}

/// The first 12 characters of a hex hash (all of it when shorter).
pub(crate) fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The three decisions for one person, validated against Confluence's naming rules. A
/// [`AttributeDecision::Reject`] never appears here: `decide` returns it as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decisions {
    pub attributes: AttributeDecision,
    pub custom_fields: Vec<CustomField>,
    pub groups: GroupDecision,
    /// The module that decided.
    pub module: ModuleId,
}
