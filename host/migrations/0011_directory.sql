-- Directory apps (issue 13): where each app's incremental sync resumes, and what each run did.

-- One cursor per app and stream (`users`, `groups`, or one stream for the whole app): an
-- RFC 4533 cookie, a DirSync cookie, a USN with the DC's invocationId, or a timestamp. It is
-- written in the transaction of the last change it covers.
CREATE TABLE directory_cursors (
    app        TEXT NOT NULL,
    stream     TEXT NOT NULL,
    cursor     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app, stream)
);

-- Every run's report: what it added, updated, disabled, deleted and skipped, with reasons,
-- as JSON. `status`: succeeded, failed, awaiting_approval, approved, discarded.
CREATE TABLE directory_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary     TEXT NOT NULL,
    report      TEXT NOT NULL
);
CREATE INDEX directory_runs_by_app ON directory_runs (app, id);

-- A directory app's bind password set through the admin side (write-only there: never
-- listed, shown or logged). Apps from the configuration file name an environment variable
-- or a file instead.
CREATE TABLE directory_secrets (
    app        TEXT PRIMARY KEY,
    password   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
