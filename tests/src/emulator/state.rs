//! Confluence's user directory: users, groups, memberships, delete tasks and the write
//! counters, behind one mutex held by the caller.
//!
//! Names are keys in lower case (lookups are case-insensitive). Every list is kept sorted
//! ([`SortedKeys`]) so any page costs O(limit). Delete tasks finish lazily: every access
//! first completes the tasks whose time has come ([`ConfluenceState::settle`]), so no
//! background task is needed and a deleted user vanishes on time even if nobody polls.
//!
//! **Architecture invariant:** nothing here knows about HTTP; the routes map
//! [`StateError`] to status codes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{EmulatorConfig, LdapMode, SeedUser, UserDirectory};
use super::faults::SplitMix64;
use super::report::{Counters, Snapshot, SnapshotUser};
use super::sorted::SortedKeys;

/// Why a directory operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateError {
    #[error("No User exists for the provided username: {0}")]
    UnknownUser(String),
    #[error("No group exists with the name: {0}")]
    UnknownGroup(String),
    #[error("A user with the username '{0}' already exists")]
    UserExists(String),
    #[error("A group with the name '{0}' already exists")]
    GroupExists(String),
    #[error("No more licences are available: the licence allows {0} active users")]
    NoLicence(u64),
    #[error("Cannot delete group '{0}': it is the last group with administrator permission")]
    LastAdminGroup(String),
    #[error("'{0}' belongs to a read-only directory and cannot be changed")]
    ReadOnly(String),
}

/// A user as handlers see it (cloned out of the lock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserView {
    pub username: Arc<str>,
    pub key: Arc<str>,
    pub full_name: String,
    pub email: String,
    pub active: bool,
}

/// The result of looking a user up by name or key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(UserView),
    /// Deleted: the name and key it had.
    Deleted {
        username: Arc<str>,
        key: Arc<str>,
    },
    Missing,
}

/// A long task as `GET /rest/api/longtask/{id}` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskView {
    pub id: u64,
    pub elapsed_ms: u64,
    pub percentage: u8,
    pub successful: bool,
}

/// An authenticated account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Account {
    pub username: Arc<str>,
    pub admin: bool,
}

#[derive(Debug)]
struct UserRecord {
    key: Arc<str>,
    full_name: String,
    email: String,
    active: bool,
    password: Option<String>,
    directory: UserDirectory,
    /// Group keys.
    groups: BTreeSet<Arc<str>>,
    /// The running delete task, if any.
    deleting: Option<u64>,
}

#[derive(Debug)]
struct GroupRecord {
    /// As created (the key is its lower-case form).
    name: String,
    directory: UserDirectory,
    /// Usernames.
    members: SortedKeys,
}

#[derive(Debug)]
struct DeleteTask {
    username: Arc<str>,
    submitted: Instant,
    due: Instant,
    finished: bool,
}

/// The first long-task id; real ids are large integers.
const FIRST_TASK_ID: u64 = 1_180_606;

#[derive(Debug)]
pub(crate) struct ConfluenceState {
    users: HashMap<Arc<str>, UserRecord>,
    all_users: SortedKeys,
    active_users: SortedKeys,
    by_key: HashMap<Arc<str>, Arc<str>>,
    deleted_by_name: HashMap<Arc<str>, Arc<str>>,
    deleted_by_key: HashMap<Arc<str>, Arc<str>>,
    groups: HashMap<Arc<str>, GroupRecord>,
    group_order: SortedKeys,
    tasks: BTreeMap<u64, DeleteTask>,
    /// Unfinished task ids in due order (every task has the same delay).
    pending: VecDeque<u64>,
    next_task_id: u64,
    key_prefix: u64,
    next_key: u64,
    counters: Counters,
    admin_groups: Vec<Arc<str>>,
    default_groups: Vec<Arc<str>>,
    licences: Option<u64>,
    ldap_mode: LdapMode,
    delete_delay: Duration,
}

fn lower(name: &str) -> Arc<str> {
    if name.chars().any(char::is_uppercase) {
        name.to_lowercase().into()
    } else {
        name.into()
    }
}

impl ConfluenceState {
    /// The site at start: the admin in the admin and default groups, then the configured
    /// users and groups.
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let mut state = Self {
            users: HashMap::new(),
            all_users: SortedKeys::default(),
            active_users: SortedKeys::default(),
            by_key: HashMap::new(),
            deleted_by_name: HashMap::new(),
            deleted_by_key: HashMap::new(),
            groups: HashMap::new(),
            group_order: SortedKeys::default(),
            tasks: BTreeMap::new(),
            pending: VecDeque::new(),
            next_task_id: FIRST_TASK_ID,
            key_prefix: rng.next_u64(),
            next_key: rng.next_u64() >> 24,
            counters: Counters::default(),
            admin_groups: config.admin_groups.iter().map(|g| lower(g)).collect(),
            default_groups: config.default_groups.iter().map(|g| lower(g)).collect(),
            licences: config.licences,
            ldap_mode: config.ldap_mode,
            delete_delay: config.delete_task_delay,
        };
        let admin = SeedUser::new(config.admin_username.as_str(), "Administrator", "admin@example.com")
            .with_password(config.admin_password.as_str());
        state.seed_user(admin);
        let site_groups: Vec<String> = config.admin_groups.iter().chain(&config.default_groups).cloned().collect();
        for group in site_groups {
            state.seed_group(&group, [config.admin_username.as_str()], UserDirectory::Internal);
        }
        for user in &config.users {
            state.seed_user(user.clone());
        }
        for group in &config.groups {
            state.seed_group(&group.name, &group.members, group.directory);
        }
        state
    }

    /// Completes the delete tasks due at `now`. Every public operation is preceded by it
    /// (the emulator's lock guard calls it).
    pub(crate) fn settle(&mut self, now: Instant) {
        while let Some(&id) = self.pending.front() {
            let Some(task) = self.tasks.get_mut(&id) else {
                self.pending.pop_front();
                continue;
            };
            if task.due > now {
                break;
            }
            task.finished = true;
            let username = Arc::clone(&task.username);
            self.pending.pop_front();
            self.remove_user(&username);
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    fn new_key(&mut self) -> Arc<str> {
        self.next_key += 1;
        format!("{:016x}{:016x}", self.key_prefix, self.next_key).into()
    }

    fn is_admin(&self, user: &UserRecord) -> bool {
        self.admin_groups.iter().any(|g| user.groups.contains(g))
    }

    fn view(username: &Arc<str>, user: &UserRecord) -> UserView {
        UserView {
            username: Arc::clone(username),
            key: Arc::clone(&user.key),
            full_name: user.full_name.clone(),
            email: user.email.clone(),
            active: user.active,
        }
    }

    fn user_entry(&self, username: &str) -> Result<(&Arc<str>, &UserRecord), StateError> {
        self.users.get_key_value(&*lower(username)).ok_or_else(|| StateError::UnknownUser(username.to_owned()))
    }

    fn writable_user(&mut self, username: &str) -> Result<&mut UserRecord, StateError> {
        let user = self.users.get_mut(&*lower(username)).ok_or_else(|| StateError::UnknownUser(username.to_owned()))?;
        if user.directory == UserDirectory::Ldap {
            return Err(StateError::ReadOnly(username.to_owned()));
        }
        Ok(user)
    }

    // ----- authentication -------------------------------------------------------------

    /// The account whose Basic credentials these are, if it is active.
    pub(crate) fn check_credentials(&self, username: &str, password: &str) -> Option<Account> {
        let (name, user) = self.user_entry(username).ok()?;
        let matches = user.password.as_deref().is_some_and(|p| p == password);
        (matches && user.active).then(|| Account { username: Arc::clone(name), admin: self.is_admin(user) })
    }

    /// The account a PAT acts as, if it is active.
    pub(crate) fn token_account(&self, username: &str) -> Option<Account> {
        let (name, user) = self.user_entry(username).ok()?;
        user.active.then(|| Account { username: Arc::clone(name), admin: self.is_admin(user) })
    }

    // ----- users ------------------------------------------------------------------------

    /// Creates an internal-directory user (the name already validated) and adds it to the
    /// default groups. Returns its key.
    pub(crate) fn create_user(
        &mut self,
        username: &str,
        full_name: String,
        email: String,
        password: Option<String>,
    ) -> Result<Arc<str>, StateError> {
        let name = lower(username);
        if self.users.contains_key(&name) {
            return Err(StateError::UserExists(username.to_owned()));
        }
        if let Some(licences) = self.licences {
            if self.active_users.len() as u64 >= licences {
                return Err(StateError::NoLicence(licences));
            }
        }
        let key = self.insert_user(&name, full_name, email, true, password, UserDirectory::Internal);
        for group in self.default_groups.clone() {
            self.join(&name, &group);
        }
        self.counters.users_created += 1;
        Ok(key)
    }

    fn insert_user(
        &mut self,
        name: &Arc<str>,
        full_name: String,
        email: String,
        active: bool,
        password: Option<String>,
        directory: UserDirectory,
    ) -> Arc<str> {
        let key = self.new_key();
        if let Some(old_key) = self.deleted_by_name.remove(name) {
            self.deleted_by_key.remove(&old_key);
        }
        self.by_key.insert(Arc::clone(&key), Arc::clone(name));
        self.all_users.insert(Arc::clone(name));
        if active {
            self.active_users.insert(Arc::clone(name));
        }
        let record = UserRecord {
            key: Arc::clone(&key),
            full_name,
            email,
            active,
            password,
            directory,
            groups: BTreeSet::new(),
            deleting: None,
        };
        self.users.insert(Arc::clone(name), record);
        key
    }

    /// Sets the given fields; true when something changed.
    pub(crate) fn update_user(
        &mut self,
        username: &str,
        full_name: Option<String>,
        email: Option<String>,
    ) -> Result<bool, StateError> {
        let user = self.writable_user(username)?;
        let mut changed = false;
        if let Some(full_name) = full_name.filter(|f| *f != user.full_name) {
            user.full_name = full_name;
            changed = true;
        }
        if let Some(email) = email.filter(|e| *e != user.email) {
            user.email = email;
            changed = true;
        }
        if changed {
            self.counters.users_updated += 1;
        } else {
            self.counters.noop_updates += 1;
        }
        Ok(changed)
    }

    /// Disables or enables; idempotent. True when the state changed.
    pub(crate) fn set_active(&mut self, username: &str, active: bool) -> Result<bool, StateError> {
        let name = lower(username);
        let user = self.writable_user(username)?;
        if user.active == active {
            if active {
                self.counters.noop_enables += 1;
            } else {
                self.counters.noop_disables += 1;
            }
            return Ok(false);
        }
        user.active = active;
        if active {
            self.active_users.insert(name);
            self.counters.users_enabled += 1;
        } else {
            self.active_users.remove(&name);
            self.counters.users_disabled += 1;
        }
        Ok(true)
    }

    pub(crate) fn set_password(&mut self, username: &str, password: String) -> Result<(), StateError> {
        self.writable_user(username)?.password = Some(password);
        self.counters.passwords_set += 1;
        Ok(())
    }

    /// Starts (or, while one runs, returns) the delete task of a user. With no delay the
    /// user is gone when this returns.
    pub(crate) fn request_delete(&mut self, username: &str, now: Instant) -> Result<u64, StateError> {
        let name = lower(username);
        if let Some(id) = self.writable_user(username)?.deleting {
            self.counters.noop_deletes += 1;
            return Ok(id);
        }
        let id = self.next_task_id;
        self.next_task_id += 1;
        if let Some(user) = self.users.get_mut(&name) {
            user.deleting = Some(id);
        }
        let task =
            DeleteTask { username: Arc::clone(&name), submitted: now, due: now + self.delete_delay, finished: false };
        self.tasks.insert(id, task);
        self.pending.push_back(id);
        self.settle(now);
        Ok(id)
    }

    fn remove_user(&mut self, name: &Arc<str>) {
        let Some(user) = self.users.remove(name) else {
            return;
        };
        for group in &user.groups {
            if let Some(group) = self.groups.get_mut(group) {
                group.members.remove(name);
            }
        }
        self.all_users.remove(name);
        if user.active {
            self.active_users.remove(name);
        }
        self.by_key.remove(&user.key);
        self.deleted_by_name.insert(Arc::clone(name), Arc::clone(&user.key));
        self.deleted_by_key.insert(Arc::clone(&user.key), Arc::clone(name));
        self.counters.users_deleted += 1;
    }

    pub(crate) fn task(&self, id: u64, now: Instant) -> Option<TaskView> {
        let task = self.tasks.get(&id)?;
        let elapsed = now.saturating_duration_since(task.submitted);
        let total = task.due.saturating_duration_since(task.submitted);
        let percentage = if task.finished {
            100
        } else {
            let share = elapsed.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE);
            (share * 100.0).clamp(0.0, 99.0) as u8
        };
        let elapsed = if task.finished { total } else { elapsed };
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        Some(TaskView { id, elapsed_ms, percentage, successful: task.finished })
    }

    pub(crate) fn user(&self, username: &str) -> Lookup {
        let name = lower(username);
        if let Some((name, user)) = self.users.get_key_value(&name) {
            return Lookup::Found(Self::view(name, user));
        }
        match self.deleted_by_name.get_key_value(&name) {
            Some((name, key)) => Lookup::Deleted { username: Arc::clone(name), key: Arc::clone(key) },
            None => Lookup::Missing,
        }
    }

    pub(crate) fn user_by_key(&self, key: &str) -> Lookup {
        if let Some(name) = self.by_key.get(key) {
            return self.user(name);
        }
        match self.deleted_by_key.get_key_value(key) {
            Some((key, name)) => Lookup::Deleted { username: Arc::clone(name), key: Arc::clone(key) },
            None => Lookup::Missing,
        }
    }

    /// A page of users by username: all of them, or the active ones only.
    pub(crate) fn users_page(&mut self, start: usize, limit: usize, active_only: bool) -> (Vec<UserView>, bool) {
        let index = if active_only { &mut self.active_users } else { &mut self.all_users };
        let (names, more) = index.page(start, limit);
        let users = &self.users;
        let page = names.iter().filter_map(|n| users.get_key_value(n).map(|(n, u)| Self::view(n, u))).collect();
        (page, more)
    }

    // ----- groups -----------------------------------------------------------------------

    /// The group's name as stored, if it exists.
    pub(crate) fn group(&self, name: &str) -> Option<String> {
        self.groups.get(&*lower(name)).map(|g| g.name.clone())
    }

    pub(crate) fn groups_page(&mut self, start: usize, limit: usize) -> (Vec<String>, bool) {
        let (keys, more) = self.group_order.page(start, limit);
        let groups = &self.groups;
        (keys.iter().filter_map(|k| groups.get(k).map(|g| g.name.clone())).collect(), more)
    }

    pub(crate) fn members_page(
        &mut self,
        group: &str,
        start: usize,
        limit: usize,
    ) -> Result<(Vec<UserView>, bool), StateError> {
        let record = self.groups.get_mut(&*lower(group)).ok_or_else(|| StateError::UnknownGroup(group.to_owned()))?;
        let (names, more) = record.members.page(start, limit);
        let users = &self.users;
        let page = names.iter().filter_map(|n| users.get_key_value(n).map(|(n, u)| Self::view(n, u))).collect();
        Ok((page, more))
    }

    /// A page of the names of the groups `username` belongs to.
    pub(crate) fn memberof_page(
        &self,
        username: &str,
        start: usize,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StateError> {
        let (_, user) = self.user_entry(username)?;
        let names =
            user.groups.iter().skip(start).take(limit).filter_map(|g| self.groups.get(g)).map(|g| g.name.clone());
        Ok((names.collect(), start.saturating_add(limit) < user.groups.len()))
    }

    /// Creates an internal group (the name already in its final form).
    pub(crate) fn create_group(&mut self, name: &str) -> Result<(), StateError> {
        let key = lower(name);
        if self.groups.contains_key(&key) {
            return Err(StateError::GroupExists(name.to_owned()));
        }
        self.insert_group(key, name, UserDirectory::Internal);
        self.counters.groups_created += 1;
        Ok(())
    }

    fn insert_group(&mut self, key: Arc<str>, name: &str, directory: UserDirectory) {
        self.group_order.insert(Arc::clone(&key));
        self.groups.insert(key, GroupRecord { name: name.to_owned(), directory, members: SortedKeys::default() });
    }

    pub(crate) fn delete_group(&mut self, name: &str) -> Result<(), StateError> {
        let key = lower(name);
        let group = self.groups.get(&key).ok_or_else(|| StateError::UnknownGroup(name.to_owned()))?;
        if group.directory == UserDirectory::Ldap {
            return Err(StateError::ReadOnly(name.to_owned()));
        }
        let admin_groups_left = self.admin_groups.iter().filter(|g| self.groups.contains_key(*g)).count();
        if self.admin_groups.contains(&key) && admin_groups_left <= 1 {
            return Err(StateError::LastAdminGroup(name.to_owned()));
        }
        let Some(mut group) = self.groups.remove(&key) else {
            return Err(StateError::UnknownGroup(name.to_owned()));
        };
        let (members, _) = group.members.page(0, usize::MAX);
        for member in members {
            if let Some(user) = self.users.get_mut(member) {
                user.groups.remove(&key);
            }
        }
        self.group_order.remove(&key);
        self.counters.groups_deleted += 1;
        Ok(())
    }

    /// Adds (`member`) or removes a membership; idempotent. True when it changed.
    pub(crate) fn set_membership(&mut self, username: &str, group: &str, member: bool) -> Result<bool, StateError> {
        let (name, user) = self.user_entry(username)?;
        let name = Arc::clone(name);
        let user_in_ldap = user.directory == UserDirectory::Ldap;
        let key = lower(group);
        let record = self.groups.get(&key).ok_or_else(|| StateError::UnknownGroup(group.to_owned()))?;
        if record.directory == UserDirectory::Ldap {
            return Err(StateError::ReadOnly(record.name.clone()));
        }
        if user_in_ldap && self.ldap_mode == LdapMode::ReadOnly {
            return Err(StateError::ReadOnly(username.to_owned()));
        }
        let changed = if member { self.join(&name, &key) } else { self.leave(&name, &key) };
        match (member, changed) {
            (true, true) => self.counters.members_added += 1,
            (true, false) => self.counters.noop_member_adds += 1,
            (false, true) => self.counters.members_removed += 1,
            (false, false) => self.counters.noop_member_removes += 1,
        }
        Ok(changed)
    }

    fn join(&mut self, name: &Arc<str>, group: &Arc<str>) -> bool {
        let (Some(user), Some(record)) = (self.users.get_mut(name), self.groups.get_mut(group)) else {
            return false;
        };
        if !user.groups.insert(Arc::clone(group)) {
            return false;
        }
        record.members.insert(Arc::clone(name));
        true
    }

    fn leave(&mut self, name: &Arc<str>, group: &Arc<str>) -> bool {
        let (Some(user), Some(record)) = (self.users.get_mut(name), self.groups.get_mut(group)) else {
            return false;
        };
        if !user.groups.remove(group) {
            return false;
        }
        record.members.remove(name);
        true
    }

    // ----- seeding ----------------------------------------------------------------------

    /// Adds or overwrites a user without validation or counters. Returns its key.
    pub(crate) fn seed_user(&mut self, seed: SeedUser) -> String {
        let name = lower(&seed.username);
        if let Some(user) = self.users.get_mut(&name) {
            user.full_name = seed.full_name;
            user.email = seed.email;
            user.password = seed.password;
            user.directory = seed.directory;
            if user.active != seed.active {
                user.active = seed.active;
                if seed.active {
                    self.active_users.insert(Arc::clone(&name));
                } else {
                    self.active_users.remove(&name);
                }
            }
            return user.key.to_string();
        }
        let key = self.new_key();
        if let Some(old_key) = self.deleted_by_name.remove(&name) {
            self.deleted_by_key.remove(&old_key);
        }
        self.by_key.insert(Arc::clone(&key), Arc::clone(&name));
        self.all_users.push_unsorted(Arc::clone(&name));
        if seed.active {
            self.active_users.push_unsorted(Arc::clone(&name));
        }
        let record = UserRecord {
            key: Arc::clone(&key),
            full_name: seed.full_name,
            email: seed.email,
            active: seed.active,
            password: seed.password,
            directory: seed.directory,
            groups: BTreeSet::new(),
            deleting: None,
        };
        self.users.insert(name, record);
        key.to_string()
    }

    /// Creates the group if needed and adds the members that are users. Returns how many
    /// memberships were added.
    pub(crate) fn seed_group<S: AsRef<str>>(
        &mut self,
        name: &str,
        members: impl IntoIterator<Item = S>,
        directory: UserDirectory,
    ) -> usize {
        let key = lower(name);
        match self.groups.get_mut(&key) {
            Some(group) => group.directory = directory,
            None => {
                self.group_order.push_unsorted(Arc::clone(&key));
                let record = GroupRecord { name: name.to_owned(), directory, members: SortedKeys::default() };
                self.groups.insert(Arc::clone(&key), record);
            }
        }
        let mut added = 0;
        for member in members {
            let Some(member) = self.users.get_key_value(&*lower(member.as_ref())).map(|(n, _)| Arc::clone(n)) else {
                continue;
            };
            let Some(user) = self.users.get_mut(&member) else {
                continue;
            };
            if user.groups.insert(Arc::clone(&key)) {
                if let Some(group) = self.groups.get_mut(&key) {
                    group.members.push_unsorted(member);
                }
                added += 1;
            }
        }
        added
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let users = self
            .users
            .iter()
            .map(|(name, user)| {
                let snapshot = SnapshotUser {
                    key: user.key.to_string(),
                    full_name: user.full_name.clone(),
                    email: user.email.clone(),
                    active: user.active,
                    directory: user.directory,
                };
                (name.to_string(), snapshot)
            })
            .collect();
        let groups = self.groups.values().map(|group| (group.name.clone(), BTreeSet::new())).collect();
        let mut snapshot = Snapshot { users, groups };
        for (name, user) in &self.users {
            for group in &user.groups {
                if let Some(record) = self.groups.get(group) {
                    if let Some(members) = snapshot.groups.get_mut(&record.name) {
                        members.insert(name.to_string());
                    }
                }
            }
        }
        snapshot
    }
}
