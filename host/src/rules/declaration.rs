//! A module's declared settings (world 2.0.0's `settings` export): checking that the
//! declaration itself is sound, checking an app's settings against it when the module is
//! loaded for that app, and rendering it as a table for administrators (`usersync rules
//! check`, `rules status`, the console).
//!
//! A value fits a kind the way the SDK's readers accept it, so a setting the module would
//! read is never refused: a `flag` may also be a number or the text `true`/`yes`/`on`/`1`
//! (`false`/`no`/`off`/`0`), a `number` may be text that parses as one, a `text-list` may
//! be text (comma-separated). `text` and `mapping` take only their own kind.

use super::types::{Setting, SettingDeclaration, SettingKind, SettingValue};

/// Whether `value` can be read as a setting of `kind` (see the module docs).
pub fn fits(kind: SettingKind, value: &SettingValue) -> bool {
    match (kind, value) {
        (SettingKind::Text, SettingValue::Text(_))
        | (SettingKind::Flag, SettingValue::Flag(_) | SettingValue::Number(_))
        | (SettingKind::Number, SettingValue::Number(_))
        | (SettingKind::TextList, SettingValue::TextList(_) | SettingValue::Text(_))
        | (SettingKind::Mapping, SettingValue::Mapping(_)) => true,
        (SettingKind::Flag, SettingValue::Text(t)) => {
            let t = t.trim();
            ["true", "yes", "on", "1", "false", "no", "off", "0"].iter().any(|w| t.eq_ignore_ascii_case(w))
        }
        (SettingKind::Number, SettingValue::Text(t)) => t.trim().parse::<i64>().is_ok(),
        _ => false,
    }
}

/// Checks the declaration a module made: every key non-blank and declared once (ignoring
/// ASCII case, as keys are matched), every default of its setting's kind.
///
/// # Errors
/// What is wrong, naming the key.
pub fn check_declaration(declaration: &[SettingDeclaration]) -> Result<(), String> {
    for (n, d) in declaration.iter().enumerate() {
        if d.key.trim().is_empty() {
            return Err(format!("its settings declaration has a blank key (entry {})", n + 1));
        }
        if declaration[..n].iter().any(|e| e.key.eq_ignore_ascii_case(&d.key)) {
            return Err(format!("its settings declaration declares `{}` twice", d.key));
        }
        if let Some(default) = &d.default {
            if !fits(d.kind, default) {
                return Err(format!(
                    "its settings declaration gives `{}` (a {}) a default that is a {}",
                    d.key,
                    d.kind,
                    default.kind()
                ));
            }
        }
    }
    Ok(())
}

/// Checks an app's settings against a module's declaration: every key declared (ignoring
/// ASCII case), every value of its declared kind ([`fits`]). Settings the declaration lists
/// but the app leaves out are fine: the module uses its defaults.
///
/// # Errors
/// The first setting that does not fit, naming its key: an unknown key (with the keys the
/// module does read), or a value of the wrong kind (with both kinds).
pub fn check_settings(declaration: &[SettingDeclaration], settings: &[Setting]) -> Result<(), String> {
    for setting in settings {
        let Some(declared) = declaration.iter().find(|d| d.key.eq_ignore_ascii_case(&setting.key)) else {
            let known = if declaration.is_empty() {
                "it declares no settings".to_owned()
            } else {
                let keys: Vec<&str> = declaration.iter().map(|d| d.key.as_str()).collect();
                format!("it reads {}", keys.join(", "))
            };
            return Err(format!("app setting `{}` is unknown to the module ({known})", setting.key));
        };
        if !fits(declared.kind, &setting.value) {
            return Err(format!(
                "app setting `{}` must be a {}, not a {}",
                setting.key,
                declared.kind,
                setting.value.kind()
            ));
        }
    }
    Ok(())
}

/// A declaration as a plain-text table, one setting a line, for the CLI and the console:
///
/// ```text
/// KEY           KIND       DEFAULT  HELP
/// create_users  flag       true     Create users Confluence does not have yet.
/// ```
///
/// Defaults are written as TOML values would be (`true`, `3`, `"x"`, `["a", "b"]`,
/// `{ a = "b" }`); `-` for no default. An empty declaration is the line `(no settings)`.
pub fn describe_declaration(declaration: &[SettingDeclaration]) -> String {
    if declaration.is_empty() {
        return "(no settings)\n".to_owned();
    }
    let rows: Vec<[String; 4]> = declaration
        .iter()
        .map(|d| {
            let default = d.default.as_ref().map_or_else(|| "-".to_owned(), render_value);
            [d.key.clone(), d.kind.to_string(), default, d.help.clone()]
        })
        .collect();
    let header = ["KEY", "KIND", "DEFAULT", "HELP"].map(str::to_owned);
    let width = |col: usize| std::iter::once(&header).chain(&rows).map(|r| r[col].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A setting value as TOML would write it.
/// A setting value written as TOML would write it.
pub fn render_value(value: &SettingValue) -> String {
    let quoted = |s: &str| format!("{s:?}");
    match value {
        SettingValue::Text(t) => quoted(t),
        SettingValue::Flag(b) => b.to_string(),
        SettingValue::Number(n) => n.to_string(),
        SettingValue::TextList(items) => {
            format!("[{}]", items.iter().map(|i| quoted(i)).collect::<Vec<_>>().join(", "))
        }
        SettingValue::Mapping(pairs) => {
            let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{} = {}", quoted(k), quoted(v))).collect();
            if inner.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", inner.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(key: &str, kind: SettingKind, default: Option<SettingValue>, help: &str) -> SettingDeclaration {
        SettingDeclaration { key: key.into(), kind, default, help: help.into() }
    }

    fn setting(key: &str, value: SettingValue) -> Setting {
        Setting { key: key.into(), value }
    }

    fn text(s: &str) -> SettingValue {
        SettingValue::Text(s.into())
    }

    #[test]
    fn values_fit_kinds_as_the_sdk_reads_them() {
        let list = SettingValue::TextList(vec!["a".into()]);
        let map = SettingValue::Mapping(vec![("a".into(), "b".into())]);
        let cases = [
            (SettingKind::Text, text("x"), true),
            (SettingKind::Text, SettingValue::Flag(true), false),
            (SettingKind::Text, list.clone(), false),
            (SettingKind::Flag, SettingValue::Flag(false), true),
            (SettingKind::Flag, SettingValue::Number(0), true),
            (SettingKind::Flag, text(" Yes "), true),
            (SettingKind::Flag, text("off"), true),
            (SettingKind::Flag, text("sometimes"), false),
            (SettingKind::Flag, list.clone(), false),
            (SettingKind::Number, SettingValue::Number(3), true),
            (SettingKind::Number, text(" 42 "), true),
            (SettingKind::Number, text("many"), false),
            (SettingKind::Number, SettingValue::Flag(true), false),
            (SettingKind::TextList, list.clone(), true),
            (SettingKind::TextList, text("a, b"), true),
            (SettingKind::TextList, map.clone(), false),
            (SettingKind::Mapping, map.clone(), true),
            (SettingKind::Mapping, text("a=b"), false),
            (SettingKind::Mapping, list, false),
        ];
        for (kind, value, expected) in cases {
            assert_eq!(fits(kind, &value), expected, "{kind} ← {value:?}");
        }
    }

    #[test]
    fn settings_are_checked_against_the_declaration() {
        let declaration = [
            decl("on_the_fly", SettingKind::Flag, Some(SettingValue::Flag(false)), "Import groups."),
            decl("group_mapping", SettingKind::Mapping, None, "IdP group to Confluence group."),
        ];
        assert_eq!(check_settings(&declaration, &[]), Ok(()));
        let fine = [setting("ON_THE_FLY", text("yes")), setting("group_mapping", SettingValue::Mapping(vec![]))];
        assert_eq!(check_settings(&declaration, &fine), Ok(()));
        assert_eq!(
            check_settings(&declaration, &[setting("colour", text("blue"))]),
            Err("app setting `colour` is unknown to the module (it reads on_the_fly, group_mapping)".into())
        );
        assert_eq!(
            check_settings(&declaration, &[setting("on_the_fly", SettingValue::TextList(vec![]))]),
            Err("app setting `on_the_fly` must be a flag, not a text-list".into())
        );
        assert_eq!(
            check_settings(&[], &[setting("mode", text("x"))]),
            Err("app setting `mode` is unknown to the module (it declares no settings)".into())
        );
    }

    #[test]
    fn declarations_are_checked() {
        let ok = [decl("a", SettingKind::Flag, Some(text("yes")), ""), decl("b", SettingKind::Text, None, "")];
        assert_eq!(check_declaration(&ok), Ok(()));
        let twice = [decl("a", SettingKind::Flag, None, ""), decl("A", SettingKind::Text, None, "")];
        assert_eq!(check_declaration(&twice), Err("its settings declaration declares `A` twice".into()));
        let blank = [decl(" ", SettingKind::Flag, None, "")];
        assert_eq!(check_declaration(&blank), Err("its settings declaration has a blank key (entry 1)".into()));
        let bad_default = [decl("n", SettingKind::Number, Some(SettingValue::Flag(true)), "")];
        assert_eq!(
            check_declaration(&bad_default),
            Err("its settings declaration gives `n` (a number) a default that is a flag".into())
        );
    }

    #[test]
    fn a_declaration_renders_as_a_table() {
        let declaration = [
            decl("create_users", SettingKind::Flag, Some(SettingValue::Flag(true)), "Create users."),
            decl(
                "default_groups_all",
                SettingKind::TextList,
                Some(SettingValue::TextList(vec!["staff".into()])),
                "Groups for all.",
            ),
            decl(
                "group_mapping",
                SettingKind::Mapping,
                Some(SettingValue::Mapping(vec![("A".into(), "a".into())])),
                "Mapping.",
            ),
            decl("username_regex", SettingKind::Text, None, ""),
        ];
        let expected = "\
KEY                 KIND       DEFAULT        HELP
create_users        flag       true           Create users.
default_groups_all  text-list  [\"staff\"]      Groups for all.
group_mapping       mapping    { \"A\" = \"a\" }  Mapping.
username_regex      text       -
";
        assert_eq!(describe_declaration(&declaration), expected);
        assert_eq!(describe_declaration(&[]), "(no settings)\n");
    }
}
