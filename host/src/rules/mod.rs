//! The rules: every mapping decision (Confluence username, full name, e-mail, custom fields,
//! groups) is made by a WebAssembly component the administrator writes against
//! `rules-sdk/wit/rules.wit`. The host makes no mapping decision of its own.
//!
//! - [`types`]: the host-side mirror of the contract's records (plain Rust).
//! - [`RulesEngine`] (`engine.rs`, with `contract.rs`): the only code that sees wasmtime.
//!   It loads modules (compiles, never deserialises; type-checks against the world;
//!   self-tests on [`sample::input`]) and runs each decision in a fresh, limited instance.
//! - [`ModuleRegistry`] (`registry.rs`): each app's live module, hot-reloaded from its file.
//! - [`validate`]: Confluence's naming rules, applied to every decision.
//!
//! **API boundary:** [`RulesEngine::load`], [`RulesEngine::decide`],
//! [`ModuleRegistry::current`]; errors are [`RulesError`], naming the module and its hash.
//!
//! **Architecture invariant:** no wasmtime type leaves this module, and no module gets
//! anything from the host but its input and a capped log: no WASI, files, network, clock or
//! randomness.

mod contract;
mod engine;
mod error;
mod registry;
pub mod sample;
pub mod types;
pub mod validate;

pub use engine::{componentize, content_hash, LoadedModule, RuleLimits, RulesEngine};
pub use error::{RuleFailure, RulesError};
pub use registry::{AppModule, ModuleRegistry, ModuleStatus};
pub use types::{Decisions, ModuleId};
