//! The host's one integration-test binary (one binary per crate keeps link time down).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod durability;
mod fuzz_corpus;
mod harness;
mod idp_quirks;
mod okta_runscope;
mod scim_protocol;
