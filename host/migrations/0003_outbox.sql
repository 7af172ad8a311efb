-- Confluence operations planned by a SCIM change (or Synchronize) and not yet applied.
-- Written in the transaction of the change that planned them; deleted in the transaction
-- that records their outcome. Workers apply them in `seq` order per subject (the
-- Confluence username they concern).
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY,
    app          TEXT NOT NULL,
    subject      TEXT NOT NULL,
    op           TEXT NOT NULL,   -- JSON, see host/src/sync/plan.rs `Op`
    origin       TEXT NOT NULL,   -- the SCIM id of the person whose change planned it, or 'sync'
    module_hash  TEXT NOT NULL DEFAULT '',
    queued_at    TEXT NOT NULL
);
CREATE INDEX outbox_app_subject ON outbox (app, subject, seq);

-- Operations Confluence refused for good after they were accepted (a licence limit reached
-- later, a group deleted by hand ...): kept for the administrator, see `usersync outbox`.
CREATE TABLE outbox_failed (
    seq          INTEGER PRIMARY KEY,
    app          TEXT NOT NULL,
    subject      TEXT NOT NULL,
    op           TEXT NOT NULL,
    origin       TEXT NOT NULL,
    module_hash  TEXT NOT NULL DEFAULT '',
    queued_at    TEXT NOT NULL,
    failed_at    TEXT NOT NULL,
    error        TEXT NOT NULL
);
