-- What the rules decided each person should be in Confluence, stored in the same
-- transaction as the SCIM change that led to it. The Confluence connector applies it.
CREATE TABLE desired_users (
    app            TEXT NOT NULL,
    scim_id        TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('provision', 'skip')),
    username       TEXT,
    full_name      TEXT,
    email          TEXT,
    active         INTEGER,
    custom_fields  TEXT NOT NULL DEFAULT '[]',  -- JSON [[name, value], ...]
    groups         TEXT NOT NULL DEFAULT '[]',  -- JSON: the resulting Confluence group set
    groups_add     TEXT NOT NULL DEFAULT '[]',
    groups_remove  TEXT NOT NULL DEFAULT '[]',
    groups_create  TEXT NOT NULL DEFAULT '[]',
    reason         TEXT,
    module_name    TEXT NOT NULL,
    module_hash    TEXT NOT NULL,
    decided_at     TEXT NOT NULL,
    PRIMARY KEY (app, scim_id)
);

-- Every decision and its outcome, with the module version that made it.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    app          TEXT NOT NULL,
    subject      TEXT NOT NULL,   -- the SCIM id of the person
    user_name    TEXT NOT NULL,
    action       TEXT NOT NULL,   -- what triggered it: create, replace, patch, delete, membership
    outcome      TEXT NOT NULL,   -- provision, skip, reject, error, removed
    module_name  TEXT NOT NULL,
    module_hash  TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_subject ON audit_log (app, subject);
