-- ferry control state, version 2: identities, scoped tokens, the audit log, env scopes,
-- each release's frozen environment, idempotent requests.
-- Never edit this file after it has shipped (see 0001_initial.sql).

-- People (or machines) acting in an organisation. `role`: owner > admin > developer > viewer.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES orgs (id),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

-- API tokens. The secret part is never stored: `hash` is BLAKE3 of it. A token acts for its
-- user (when set) with at most `scope`, inside its organisation, or only on `app_id` when set.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs (id),
    user_id      INTEGER REFERENCES users (id),
    app_id       INTEGER REFERENCES apps (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'deploy', 'admin')),
    hash         BLOB NOT NULL CHECK (length(hash) = 32),
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX tokens_by_org ON tokens (org_id);

-- The append-only audit log: one row per mutation and per refused attempt. Each row's `mac`
-- is a keyed BLAKE3 (key derived from the master key) over the previous row's mac and this
-- row's fields; the chain head (count and last mac) is also kept outside this database
-- (`$FERRY_HOME/audit.head`). `ferry audit --verify` recomputes the chain.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    org        TEXT,
    actor      TEXT NOT NULL,
    token_id   TEXT,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'unchanged', 'refused', 'failed')),
    source     TEXT NOT NULL,
    before     TEXT,
    after      TEXT,
    detail     TEXT,
    mac        BLOB NOT NULL CHECK (length(mac) = 32)
);

-- Which phase sees a secret: the build, the running processes, or both.
ALTER TABLE secrets ADD COLUMN scope TEXT NOT NULL DEFAULT 'both'
    CHECK (scope IN ('build', 'runtime', 'both'));

-- The runtime environment a release was deployed with, sealed like the secrets (associated
-- data "<org>/<app>/<env>/<name>@<release>"): a rollback runs with it.
CREATE TABLE release_env (
    app_id     INTEGER NOT NULL REFERENCES apps (id),
    release_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    nonce      BLOB NOT NULL CHECK (length(nonce) = 24),
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (app_id, release_id, name),
    FOREIGN KEY (app_id, release_id) REFERENCES releases (app_id, id)
);

-- Answers to requests that carried an `Idempotency-Key`, kept a day: a repeat gets the same
-- answer instead of a second effect.
CREATE TABLE idempotency (
    principal  TEXT NOT NULL,
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
);
