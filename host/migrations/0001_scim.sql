-- SCIM state: every user and group of every app, as last accepted from the identity provider.
-- `seq` is the insertion order (stable listing order); `body` is the full SCIM JSON.
CREATE TABLE resources (
    seq           INTEGER PRIMARY KEY,
    app           TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('User', 'Group')),
    id            TEXT    NOT NULL,
    name_key      TEXT    NOT NULL,
    external_id   TEXT,
    version       INTEGER NOT NULL,
    body          TEXT    NOT NULL,
    UNIQUE (app, kind, id),
    UNIQUE (app, kind, name_key)
);
CREATE INDEX resources_external_id ON resources (app, kind, external_id) WHERE external_id IS NOT NULL;

-- Bearer tokens: only the SHA-256 of each token is kept.
CREATE TABLE tokens (
    id       TEXT PRIMARY KEY,
    app      TEXT NOT NULL,
    label    TEXT NOT NULL DEFAULT '',
    sha256   BLOB NOT NULL UNIQUE,
    created  TEXT NOT NULL,
    revoked  TEXT
);
CREATE INDEX tokens_app ON tokens (app);
