//! The workspace's rules modules, built for wasm by this test binary: the hostile test guest
//! (`tests/guests/hostile`) and the sample rules (`sample-rules/*`). They are built once per
//! test run, all in one `cargo build --profile rules --target wasm32-unknown-unknown` into
//! `$CARGO_TARGET_TMPDIR/wasm-guests` (its own target folder, so it does not wait on the build running
//! these tests), then made components the way `usersync rules build` does. A missing
//! wasm32 target is added first, as `usersync rules build` does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Misbehaves on request: the text setting `mode` (trap, loop, memory, panic,
/// invalid-username, reject, log-flood, ok).
pub const HOSTILE: &str = "usersync-hostile-guest";
/// UserSync's usual mapping, driven by the app's settings.
pub const STANDARD: &str = "usersync-standard-rules";
/// Groups by department and location.
pub const DEPARTMENT_GROUPS: &str = "usersync-department-groups-rules";
/// Rejects people outside the setting `allowed_domains`.
pub const EMAIL_DOMAIN: &str = "usersync-email-domain-rules";

const PACKAGES: &[&str] = &[HOSTILE, STANDARD, DEPARTMENT_GROUPS, EMAIL_DOMAIN];

struct Guest {
    core: Vec<u8>,
    component: Vec<u8>,
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ is in the workspace").to_path_buf()
}

/// `package`'s core module, as cargo builds it (with the rules world embedded).
pub fn core_module(package: &str) -> &'static [u8] {
    &guest(package).core
}

/// `package` as a component, as `usersync rules build` writes it.
pub fn component(package: &str) -> &'static [u8] {
    &guest(package).component
}

fn guest(package: &str) -> &'static Guest {
    static GUESTS: OnceLock<HashMap<&'static str, Guest>> = OnceLock::new();
    GUESTS.get_or_init(build).get(package).unwrap_or_else(|| panic!("{package} is not one of the guests: {PACKAGES:?}"))
}

fn build() -> HashMap<&'static str, Guest> {
    // A fresh machine: the target is added here (with rustup) rather than by hand.
    usersync::cli::rules_crate::ensure_wasm_target().expect("the wasm32-unknown-unknown target can be installed");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace()).args(["build", "--profile", "rules", "--target", "wasm32-unknown-unknown"]);
    for package in PACKAGES {
        command.args(["-p", package]);
    }
    // The host's flags (coverage, sanitizers …) are not for the guests.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        command.env_remove(var);
    }
    let output = command.env("CARGO_TARGET_DIR", &target_dir).output().expect("cargo runs");
    assert!(
        output.status.success(),
        "building the guests failed (is the wasm32-unknown-unknown target installed?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PACKAGES
        .iter()
        .map(|package| {
            let file =
                target_dir.join("wasm32-unknown-unknown/rules").join(format!("{}.wasm", package.replace('-', "_")));
            let core = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let component = usersync::rules::componentize(&core).unwrap_or_else(|e| panic!("{package}: {e}"));
            (*package, Guest { core, component })
        })
        .collect()
}
