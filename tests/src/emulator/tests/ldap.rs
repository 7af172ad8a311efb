//! The read-only LDAP directory (reference §4.1, §9.11).

use serde_json::json;

use super::{assert_envelope, site_with};
use crate::emulator::{EmulatorConfig, LdapMode, SeedGroup, SeedUser, UserDirectory};

fn config(mode: LdapMode) -> EmulatorConfig {
    EmulatorConfig {
        ldap_mode: mode,
        users: vec![SeedUser::new("lena", "Lena Ldap", "lena@corp.example").in_directory(UserDirectory::Ldap)],
        groups: vec![SeedGroup {
            name: "ldap-staff".into(),
            members: vec!["lena".into()],
            directory: UserDirectory::Ldap,
        }],
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn ldap_users_groups_and_memberships_are_read_only() {
    let site = site_with(config(LdapMode::ReadOnly)).await;
    assert_eq!(site.emulator.snapshot().users["lena"].directory, UserDirectory::Ldap);
    assert_envelope(&site.put("/rest/api/admin/user/lena/disable").await, 403);
    assert_envelope(&site.put_json("/rest/api/admin/user/lena", json!({"fullName": "L"})).await, 403);
    assert_envelope(&site.delete("/rest/api/admin/user/lena").await, 403);
    assert_envelope(&site.post("/rest/api/admin/user/lena/password", json!({"password": "x"})).await, 403);
    assert_envelope(&site.delete("/rest/api/admin/group/ldap-staff").await, 403);
    assert_envelope(&site.put("/rest/api/user/mia/group/ldap-staff").await, 403);
    assert_envelope(&site.delete("/rest/api/user/lena/group/ldap-staff").await, 403);
    // Without local groups, LDAP users cannot join internal groups either.
    assert_envelope(&site.put("/rest/api/user/lena/group/confluence-users").await, 403);
    // The name is taken in every directory.
    let create = json!({"userName": "lena", "fullName": "L", "email": "l@x.org", "password": "p"});
    assert_envelope(&site.post("/rest/api/admin/user", create).await, 409);
    assert_eq!(site.emulator.counters().writes(), 0);
}

#[tokio::test]
async fn local_groups_mode_lets_ldap_users_join_internal_groups() {
    let config = EmulatorConfig { read_only_status: 400, ..config(LdapMode::ReadOnlyWithLocalGroups) };
    let site = site_with(config).await;
    assert_eq!(site.put("/rest/api/user/lena/group/confluence-users").await.status, 204);
    assert_eq!(site.delete("/rest/api/user/lena/group/confluence-users").await.status, 204);
    assert_envelope(&site.put("/rest/api/admin/user/lena/disable").await, 400);
}
