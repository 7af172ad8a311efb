//! The app's settings as the standard rules read them: declared ([`declarations`], what
//! the module's `settings` export returns, so the host refuses unknown keys and values of
//! the wrong kind when it loads the module for an app), then parsed once, strictly. A
//! setting of the wrong kind, or a regular expression that does not compile, is an error
//! rather than being ignored, so a mistyped configuration refuses people (with the reason)
//! instead of provisioning them wrongly.

use usersync_rules::{normalize_group, App, Regex, SettingDeclaration, SettingError, SettingValue};

/// Every setting the standard rules read, with its kind, default and help: the module's
/// `settings` export. Keep it in step with [`Settings::from_app`] (a test checks that every
/// declared default is what the module does without the setting).
pub fn declarations() -> Vec<SettingDeclaration> {
    let empty_text = || SettingValue::Text(String::new());
    vec![
        SettingDeclaration::text(
            "username_attribute",
            "Path of the username (default: userName; LDAP userPrincipalName, sAMAccountName, uid).",
        ),
        SettingDeclaration::text(
            "email_attribute",
            "Path of the e-mail address (default: the primary e-mail; LDAP mail).",
        ),
        SettingDeclaration::text(
            "full_name_attribute",
            "Path of the full name (default: displayName, name.formatted, given + family name, cn).",
        ),
        SettingDeclaration::text("username_regex", "Regular expression applied to the username as sent."),
        SettingDeclaration::text("username_replacement", "What each username_regex match becomes ($1, ${name}).")
            .with_default(empty_text()),
        SettingDeclaration::mapping("custom_fields", "Confluence custom field -> path of its value."),
        SettingDeclaration::flag("sync_active", true, "Active as the identity provider says (false: always active)."),
        SettingDeclaration::flag("create_users", true, "Create users Confluence does not have (false: skip them)."),
        SettingDeclaration::flag(
            "update_users",
            true,
            "Update existing users' full name and e-mail (false: keep Confluence's).",
        ),
        SettingDeclaration::text_list(
            "default_groups_new",
            "Groups granted to a user Confluence does not have yet (kept while granted).",
        ),
        SettingDeclaration::text_list("default_groups_all", "Groups granted to every user."),
        SettingDeclaration::mapping("group_mapping", "IdP group (name or id) -> Confluence group."),
        SettingDeclaration::flag(
            "import_only_mapped_groups",
            false,
            "With on_the_fly: ignore IdP groups without a group_mapping entry.",
        ),
        SettingDeclaration::text("group_filter", "Only IdP groups whose name matches this regular expression."),
        SettingDeclaration::flag(
            "on_the_fly",
            false,
            "Unmapped IdP groups join same-named groups, created if missing.",
        ),
        SettingDeclaration::text("on_the_fly_include", "On the fly, only IdP groups whose name matches."),
        SettingDeclaration::text("on_the_fly_exclude", "On the fly, never IdP groups whose name matches."),
        SettingDeclaration::text("on_the_fly_rewrite_regex", "On the fly, applied to the IdP group's name."),
        SettingDeclaration::text("on_the_fly_rewrite_replacement", "What each on_the_fly_rewrite_regex match becomes.")
            .with_default(empty_text()),
        SettingDeclaration::flag(
            "keep_existing_groups",
            true,
            "false: the user leaves Confluence groups the app does not grant (default_groups_new excepted).",
        ),
    ]
}

/// Every setting the standard rules understand, with its default applied.
#[derive(Debug)]
pub struct Settings<'a> {
    /// `username_attribute`: where the username comes from instead of the default.
    pub username_attribute: Option<&'a str>,
    /// `email_attribute`: where the e-mail address comes from instead of the default.
    pub email_attribute: Option<&'a str>,
    /// `full_name_attribute`: where the full name comes from, before the default.
    pub full_name_attribute: Option<&'a str>,
    /// `username_regex` with `username_replacement`.
    pub username_rewrite: Option<Rewrite<'a>>,
    /// `custom_fields`: Confluence custom field → attribute path, in order.
    pub custom_fields: Vec<(&'a str, &'a str)>,
    /// `sync_active` (default true).
    pub sync_active: bool,
    /// `create_users` (default true).
    pub create_users: bool,
    /// `update_users` (default true).
    pub update_users: bool,
    /// `default_groups_new`, as Confluence group names.
    pub default_groups_new: Vec<String>,
    /// `default_groups_all`, as Confluence group names.
    pub default_groups_all: Vec<String>,
    /// `group_mapping`: IdP group (display name or id) → Confluence group name, in order.
    pub group_mapping: Vec<(&'a str, String)>,
    /// `import_only_mapped_groups` (default false).
    pub import_only_mapped_groups: bool,
    /// `group_filter`: the IdP groups considered at all.
    pub group_filter: Option<Regex>,
    /// `on_the_fly` (default false).
    pub on_the_fly: bool,
    /// `on_the_fly_include`.
    pub on_the_fly_include: Option<Regex>,
    /// `on_the_fly_exclude`.
    pub on_the_fly_exclude: Option<Regex>,
    /// `on_the_fly_rewrite_regex` with `on_the_fly_rewrite_replacement`.
    pub on_the_fly_rewrite: Option<Rewrite<'a>>,
    /// `keep_existing_groups` (default true).
    pub keep_existing_groups: bool,
}

/// A regex replacement (every match, as Java's `replaceAll`): `$1` and `${name}` in the
/// replacement name capture groups.
#[derive(Debug)]
pub struct Rewrite<'a> {
    /// The expression.
    pub regex: Regex,
    /// What each match becomes (default: nothing).
    pub replacement: &'a str,
}

impl Rewrite<'_> {
    /// `text` with every match replaced.
    pub fn apply<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        self.regex.replace_all(text, self.replacement)
    }
}

impl<'a> Settings<'a> {
    /// Reads the standard rules' settings from `app`.
    ///
    /// # Errors
    /// The first setting that has the wrong kind of value, a regular expression that does
    /// not compile, or a mapping with a blank side.
    pub fn from_app(app: &'a App) -> Result<Self, SettingError> {
        Ok(Settings {
            username_attribute: text(app, "username_attribute")?,
            email_attribute: text(app, "email_attribute")?,
            full_name_attribute: text(app, "full_name_attribute")?,
            username_rewrite: rewrite(app, "username_regex", "username_replacement")?,
            custom_fields: mapping(app, "custom_fields")?,
            sync_active: flag(app, "sync_active", true)?,
            create_users: flag(app, "create_users", true)?,
            update_users: flag(app, "update_users", true)?,
            default_groups_new: groups(app, "default_groups_new")?,
            default_groups_all: groups(app, "default_groups_all")?,
            group_mapping: mapping(app, "group_mapping")?
                .into_iter()
                .map(|(idp, confluence)| Ok((idp, group_name("group_mapping", confluence)?)))
                .collect::<Result<_, SettingError>>()?,
            import_only_mapped_groups: flag(app, "import_only_mapped_groups", false)?,
            group_filter: app.setting_regex("group_filter")?,
            on_the_fly: flag(app, "on_the_fly", false)?,
            on_the_fly_include: app.setting_regex("on_the_fly_include")?,
            on_the_fly_exclude: app.setting_regex("on_the_fly_exclude")?,
            on_the_fly_rewrite: rewrite(app, "on_the_fly_rewrite_regex", "on_the_fly_rewrite_replacement")?,
            keep_existing_groups: flag(app, "keep_existing_groups", true)?,
        })
    }
}

fn text<'a>(app: &'a App, key: &str) -> Result<Option<&'a str>, SettingError> {
    match app.setting(key) {
        None => Ok(None),
        Some(SettingValue::Text(t)) => Ok(Some(t.trim()).filter(|t| !t.is_empty())),
        Some(other) => Err(SettingError::wrong_kind(key, "text", other)),
    }
}

fn flag(app: &App, key: &str, default: bool) -> Result<bool, SettingError> {
    match app.setting(key) {
        None => Ok(default),
        Some(v) => v.as_flag().ok_or_else(|| SettingError::wrong_kind(key, "a flag", v)),
    }
}

fn groups(app: &App, key: &str) -> Result<Vec<String>, SettingError> {
    let Some(v) = app.setting(key) else { return Ok(Vec::new()) };
    let items = v.as_list().ok_or_else(|| SettingError::wrong_kind(key, "a text-list", v))?;
    items.into_iter().map(|g| group_name(key, g)).collect()
}

fn group_name(key: &str, raw: &str) -> Result<String, SettingError> {
    let name = normalize_group(raw);
    if name.is_empty() {
        return Err(SettingError::new(key, format!("names a group {raw:?} that is blank")));
    }
    Ok(name)
}

fn mapping<'a>(app: &'a App, key: &str) -> Result<Vec<(&'a str, &'a str)>, SettingError> {
    let Some(v) = app.setting(key) else { return Ok(Vec::new()) };
    let pairs = v.as_mapping().ok_or_else(|| SettingError::wrong_kind(key, "a mapping", v))?;
    if let Some((k, v)) = pairs.iter().find(|(k, v)| k.is_empty() || v.is_empty()) {
        return Err(SettingError::new(key, format!("has an entry with a blank side: {k:?} → {v:?}")));
    }
    Ok(pairs)
}

fn rewrite<'a>(app: &'a App, regex_key: &str, replacement_key: &str) -> Result<Option<Rewrite<'a>>, SettingError> {
    let Some(regex) = app.setting_regex(regex_key)? else { return Ok(None) };
    let replacement = match app.setting(replacement_key) {
        None => "",
        Some(SettingValue::Text(t)) => t.as_str(),
        Some(other) => return Err(SettingError::wrong_kind(replacement_key, "text", other)),
    };
    Ok(Some(Rewrite { regex, replacement }))
}
