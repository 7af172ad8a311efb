-- Apps as data (issue 12): apps created, changed and removed at run time through the admin
-- API and the console. `definition` is the app as JSON, in the shape of a `[[apps]]` entry
-- of the configuration file (never a secret: tokens live in `tokens`, hashed). `version`
-- rises with every change, so a save made against an older version is refused rather than
-- overwriting someone else's change. Apps of the configuration file are not stored here.
CREATE TABLE apps (
    name        TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,   -- creation order: precedence after the file's apps
    definition  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
