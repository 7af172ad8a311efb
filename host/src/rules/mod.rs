//! The rules: every mapping decision (Confluence username, full name, e-mail, custom fields,
//! groups) is made by a WebAssembly component the administrator writes against
//! `rules-sdk/wit/rules.wit`.
//!
//! Built so far: [`types`], the host-side mirror of the contract's records. The engine
//! wrapper (wasmtime, limits, hot reload) is the next stage; see `ARCHITECTURE.md`.

pub mod types;
