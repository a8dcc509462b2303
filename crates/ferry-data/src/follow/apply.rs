//! Applying decoded changes to a Postgres or SQLite target.
