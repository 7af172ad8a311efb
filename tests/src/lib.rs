//! Test support for UserSync: the load generator behind `tests/bench/scim.sh`, the
//! Confluence Data Center REST emulator, the real LDAP servers (slapd, Samba AD DC) for the
//! LDAP / Active Directory tests, and (later) end-to-end helpers.

pub mod emulator;
pub mod ldap_servers;
pub mod load;
