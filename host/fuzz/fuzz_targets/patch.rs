//! Fuzzes SCIM PATCH: arbitrary bytes as a PATCH body, applied to a sample user and group.
//! The invariants (atomicity, a truthful change flag, only 4xx errors) live in
//! `usersync::scim::patch::fuzz_one`, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| usersync::scim::patch::fuzz_one(data));
