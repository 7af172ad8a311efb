-- Confluence operations the deprovisioning circuit breaker holds for an administrator:
-- disables and deletes past an app's threshold, and every later operation of the same
-- people. Written in the transaction of the change that planned them; `usersync outbox
-- approve` moves them into `outbox` (same `seq`, so their order holds), `discard` deletes
-- them. Both are audited.
CREATE TABLE outbox_held (
    seq          INTEGER PRIMARY KEY,
    app          TEXT NOT NULL,
    subject      TEXT NOT NULL,
    op           TEXT NOT NULL,   -- JSON, see host/src/sync/plan.rs `Op`
    origin       TEXT NOT NULL,
    module_hash  TEXT NOT NULL DEFAULT '',
    queued_at    TEXT NOT NULL
);
CREATE INDEX outbox_held_app ON outbox_held (app, seq);
