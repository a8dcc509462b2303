-- ferry control state, version 3: which releases have a frozen environment.
-- Never edit this file after it has shipped (see 0001_initial.sql).

-- One row per release whose runtime environment was frozen into `release_env` (also when it
-- froze no variable at all): a release without a row has never been frozen, and is frozen
-- with the current values when its processes first start.
CREATE TABLE release_env_frozen (
    app_id     INTEGER NOT NULL REFERENCES apps (id),
    release_id TEXT NOT NULL,
    frozen_at  INTEGER NOT NULL,
    vars       INTEGER NOT NULL,
    PRIMARY KEY (app_id, release_id),
    FOREIGN KEY (app_id, release_id) REFERENCES releases (app_id, id)
);
