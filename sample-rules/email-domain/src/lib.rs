//! Example rules module: only people whose primary e-mail address is in an allowed domain.
//!
//! # Settings
//!
//! | key | kind | effect |
//! | --- | --- | --- |
//! | `allowed_domains` | text-list (or comma-separated text) | The domains people may come from, e.g. `example.com`, matched case-insensitively. An entry `*.example.com` allows every subdomain of `example.com` (but not `example.com` itself). |
//!
//! A person whose primary e-mail address ([`Person::primary_email`](usersync_rules::Person::primary_email))
//! is outside these domains, or who has none, is rejected with the reason. Without
//! `allowed_domains` everyone is rejected: the module fails closed.
//!
//! Everything else is the SDK's default: the default attribute mapping for the people it
//! accepts, no custom fields, no group changes.

use usersync_rules::{defaults, normalize_email, AttributeDecision, Input, Rules, SettingDeclaration};

/// The module.
pub struct EmailDomain;

impl Rules for EmailDomain {
    fn map_attributes(input: &Input) -> AttributeDecision {
        let allowed = input.setting_list("allowed_domains");
        if allowed.is_empty() {
            return AttributeDecision::Reject("the app setting `allowed_domains` lists no domains".into());
        }
        let Some(email) = input.person.primary_email().map(normalize_email) else {
            return AttributeDecision::Reject("no primary e-mail address".into());
        };
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !allowed.iter().any(|entry| domain_allowed(entry, domain)) {
            return AttributeDecision::Reject(format!("e-mail domain {domain:?} is not allowed"));
        }
        defaults::map_attributes(input)
    }

    fn settings() -> Vec<SettingDeclaration> {
        vec![SettingDeclaration::text_list(
            "allowed_domains",
            "E-mail domains people may come from (*.example.com: its subdomains); none: everyone is rejected.",
        )]
    }
}

usersync_rules::export_rules!(EmailDomain);

/// Whether `domain` (lower-case) matches the `allowed_domains` entry `entry`.
fn domain_allowed(entry: &str, domain: &str) -> bool {
    let entry = entry.trim().trim_start_matches('@').to_lowercase();
    match entry.strip_prefix("*.") {
        Some(parent) => domain.strip_suffix(parent).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => !entry.is_empty() && domain == entry,
    }
}

#[cfg(test)]
mod tests {
    use usersync_rules::{Decisions, GroupDecision, Person, SettingKind, SettingValue, Source, TypedValue};

    use super::*;

    fn input(email: Option<&str>, allowed: Option<SettingValue>) -> Input {
        let mut p = Person::new(Source::Scim, "Ada");
        if let Some(e) = email {
            p.emails.push(TypedValue { value: e.into(), kind: Some("work".into()), primary: true });
        }
        let input = Input::new(p);
        match allowed {
            Some(v) => input.with_setting("allowed_domains", v),
            None => input,
        }
    }

    fn list(items: &[&str]) -> Option<SettingValue> {
        Some(SettingValue::TextList(items.iter().map(|s| (*s).into()).collect()))
    }

    #[test]
    fn only_allowed_domains() {
        let allowed = || list(&["Example.com", "*.corp.example", "@partner.example"]);
        let cases: Vec<(Input, Result<&str, &str>)> = vec![
            (input(Some("Ada@EXAMPLE.com"), allowed()), Ok("ada@example.com")),
            (input(Some("ada@eu.corp.example"), allowed()), Ok("ada@eu.corp.example")),
            (input(Some("ada@partner.example"), allowed()), Ok("ada@partner.example")),
            (input(Some("ada@corp.example"), allowed()), Err("e-mail domain \"corp.example\" is not allowed")),
            (input(Some("ada@xcorp.example"), allowed()), Err("e-mail domain \"xcorp.example\" is not allowed")),
            (input(Some("ada@example.com.evil"), allowed()), Err("e-mail domain \"example.com.evil\" is not allowed")),
            (input(Some("ada@sub.example.com"), allowed()), Err("e-mail domain \"sub.example.com\" is not allowed")),
            (input(Some("ada"), allowed()), Err("e-mail domain \"\" is not allowed")),
            (input(None, allowed()), Err("no primary e-mail address")),
            (
                input(Some("ada@example.com"), Some(SettingValue::Text("other.org, example.com".into()))),
                Ok("ada@example.com"),
            ),
            (input(Some("ada@example.com"), None), Err("the app setting `allowed_domains` lists no domains")),
            (input(Some("ada@example.com"), list(&[])), Err("the app setting `allowed_domains` lists no domains")),
        ];
        for (input, expected) in cases {
            let actual = match EmailDomain::map_attributes(&input) {
                AttributeDecision::Provision(m) => Ok(m.email),
                AttributeDecision::Reject(why) => Err(why),
                AttributeDecision::Skip(why) => Err(format!("skip: {why}")),
            };
            assert_eq!(actual.as_deref().map_err(String::as_str), expected, "{:?}", input.person.emails);
        }
    }

    #[test]
    fn declares_allowed_domains_only() {
        let declared = EmailDomain::settings();
        let keys: Vec<(&str, SettingKind)> = declared.iter().map(|d| (d.key.as_str(), d.kind)).collect();
        assert_eq!(keys, [("allowed_domains", SettingKind::TextList)]);
    }

    #[test]
    fn everything_else_is_the_default() {
        let d = Decisions::of::<EmailDomain>(&input(Some("ada@example.com"), list(&["example.com"])));
        assert!(d.custom_fields.is_empty());
        assert_eq!(d.groups, GroupDecision::empty());
    }
}
