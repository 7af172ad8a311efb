-- The Confluence connection as set in the console (issue 12): the base URL and how UserSync
-- signs in, overriding `[confluence]` of the configuration file once saved. The secret (a
-- password or a personal access token) is write-only in the console and never logged; it
-- is kept here, so the database file must be protected like the secret itself.
CREATE TABLE confluence_settings (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    url         TEXT NOT NULL,
    kind        TEXT NOT NULL,   -- 'basic' or 'token'
    username    TEXT,
    secret      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
