//! What `usersync rules build` and `usersync rules check` do, as functions (the CLI only
//! parses arguments and prints): build a rule author's crate into a component, and make the
//! three decisions for a person given as JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::types::{
    AppInfo, AttributeDecision, ConfluenceUser, Decisions, IdpGroup, Person, RuleInput, Setting, SettingValue,
};
use crate::scim::normalize::{normalize_resource, Limits};
use crate::scim::schema::AppSchemas;

/// The target rules modules are built for: no WASI, so no files, network, clock or
/// randomness can even be imported.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Cargo's release profile, tuned as the workspace's `rules` profile is; set through
/// the environment, so a rule author's crate needs no profile of its own.
const PROFILE_ENV: &[(&str, &str)] = &[
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3"),
    ("CARGO_PROFILE_RELEASE_LTO", "true"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    ("CARGO_PROFILE_RELEASE_PANIC", "abort"),
    ("CARGO_PROFILE_RELEASE_STRIP", "true"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
];

/// Builds the rules crate at `crate_dir` (`cargo build --release --target
/// wasm32-unknown-unknown`) and writes its module as a component to `out`, by default
/// `<crate name>.wasm` in the current directory. Returns the path written and the core
/// module's size.
///
/// # Errors
/// cargo fails (its diagnostics are on stderr), the crate builds no `cdylib`, or the module
/// does not carry the rules world (it was not built with the SDK's `export_rules!`).
pub fn build(crate_dir: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml", crate_dir.display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .envs(PROFILE_ENV.iter().copied())
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = command.output().context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo build failed (is the target installed? `rustup target add {TARGET}`); see the messages above");
    }
    let wasm = built_wasm(&output.stdout)?;
    let core = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let component = super::componentize(&core).map_err(|e| {
        anyhow::anyhow!("{}: {} (does the crate call `usersync_rules::export_rules!`?)", wasm.display(), e.cause)
    })?;
    let out = match out {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(wasm.file_name().map_or_else(|| "rules.wasm".into(), |n| n.to_owned())),
    };
    // Written beside and renamed over, so a server watching `out` never reads half a file.
    let partial = out.with_extension("wasm.partial");
    std::fs::write(&partial, &component).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

/// The `.wasm` file among cargo's JSON messages (the last `cdylib` artifact).
fn built_wasm(messages: &[u8]) -> Result<PathBuf> {
    let mut found = None;
    for line in String::from_utf8_lossy(messages).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let mut files = message["filenames"].as_array().into_iter().flatten().filter_map(Value::as_str);
        if let Some(file) = files.rfind(|f| f.ends_with(".wasm")) {
            found = Some(PathBuf::from(file));
        }
    }
    found.context("the crate built no .wasm module: is its lib's crate-type [\"cdylib\"]?")
}

/// What `rules check` decides about: a person, as JSON, and how the app sees them.
#[derive(Debug, Clone, Default)]
pub struct CheckInput {
    pub app_name: String,
    pub idp_kind: String,
    pub settings: Vec<Setting>,
    /// The person is already a Confluence user, with these groups.
    pub existing_groups: Option<Vec<String>>,
}

/// The rules input for a person given as a SCIM user resource (as an IdP sends it: quirks
/// are normalised as the server does). IdP groups come from the resource's `groups`
/// attribute (`[{"value": id, "display": name}]`).
///
/// # Errors
/// The JSON is not a valid SCIM user.
pub fn input_from_json(person: &Value, check: &CheckInput) -> Result<RuleInput> {
    let schemas = AppSchemas::new(&[]);
    let groups: Vec<IdpGroup> = person
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let id = g.get("value").and_then(Value::as_str)?;
            let name = g.get("display").and_then(Value::as_str).unwrap_or(id);
            Some(IdpGroup { id: id.to_owned(), display_name: name.to_owned() })
        })
        .collect();
    let mut body = person.clone();
    if let Some(obj) = body.as_object_mut() {
        // Read-only in SCIM: carried as IdP groups above, not as an attribute.
        obj.remove("groups");
    }
    let attrs = normalize_resource(&body, &schemas.user, &Limits::default())
        .map_err(|e| anyhow::anyhow!("the input is not a valid SCIM user: {}", e.detail))?;
    let mut user = Value::Object(attrs);
    if user.get("id").is_none() {
        user["id"] = json!("check");
    }
    let person: Person = crate::inbound::person::person_from_scim(&user, &schemas.user, groups);
    Ok(RuleInput {
        person,
        app: AppInfo {
            name: check.app_name.clone(),
            idp_kind: check.idp_kind.clone(),
            settings: check.settings.clone(),
        },
        confluence: match &check.existing_groups {
            Some(groups) => {
                ConfluenceUser { exists: true, username: None, groups: groups.clone(), ..ConfluenceUser::default() }
            }
            None => ConfluenceUser::default(),
        },
    })
}

/// The three decisions as JSON, for printing.
pub fn decisions_json(d: &Decisions) -> Value {
    let attributes = match &d.attributes {
        AttributeDecision::Provision(m) => json!({
            "provision": {"username": m.username, "fullName": m.full_name, "email": m.email, "active": m.active}
        }),
        AttributeDecision::Skip(reason) => json!({"skip": reason}),
        AttributeDecision::Reject(reason) => json!({"reject": reason}),
    };
    json!({
        "module": {"name": d.module.name, "hash": d.module.hash},
        "attributes": attributes,
        "customFields": d.custom_fields.iter().map(|f| json!({"name": f.name, "value": f.value})).collect::<Vec<_>>(),
        "groups": {"add": d.groups.add, "remove": d.groups.remove, "create": d.groups.create},
    })
}

/// Settings as JSON, for printing what a check ran with.
pub fn settings_json(settings: &[Setting]) -> Value {
    let map = settings
        .iter()
        .map(|s| {
            let v = match &s.value {
                SettingValue::Text(t) => json!(t),
                SettingValue::Flag(b) => json!(b),
                SettingValue::Number(n) => json!(n),
                SettingValue::TextList(l) => json!(l),
                SettingValue::Mapping(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            };
            (s.key.clone(), v)
        })
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_messages_name_the_wasm() {
        let messages = br#"{"reason":"compiler-artifact","filenames":["/t/libusersync_rules.rlib"]}
{"reason":"compiler-artifact","filenames":["/t/wasm32-unknown-unknown/release/my_rules.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(built_wasm(messages).unwrap(), PathBuf::from("/t/wasm32-unknown-unknown/release/my_rules.wasm"));
        assert!(built_wasm(b"{\"reason\":\"build-finished\"}").is_err());
    }

    #[test]
    fn a_scim_user_with_quirks_becomes_the_input() {
        let person = json!({
            "schemas": ["urn:scim:schemas:core:1.0"],
            "userName": "Ada@Example.com",
            "active": "True",
            "emails": {"value": "ada@example.com", "primary": true},
            "groups": [{"value": "g1", "display": "Engineering"}, {"value": "g2"}],
        });
        let check = CheckInput { app_name: "a".into(), idp_kind: "onelogin".into(), ..CheckInput::default() };
        let input = input_from_json(&person, &check).unwrap();
        assert_eq!(input.person.user_name, "Ada@Example.com");
        assert!(input.person.active);
        assert_eq!(input.person.emails[0].value, "ada@example.com");
        let groups: Vec<_> = input.person.groups.iter().map(|g| g.display_name.as_str()).collect();
        assert_eq!(groups, ["Engineering", "g2"]);
        assert!(!input.confluence.exists);
        assert!(input_from_json(&json!({"userName": {"a": 1}}), &check).is_err());
    }
}
