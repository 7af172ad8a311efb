//! The host's one integration-test binary (one binary per crate keeps link time down).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod confluence_client;
mod durability;
mod edge;
mod fuzz_corpus;
mod guests;
mod harness;
mod hostile_input;
mod idp_quirks;
mod idp_replay;
mod mapping_paths;
mod okta_spec;
mod rules_engine;
mod rules_pipeline;
mod sample_rules;
mod scim_protocol;
mod sync_apply;
