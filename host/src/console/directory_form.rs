//! The form of a directory app's `[apps.directory]`, shared by "Add new app" and the app's
//! Directory settings tab: its fields rendered (placeholders from the server type's
//! defaults), and read back into a [`DirectoryConfig`] checked by
//! [`DirectoryConfig::validate`], each refusal shown next to its field.
//!
//! The bind password is write-only: the form has an empty password input and says only
//! whether one is stored.

use std::collections::{BTreeMap, HashMap};

use maud::{html, Markup};
use serde_json::{json, Value};

use crate::admin::directory_console::PasswordSource;
use crate::config::DirectoryConfig;

/// A form's fields, as sent (a key may repeat).
pub(super) type Fields = Vec<(String, String)>;

/// Field errors by field name (`""`: about the whole form).
pub(super) type Errors = BTreeMap<String, String>;

/// The form field that holds the bind password (never rendered with a value).
pub(super) const PASSWORD: &str = "d_password";

fn field<'a>(fields: &'a Fields, key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

/// The choices of the form's selects: (field, key, allowed values, what they are).
const CHOICES: [(&str, &str, &[&str], &str); 5] = [
    ("d_server_type", "server_type", &["openldap", "active_directory"], "server types"),
    ("d_user_scope", "user_scope", &["sub", "one"], "scopes"),
    ("d_group_scope", "group_scope", &["sub", "one"], "scopes"),
    ("d_membership", "membership", &["member", "memberOf", "uniqueMember"], "membership attributes"),
    ("d_strategy", "strategy", &["syncrepl_persist", "syncrepl", "usn", "timestamp", "full"], "strategies"),
];

/// The defaults of a server type, as `validate` and the runner apply them.
fn defaults(server_type: &str) -> Option<DirectoryConfig> {
    serde_json::from_value(json!({"server_type": server_type, "urls": [], "user_base": ""})).ok()
}

/// What each field shows as its placeholder for OpenLDAP and for Active Directory.
struct Placeholders {
    openldap: &'static str,
    ad: &'static str,
}

fn examples(key: &str) -> Placeholders {
    let (openldap, ad) = match key {
        "d_urls" => ("ldap://ldap.example.com:389", "ldaps://dc1.example.com:636"),
        "d_bind_dn" => ("cn=usersync,ou=services,dc=example,dc=com", "usersync@example.com"),
        "d_user_base" => ("ou=people,dc=example,dc=com", "CN=Users,DC=example,DC=com"),
        "d_group_base" => ("ou=groups,dc=example,dc=com", "CN=Users,DC=example,DC=com"),
        "d_ca_file" => ("/etc/usersync/ldap-ca.pem", "/etc/usersync/ad-root-ca.pem"),
        _ => ("", ""),
    };
    Placeholders { openldap, ad }
}

/// The placeholders of the fields whose default follows the server type.
fn default_placeholders(key: &str) -> (String, String) {
    let pick = |cfg: Option<DirectoryConfig>| {
        cfg.map(|c| match key {
            "d_user_filter" => c.user_filter().to_owned(),
            "d_group_filter" => c.group_filter().to_owned(),
            "d_username_attribute" => c.username_attribute().to_owned(),
            "d_id_attribute" => c.id_attribute().to_owned(),
            _ => String::new(),
        })
        .unwrap_or_default()
    };
    (pick(defaults("openldap")), pick(defaults("active_directory")))
}

/// The form's values for a stored `[apps.directory]` (JSON, as a definition holds it).
pub(super) fn values_of(directory: Option<&Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(d) = directory else {
        return new_values();
    };
    let text = |key: &str| match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        // 10.0 (a percentage) is shown as 10.
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    };
    let flag = |key: &str, default: bool| {
        if d.get(key).and_then(Value::as_bool).unwrap_or(default) {
            "on".to_owned()
        } else {
            String::new()
        }
    };
    for (field, key) in [
        ("d_server_type", "server_type"),
        ("d_urls", "urls"),
        ("d_ca_file", "ca_file"),
        ("d_bind_dn", "bind_dn"),
        ("d_user_base", "user_base"),
        ("d_user_filter", "user_filter"),
        ("d_user_scope", "user_scope"),
        ("d_group_base", "group_base"),
        ("d_group_filter", "group_filter"),
        ("d_group_scope", "group_scope"),
        ("d_attributes", "attributes"),
        ("d_username_attribute", "username_attribute"),
        ("d_id_attribute", "id_attribute"),
        ("d_membership", "membership"),
        ("d_strategy", "strategy"),
        ("d_incremental", "incremental_interval_secs"),
        ("d_full", "full_interval_secs"),
        ("d_threshold_percent", "deletion_threshold_percent"),
        ("d_threshold_count", "deletion_threshold_count"),
        ("d_page_size", "page_size"),
        ("d_timeout", "timeout_secs"),
    ] {
        out.insert(field.to_owned(), text(key));
    }
    out.insert("d_starttls".into(), flag("starttls", false));
    out.insert("d_verify_hostname".into(), flag("verify_hostname", true));
    out.insert("d_nested_groups".into(), flag("nested_groups", false));
    out
}

/// A new app's form: the defaults filled in where a number is asked for.
pub(super) fn new_values() -> HashMap<String, String> {
    let d = defaults("openldap");
    let mut out = HashMap::new();
    out.insert("d_server_type".into(), "openldap".into());
    out.insert("d_verify_hostname".into(), "on".into());
    if let Some(d) = d {
        out.insert("d_incremental".into(), d.incremental_interval_secs.to_string());
        out.insert("d_full".into(), d.full_interval_secs.to_string());
        out.insert("d_threshold_percent".into(), d.deletion_threshold_percent.to_string());
        out.insert("d_threshold_count".into(), d.deletion_threshold_count.to_string());
        out.insert("d_page_size".into(), d.page_size.to_string());
        out.insert("d_timeout".into(), d.timeout_secs.to_string());
    }
    out
}

/// The values of a sent form, to show it again.
pub(super) fn values_from(fields: &Fields) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        fields.iter().filter(|(k, _)| k.starts_with("d_") && k != PASSWORD).cloned().collect();
    for flag in ["d_starttls", "d_verify_hostname", "d_nested_groups"] {
        out.entry(flag.to_owned()).or_default();
    }
    out
}

/// Reads the form into `[apps.directory]`, keeping what the form does not show from
/// `current` (a password's environment variable or file). Every problem is reported by
/// field: the values that do not parse, then each rule of [`DirectoryConfig::validate`].
pub(super) fn read(app: &str, fields: &Fields, current: Option<&DirectoryConfig>) -> Result<DirectoryConfig, Errors> {
    let mut errors = Errors::new();
    let text = |key: &str| field(fields, key).trim().to_owned();
    let optional = |key: &str| Some(text(key)).filter(|v| !v.is_empty());
    let lines = |key: &str| -> Vec<String> {
        field(fields, key).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    let mut cfg = json!({
        "urls": lines("d_urls"),
        "user_base": text("d_user_base"),
        "starttls": !field(fields, "d_starttls").is_empty(),
        "verify_hostname": !field(fields, "d_verify_hostname").is_empty(),
        "nested_groups": !field(fields, "d_nested_groups").is_empty(),
        "attributes": lines("d_attributes"),
    });
    let set = |cfg: &mut Value, key: &str, v: Option<Value>| {
        if let (Some(v), Some(map)) = (v, cfg.as_object_mut()) {
            map.insert(key.to_owned(), v);
        }
    };
    for (form_key, key, allowed, what) in CHOICES {
        let v = text(form_key);
        if v.is_empty() {
            continue;
        }
        if allowed.contains(&v.as_str()) {
            set(&mut cfg, key, Some(Value::String(v)));
        } else {
            errors.insert(form_key.to_owned(), format!("choose one of the {what}"));
        }
    }
    for (form_key, key) in [
        ("d_ca_file", "ca_file"),
        ("d_bind_dn", "bind_dn"),
        ("d_user_filter", "user_filter"),
        ("d_group_base", "group_base"),
        ("d_group_filter", "group_filter"),
        ("d_username_attribute", "username_attribute"),
        ("d_id_attribute", "id_attribute"),
    ] {
        set(&mut cfg, key, optional(form_key).map(Value::String));
    }
    // Whole numbers (seconds, counts), and the percentage.
    for (form_key, key, what) in [
        ("d_incremental", "incremental_interval_secs", "a whole number of seconds"),
        ("d_full", "full_interval_secs", "a whole number of seconds"),
        ("d_threshold_count", "deletion_threshold_count", "a whole number of people"),
        ("d_page_size", "page_size", "a whole number of entries"),
        ("d_timeout", "timeout_secs", "a whole number of seconds"),
    ] {
        let raw = text(form_key);
        if raw.is_empty() {
            continue;
        }
        match raw.parse::<u32>() {
            Ok(n) => set(&mut cfg, key, Some(json!(n))),
            Err(_) => {
                errors.insert(form_key.to_owned(), what.to_owned());
            }
        }
    }
    let percent = text("d_threshold_percent");
    if !percent.is_empty() {
        match percent.parse::<f64>() {
            Ok(p) if p.is_finite() => set(&mut cfg, "deletion_threshold_percent", Some(json!(p))),
            _ => {
                errors.insert("d_threshold_percent".into(), "a percentage from 0 to 100".into());
            }
        }
    }
    if let Some(c) = current {
        set(&mut cfg, "password_env", c.password_env.clone().map(Value::String));
        set(&mut cfg, "password_file", c.password_file.as_ref().map(|p| Value::String(p.display().to_string())));
    }
    let parsed: DirectoryConfig = match serde_json::from_value(cfg) {
        Ok(c) => c,
        Err(e) => {
            errors.insert(String::new(), format!("the directory settings do not parse: {e}"));
            return Err(errors);
        }
    };
    collect_rule_errors(app, &mut parsed.clone(), &mut errors);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// Every rule of [`DirectoryConfig::validate`] that `cfg` breaks, by field: validated, the
/// offending field set to a value that passes, and validated again, so that all of them
/// show at once rather than one per submission.
fn collect_rule_errors(app: &str, cfg: &mut DirectoryConfig, errors: &mut Errors) {
    for _ in 0..16 {
        let Err(e) = cfg.validate(app) else { return };
        let message = e.to_string();
        let message = message.split_once("directory: ").map_or(message.as_str(), |(_, m)| m).to_owned();
        let key = field_of(&message, cfg);
        if key.is_empty() || errors.contains_key(key) {
            errors.entry(key.to_owned()).or_insert(message);
            return;
        }
        errors.insert(key.to_owned(), message);
        put_right(cfg, key);
    }
}

/// The form field a refusal of [`DirectoryConfig::validate`] is about.
fn field_of(message: &str, cfg: &DirectoryConfig) -> &'static str {
    let has = |s: &str| message.contains(s);
    if has("user_filter") {
        "d_user_filter"
    } else if has("group_filter") {
        "d_group_filter"
    } else if has("URL") || has("ldap://") || has("StartTLS") {
        "d_urls"
    } else if has("user_base") {
        "d_user_base"
    } else if has("incremental_interval_secs") {
        "d_incremental"
    } else if has("full_interval_secs") {
        "d_full"
    } else if has("deletion_threshold_percent") {
        "d_threshold_percent"
    } else if has("page_size") {
        "d_page_size"
    } else if has("timeout_secs") {
        "d_timeout"
    } else if has("nested_groups") {
        "d_nested_groups"
    } else if has("not an attribute name") {
        if has(&format!("{:?}", cfg.username_attribute())) {
            "d_username_attribute"
        } else {
            "d_id_attribute"
        }
    } else if has("password") {
        PASSWORD
    } else {
        ""
    }
}

/// Sets the field `key` to a value `validate` accepts.
fn put_right(cfg: &mut DirectoryConfig, key: &str) {
    let ok = defaults("openldap");
    match key {
        "d_urls" => {
            cfg.urls = vec!["ldap://localhost".into()];
            cfg.starttls = false;
        }
        "d_user_base" => cfg.user_base = "dc=example".into(),
        "d_user_filter" => cfg.user_filter = None,
        "d_group_filter" => cfg.group_filter = None,
        "d_nested_groups" => cfg.nested_groups = false,
        "d_username_attribute" => cfg.username_attribute = None,
        "d_id_attribute" => cfg.id_attribute = None,
        PASSWORD => cfg.password_file = None,
        _ => {
            if let Some(ok) = ok {
                match key {
                    "d_incremental" => cfg.incremental_interval_secs = ok.incremental_interval_secs,
                    "d_full" => cfg.full_interval_secs = ok.full_interval_secs,
                    "d_threshold_percent" => cfg.deletion_threshold_percent = ok.deletion_threshold_percent,
                    "d_page_size" => cfg.page_size = ok.page_size,
                    "d_timeout" => cfg.timeout_secs = ok.timeout_secs,
                    _ => {}
                }
            }
        }
    }
}

/// How the form is shown.
pub(super) struct FormView<'a> {
    pub values: &'a HashMap<String, String>,
    pub errors: &'a Errors,
    pub read_only: bool,
    /// Where the bind password comes from now (`None`: a new app).
    pub password: Option<&'a PasswordSource>,
}

/// The fields of `[apps.directory]`, in fieldsets.
pub(super) fn fields(v: &FormView<'_>) -> Markup {
    let value = |key: &str| v.values.get(key).cloned().unwrap_or_default();
    let ad = value("d_server_type") == "active_directory";
    let err = |key: &str| {
        v.errors.get(key).map(|m| html! { p.field-error id={(key) "-error"} role="alert" { (m) } }).unwrap_or_default()
    };
    let invalid = |key: &str| v.errors.contains_key(key).then_some("true");
    let described = |key: &str| v.errors.contains_key(key).then(|| format!("{key}-error"));
    let ro = v.read_only;
    // A text field whose placeholder follows the server type (console.js swaps it).
    let text = |key: &str, label: &str, help: Markup| {
        let (openldap, ad_default) = match examples(key) {
            Placeholders { openldap: "", .. } => default_placeholders(key),
            p => (p.openldap.to_owned(), p.ad.to_owned()),
        };
        let placeholder = if ad { ad_default.clone() } else { openldap.clone() };
        html! {
            div.setting {
                label for=(key) { (label) }
                p.muted { (help) }
                input id=(key) name=(key) type="text" value=(value(key)) placeholder=(placeholder)
                    data-openldap=(openldap) data-ad=(ad_default) spellcheck="false" autocomplete="off"
                    aria-invalid=[invalid(key)] aria-describedby=[described(key)] disabled[ro];
                (err(key))
            }
        }
    };
    let number = |key: &str, label: &str, help: &str, step: &str| {
        html! {
            div.setting {
                label for=(key) { (label) }
                p.muted { (help) }
                input.short id=(key) name=(key) type="number" min="0" step=(step) value=(value(key))
                    aria-invalid=[invalid(key)] aria-describedby=[described(key)] disabled[ro];
                (err(key))
            }
        }
    };
    let select = |key: &str, label: &str, options: &[(&str, &str)]| {
        let current = value(key);
        html! {
            div.setting {
                label for=(key) { (label) }
                select id=(key) name=(key) aria-invalid=[invalid(key)] disabled[ro] {
                    @for (val, text) in options { option value=(val) selected[current == *val] { (text) } }
                }
                (err(key))
            }
        }
    };
    let check = |key: &str, label: &str| {
        html! {
            label.check { input name=(key) type="checkbox" value="on" checked[!value(key).is_empty()] disabled[ro]; " " (label) }
            (err(key))
        }
    };
    let scopes = [("sub", "The base and everything below it"), ("one", "Only the base's immediate children")];
    html! {
        fieldset {
            legend { "Directory server" }
            div.setting {
                label for="d_server_type" { "Server type" }
                p.muted { "The defaults below (shown greyed in each field) follow it." }
                select #d_server_type name="d_server_type" data-server-type disabled[ro] {
                    option value="openldap" selected[!ad] { "OpenLDAP (or 389-ds, another RFC 4512 server)" }
                    option value="active_directory" selected[ad] { "Active Directory (or Samba as a domain controller)" }
                }
                (err("d_server_type"))
            }
            div.setting {
                label for="d_urls" { "Server URLs" }
                p.muted { "One per line, tried in order: " code { "ldap://host:389" } " or " code { "ldaps://host:636" } "." }
                @let p = examples("d_urls");
                textarea #d_urls name="d_urls" rows="2" spellcheck="false" placeholder=(if ad { p.ad } else { p.openldap })
                    data-openldap=(p.openldap) data-ad=(p.ad) aria-invalid=[invalid("d_urls")] aria-describedby=[described("d_urls")] disabled[ro] { (value("d_urls")) }
                (err("d_urls"))
            }
            (check("d_starttls", "Upgrade ldap:// connections with StartTLS"))
            (text("d_ca_file", "CA file (PEM)", html! { "The certificates that sign the server's. Empty: the system's trusted roots. A relative path is read beside the database." }))
            (check("d_verify_hostname", "Check that the certificate names the server"))
        }
        fieldset {
            legend { "Bind" }
            (text("d_bind_dn", "Bind DN", html! { "The account UserSync reads the directory as (for Active Directory also " code { "user@domain" } "). Empty: an anonymous bind." }))
            div.setting {
                label for=(PASSWORD) { "Bind password" }
                p.muted #d-password-status {
                    @match v.password {
                        None => { "Stored write-only in UserSync's database: it is never shown again." }
                        Some(PasswordSource::Stored) => { strong { "A password is stored." } " Leave this empty to keep it; it is never shown." }
                        Some(PasswordSource::Missing) => { strong { "No password stored." } " A bind DN without one is refused." }
                        Some(PasswordSource::Env(var)) => { "Read from the environment variable " code { (var) } " (the configuration says so)." }
                        Some(PasswordSource::File(file)) => { "Read from the file " code { (file) } " (the configuration says so)." }
                    }
                }
                @if matches!(v.password, Some(PasswordSource::Env(_) | PasswordSource::File(_))) {} @else {
                    input id=(PASSWORD) name=(PASSWORD) type="password" autocomplete="new-password" value=""
                        placeholder=[matches!(v.password, Some(PasswordSource::Stored)).then_some("unchanged")]
                        aria-describedby="d-password-status" disabled[ro];
                }
                (err(PASSWORD))
            }
        }
        fieldset {
            legend { "People" }
            (text("d_user_base", "User base DN", html! { "Where people are searched." }))
            (text("d_user_filter", "User filter", html! { "Which entries are people. Empty: the server type's default." }))
            (select("d_user_scope", "User search scope", &scopes))
            (text("d_username_attribute", "Username attribute", html! { "The attribute that names a person, and that Test Sync looks up: " code { "uid" } ", " code { "sAMAccountName" } ", " code { "userPrincipalName" } "." }))
            (text("d_id_attribute", "Stable id attribute", html! { "What identifies an entry across renames and moves: " code { "entryUUID" } ", " code { "objectGUID" } " (decoded), or another." }))
            div.setting {
                label for="d_attributes" { "Attributes to fetch" }
                p.muted { "One per line; empty fetches all of them. The rules module sees each under its LDAP name." }
                textarea #d_attributes name="d_attributes" rows="3" spellcheck="false" placeholder="all attributes" disabled[ro] { (value("d_attributes")) }
                (err("d_attributes"))
            }
        }
        fieldset {
            legend { "Groups" }
            (text("d_group_base", "Group base DN", html! { "Where groups are searched. Empty: no groups are read." }))
            (text("d_group_filter", "Group filter", html! { "Which entries are groups. Empty: the server type's default." }))
            (select("d_group_scope", "Group search scope", &scopes))
            (select("d_membership", "Membership", &[
                ("", "member: groups list their members (default)"),
                ("member", "member: groups list their members"),
                ("memberOf", "memberOf: people list their groups"),
                ("uniqueMember", "uniqueMember: groupOfUniqueNames"),
            ]))
            (check("d_nested_groups", "Nested groups: a member of a group inside a group is a member too (Active Directory only)"))
        }
        fieldset {
            legend { "Schedule and safety" }
            (select("d_strategy", "How changes are found between full syncs", &[
                ("", "Detect from the server (recommended)"),
                ("syncrepl_persist", "Content sync, kept open: changes within a second (OpenLDAP, 389-ds)"),
                ("syncrepl", "Content sync, polled (OpenLDAP, 389-ds)"),
                ("usn", "uSNChanged, polled (Active Directory)"),
                ("timestamp", "modifyTimestamp, polled (deletions only at the full sync)"),
                ("full", "Full syncs only"),
            ]))
            div.pair {
                (number("d_incremental", "Incremental interval (seconds)", "Default 300 (5 minutes).", "1"))
                (number("d_full", "Full sync interval (seconds)", "Default 86400 (a day).", "1"))
            }
            p.muted { "A run that would deprovision more people than both thresholds below stops before applying anything, and waits for an administrator's approval." }
            div.pair {
                (number("d_threshold_percent", "Deletion threshold (percent)", "Of the app's people; default 10.", "any"))
                (number("d_threshold_count", "Deletion threshold (people)", "Default 10.", "1"))
            }
            div.pair {
                (number("d_page_size", "Page size", "Entries per page; default 500, at most 1,000.", "1"))
                (number("d_timeout", "Time limit (seconds)", "Per connect, bind and search; default 30.", "1"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_broken_rule_is_reported_next_to_its_field() {
        let fields = form(&[
            ("d_urls", "http://ldap.example.com"),
            ("d_user_base", ""),
            ("d_user_filter", "(uid=ada"),
            ("d_incremental", "0"),
            ("d_page_size", "lots"),
            ("d_nested_groups", "on"),
        ]);
        let errors = read("corp", &fields, None).unwrap_err();
        assert!(errors["d_urls"].contains("not an ldap:// or ldaps:// URL"), "{errors:?}");
        assert!(errors["d_user_base"].contains("user_base is required"), "{errors:?}");
        assert!(errors["d_user_filter"].contains("(uid=ada"), "{errors:?}");
        assert!(errors["d_incremental"].contains("1-604800"), "{errors:?}");
        assert_eq!(errors["d_page_size"], "a whole number of entries");
        assert!(errors["d_nested_groups"].contains("active_directory"), "{errors:?}");
        assert!(!errors.contains_key(""), "{errors:?}");
    }

    #[test]
    fn a_good_form_reads_back_as_it_was_shown() {
        let fields = form(&[
            ("d_server_type", "active_directory"),
            ("d_urls", "ldaps://dc1.example.com:636\n\nldaps://dc2.example.com:636\n"),
            ("d_verify_hostname", "on"),
            ("d_bind_dn", "usersync@example.com"),
            ("d_user_base", "CN=Users,DC=example,DC=com"),
            ("d_group_base", "CN=Users,DC=example,DC=com"),
            ("d_membership", "memberOf"),
            ("d_nested_groups", "on"),
            ("d_strategy", "usn"),
            ("d_threshold_percent", "2.5"),
            ("d_threshold_count", "3"),
            ("d_attributes", "mail\ngivenName\n"),
        ]);
        let cfg = read("corp", &fields, None).unwrap();
        assert!(cfg.is_ad() && cfg.nested_groups && cfg.verify_hostname && !cfg.starttls);
        assert_eq!(cfg.urls, ["ldaps://dc1.example.com:636", "ldaps://dc2.example.com:636"]);
        assert_eq!(cfg.strategy, Some(crate::config::SyncStrategy::Usn));
        assert_eq!(cfg.membership, Some(crate::config::Membership::MemberOf));
        assert_eq!((cfg.deletion_threshold_percent, cfg.deletion_threshold_count), (2.5, 3));
        assert_eq!(cfg.attributes, ["mail", "givenName"]);
        assert_eq!(cfg.username_attribute(), "sAMAccountName");
        let shown = values_of(serde_json::to_value(&cfg).ok().as_ref());
        assert_eq!(shown["d_urls"], "ldaps://dc1.example.com:636\nldaps://dc2.example.com:636");
        assert_eq!(shown["d_nested_groups"], "on");
        assert_eq!(shown["d_starttls"], "");
        assert_eq!(shown["d_strategy"], "usn");
    }

    #[test]
    fn an_unknown_choice_is_refused_by_field() {
        let fields = form(&[("d_urls", "ldap://x"), ("d_user_base", "dc=x"), ("d_strategy", "magic")]);
        let errors = read("corp", &fields, None).unwrap_err();
        assert_eq!(errors["d_strategy"], "choose one of the strategies");
    }
}
