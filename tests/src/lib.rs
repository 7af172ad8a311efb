//! Test support for UserSync: the load generator behind `tests/bench/scim.sh` (and, later,
//! the Confluence emulator and end-to-end helpers).

pub mod load;
