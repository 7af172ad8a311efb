-- Grants (issue 10): `desired_users.groups` is the set of Confluence groups the app grants
-- the person (the memberships it gave and will take back). Before this migration it was
-- "previous groups + added - removed", which only ever held groups some decision of the app
-- added, so every stored value is already a set of grants: nothing is rewritten, and the
-- first start after the upgrade removes nothing.
--
-- `revoked`: groups the app granted earlier and no longer wants, kept until a Synchronize
-- has seen Confluence without them, so that a revocation Confluence never applied (refused,
-- discarded, made while UserSync was older) is still repaired.
ALTER TABLE desired_users ADD COLUMN revoked TEXT NOT NULL DEFAULT '[]';

-- What Synchronize last read of each Confluence user: existence, name, e-mail, active flag,
-- and the memberships no app granted at the time ("foreign": made by hand, or by anything
-- other than UserSync). Rules modules see it as the person's current Confluence state.
CREATE TABLE confluence_users (
    username        TEXT PRIMARY KEY,   -- lower-case
    full_name       TEXT NOT NULL,
    email           TEXT,               -- NULL where the version does not list e-mail
    active          INTEGER,            -- NULL where Confluence does not say
    foreign_groups  TEXT NOT NULL DEFAULT '[]',
    observed_at     TEXT NOT NULL
);

-- Memberships in a group Confluence does not have (a group mapping's target that nobody
-- created). Parked here rather than refused, so the rest of the change still applies; they
-- go back to the outbox once UserSync sees the group exist (a creation it applied, its
-- periodic check, or a Synchronize).
CREATE TABLE outbox_blocked (
    seq          INTEGER PRIMARY KEY,
    app          TEXT NOT NULL,
    subject      TEXT NOT NULL,
    op           TEXT NOT NULL,
    origin       TEXT NOT NULL,
    module_hash  TEXT NOT NULL DEFAULT '',
    queued_at    TEXT NOT NULL,
    group_name   TEXT NOT NULL,
    blocked_at   TEXT NOT NULL,
    reason       TEXT NOT NULL
);
CREATE INDEX outbox_blocked_group ON outbox_blocked (app, group_name);
