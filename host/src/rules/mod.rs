//! The rules: every mapping decision (Confluence username, full name, e-mail, custom fields,
//! groups) is made by a WebAssembly component the administrator writes against
//! `rules-sdk/wit/rules.wit` (world `usersync:rules@2.0.0`; modules built against 1.0.0,
//! `host/wit/rules-1.0.0.wit`, keep loading). The host makes no mapping decision of its own.
//!
//! - [`types`]: the host-side mirror of the contract's records (plain Rust), and
//!   [`Directory`], which answers a module's `find-user`.
//! - [`RulesEngine`] (`engine.rs`, with `contract.rs`): the only code that sees wasmtime.
//!   It loads modules (compiles, never deserialises; type-checks against the world; reads
//!   a 2.0.0 module's settings declaration and checks the app's settings against it;
//!   self-tests on [`sample::input`]) and runs each decision in a fresh, limited instance,
//!   once the gate (`gate.rs`) has admitted it within the host-wide [`RulesBudget`].
//! - [`declaration`]: settings declarations: checks, and [`describe_declaration`].
//! - [`ModuleRegistry`] (`registry.rs`): each app's live module, hot-reloaded from its file.
//! - [`validate`]: Confluence's naming rules, applied to every decision.
//!
//! **API boundary:** [`RulesEngine::load`], [`RulesEngine::decide`] (and
//! [`RulesEngine::decide_async`], which runs it inline or on a blocking thread by the module's pace),
//! [`ModuleRegistry::current`], [`LoadedModule::declaration`]; errors are [`RulesError`],
//! naming the module and its hash.
//!
//! **Architecture invariant:** no wasmtime type leaves this module, and no module gets
//! anything from the host but its input, a capped log and a capped, in-memory `find-user`:
//! no WASI, files, network, clock or randomness.

mod contract;
pub mod declaration;
mod engine;
mod error;
mod gate;
mod pace;
mod registry;
pub mod sample;
pub mod types;
pub mod validate;

pub use declaration::describe_declaration;
pub use engine::{
    componentize, content_hash, LoadedModule, RuleLimits, RulesEngine, CONCURRENT_DECISIONS, FIND_USER_CALLS,
};
pub use error::{RuleFailure, RulesError};
pub use gate::{Admission, RulesBudget};
pub use registry::{AppModule, ModuleRegistry, ModuleStatus};
pub use types::{ConfluenceUser, Decisions, Directory, ModuleId, NoDirectory, SettingDeclaration, SettingKind};
