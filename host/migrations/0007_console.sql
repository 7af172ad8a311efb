-- The admin console (issue 12): local administrator accounts and their server-side sessions.

-- `password` is an argon2id PHC string (salt and parameters inside); never the password.
CREATE TABLE admin_accounts (
    username  TEXT PRIMARY KEY,          -- lower-case
    password  TEXT NOT NULL,
    role      TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created   TEXT NOT NULL,
    disabled  TEXT                       -- when it was disabled; NULL while it may log in
);

-- A session is known by the SHA-256 of its cookie's secret; the secret itself is only in
-- the browser. `csrf` is the token every state-changing request of the session must carry.
CREATE TABLE admin_sessions (
    id_sha256  BLOB PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES admin_accounts (username) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created    INTEGER NOT NULL,         -- Unix seconds
    seen       INTEGER NOT NULL,         -- the last request: a session ends after an idle time
    expires    INTEGER NOT NULL,         -- and in any case at this time
    address    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_sessions_user ON admin_sessions (username);
