//! The real LDAP servers behind the LDAP / Active Directory tests (`usersync_tests::ldap_servers`):
//! a throwaway slapd with memberof/refint/syncprov, and a throwaway Samba AD DC.
//!
//! Each test skips, with a notice, when its server is not installed, except under CI=true,
//! where `.ci/run` has run `tests/ldap/install.sh` and a missing server is a failure.

use std::time::{Duration, Instant};

use usersync_tests::ldap_servers::{bulk_seed, samba_available, slapd_available, SambaDc, SambaSeed, SambaUser, Slapd};

/// Whether to skip a test whose server is missing; under CI=true a missing server fails it.
fn skip(available: bool, what: &str) -> bool {
    if available {
        return false;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{what} is not installed, and CI=true (.ci/run runs tests/ldap/install.sh)"
    );
    eprintln!("SKIPPED: {what} is not installed here (bash tests/ldap/install.sh installs it)");
    true
}

/// Values of `attribute` (exactly that name, options included) in ldapsearch's output.
fn values<'a>(ldif: &'a str, attribute: &str) -> Vec<&'a str> {
    let prefix = format!("{attribute}: ");
    ldif.lines().filter_map(|line| line.strip_prefix(prefix.as_str())).collect()
}

#[test]
fn slapd_keeps_member_of_and_referential_integrity_and_pages() {
    if skip(slapd_available(), "slapd") {
        return;
    }
    let started = Instant::now();
    let mut slapd = Slapd::start(&bulk_seed(5, 1, 3)).unwrap();
    eprintln!("slapd started in {:?} on {}", started.elapsed(), slapd.url());
    let base = slapd.base_dn();
    let user = |n: u32| format!("uid=user{n},ou=people,{base}");

    // Seeded by slapadd: the seeded group's members have no memberOf.
    let seeded = slapd.ldapsearch(&["-LLL", "(uid=user0)", "memberOf"]).unwrap();
    assert!(values(&seeded, "memberOf").is_empty(), "{seeded}");

    // A group added at run time gives its members memberOf.
    slapd
        .ldapadd(&format!(
            "dn: cn=team,ou=groups,{base}\nobjectClass: groupOfNames\ncn: team\nmember: {}\nmember: {}\n\n\
             dn: cn=solo,ou=groups,{base}\nobjectClass: groupOfNames\ncn: solo\nmember: {}\n",
            user(1),
            user(2),
            user(4)
        ))
        .unwrap();
    let one = slapd.ldapsearch(&["-LLL", "(uid=user1)", "memberOf"]).unwrap();
    assert_eq!(values(&one, "memberOf"), [format!("cn=team,ou=groups,{base}")], "{one}");

    // Deleting a group's last member leaves the placeholder, not a dangling DN; deleting
    // one of two leaves the other. refint edits the groups in a background task after the
    // delete has answered, hence the wait.
    slapd.ldapdelete(&user(4)).unwrap();
    slapd.ldapdelete(&user(2)).unwrap();
    let members = |group: &str| {
        let out = slapd.ldapsearch(&["-LLL", &format!("(cn={group})"), "member"]).unwrap();
        values(&out, "member").into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while (members("solo") != [slapd.admin_dn()] || members("team") != [user(1)]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(members("solo"), [slapd.admin_dn()]);
    assert_eq!(members("team"), [user(1)]);

    // groupOfUniqueNames is in the schema; modrdn and modify work.
    slapd
        .ldapadd(&format!(
            "dn: cn=unique,ou=groups,{base}\nobjectClass: groupOfUniqueNames\ncn: unique\nuniqueMember: {}\n",
            user(0)
        ))
        .unwrap();
    slapd.ldapmodrdn(&user(3), "uid=user3b").unwrap();
    slapd.ldapmodify(&format!("dn: {}\nchangetype: modify\nreplace: mail\nmail: new@example.com\n", user(0))).unwrap();

    // A paged search: three users left (user0, user1, user3b), pages of two.
    let paged = slapd.ldapsearch(&["-E", "pr=2/noprompt", "(objectClass=inetOrgPerson)", "uid", "entryUUID"]).unwrap();
    assert_eq!(values(&paged, "uid").len(), 3, "{paged}");
    assert_eq!(paged.lines().filter(|line| *line == "# search result").count(), 2, "{paged}");

    // A restart keeps the port and the data.
    let port = slapd.port();
    let restarted = Instant::now();
    slapd.restart().unwrap();
    eprintln!("slapd restarted in {:?}", restarted.elapsed());
    assert_eq!(slapd.port(), port);
    let after = slapd.ldapsearch(&["-LLL", "(uid=user0)", "mail"]).unwrap();
    assert_eq!(values(&after, "mail"), ["new@example.com"], "{after}");

    let dir = slapd.dir().to_owned();
    drop(slapd);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn samba_dc_reads_like_active_directory() {
    if skip(samba_available(), "Samba AD DC") {
        return;
    }
    let seed = SambaSeed::new()
        .user(SambaUser::person("alice", "Alice", "Example").password("Passw0rd!A1"))
        .user(SambaUser::person("bob", "Bob", "Example").disabled())
        .group("confluence-users", &["alice", "bob"])
        .bulk_group("big", "bulk", 1600);
    let started = Instant::now();
    let mut samba = SambaDc::start(&seed).unwrap();
    eprintln!("samba provisioned, seeded (1,600 + 2 users) and started in {:?}", started.elapsed());

    let bob = samba.ldapsearch(&["-LLL", "(sAMAccountName=bob)", "userAccountControl", "memberOf"]).unwrap();
    assert_eq!(values(&bob, "userAccountControl"), ["514"], "{bob}");
    assert_eq!(values(&bob, "memberOf"), [samba.group_dn("confluence-users")], "{bob}");
    let alice = samba.ldapsearch(&["-LLL", "(sAMAccountName=alice)", "userAccountControl", "mail"]).unwrap();
    assert_eq!(values(&alice, "userAccountControl"), ["512"], "{alice}");
    assert_eq!(values(&alice, "mail"), ["alice@example.test"], "{alice}");

    // The seeded password binds.
    let whoami = std::process::Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &samba.url(), "-D", "alice@example.test", "-w", "Passw0rd!A1"])
        .args(["-s", "base", "-b", "", "dnsHostName"])
        .output()
        .unwrap();
    assert!(whoami.status.success(), "{}", String::from_utf8_lossy(&whoami.stderr));

    // Range retrieval of a 1,600-member group.
    let first = samba.ldapsearch(&["-LLL", "(sAMAccountName=big)", "member;range=0-1499"]).unwrap();
    assert_eq!(values(&first, "member;range=0-1499").len(), 1500);
    let rest = samba.ldapsearch(&["-LLL", "(sAMAccountName=big)", "member;range=1500-*"]).unwrap();
    assert_eq!(values(&rest, "member;range=1500-*").len(), 100);

    // Changes at run time, and a restart that keeps them.
    samba
        .ldapmodify(&format!(
            "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 512\n",
            samba.user_dn("bob")
        ))
        .unwrap();
    samba.ldapdelete(&samba.user_dn("bulk0")).unwrap();
    let restarted = Instant::now();
    samba.restart().unwrap();
    eprintln!("samba restarted in {:?}", restarted.elapsed());
    let bob = samba.ldapsearch(&["-LLL", "(sAMAccountName=bob)", "userAccountControl"]).unwrap();
    assert_eq!(values(&bob, "userAccountControl"), ["512"], "{bob}");
    let all = samba.ldapsearch(&["-LLL", "(sAMAccountName=big)", "member;range=0-*"]).unwrap();
    assert_eq!(values(&all, "member;range=0-*").len(), 1599);

    let dir = samba.dir().to_owned();
    let stopping = Instant::now();
    drop(samba);
    eprintln!("samba stopped and removed in {:?}", stopping.elapsed());
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
