-- Why an app's Confluence operations wait although Confluence answers (issue 11): UserSync's
-- own setup fails, not the data (Confluence rejects the credentials, the account lacks
-- administrator rights, a proxy fails the XSRF check, the base URL is wrong). One row per
-- held app, written when the hold starts, deleted when operations go through again; read by
-- `usersync outbox`, which does not ask the running server.
CREATE TABLE confluence_hold (
    app      TEXT PRIMARY KEY,
    problem  TEXT NOT NULL,   -- see host/src/confluence/error.rs `SetupProblem::as_str`
    summary  TEXT NOT NULL,   -- what an operator reads first ("Confluence rejects UserSync's credentials")
    detail   TEXT NOT NULL,   -- Confluence's answer, as classified
    since    TEXT NOT NULL
);
