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
