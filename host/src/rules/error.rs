//! What can go wrong with a rules module: loading it, or one decision. Every error names
//! the module and its content hash, so a log line or a SCIM `detail` says which code failed.

use std::time::Duration;

use super::types::{short_hash, ModuleId};

/// A failure, naming the module and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rules module {module} ({}): {cause}", short_hash(hash))]
pub struct RulesError {
    /// The module's name (its file name without `.wasm`), or `-` where there is none.
    pub module: String,
    /// The SHA-256, in hex, of the bytes as loaded (empty where there are none).
    pub hash: String,
    pub cause: RuleFailure,
}

impl RulesError {
    pub(crate) fn new(id: &ModuleId, cause: RuleFailure) -> Self {
        Self { module: id.name.clone(), hash: id.hash.clone(), cause }
    }
}

/// Why a module could not be loaded, or a decision failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleFailure {
    /// The bytes are not valid WebAssembly, or the engine could not compile them.
    #[error("does not compile: {0}")]
    Compile(String),
    /// A valid module or component that is not a `usersync:rules/rules` component (of
    /// world 1.0.0 or 2.0.0): no embedded world, an import other than
    /// `usersync:rules/host` (WASI, say), exports of the wrong names or types, or an
    /// unsound settings declaration (a key declared twice, a default of the wrong kind).
    #[error("does not fit the usersync:rules world: {0}")]
    WrongWorld(String),
    /// The module trapped: an `unreachable` (an explicit trap, or a panic the SDK did not
    /// report), an out-of-bounds access, a stack overflow …
    #[error("trapped: {0}")]
    Trap(String),
    /// The decision ran past its CPU deadline and was stopped.
    #[error("ran past its deadline of {0:?}")]
    Deadline(Duration),
    /// The module tried to grow its memory past its limit (bytes).
    #[error("hit its memory limit of {0} bytes")]
    MemoryLimit(usize),
    /// The module panicked; the message is the panic line it logged.
    #[error("panicked: {0}")]
    Panic(String),
    /// The decision breaks a Confluence naming rule; the message names the field.
    #[error("returned an invalid decision: {0}")]
    InvalidDecision(String),
    /// The module refused the person, for this reason.
    #[error("rejected the person: {0}")]
    Rejected(String),
    /// The app's settings do not fit the settings the module declares: a key it does not
    /// read, or a value of the wrong kind. The message names the key.
    #[error("does not accept the app's settings: {0}")]
    Settings(String),
    /// The decision could not start: the host's rules memory budget or its decision slots
    /// stayed taken for the whole admission wait, or the module needs more memory than the
    /// whole budget. Not the person's fault: the request may be retried.
    #[error("could not start the decision: {0}")]
    Busy(String),
    /// The module failed its decision on the built-in sample person at load time.
    #[error("failed its self-test on the sample person: {0}")]
    SelfTest(String),
    /// The module file cannot be read, or its folder cannot be watched.
    #[error("cannot read the module file: {0}")]
    Unreadable(String),
}
