//! Real LDAP servers for the LDAP / Active Directory tests and benchmarks: a throwaway
//! OpenLDAP `slapd` ([`Slapd`]) and a throwaway Samba AD DC ([`SambaDc`]), both on loopback,
//! each in its own temporary directory that is removed with it.
//!
//! The recipes follow `shared/reference/ldap-test-servers.md`. The packages come from
//! `tests/ldap/install.sh` (run by `.ci/run`); a test that finds a server missing may skip
//! only outside CI (see [`slapd_available`], [`samba_available`]).
//!
//! The servers are driven through OpenLDAP's command-line tools (`ldapadd`, `ldapmodify`,
//! `ldapdelete`, `ldapmodrdn`, `ldapsearch`) with a simple bind as the administrator, so
//! that this module needs nothing but std; the code under test brings its own client.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _, Result};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SLAPTEST: &str = "/usr/sbin/slaptest";
const SAMBA: &str = "/usr/sbin/samba";
const SAMBA_TOOL: &str = "/usr/bin/samba-tool";
/// Samba's Python modules are installed for the system interpreter only (a `python3` on
/// `PATH` may be another one, e.g. pyenv's).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// How long [`Slapd::start`] waits for `ldapwhoami` to succeed.
const SLAPD_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`SambaDc::start`] waits for the rootDSE to answer.
const SAMBA_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stop waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// OpenLDAP
// ---------------------------------------------------------------------------------------

/// The base DN of every [`Slapd`].
pub const SLAPD_BASE_DN: &str = "dc=example,dc=com";
/// The root DN of every [`Slapd`] (bypasses access control and limits).
pub const SLAPD_ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
/// The root DN's password.
pub const SLAPD_ADMIN_PASSWORD: &str = "secret";
/// A DN whose searches the server cuts at 5 entries (a size limit, paged or not), for the
/// tests of a search cut short. The entry does not exist until a test adds it, with a
/// `userPassword` to bind with (see [`limited_account_ldif`]).
pub const SLAPD_LIMITED_DN: &str = "cn=limited,dc=example,dc=com";

/// The entry of [`SLAPD_LIMITED_DN`] with `password`.
pub fn limited_account_ldif(password: &str) -> String {
    format!(
        "dn: {SLAPD_LIMITED_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: limited\nuserPassword: {password}\n"
    )
}

/// Whether a throwaway [`Slapd`] can run here: `slapd`, `slapadd` and the LDAP client tools.
pub fn slapd_available() -> bool {
    Path::new(SLAPD).is_file()
        && Path::new(SLAPADD).is_file()
        && ["ldapwhoami", "ldapadd", "ldapmodify", "ldapdelete", "ldapmodrdn", "ldapsearch"]
            .iter()
            .all(|tool| on_path(tool))
}

/// A throwaway OpenLDAP server on `127.0.0.1` and a free port, with its configuration
/// (`cn=config`, built offline) and its data in a fresh temporary directory.
///
/// - Suffix `dc=example,dc=com`; root DN `cn=admin,dc=example,dc=com`, password `secret`.
///   Anyone may read everything but `userPassword` (which serves binds only).
/// - Schemas core (with `groupOfNames` and `groupOfUniqueNames`), cosine, nis and
///   inetorgperson.
/// - Overlays, in this order: `syncprov` (RFC 4533, with a session log so that a refresh
///   reports deletions as UUIDs), `memberof` (`memberOf` on the members of `groupOfNames`
///   via `member`), `refint` on `member` and `memberOf`, with `olcRefintNothing` set to the
///   admin DN: deleting a group's last member leaves the admin DN as its `member`
///   (`groupOfNames` must keep one) instead of a dangling one. Readers skip that value.
/// - Equality indexes on `objectClass`, `entryCSN`, `entryUUID`, `uid`, `cn`, and on
///   `member`, `uniqueMember` and `memberOf` (which memberof/refint search on every delete).
///
/// Observed (slapd 2.5.13): **refint edits the groups in a background task after the
/// delete has answered** (tens of milliseconds later; about 0.3 s with 100,000 users), so a
/// test that checks a group right after deleting a member must poll. `memberOf` is written
/// within the add or modify of the group. A membership change moves neither the user's
/// `entryCSN` nor its `modifyTimestamp`; refint's removal moves neither of the group's
/// (`shared/reference/ldap-test-servers.md` §1.4, §7).
///
/// Timings on the two-core machine: a start with no seed takes 0.05 s, a restart 0.07 s;
/// with [`bulk_seed`]`(10_000, 100, 100)` 0.3 s, with `(100_000, 1_000, 100)` 2.2 s.
/// `Drop` stops the server (SIGTERM, then SIGKILL) and removes the directory. A server
/// whose test process died without `Drop` is stopped by the next `Slapd::start`.
pub struct Slapd {
    dir: PathBuf,
    port: u16,
    pid: Option<u32>,
}

impl Slapd {
    /// Builds the configuration, loads the base entries and `seed_ldif` offline with
    /// `slapadd`, starts `slapd` and waits (up to 20 s) until `ldapwhoami` binds as the
    /// admin.
    ///
    /// The fixture always adds the base entries itself, before the seed: the organization
    /// `dc=example,dc=com`, `ou=people,dc=example,dc=com` and `ou=groups,dc=example,dc=com`.
    /// So the seed must not contain them. It may be empty.
    ///
    /// `slapadd` does not run the overlays: seeded groups give their members **no
    /// `memberOf`**. Add the groups with [`Slapd::ldapadd`] after the start when the test
    /// needs `memberOf`. (`entryUUID`, `entryCSN` and the timestamps are set, and the
    /// suffix's `contextCSN` is written, so syncrepl works from the start.)
    pub fn start(seed_ldif: &str) -> Result<Slapd> {
        sweep_leftovers("usersync-slapd", SLAPD);
        let dir = unique_temp_dir("usersync-slapd")?;
        let mut slapd = Slapd { dir, port: 0, pid: None };
        // From here on, Drop removes the directory whatever fails.
        slapd.prepare(seed_ldif)?;
        // The free port is released before slapd binds it, so another process may take it in
        // between: then try another.
        let mut attempt = 0;
        loop {
            attempt += 1;
            slapd.port = free_port()?;
            match slapd.start_again() {
                Ok(()) => return Ok(slapd),
                Err(error) if attempt < 4 && port_in_use(slapd.port) && slapd.pid.is_none() => {
                    eprintln!("slapd: port {} was taken meanwhile ({error:#}); trying another", slapd.port);
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn prepare(&self, seed_ldif: &str) -> Result<()> {
        let conf = self.dir.join("conf");
        let db = self.dir.join("db");
        fs::create_dir(&conf).with_context(|| format!("creating {}", conf.display()))?;
        fs::create_dir(&db).with_context(|| format!("creating {}", db.display()))?;
        let config = self.dir.join("config.ldif");
        fs::write(&config, slapd_config_ldif(&self.dir)).context("writing config.ldif")?;
        run_checked(Command::new(SLAPADD).arg("-n").arg("0").arg("-F").arg(&conf).arg("-l").arg(&config), None)
            .context("slapadd of the cn=config LDIF")?;
        let mut data = String::with_capacity(seed_ldif.len() + 512);
        data.push_str(SLAPD_BASE_LDIF);
        data.push('\n');
        data.push_str(seed_ldif);
        data.push('\n');
        let data_path = self.dir.join("data.ldif");
        fs::write(&data_path, data).context("writing data.ldif")?;
        // -q: no consistency checks (a fresh database); -w: write the suffix's contextCSN.
        run_checked(
            Command::new(SLAPADD).args(["-q", "-w", "-n", "1", "-F"]).arg(&conf).arg("-l").arg(&data_path),
            None,
        )
        .context("slapadd of the base entries and the seed LDIF")?;
        Ok(())
    }

    /// Starts the server again on the same port and data after [`Slapd::stop`].
    pub fn start_again(&mut self) -> Result<()> {
        if let Some(pid) = self.pid {
            if pid_alive(pid) {
                bail!("slapd (pid {pid}) is already running");
            }
        }
        self.pid = None;
        let pid_file = self.dir.join("slapd.pid");
        let _ = fs::remove_file(&pid_file);
        let conf = self.dir.join("conf");
        // slapd binds, forks and detaches; the launcher's exit status says whether the
        // configuration loaded and the listener bound. Its messages go to syslog, not
        // stderr, so a failure is explained with slaptest's and the port's state.
        let launch = Command::new(SLAPD)
            .arg("-F")
            .arg(&conf)
            .arg("-h")
            .arg(format!("{}/", self.url()))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {SLAPD}"))?;
        if !launch.status.success() {
            bail!(
                "slapd failed to start on port {} ({}): stderr: {:?}{}{}",
                self.port,
                launch.status,
                String::from_utf8_lossy(&launch.stderr).trim(),
                if port_in_use(self.port) { "; the port is in use" } else { "" },
                self.slaptest_report()
            );
        }
        let deadline = Instant::now() + SLAPD_START_TIMEOUT;
        loop {
            if self.pid.is_none() {
                self.pid = fs::read_to_string(&pid_file).ok().and_then(|text| text.trim().parse().ok());
            }
            if let Some(pid) = self.pid {
                if !pid_alive(pid) {
                    bail!("slapd (pid {pid}) exited during its start{}", self.slaptest_report());
                }
            }
            if self.pid.is_some() && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let whoami = run(
                    Command::new("ldapwhoami").args([
                        "-x",
                        "-H",
                        &self.url(),
                        "-D",
                        SLAPD_ADMIN_DN,
                        "-w",
                        SLAPD_ADMIN_PASSWORD,
                    ]),
                    None,
                );
                if matches!(&whoami, Ok(out) if out.status.success()) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                let pid = self.pid;
                let _ = self.stop();
                bail!(
                    "slapd did not answer ldapwhoami on {} within {:?} (pid {pid:?}; launcher stderr: {:?}){}",
                    self.url(),
                    SLAPD_START_TIMEOUT,
                    String::from_utf8_lossy(&launch.stderr).trim(),
                    self.slaptest_report()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn slaptest_report(&self) -> String {
        match run(Command::new(SLAPTEST).arg("-F").arg(self.dir.join("conf")).arg("-u"), None) {
            Ok(out) => format!(
                "; slaptest -u: {} {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(error) => format!("; slaptest failed to run: {error:#}"),
        }
    }

    /// Stops the server (SIGTERM; SIGKILL after 10 s) and keeps its data and port.
    pub fn stop(&mut self) -> Result<()> {
        let Some(pid) = self.pid.take() else { return Ok(()) };
        terminate(&pid.to_string(), || pid_alive(pid)).with_context(|| format!("stopping slapd (pid {pid})"))
    }

    /// Stops the server and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.start_again()
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The temporary directory (`conf/`, `db/`, the LDIF files, `slapd.pid`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn base_dn(&self) -> &'static str {
        SLAPD_BASE_DN
    }

    pub fn admin_dn(&self) -> &'static str {
        SLAPD_ADMIN_DN
    }

    pub fn admin_password(&self) -> &'static str {
        SLAPD_ADMIN_PASSWORD
    }

    /// `ldapadd` of `ldif` as the admin.
    pub fn ldapadd(&self, ldif: &str) -> Result<()> {
        self.tool("ldapadd", &[], Some(ldif)).map(drop)
    }

    /// `ldapmodify` of `ldif` (`changetype:` records) as the admin.
    pub fn ldapmodify(&self, ldif: &str) -> Result<()> {
        self.tool("ldapmodify", &[], Some(ldif)).map(drop)
    }

    /// `ldapdelete` of `dn` as the admin.
    pub fn ldapdelete(&self, dn: &str) -> Result<()> {
        self.tool("ldapdelete", &[dn], None).map(drop)
    }

    /// `ldapmodrdn -r` (the old RDN value removed) of `dn` to `new_rdn` as the admin.
    pub fn ldapmodrdn(&self, dn: &str, new_rdn: &str) -> Result<()> {
        self.tool("ldapmodrdn", &["-r", dn, new_rdn], None).map(drop)
    }

    /// `ldapsearch -o ldif-wrap=no -b dc=example,dc=com` as the admin, with `args` after
    /// (filter, attributes, `-s`, `-E`, `-LLL`, another `-b`…); returns its output, LDIF
    /// with comments (such as `# pagedresults: cookie=`) unless `args` has `-LLL`.
    pub fn ldapsearch(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-o", "ldif-wrap=no", "-b", SLAPD_BASE_DN];
        all.extend_from_slice(args);
        self.tool("ldapsearch", &all, None)
    }

    fn tool(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
        ldap_tool(tool, &self.url(), SLAPD_ADMIN_DN, SLAPD_ADMIN_PASSWORD, args, stdin)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("slapd fixture: {error:#}");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

const SLAPD_BASE_LDIF: &str = "\
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups
";

fn slapd_config_ldif(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcArgsFile: {dir}/slapd.args

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: unlimited

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SLAPD_BASE_DN}
olcRootDN: {SLAPD_ADMIN_DN}
olcRootPW: {SLAPD_ADMIN_PASSWORD}
olcDbDirectory: {dir}/db
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: entryCSN,entryUUID eq
olcDbIndex: uid,cn eq
olcDbIndex: member,uniqueMember eq
olcDbIndex: memberOf eq
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by * read
olcLimits: dn.exact=\"{SLAPD_ADMIN_DN}\" size=unlimited time=unlimited
olcLimits: dn.exact=\"{SLAPD_LIMITED_DN}\" size.soft=5 size.hard=5 size.prtotal=5

dn: olcOverlay={{0}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{0}}syncprov
olcSpCheckpoint: 100 10
olcSpSessionLog: 10000

dn: olcOverlay={{1}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{1}}memberof
olcMemberOfRefInt: FALSE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{2}}refint,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {{2}}refint
olcRefintAttribute: memberof
olcRefintAttribute: member
olcRefintNothing: {SLAPD_ADMIN_DN}
"
    )
}

/// Seed LDIF for benchmarks, to give [`Slapd::start`]: `users` inetOrgPerson entries
/// `uid=user{i},ou=people,dc=example,dc=com` (`uid`, `cn` "User {i}", `sn` "User{i}",
/// `givenName` "Test", `mail` user{i}@example.com, `userPassword` "password{i}"), and
/// `groups` groupOfNames entries `cn=group{g},ou=groups,dc=example,dc=com`, each with
/// `members_per_group` members: users `(g * members_per_group + k) % users` for `k` in
/// `0..members_per_group` (distinct while `members_per_group <= users`; consecutive groups
/// take consecutive slices). A group that would have no member (`users` or
/// `members_per_group` is 0) gets the admin DN, as `groupOfNames` requires one.
///
/// Loaded by `slapadd`, so the users get **no `memberOf`** (see [`Slapd::start`]).
pub fn bulk_seed(users: usize, groups: usize, members_per_group: usize) -> String {
    let mut ldif = String::with_capacity(users * 260 + groups * (80 + members_per_group * 40));
    for i in 0..users {
        let _ = write!(
            ldif,
            "dn: uid=user{i},ou=people,{SLAPD_BASE_DN}\nobjectClass: inetOrgPerson\nuid: user{i}\ncn: User {i}\n\
             sn: User{i}\ngivenName: Test\nmail: user{i}@example.com\nuserPassword: password{i}\n\n"
        );
    }
    for g in 0..groups {
        let _ = write!(ldif, "dn: cn=group{g},ou=groups,{SLAPD_BASE_DN}\nobjectClass: groupOfNames\ncn: group{g}\n");
        if users == 0 || members_per_group == 0 {
            let _ = writeln!(ldif, "member: {SLAPD_ADMIN_DN}");
        }
        for k in 0..members_per_group {
            if users == 0 {
                break;
            }
            let user = (g * members_per_group + k) % users;
            let _ = writeln!(ldif, "member: uid=user{user},ou=people,{SLAPD_BASE_DN}");
        }
        ldif.push('\n');
    }
    ldif
}

// ---------------------------------------------------------------------------------------
// Samba AD DC
// ---------------------------------------------------------------------------------------

/// The realm of every [`SambaDc`].
pub const SAMBA_REALM: &str = "EXAMPLE.TEST";
/// The NetBIOS domain of every [`SambaDc`].
pub const SAMBA_DOMAIN: &str = "EXAMPLE";
/// The domain's naming context.
pub const SAMBA_BASE_DN: &str = "DC=example,DC=test";
/// The administrator's bind name. `CN=Administrator,CN=Users,DC=example,DC=test` and
/// `EXAMPLE\Administrator` bind too; a bare `Administrator` does not.
pub const SAMBA_ADMIN_DN: &str = "Administrator@example.test";
/// The administrator's password.
pub const SAMBA_ADMIN_PASSWORD: &str = "Passw0rd!Passw0rd";
/// Samba's LDAP URL: its ports are fixed (389, 636 for LDAPS, 3268 for the Global
/// Catalog), hence one [`SambaDc`] at a time.
pub const SAMBA_URL: &str = "ldap://127.0.0.1:389";
/// The lock that serialises [`SambaDc`]s across processes (the ports are per network
/// namespace, and `/tmp` is shared more surely than `$TMPDIR`).
const SAMBA_LOCK_FILE: &str = "/tmp/usersync-samba.lock";
/// How long [`SambaDc::start`] waits for another process's Samba to go.
const SAMBA_LOCK_TIMEOUT: Duration = Duration::from_secs(900);
/// Samba stops itself after this long, in case the test process dies without its `Drop`.
const SAMBA_MAX_RUNTIME_SECS: u64 = 3 * 3600;

/// Whether a throwaway [`SambaDc`] can run here: `samba`, `samba-tool`, the system Python
/// with Samba's modules, the LDAP client tools, and root (for port 389).
pub fn samba_available() -> bool {
    Path::new(SAMBA).is_file()
        && Path::new(SAMBA_TOOL).is_file()
        && Path::new(SYSTEM_PYTHON).is_file()
        && Path::new("/usr/lib/python3/dist-packages/samba/samdb.py").is_file()
        && ["ldapsearch", "ldapadd", "ldapmodify", "ldapdelete"].iter().all(|tool| on_path(tool))
        && is_root()
}

/// What a [`SambaDc`] holds when it starts, written offline into `sam.ldb` in one
/// transaction (no `samba-tool` per object, which costs about 0.4 s each).
///
/// Users and groups all live in `CN=Users,DC=example,DC=test` with `CN=<name>` (see
/// [`SambaDc::user_dn`], [`SambaDc::group_dn`]). Groups are global security groups; their
/// members are added after every user and group exists, so groups may nest in any order.
#[derive(Debug, Clone, Default)]
pub struct SambaSeed {
    pub users: Vec<SambaUser>,
    pub groups: Vec<SambaGroup>,
}

impl SambaSeed {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user.
    pub fn user(mut self, user: SambaUser) -> Self {
        self.users.push(user);
        self
    }

    /// Adds a group with `members`: names of seeded users or groups, or DNs (anything with
    /// a `=`).
    pub fn group(mut self, name: &str, members: &[&str]) -> Self {
        self.groups
            .push(SambaGroup { name: name.to_owned(), members: members.iter().map(|m| (*m).to_owned()).collect() });
        self
    }

    /// Adds `count` enabled users `{user_prefix}0` … `{user_prefix}{count-1}` (given name
    /// "Bulk", surname "User{i}", mail `{user_prefix}{i}@example.test`, no password) and a
    /// group `name` with all of them. 1,600 users and their group take about 3.6 s (5.7 s
    /// with a cargo build running beside).
    pub fn bulk_group(mut self, name: &str, user_prefix: &str, count: usize) -> Self {
        let mut members = Vec::with_capacity(count);
        for i in 0..count {
            let user = format!("{user_prefix}{i}");
            self.users.push(SambaUser {
                name: user.clone(),
                given_name: Some("Bulk".to_owned()),
                surname: Some(format!("User{i}")),
                mail: Some(format!("{user}@example.test")),
                password: None,
                disabled: false,
            });
            members.push(user);
        }
        self.groups.push(SambaGroup { name: name.to_owned(), members });
        self
    }
}

/// A seeded user: `sAMAccountName` = `name`, `userPrincipalName` = `name@example.test`,
/// DN `CN=<name>,CN=Users,DC=example,DC=test`; `userAccountControl` 512 (enabled) or 514
/// (disabled). Without a password the user exists but cannot bind (passwords cost about
/// 16 ms each to hash; a user with one can bind with a simple bind as its UPN).
#[derive(Debug, Clone, Default)]
pub struct SambaUser {
    pub name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub password: Option<String>,
    pub disabled: bool,
}

impl SambaUser {
    pub fn new(name: &str) -> Self {
        SambaUser { name: name.to_owned(), ..Self::default() }
    }

    /// Given name, surname, and mail `name@example.test`.
    pub fn person(name: &str, given_name: &str, surname: &str) -> Self {
        SambaUser {
            name: name.to_owned(),
            given_name: Some(given_name.to_owned()),
            surname: Some(surname.to_owned()),
            mail: Some(format!("{name}@example.test")),
            ..Self::default()
        }
    }

    pub fn mail(mut self, mail: &str) -> Self {
        self.mail = Some(mail.to_owned());
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
}

/// A seeded group: `sAMAccountName` and `CN` = `name`; `members` are names of seeded users
/// or groups, or DNs.
#[derive(Debug, Clone, Default)]
pub struct SambaGroup {
    pub name: String,
    pub members: Vec<String>,
}

/// A throwaway Samba AD DC (Samba 4.17; realm `EXAMPLE.TEST`, domain `EXAMPLE`, naming context
/// `DC=example,DC=test`, administrator password `Passw0rd!Passw0rd`), provisioned offline
/// into a fresh temporary directory, seeded offline, and serving LDAP only
/// (`server services = ldap`, simple binds allowed over plain LDAP) on 127.0.0.1:389
/// (LDAPS 636, Global Catalog 3268).
///
/// The ports are fixed, so one `SambaDc` runs at a time per network namespace: `start`
/// waits for the previous one, in this process (a mutex) and in others (the lock file
/// `/tmp/usersync-samba.lock`, holding the owner's pid; a lock whose owner is gone is
/// taken over, and that owner's leftover Samba, if any, stopped).
///
/// Timings on the two-core machine, quiet (and with a cargo build beside it): the
/// provision takes 3.5 s (7–8 s), the server answers 0.8–1.5 s (2.4 s) after its start, so
/// a `SambaDc` with an empty seed is up in about 5 s (10 s). A seed of 1,600 users and
/// their group adds 3.6 s (5.7 s); a user with a password costs about 16 ms more (hashing).
/// A restart takes 0.3–1 s. `Drop` stops Samba (SIGTERM to its process group, SIGKILL after
/// 10 s; about 0.1 s) and removes the directory.
///
/// What Samba 4.17 does here, unlike Windows AD (observed):
/// - a plain `member` read of a group with more than 1,500 members returns **all** of
///   them: Samba does not force range retrieval (`MaxValRange` is not enforced). An explicit
///   `member;range=0-1499` returns 1,500 values as `member;range=0-1499`, and
///   `member;range=1500-*` the rest.
/// - a non-paged search is not cut at `MaxPageSize` (1,000), and pages of 1,500 are served.
/// - DirSync (`ldapsearch -E '!dirSync=0/0[/cookie]'`) works for the administrator without
///   the object-security flag; Show Deleted (`-E '!1.2.840.113556.1.4.417'`) shows the
///   tombstones (`isDeleted`, `isRecycled`, `lastKnownParent`: the recycle bin is off);
///   `memberOf:1.2.840.113556.1.4.1941:=` (in chain) works; LDAPS on 636 has a self-signed
///   certificate.
/// - subtree searches from the domain root return continuation references (to
///   `CN=Configuration`, the DNS zones); a client must not chase them.
pub struct SambaDc {
    dir: PathBuf,
    child: Option<Child>,
    // Released in this order after `drop` has stopped Samba.
    _file_lock: SambaFileLock,
    _process_lock: SambaProcessLock,
}

impl SambaDc {
    /// Provisions, patches `smb.conf`, seeds, starts Samba and waits (up to 60 s) for its
    /// rootDSE. Waits first for any other `SambaDc` (see the type's documentation).
    pub fn start(seed: &SambaSeed) -> Result<SambaDc> {
        let process_lock = SambaProcessLock::acquire();
        let file_lock = SambaFileLock::acquire(SAMBA_LOCK_TIMEOUT)?;
        sweep_leftovers("usersync-samba", SAMBA);
        if port_in_use(389) {
            bail!("127.0.0.1:389 is in use by another server; a SambaDc needs it (LDAP's port is fixed in Samba)");
        }
        let dir = unique_temp_dir("usersync-samba")?;
        let mut samba = SambaDc { dir, child: None, _file_lock: file_lock, _process_lock: process_lock };
        let started = Instant::now();
        samba.provision()?;
        let provisioned = started.elapsed();
        samba.seed(seed)?;
        let seeded = started.elapsed();
        samba.start_again()?;
        eprintln!(
            "samba fixture: provisioned in {:.1?}, seeded {} users and {} groups in {:.1?}, answering after {:.1?}",
            provisioned,
            seed.users.len(),
            seed.groups.len(),
            seeded - provisioned,
            started.elapsed() - seeded
        );
        Ok(samba)
    }

    fn provision(&self) -> Result<()> {
        let dir = &self.dir;
        run_checked(
            Command::new(SAMBA_TOOL)
                .args(["domain", "provision", "--use-rfc2307", "--server-role=dc", "--dns-backend=NONE"])
                .arg(format!("--realm={SAMBA_REALM}"))
                .arg(format!("--domain={SAMBA_DOMAIN}"))
                .arg(format!("--adminpass={SAMBA_ADMIN_PASSWORD}"))
                .arg(format!("--targetdir={}", dir.display()))
                .args(["--option=interfaces=lo", "--option=bind interfaces only=yes"])
                .env_remove("PYTHONPATH")
                .env_remove("PYTHONHOME")
                .current_dir(dir),
            None,
        )
        .context("samba-tool domain provision")?;
        let conf_path = self.smb_conf();
        let conf = fs::read_to_string(&conf_path).with_context(|| format!("reading {}", conf_path.display()))?;
        let run_dir = dir.join("run");
        fs::create_dir_all(&run_dir).context("creating run/")?;
        fs::write(&conf_path, patch_smb_conf(&conf, dir)).with_context(|| format!("writing {}", conf_path.display()))
    }

    fn seed(&self, seed: &SambaSeed) -> Result<()> {
        if seed.users.is_empty() && seed.groups.is_empty() {
            return Ok(());
        }
        let input = samba_seed_ldif(seed);
        let out = run(
            Command::new(SYSTEM_PYTHON)
                .arg("-c")
                .arg(SAMBA_SEED_SCRIPT)
                .arg(self.dir.join("private").join("sam.ldb"))
                .arg(self.smb_conf())
                .env_remove("PYTHONPATH")
                .env_remove("PYTHONHOME"),
            Some(&input),
        )
        .context("seeding sam.ldb")?;
        if !out.status.success() {
            bail!("seeding sam.ldb failed ({}): {}", out.status, tail(&String::from_utf8_lossy(&out.stderr), 3000));
        }
        Ok(())
    }

    /// Starts Samba again on the same data after [`SambaDc::stop`].
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("samba is already running");
        }
        let log_path = self.dir.join("samba.out");
        let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).context("opening samba.out")?;
        let log_err = log.try_clone().context("cloning samba.out")?;
        let child = Command::new(SAMBA)
            .arg("-s")
            .arg(self.smb_conf())
            .args(["--foreground", "--no-process-group"])
            .arg(format!("--maximum-runtime={SAMBA_MAX_RUNTIME_SECS}"))
            .arg(format!("--log-basename={}", self.dir.display()))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group (samba forks workers), so that a stop reaches them all.
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning {SAMBA}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + SAMBA_START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    bail!("samba exited during its start ({status}){}", self.log_report());
                }
            }
            if TcpStream::connect(("127.0.0.1", 389)).is_ok() {
                let root_dse = run(
                    Command::new("ldapsearch").args([
                        "-x",
                        "-H",
                        SAMBA_URL,
                        "-s",
                        "base",
                        "-b",
                        "",
                        "highestCommittedUSN",
                    ]),
                    None,
                );
                if matches!(&root_dse, Ok(out) if out.status.success()) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                let report = self.log_report();
                let _ = self.stop();
                bail!("samba did not answer for its rootDSE within {SAMBA_START_TIMEOUT:?}{report}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_report(&self) -> String {
        let mut report = String::new();
        for name in ["samba.out", "log.samba"] {
            if let Ok(text) = fs::read_to_string(self.dir.join(name)) {
                let _ = write!(report, "\n--- {name} (end) ---\n{}", tail(&text, 3000));
            }
        }
        report
    }

    /// Stops Samba (SIGTERM to its process group; SIGKILL after 10 s) and keeps its data.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pgid = child.id();
        let result = terminate(&format!("-{pgid}"), || {
            let master_alive = matches!(child.try_wait(), Ok(None));
            master_alive || process_group_alive(pgid)
        });
        let _ = child.wait();
        result.with_context(|| format!("stopping samba (process group {pgid})"))
    }

    /// Stops Samba and starts it again on the same data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.start_again()
    }

    /// `ldap://127.0.0.1:389`.
    pub fn url(&self) -> String {
        SAMBA_URL.to_owned()
    }

    pub fn port(&self) -> u16 {
        389
    }

    /// `DC=example,DC=test`.
    pub fn base_dn(&self) -> &'static str {
        SAMBA_BASE_DN
    }

    /// `Administrator@example.test` (see [`SAMBA_ADMIN_DN`] for the other forms that bind).
    pub fn admin_dn(&self) -> &'static str {
        SAMBA_ADMIN_DN
    }

    pub fn admin_password(&self) -> &'static str {
        SAMBA_ADMIN_PASSWORD
    }

    /// The DN a seeded user gets: `CN=<name>,CN=Users,DC=example,DC=test`.
    pub fn user_dn(&self, name: &str) -> String {
        samba_dn(name)
    }

    /// The DN a seeded group gets: `CN=<name>,CN=Users,DC=example,DC=test`.
    pub fn group_dn(&self, name: &str) -> String {
        samba_dn(name)
    }

    /// The temporary directory (`etc/smb.conf`, `private/sam.ldb`, `samba.out`, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ldapadd` of `ldif` as the administrator. (Passwords, `unicodePwd`, need LDAPS.)
    pub fn ldapadd(&self, ldif: &str) -> Result<()> {
        self.tool("ldapadd", &[], Some(ldif)).map(drop)
    }

    /// `ldapmodify` of `ldif` as the administrator.
    pub fn ldapmodify(&self, ldif: &str) -> Result<()> {
        self.tool("ldapmodify", &[], Some(ldif)).map(drop)
    }

    /// `ldapdelete` of `dn` as the administrator (a tombstone under `CN=Deleted Objects`).
    pub fn ldapdelete(&self, dn: &str) -> Result<()> {
        self.tool("ldapdelete", &[dn], None).map(drop)
    }

    /// `ldapmodrdn -r` of `dn` to `new_rdn` as the administrator.
    pub fn ldapmodrdn(&self, dn: &str, new_rdn: &str) -> Result<()> {
        self.tool("ldapmodrdn", &["-r", dn, new_rdn], None).map(drop)
    }

    /// `ldapsearch -o ldif-wrap=no -b DC=example,DC=test` as the administrator, with `args`
    /// after; returns its output (comments such as `# refldap://…` and DirSync cookies
    /// included unless `args` has `-LLL`).
    pub fn ldapsearch(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-o", "ldif-wrap=no", "-b", SAMBA_BASE_DN];
        all.extend_from_slice(args);
        self.tool("ldapsearch", &all, None)
    }

    fn smb_conf(&self) -> PathBuf {
        self.dir.join("etc").join("smb.conf")
    }

    fn tool(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
        ldap_tool(tool, SAMBA_URL, SAMBA_ADMIN_DN, SAMBA_ADMIN_PASSWORD, args, stdin)
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("samba fixture: {error:#}");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The provisioned `smb.conf` with, in `[global]`, LDAP as the only service, simple binds
/// over plain LDAP, and the logs and pid file in the instance's directory. The provisioned
/// lines for those options are dropped: a second line does not win over them.
fn patch_smb_conf(conf: &str, dir: &Path) -> String {
    const REPLACED: [&str; 5] =
        ["server services", "ldap server require strong auth", "log file", "pid directory", "panic action"];
    let mut out = String::with_capacity(conf.len() + 256);
    for line in conf.lines() {
        let key = line.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
        if line.contains('=') && REPLACED.contains(&key.as_str()) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim().eq_ignore_ascii_case("[global]") {
            let _ = writeln!(out, "\tserver services = ldap");
            let _ = writeln!(out, "\tldap server require strong auth = no");
            let _ = writeln!(out, "\tlog file = {}/log.%m", dir.display());
            let _ = writeln!(out, "\tpid directory = {}/run", dir.display());
        }
    }
    out
}

/// Reads LDIF from stdin: records to add, then (after a marker line) records to modify; all
/// in one transaction against sam.ldb with the system session (which hashes passwords and
/// allows `userAccountControl` 512 without one).
const SAMBA_SEED_SCRIPT: &str = r#"
import sys
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
lp = LoadParm()
lp.load(sys.argv[2])
db = SamDB(url=sys.argv[1], session_info=system_session(), lp=lp)
adds, _, mods = sys.stdin.read().partition("\n# usersync-modify\n")
db.transaction_start()
try:
    if adds.strip():
        db.add_ldif(adds)
    if mods.strip():
        db.modify_ldif(mods)
except BaseException:
    db.transaction_cancel()
    raise
db.transaction_commit()
"#;

fn samba_dn(name: &str) -> String {
    format!("CN={},CN=Users,{SAMBA_BASE_DN}", escape_rdn_value(name))
}

fn samba_seed_ldif(seed: &SambaSeed) -> String {
    let mut ldif = String::with_capacity(seed.users.len() * 300 + seed.groups.len() * 200);
    for user in &seed.users {
        let _ = writeln!(ldif, "dn: {}", samba_dn(&user.name));
        ldif.push_str("objectClass: user\n");
        ldif_attr(&mut ldif, "sAMAccountName", &user.name);
        ldif_attr(&mut ldif, "userPrincipalName", &format!("{}@example.test", user.name));
        if let Some(given) = &user.given_name {
            ldif_attr(&mut ldif, "givenName", given);
        }
        if let Some(surname) = &user.surname {
            ldif_attr(&mut ldif, "sn", surname);
        }
        let display = match (&user.given_name, &user.surname) {
            (Some(given), Some(surname)) => Some(format!("{given} {surname}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        };
        if let Some(display) = display {
            ldif_attr(&mut ldif, "displayName", &display);
        }
        if let Some(mail) = &user.mail {
            ldif_attr(&mut ldif, "mail", mail);
        }
        if let Some(password) = &user.password {
            let quoted: Vec<u8> = format!("\"{password}\"").encode_utf16().flat_map(u16::to_le_bytes).collect();
            let _ = writeln!(ldif, "unicodePwd:: {}", base64(&quoted));
        }
        let _ = writeln!(ldif, "userAccountControl: {}", if user.disabled { 514 } else { 512 });
        ldif.push('\n');
    }
    for group in &seed.groups {
        let _ = writeln!(ldif, "dn: {}", samba_dn(&group.name));
        ldif.push_str("objectClass: group\n");
        ldif_attr(&mut ldif, "sAMAccountName", &group.name);
        ldif.push('\n');
    }
    ldif.push_str("\n# usersync-modify\n");
    for group in seed.groups.iter().filter(|group| !group.members.is_empty()) {
        let _ = writeln!(ldif, "dn: {}\nchangetype: modify\nadd: member", samba_dn(&group.name));
        for member in &group.members {
            let dn = if member.contains('=') { member.clone() } else { samba_dn(member) };
            ldif_attr(&mut ldif, "member", &dn);
        }
        ldif.push_str("-\n\n");
    }
    ldif
}

/// In-process half of the Samba lock: a flag and a condition variable rather than a held
/// `MutexGuard`, so that a `SambaDc` stays `Send`.
static SAMBA_BUSY: Mutex<bool> = Mutex::new(false);
static SAMBA_FREED: Condvar = Condvar::new();

struct SambaProcessLock;

impl SambaProcessLock {
    fn acquire() -> SambaProcessLock {
        let mut busy = SAMBA_BUSY.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy {
            busy = SAMBA_FREED.wait(busy).unwrap_or_else(PoisonError::into_inner);
        }
        *busy = true;
        SambaProcessLock
    }
}

impl Drop for SambaProcessLock {
    fn drop(&mut self) {
        *SAMBA_BUSY.lock().unwrap_or_else(PoisonError::into_inner) = false;
        SAMBA_FREED.notify_one();
    }
}

/// Cross-process half of the Samba lock: `/tmp/usersync-samba.lock`, created with
/// `create_new` and holding the owner's pid.
struct SambaFileLock;

impl SambaFileLock {
    fn acquire(timeout: Duration) -> Result<SambaFileLock> {
        let path = Path::new(SAMBA_LOCK_FILE);
        let deadline = Instant::now() + timeout;
        let mut told = false;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", std::process::id()).as_bytes())
                        .with_context(|| format!("writing {SAMBA_LOCK_FILE}"))?;
                    return Ok(SambaFileLock);
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error).with_context(|| format!("creating {SAMBA_LOCK_FILE}")),
            }
            let content = fs::read_to_string(path).unwrap_or_default();
            let owner = content.trim().parse::<u32>().ok();
            let stale = match owner {
                // Our own pid: left by a SambaDc of this process that was leaked (the
                // in-process lock says none is alive).
                Some(pid) => pid == std::process::id() || !pid_alive(pid),
                // Empty: its owner is between create and write, unless it died there.
                None => fs::metadata(path)
                    .and_then(|meta| meta.modified())
                    .map(|modified| modified.elapsed().unwrap_or_default() > Duration::from_secs(10))
                    .unwrap_or(false),
            };
            if stale {
                // Re-read just before removing, so as not to remove a lock just retaken.
                if fs::read_to_string(path).unwrap_or_default() == content {
                    eprintln!("samba fixture: taking over the stale {SAMBA_LOCK_FILE} (owner {owner:?} is gone)");
                    let _ = fs::remove_file(path);
                }
                continue;
            }
            if Instant::now() >= deadline {
                bail!("{SAMBA_LOCK_FILE} is still held by pid {owner:?} after {timeout:?}: another SambaDc is running");
            }
            if !told {
                eprintln!("samba fixture: waiting for pid {owner:?}'s SambaDc to finish ({SAMBA_LOCK_FILE})");
                told = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for SambaFileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(SAMBA_LOCK_FILE);
    }
}

/// Cleans up after fixtures whose test process died without their `Drop` (killed by a
/// timeout, say): stops the processes of `exe` that hold a file open in a
/// `{prefix}-{pid}-…` directory whose `pid`, the process that made it, is gone, and removes
/// such directories. Processes are told by their open files because Samba rewrites its
/// command line and process names. Each is stopped by its process group when it leads one
/// (a Samba's workers; a daemonized slapd), else by its pid.
fn sweep_leftovers(prefix: &str, exe: &str) {
    let owner_gone = |path: &str| -> bool {
        let Some(rest) = path.split(&format!("/{prefix}-")).nth(1) else { return false };
        let Some(owner) = rest.split('-').next().and_then(|pid| pid.parse::<u32>().ok()) else { return false };
        owner != std::process::id() && !pid_alive(owner)
    };
    let mut leftovers: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
            if fs::read_link(entry.path().join("exe")).ok().as_deref() != Some(Path::new(exe)) {
                continue;
            }
            let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
            let left = fds
                .flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| owner_gone(&target.to_string_lossy())));
            let pgid = proc_stat(pid).and_then(|fields| fields.get(2).and_then(|group| group.parse::<u32>().ok()));
            if let (true, Some(pgid)) = (left, pgid) {
                leftovers.push((pid, pgid));
            }
        }
    }
    let leaders: Vec<u32> = leftovers.iter().filter(|(pid, pgid)| pid == pgid).map(|(pid, _)| *pid).collect();
    for (pid, pgid) in &leftovers {
        let result = if leaders.contains(pid) {
            eprintln!("{prefix} fixture: stopping a leftover {exe} (process group {pgid})");
            terminate(&format!("-{pgid}"), || process_group_alive(*pgid))
        } else if !leaders.contains(pgid) {
            eprintln!("{prefix} fixture: stopping a leftover {exe} (pid {pid})");
            terminate(&pid.to_string(), || pid_alive(*pid))
        } else {
            Ok(())
        };
        if let Err(error) = result {
            eprintln!("{prefix} fixture: {error:#}");
        }
    }
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let path = entry.path();
            if owner_gone(&path.to_string_lossy()) && path.is_dir() {
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Runs an OpenLDAP client tool with a simple bind; fails with its stderr.
fn ldap_tool(
    tool: &str,
    url: &str,
    bind_dn: &str,
    password: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String> {
    let mut command = Command::new(tool);
    command.args(["-x", "-H", url, "-D", bind_dn, "-w", password]).args(args);
    let out = run(&mut command, stdin)?;
    if !out.status.success() {
        bail!(
            "{tool} {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            tail(&String::from_utf8_lossy(&out.stdout), 2000)
        );
    }
    String::from_utf8(out.stdout).map_err(|error| anyhow!("{tool} printed non-UTF-8 output: {error}"))
}

/// Runs `command` to completion, feeding `stdin` from another thread (so that a large
/// input cannot deadlock against a full output pipe).
fn run(command: &mut Command, stdin: Option<&str>) -> Result<std::process::Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().with_context(|| format!("running {program}"))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => {
            let input = input.to_owned();
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            }))
        }
        _ => None,
    };
    let out = child.wait_with_output().with_context(|| format!("waiting for {program}"))?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(out)
}

/// [`run`], failing unless the command succeeds.
fn run_checked(command: &mut Command, stdin: Option<&str>) -> Result<std::process::Output> {
    let out = run(command, stdin)?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}\n{}",
            command.get_program(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 3000),
            tail(&String::from_utf8_lossy(&out.stdout), 1000)
        );
    }
    Ok(out)
}

/// Sends SIGTERM to `target` (a pid, or `-PGID` for a process group), waits until `alive`
/// says no, and after [`STOP_GRACE`] sends SIGKILL and waits 5 s more.
fn terminate(target: &str, mut alive: impl FnMut() -> bool) -> Result<()> {
    signal("TERM", target);
    let deadline = Instant::now() + STOP_GRACE;
    while alive() {
        if Instant::now() >= deadline {
            signal("KILL", target);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive() {
                if Instant::now() >= deadline {
                    bail!("{target} survived SIGKILL");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args(["-s", name, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The fields of `/proc/PID/stat` after the command name: state, ppid, pgrp, …
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` runs. A zombie counts as gone: a daemon's parent here may be a PID 1 that
/// does not reap.
fn pid_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|fields| fields.first().is_some_and(|state| state != "Z" && state != "X"))
}

/// Whether any live (non-zombie) process is in process group `pgid`.
fn process_group_alive(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { return false };
        proc_stat(pid).is_some_and(|fields| {
            fields.first().is_some_and(|state| state != "Z" && state != "X")
                && fields.get(2).and_then(|group| group.parse::<u32>().ok()) == Some(pgid)
        })
    })
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// A fresh directory under the system temp dir: `{prefix}-{pid}-{nanos}-{n}`.
fn unique_temp_dir(prefix: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error).with_context(|| format!("creating {}", dir.display())),
        }
    }
}

/// A port nobody listened on a moment ago (bound to 127.0.0.1:0, then released).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0 for a free port")?;
    Ok(listener.local_addr().context("reading the free port")?.port())
}

fn port_in_use(port: u16) -> bool {
    TcpStream::connect_timeout(&(std::net::Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(500)).is_ok()
}

/// The last `max` bytes of `text` (at a character boundary).
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `name: value`, or `name:: base64` when LDIF needs it (non-ASCII, control characters,
/// a leading space, `:` or `<`, a trailing space).
fn ldif_attr(ldif: &mut String, name: &str, value: &str) {
    let safe = !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ')
        && value.bytes().all(|byte| (0x20..0x7f).contains(&byte));
    if safe {
        let _ = writeln!(ldif, "{name}: {value}");
    } else {
        let _ = writeln!(ldif, "{name}:: {}", base64(value.as_bytes()));
    }
}

/// An RDN value with the characters RFC 4514 reserves escaped.
fn escape_rdn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == value.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
