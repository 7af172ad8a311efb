//! Which Confluence Data Center release the client talks to, and what its REST API can do.
//!
//! The version map is reference §0: group and membership writes, disable/enable and delete
//! arrived in 8.2, user creation and the full user list in 8.4, the list of active users (with
//! email) in 9.3, and updating a user's full name and email only in recent releases (taken as
//! 9.0+, and switched off at run time if the server answers 404/405). Custom profile fields have
//! no DC REST endpoint at all (§6).

use std::cmp::Ordering;
use std::fmt;

/// A Confluence release such as `9.2.1`, `8.4` or `10.0.0-m12`, compared on its numbers only.
#[derive(Debug, Clone)]
pub struct Version {
    major: u32,
    minor: u32,
    patch: u32,
    raw: String,
}

/// A version string without a leading number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Confluence version (expected something like 9.2.1)")]
pub struct VersionError(pub String);

impl Version {
    pub fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version { major, minor, patch, raw: format!("{major}.{minor}.{patch}") }
    }

    /// Reads up to three dotted numbers; a suffix such as `-m12` or `-beta1` is kept for display.
    ///
    /// # Errors
    ///
    /// [`VersionError`] when the string does not start with a number.
    pub fn parse(raw: &str) -> Result<Self, VersionError> {
        let trimmed = raw.trim();
        let mut numbers = [0u32; 3];
        let mut parts = trimmed.split('.');
        for (i, slot) in numbers.iter_mut().enumerate() {
            let Some(part) = parts.next() else { break };
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            match digits.parse::<u32>() {
                Ok(n) => *slot = n,
                Err(_) if i == 0 => return Err(VersionError(raw.to_owned())),
                Err(_) => break,
            }
            if digits.len() != part.len() {
                break;
            }
        }
        Ok(Version { major: numbers[0], minor: numbers[1], patch: numbers[2], raw: trimmed.to_owned() })
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    pub fn minor(&self) -> u32 {
        self.minor
    }

    pub fn patch(&self) -> u32 {
        self.patch
    }

    /// The version as the server (or the configuration) wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    fn key(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The version-dependent operations of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateUser,
    UpdateUser,
    SetActive,
    DeleteUser,
    ManageGroups,
    ManageMembership,
    ListUsers,
    ActiveUsersWithEmail,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::CreateUser,
        Operation::UpdateUser,
        Operation::SetActive,
        Operation::DeleteUser,
        Operation::ManageGroups,
        Operation::ManageMembership,
        Operation::ListUsers,
        Operation::ActiveUsersWithEmail,
    ];

    /// A short name, used in [`super::ConfluenceError::Unsupported`].
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateUser => "create user",
            Operation::UpdateUser => "update user",
            Operation::SetActive => "disable or enable user",
            Operation::DeleteUser => "delete user",
            Operation::ManageGroups => "create or delete group",
            Operation::ManageMembership => "change group membership",
            Operation::ListUsers => "list all users",
            Operation::ActiveUsersWithEmail => "list active users with email",
        }
    }

    /// What an operator can do when `version` lacks this operation.
    pub fn hint(self, version: &Version) -> String {
        match self {
            Operation::CreateUser => format!(
                "Confluence {version} cannot create users over REST (POST /rest/api/admin/user arrived in 8.4); \
                 upgrade to 8.4+ or create users through the user directory (LDAP or Crowd)"
            ),
            Operation::UpdateUser => format!(
                "Confluence {version} has no REST endpoint to change a user's full name or email \
                 (PUT /rest/api/admin/user/{{username}} exists only in recent releases); such changes are not \
                 written: make them in the user directory or upgrade Confluence"
            ),
            Operation::SetActive => format!(
                "Confluence {version} cannot disable or enable users over REST (arrived in 8.2); \
                 upgrade to 8.2+ or deactivate users in the user directory"
            ),
            Operation::DeleteUser => format!(
                "Confluence {version} cannot delete users over REST (arrived in 8.2); \
                 upgrade to 8.2+ or delete users in the Confluence administration"
            ),
            Operation::ManageGroups => format!(
                "Confluence {version} cannot create or delete groups over REST (arrived in 8.2); \
                 upgrade to 8.2+ or manage groups in the user directory"
            ),
            Operation::ManageMembership => format!(
                "Confluence {version} cannot change group membership over REST (arrived in 8.2); \
                 upgrade to 8.2+ or manage membership in the user directory"
            ),
            Operation::ListUsers => format!(
                "Confluence {version} cannot list all users over REST (GET /rest/api/user/list arrived in 8.4); \
                 users can still be found through group membership (e.g. confluence-users)"
            ),
            Operation::ActiveUsersWithEmail => format!(
                "Confluence {version} has no list of active users with their email \
                 (GET /rest/api/admin/users/list/active arrived in 9.3); emails cannot be read back, \
                 so the last value written is assumed"
            ),
        }
    }
}

/// What the detected (or configured) version can do over REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `POST /rest/api/admin/user` (8.4+).
    pub create_user: bool,
    /// `PUT /rest/api/admin/user/{u}` (taken as 9.0+; turned off if the server answers 404/405).
    pub update_user: bool,
    /// `PUT /rest/api/admin/user/{u}/disable|enable` (8.2+).
    pub set_active: bool,
    /// `DELETE /rest/api/admin/user/{u}` (8.2+).
    pub delete_user: bool,
    /// `POST /rest/api/admin/group`, `DELETE /rest/api/admin/group/{g}` (8.2+).
    pub manage_groups: bool,
    /// `PUT`/`DELETE /rest/api/user/{u}/group/{g}` (8.2+).
    pub manage_membership: bool,
    /// `GET /rest/api/user/list` (8.4+).
    pub list_users: bool,
    /// `GET /rest/api/admin/users/list/active` (9.3+).
    pub active_users_with_email: bool,
    /// Always false: Data Center has no REST endpoint for profile fields; see
    /// [`Capabilities::PROFILE_FIELDS_NOTE`].
    pub profile_fields: bool,
}

impl Capabilities {
    /// Why custom profile fields are never written.
    pub const PROFILE_FIELDS_NOTE: &'static str =
        "Confluence Data Center has no REST endpoint for user profile fields (phone, position, department, \
         location, ...); only full name, email, active state and groups are provisioned, other attributes are \
         ignored";

    pub fn for_version(version: &Version) -> Self {
        let v82 = version.at_least(8, 2);
        let v84 = version.at_least(8, 4);
        Capabilities {
            create_user: v84,
            update_user: version.at_least(9, 0),
            set_active: v82,
            delete_user: v82,
            manage_groups: v82,
            manage_membership: v82,
            list_users: v84,
            active_users_with_email: version.at_least(9, 3),
            profile_fields: false,
        }
    }

    pub fn allows(&self, op: Operation) -> bool {
        match op {
            Operation::CreateUser => self.create_user,
            Operation::UpdateUser => self.update_user,
            Operation::SetActive => self.set_active,
            Operation::DeleteUser => self.delete_user,
            Operation::ManageGroups => self.manage_groups,
            Operation::ManageMembership => self.manage_membership,
            Operation::ListUsers => self.list_users,
            Operation::ActiveUsersWithEmail => self.active_users_with_email,
        }
    }
}

/// Where the version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    /// Read from `/rest/applinks/1.0/manifest`.
    Probed,
    /// Set in the configuration; no request was made.
    Configured,
}

/// The Confluence the client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: Version,
    /// The manifest's `buildNumber`, when probed.
    pub build_number: Option<u64>,
    pub source: VersionSource,
    pub capabilities: Capabilities,
}

impl ServerInfo {
    pub fn new(version: Version, build_number: Option<u64>, source: VersionSource) -> Self {
        let capabilities = Capabilities::for_version(&version);
        ServerInfo { version, build_number, source, capabilities }
    }

    /// One human-readable line per thing this Confluence cannot do, for the start-up log.
    /// Never empty: profile fields are unsupported on every Data Center release.
    pub fn limitations(&self) -> Vec<String> {
        let mut lines: Vec<String> = Operation::ALL
            .into_iter()
            .filter(|op| !self.capabilities.allows(*op))
            .map(|op| op.hint(&self.version))
            .collect();
        if self.capabilities.update_user {
            lines.push(format!(
                "updating full name and email assumes PUT /rest/api/admin/user/{{username}} exists on Confluence {}; \
                 if it answers 404/405 such changes are reported as unsupported",
                self.version
            ));
        }
        lines.push(Capabilities::PROFILE_FIELDS_NOTE.to_owned());
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        let cases = [
            ("9.2.1", (9, 2, 1)),
            ("8.4", (8, 4, 0)),
            ("10", (10, 0, 0)),
            ("10.0.0-m12", (10, 0, 0)),
            ("8.5.4-beta1", (8, 5, 4)),
            ("9.3-rc1", (9, 3, 0)),
            (" 7.19.16 ", (7, 19, 16)),
        ];
        for (raw, (a, b, c)) in cases {
            let v = Version::parse(raw).unwrap();
            assert_eq!((v.major(), v.minor(), v.patch()), (a, b, c), "{raw}");
        }
        assert_eq!(Version::parse("10.0.0-m12").unwrap().to_string(), "10.0.0-m12");
        for bad in ["", "x.1", "v9.2", "-1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn orders_on_numbers() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("8.10.0") > v("8.9.9"));
        assert!(v("10.0") > v("9.99"));
        assert_eq!(v("9.3"), v("9.3.0-rc1"));
        assert!(v("8.4.0").at_least(8, 4));
        assert!(!v("8.3.9").at_least(8, 4));
    }

    #[test]
    fn capabilities_follow_the_version_map() {
        // (version, create, update, set_active/delete/groups/membership, list_users, active_with_email)
        let table = [
            ("7.19.16", false, false, false, false, false),
            ("8.1.4", false, false, false, false, false),
            ("8.2.0", false, false, true, false, false),
            ("8.3.4", false, false, true, false, false),
            ("8.4.0", true, false, true, true, false),
            ("8.9.1", true, false, true, true, false),
            ("9.0.1", true, true, true, true, false),
            ("9.2.1", true, true, true, true, false),
            ("9.3.0", true, true, true, true, true),
            ("10.2.1", true, true, true, true, true),
        ];
        for (raw, create, update, admin, list, active) in table {
            let c = Capabilities::for_version(&Version::parse(raw).unwrap());
            assert_eq!(c.create_user, create, "{raw}");
            assert_eq!(c.update_user, update, "{raw}");
            for got in [c.set_active, c.delete_user, c.manage_groups, c.manage_membership] {
                assert_eq!(got, admin, "{raw}");
            }
            assert_eq!(c.list_users, list, "{raw}");
            assert_eq!(c.active_users_with_email, active, "{raw}");
            assert!(!c.profile_fields, "{raw}");
            for op in Operation::ALL {
                let field = match op {
                    Operation::CreateUser => create,
                    Operation::UpdateUser => update,
                    Operation::ListUsers => list,
                    Operation::ActiveUsersWithEmail => active,
                    _ => admin,
                };
                assert_eq!(c.allows(op), field, "{raw} {op:?}");
            }
        }
    }

    #[test]
    fn limitations_name_what_is_missing() {
        let old = ServerInfo::new(Version::parse("8.3.1").unwrap(), None, VersionSource::Configured);
        let lines = old.limitations();
        assert!(lines.iter().any(|l| l.contains("Confluence 8.3.1 cannot create users") && l.contains("8.4+")));
        assert!(lines.iter().any(|l| l.contains("profile fields")));
        assert!(!lines.iter().any(|l| l.contains("disable")), "{lines:?}");

        let new = ServerInfo::new(Version::parse("9.4.0").unwrap(), Some(9400), VersionSource::Probed);
        let lines = new.limitations();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("404/405"));
        assert_eq!(lines[1], Capabilities::PROFILE_FIELDS_NOTE);
    }
}
