//! Fuzzes SCIM filters: arbitrary bytes as a filter (and as attribute and PATCH paths),
//! parsed, printed and re-parsed, validated and evaluated against a sample user. The
//! invariants live in `usersync::scim::filter::fuzz_one`, shared with the corpus test.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| usersync::scim::filter::fuzz_one(data));
