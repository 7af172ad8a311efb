//! End-to-end tests over real sockets: identity-provider traffic into UserSync, the
//! standard rules compiled for wasm, and the Confluence emulator as Confluence. Each test
//! asserts Confluence's final state (the emulator's snapshot) and, where it matters, its
//! operation counters (nothing applied twice).
//!
//! The crate's one integration-test binary (one binary per crate keeps link time down).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod active_directory;
mod apps;
mod breaker;
mod browser;
mod bulk;
mod client;
mod console;
mod console_directory;
mod faults;
mod flows;
mod grants;
mod harness;
mod kill;
mod ldap;
mod ldap_servers;
mod settings;
mod synchronize;
mod tls;
