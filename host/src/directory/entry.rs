//! A directory entry as the pipeline stores it: a person or group resource whose core
//! attributes (`userName`, `name`, `emails`, `active`, `displayName`, `members`) come from
//! the usual LDAP attributes, and whose whole LDAP entry travels beside them for the rules
//! (`LDAP_ENTRY`), binary values decoded (objectGUID, objectSid) or in base64.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::client::Entry;
use super::codec;
use crate::config::DirectoryConfig;
use crate::inbound::person::LDAP_ENTRY;

/// Attributes whose values are binary by definition, shown in their usual text form.
const GUID_ATTRS: [&str; 2] = ["objectGUID", "msExchMailboxGuid"];
const SID_ATTRS: [&str; 2] = ["objectSid", "securityIdentifier"];

/// Why an entry is not a person or group the pipeline can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub dn: String,
    pub reason: String,
}

/// An entry's stable id per the app's `id_attribute`: objectGUID decoded from binary,
/// entryUUID as the server prints it, any other attribute's first value (base64 if binary).
///
/// # Errors
/// The entry lacks the attribute, or its GUID is not 16 bytes.
pub fn stable_id(config: &DirectoryConfig, entry: &Entry) -> Result<String, Skipped> {
    let attr = config.id_attribute();
    let skip = |reason: String| Skipped { dn: entry.dn.clone(), reason };
    if GUID_ATTRS.iter().any(|g| g.eq_ignore_ascii_case(attr)) {
        if let Some(bytes) = entry.binary_first(attr) {
            return codec::guid_string(bytes).map_err(|e| skip(format!("{attr}: {e}")));
        }
    }
    if let Some(v) = entry.first(attr).filter(|v| !v.trim().is_empty()) {
        return Ok(v.trim().to_ascii_lowercase());
    }
    if let Some(bytes) = entry.binary_first(attr) {
        return Ok(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    Err(skip(format!("it has no {attr}, the app's id attribute")))
}

/// The LDAP entry as the rules see it: `{"dn", "attributes": {name: [values]}}`, with
/// `except` left out (a group's member list is in `members` already).
pub fn ldap_json(entry: &Entry, except: &[&str]) -> Value {
    let mut attrs = Map::new();
    let skip = |name: &str| {
        except.iter().any(|e| {
            e.eq_ignore_ascii_case(name)
                || codec::parse_ranged_attribute(name).is_some_and(|r| r.base.eq_ignore_ascii_case(e))
        })
    };
    for (name, values) in &entry.attrs {
        if !skip(name) {
            attrs.insert(name.clone(), json!(values));
        }
    }
    for (name, values) in &entry.binary {
        if skip(name) {
            continue;
        }
        let texts: Vec<String> = values.iter().map(|v| binary_text(name, v)).collect();
        attrs.insert(name.clone(), json!(texts));
    }
    json!({ "dn": entry.dn, "attributes": attrs })
}

/// A binary value in its usual text form: a GUID or SID decoded, anything else base64.
pub fn binary_text(name: &str, value: &[u8]) -> String {
    if GUID_ATTRS.iter().any(|g| g.eq_ignore_ascii_case(name)) {
        if let Ok(s) = codec::guid_string(value) {
            return s;
        }
    }
    if SID_ATTRS.iter().any(|g| g.eq_ignore_ascii_case(name)) {
        if let Ok(s) = codec::sid_string(value) {
            return s;
        }
    }
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// Whether the person may sign in: for Active Directory, neither the disabled bit of
/// `userAccountControl` (0x2) nor an `accountExpires` in the past.
pub fn active(config: &DirectoryConfig, entry: &Entry, now: time::OffsetDateTime) -> (bool, Option<&'static str>) {
    if let Some(uac) = entry.first("userAccountControl").and_then(codec::UacFlags::parse) {
        if uac.disabled() {
            return (false, Some("disabled in the directory (userAccountControl 0x2)"));
        }
    }
    if config.is_ad() {
        if let Some(expires) = entry.first("accountExpires") {
            if codec::account_expired(expires, now) {
                return (false, Some("account expired (accountExpires)"));
            }
        }
    }
    (true, None)
}

/// A person's stored attributes.
///
/// # Errors
/// The entry has no username.
pub fn person(
    config: &DirectoryConfig,
    entry: &Entry,
    now: time::OffsetDateTime,
) -> Result<Map<String, Value>, Skipped> {
    let username_attr = config.username_attribute();
    let user_name = entry.first(username_attr).map(str::trim).filter(|u| !u.is_empty()).ok_or_else(|| Skipped {
        dn: entry.dn.clone(),
        reason: format!("it has no {username_attr}, the app's username attribute"),
    })?;
    let mut attrs = Map::new();
    attrs.insert("schemas".into(), json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
    attrs.insert("userName".into(), json!(user_name));
    attrs.insert("externalId".into(), json!(entry.dn));
    let given = entry.first("givenName");
    let family = entry.first("sn");
    // Only LDAP's own displayName: the SDK's LDAP order is displayName, then givenName +
    // sn, then cn, and a cn copied here would hide a changed sn.
    let display = entry.first("displayName");
    if given.is_some() || family.is_some() {
        let mut name = Map::new();
        if let Some(g) = given {
            name.insert("givenName".into(), json!(g));
        }
        if let Some(f) = family {
            name.insert("familyName".into(), json!(f));
        }
        let formatted = [given, family].into_iter().flatten().collect::<Vec<_>>().join(" ");
        name.insert("formatted".into(), json!(formatted));
        attrs.insert("name".into(), Value::Object(name));
    }
    if let Some(d) = display {
        attrs.insert("displayName".into(), json!(d));
    }
    if let Some(t) = entry.first("title") {
        attrs.insert("title".into(), json!(t));
    }
    if let Some(mail) = entry.first("mail").map(str::trim).filter(|m| !m.is_empty()) {
        attrs.insert("emails".into(), json!([{ "value": mail, "type": "work", "primary": true }]));
    }
    attrs.insert("active".into(), json!(active(config, entry, now).0));
    attrs.insert(LDAP_ENTRY.into(), ldap_json(entry, &[]));
    Ok(attrs)
}

/// A group's stored attributes, `members` the stable ids of its member people.
pub fn group(entry: &Entry, members: &[String]) -> Map<String, Value> {
    let name = entry
        .first("cn")
        .map(str::to_owned)
        .or_else(|| codec::rdn_value(&entry.dn))
        .unwrap_or_else(|| entry.dn.clone());
    let mut attrs = Map::new();
    attrs.insert("schemas".into(), json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]));
    attrs.insert("displayName".into(), json!(name));
    attrs.insert("externalId".into(), json!(entry.dn));
    let list: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    attrs.insert("members".into(), Value::Array(list));
    attrs.insert(LDAP_ENTRY.into(), ldap_json(entry, &["member", "uniqueMember", "memberUid"]));
    attrs
}

/// The member DNs a group lists in `attr` (`member` or `uniqueMember`; a uniqueMember's
/// optional `#'0101'B` UID suffix dropped).
pub fn member_dns(entry: &Entry, attr: &str) -> Vec<String> {
    entry
        .values(attr)
        .into_iter()
        .flatten()
        .map(|dn| match dn.rfind("#'") {
            Some(at) if dn.ends_with("'B") => dn[..at].to_owned(),
            _ => dn.clone(),
        })
        .collect()
}

/// Every attribute of an entry decoded for a person to read (Test Sync): binary values in
/// text form, AD's time stamps and `userAccountControl` explained beside their raw values.
pub fn decoded(entry: &Entry) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, values) in &entry.attrs {
        let shown = values
            .iter()
            .map(|v| match explain(name, v) {
                Some(meaning) => format!("{v} ({meaning})"),
                None => v.clone(),
            })
            .collect();
        out.insert(name.clone(), shown);
    }
    for (name, values) in &entry.binary {
        out.insert(name.clone(), values.iter().map(|v| binary_text(name, v)).collect());
    }
    out
}

/// What a raw value means, for the attributes whose raw form says little.
fn explain(name: &str, value: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "useraccountcontrol" => codec::UacFlags::parse(value).map(|f| f.names().join(", ")),
        "accountexpires" | "pwdlastset" | "lastlogontimestamp" | "lastlogon" | "badpasswordtime" | "lockouttime" => {
            Some(codec::filetime_rfc3339(value).unwrap_or_else(|| "never".to_owned()))
        }
        "whencreated" | "whenchanged" | "modifytimestamp" | "createtimestamp" | "pwdchangedtime" => {
            codec::generalized_time_rfc3339(value)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ad: bool) -> DirectoryConfig {
        let text = if ad {
            "server_type = \"active_directory\"\nurls = [\"ldap://dc\"]\nuser_base = \"DC=x\""
        } else {
            "urls = [\"ldap://h\"]\nuser_base = \"dc=x\""
        };
        toml::from_str(text).unwrap()
    }

    fn entry(attrs: &[(&str, &[&str])]) -> Entry {
        let mut e = Entry { dn: "uid=ada,ou=people,dc=x".into(), ..Entry::default() };
        for (k, v) in attrs {
            e.attrs.insert((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect());
        }
        e
    }

    #[test]
    fn a_person_gets_core_attributes_and_the_whole_entry() {
        let e = entry(&[
            ("uid", &["ada"]),
            ("givenName", &["Ada"]),
            ("sn", &["Lovelace"]),
            ("mail", &["ada@x.example"]),
            ("entryUUID", &["1B4E28BA-2FA1-11D2-883F-0016D3CCA427"]),
        ]);
        let now = time::OffsetDateTime::now_utc();
        let p = person(&config(false), &e, now).unwrap();
        assert_eq!(p["userName"], "ada");
        assert_eq!(p["name"]["formatted"], "Ada Lovelace");
        assert_eq!(p["emails"][0]["value"], "ada@x.example");
        assert_eq!(p["active"], true);
        assert_eq!(p[LDAP_ENTRY]["attributes"]["sn"][0], "Lovelace");
        assert_eq!(p[LDAP_ENTRY]["dn"], "uid=ada,ou=people,dc=x");
        assert_eq!(stable_id(&config(false), &e).unwrap(), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
        let no_name = entry(&[("cn", &["x"])]);
        assert!(person(&config(false), &no_name, now).unwrap_err().reason.contains("uid"));
        assert!(stable_id(&config(false), &no_name).unwrap_err().reason.contains("entryUUID"));
    }

    #[test]
    fn ad_disabled_bit_and_expiry_make_a_person_inactive() {
        let now = time::OffsetDateTime::now_utc();
        let ad = config(true);
        let enabled = entry(&[("sAMAccountName", &["ada"]), ("userAccountControl", &["512"])]);
        assert!(active(&ad, &enabled, now).0);
        let disabled = entry(&[("sAMAccountName", &["ada"]), ("userAccountControl", &["514"])]);
        assert!(!active(&ad, &disabled, now).0);
        // 66050 = 0x10202: NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD | ACCOUNTDISABLE. The bit,
        // not the whole value.
        let other = entry(&[("sAMAccountName", &["ada"]), ("userAccountControl", &["66050"])]);
        assert!(!active(&ad, &other, now).0);
        // 2020-01-01 in FILETIME: expired; 0 and i64::MAX: never.
        let expired = entry(&[("userAccountControl", &["512"]), ("accountExpires", &["132223104000000000"])]);
        assert!(!active(&ad, &expired, now).0);
        let never = entry(&[("userAccountControl", &["512"]), ("accountExpires", &["9223372036854775807"])]);
        assert!(active(&ad, &never, now).0);
    }

    #[test]
    fn unique_member_uid_suffixes_are_dropped() {
        let e = entry(&[("uniqueMember", &["uid=a,dc=x#'0101'B", "uid=b,dc=x"])]);
        assert_eq!(member_dns(&e, "uniqueMember"), ["uid=a,dc=x", "uid=b,dc=x"]);
    }

    #[test]
    fn binary_values_are_shown_in_their_usual_form() {
        let guid = [0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01];
        assert_eq!(binary_text("objectGUID", &guid), "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_eq!(binary_text("jpegPhoto", &[0xff, 0xd8]), "/9g=");
    }
}
