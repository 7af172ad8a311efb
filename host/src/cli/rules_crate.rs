//! What `usersync rules build` does, as a function the CLI and the demo share: build a
//! rule author's crate for `wasm32-unknown-unknown` and make its module a component.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

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
    let component = crate::rules::componentize(&core).map_err(|e| {
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
}
