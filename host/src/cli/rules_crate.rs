//! What `usersync rules build` does, as a function the CLI and the demo share: build a
//! rule author's crate for `wasm32-unknown-unknown` and make its module a component. And
//! [`ensure_wasm_target`], which everything that builds modules (this, the demo, the tests'
//! guest builders) calls first, so that a fresh machine needs no set-up step of its own.

use std::ffi::OsString;
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
    ensure_wasm_target()?;
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

/// Makes sure the toolchain has the [`TARGET`] rules modules are built for: when it is
/// missing and `rustup` is there, runs `rustup target add wasm32-unknown-unknown` and says
/// so on stderr. The programs are `rustc` (or `$RUSTC`) and `rustup` from `PATH`, which
/// rustup's proxies resolve to the toolchain cargo runs with.
///
/// # Errors
///
/// `rustup target add` fails (offline, say). Without `rustup` nothing is done and
/// `Ok(TargetSetup::NoRustup)` returned: the build that follows says the target is missing.
pub fn ensure_wasm_target() -> Result<TargetSetup> {
    Toolchain::default().ensure_target(TARGET)
}

/// What [`Toolchain::ensure_target`] found, or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSetup {
    /// The target was there already.
    Installed,
    /// The target was missing, and `rustup target add` added it.
    Added,
    /// The target looks missing and there is no `rustup` to add it.
    NoRustup,
}

/// The programs that tell whether a target is installed and install it.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// Asked `--print target-libdir --target <target>`. Default: `$RUSTC`, else `rustc`.
    pub rustc: OsString,
    /// Runs `target add <target>`. Default: `rustup`.
    pub rustup: OsString,
}

impl Default for Toolchain {
    fn default() -> Self {
        Self { rustc: std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()), rustup: "rustup".into() }
    }
}

impl Toolchain {
    /// Adds `target` with `rustup` when this toolchain lacks it (see [`ensure_wasm_target`]).
    ///
    /// # Errors
    ///
    /// `rustup target add` cannot run or fails.
    pub fn ensure_target(&self, target: &str) -> Result<TargetSetup> {
        if self.has_target(target) {
            return Ok(TargetSetup::Installed);
        }
        let rustup = Command::new(&self.rustup).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if rustup.is_err() {
            return Ok(TargetSetup::NoRustup);
        }
        eprintln!("The {target} target (for rules modules) is missing: running `rustup target add {target}` ...");
        let status = Command::new(&self.rustup)
            .args(["target", "add", target])
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .context("cannot run rustup")?;
        if !status.success() {
            bail!("`rustup target add {target}` failed ({status}); run it yourself, then try again");
        }
        Ok(TargetSetup::Added)
    }

    /// Whether the target's standard library is installed: its folder, as `rustc` names
    /// it, exists and is not empty. `false` when `rustc` cannot say.
    fn has_target(&self, target: &str) -> bool {
        let Ok(output) = Command::new(&self.rustc).args(["--print", "target-libdir", "--target", target]).output()
        else {
            return false;
        };
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        output.status.success() && std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
    }
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

    /// A folder of fake `rustc` and `rustup` scripts: `rustc` names `<dir>/libdir` as the
    /// target's folder; `rustup --version` works unless `rustup_works` is false, and
    /// `rustup target add` records its arguments and fills the folder.
    #[cfg(unix)]
    fn fake_toolchain(name: &str, rustup_works: bool) -> (PathBuf, Toolchain) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("usersync-toolchain-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let scripts = [
            ("rustc", format!("#!/bin/sh\necho {d}/libdir\n")),
            (
                "rustup",
                format!(
                    "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\necho \"$@\" >> {d}/rustup-calls\nmkdir -p {d}/libdir && touch {d}/libdir/libcore.rlib\n"
                ),
            ),
        ];
        for (file, text) in scripts {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let rustup = if rustup_works { dir.join("rustup") } else { dir.join("no-such-rustup") };
        (dir.clone(), Toolchain { rustc: dir.join("rustc").into(), rustup: rustup.into() })
    }

    /// One test, in order: the scripts are written and run with no other process started
    /// in between (a fork while a script is open for writing makes running it fail).
    #[cfg(unix)]
    #[test]
    fn a_missing_target_is_added_with_rustup_once() {
        let (dir, toolchain) = fake_toolchain("add", true);
        assert_eq!(toolchain.ensure_target(TARGET).unwrap(), TargetSetup::Added);
        assert_eq!(toolchain.ensure_target(TARGET).unwrap(), TargetSetup::Installed);
        let calls = std::fs::read_to_string(dir.join("rustup-calls")).unwrap();
        assert_eq!(calls, "target add wasm32-unknown-unknown\n");
        let _ = std::fs::remove_dir_all(dir);

        let (dir, toolchain) = fake_toolchain("none", false);
        assert_eq!(toolchain.ensure_target(TARGET).unwrap(), TargetSetup::NoRustup);
        assert!(!dir.join("rustup-calls").exists());

        // `false --version` runs (and fails), so rustup counts as present; `target add` fails.
        let failing = Toolchain { rustup: "false".into(), ..toolchain };
        let err = failing.ensure_target(TARGET).unwrap_err().to_string();
        assert!(err.contains("rustup target add wasm32-unknown-unknown"), "{err}");
        let _ = std::fs::remove_dir_all(dir);

        // And this machine's toolchain: the guests of this test run are built for the
        // target, so it is there (or is added now).
        assert_ne!(ensure_wasm_target().unwrap(), TargetSetup::NoRustup);
    }

    #[test]
    fn cargo_messages_name_the_wasm() {
        let messages = br#"{"reason":"compiler-artifact","filenames":["/t/libusersync_rules.rlib"]}
{"reason":"compiler-artifact","filenames":["/t/wasm32-unknown-unknown/release/my_rules.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(built_wasm(messages).unwrap(), PathBuf::from("/t/wasm32-unknown-unknown/release/my_rules.wasm"));
        assert!(built_wasm(b"{\"reason\":\"build-finished\"}").is_err());
    }
}
