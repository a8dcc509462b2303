-- ferry control state, version 1.
-- Applied once, inside one transaction, by ferry-control's migrator. Never edit this file
-- after it has shipped: its BLAKE3 checksum is recorded in `_ferry_migrations`, and a
-- database whose recorded checksum differs refuses to open (`migration-modified`).
-- Change the schema by adding `0002_<name>.sql`.

-- Organisations own apps and environments. Today there is one: `default`.
CREATE TABLE orgs (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- Environments of an organisation. Today there is one: `production`.
CREATE TABLE environments (
    org_id INTEGER NOT NULL REFERENCES orgs (id),
    name   TEXT NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE apps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    source_path TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

-- Immutable releases; `id` is unique per app.
CREATE TABLE releases (
    id            TEXT NOT NULL,
    app_id        INTEGER NOT NULL REFERENCES apps (id),
    environment   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    source_commit TEXT,
    files         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    new_bytes     INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX releases_by_environment ON releases (app_id, environment, created_at);

-- Every pointer move, in order. `seq` never goes back, even after deletions.
CREATE TABLE activations (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id              INTEGER NOT NULL REFERENCES apps (id),
    environment         TEXT NOT NULL,
    release_id          TEXT NOT NULL,
    previous_release_id TEXT,
    action              TEXT NOT NULL CHECK (action IN ('deploy', 'rollback', 'promote')),
    at                  INTEGER NOT NULL,
    "by"                TEXT NOT NULL,
    FOREIGN KEY (app_id, release_id) REFERENCES releases (app_id, id),
    FOREIGN KEY (app_id, previous_release_id) REFERENCES releases (app_id, id)
);
CREATE INDEX activations_by_environment ON activations (app_id, environment, seq);

-- The live pointer: at most one release per (app, environment).
CREATE TABLE live (
    app_id       INTEGER NOT NULL REFERENCES apps (id),
    environment  TEXT NOT NULL,
    release_id   TEXT NOT NULL,
    activated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, environment),
    FOREIGN KEY (app_id, release_id) REFERENCES releases (app_id, id)
);

-- Encrypted secrets (XChaCha20-Poly1305; see docs/formats/state.md). No plaintext here.
CREATE TABLE secrets (
    app_id      INTEGER NOT NULL REFERENCES apps (id),
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    nonce       BLOB NOT NULL CHECK (length(nonce) = 24),
    ciphertext  BLOB NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, environment, name)
);
