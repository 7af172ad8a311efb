//! Test support for UserSync: the load generator behind `tests/bench/scim.sh`, the
//! Confluence Data Center REST emulator, and (later) end-to-end helpers.

pub mod emulator;
pub mod load;
