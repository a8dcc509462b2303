//! The database executor of the Base44 API: runs the parameterised statements of `query`,
//! `record` and `schema` on the owner's SQLite or PostgreSQL and decodes rows into [`Cell`]s.
//!
//! - **SQLite** (`sqlite:///path/to/app.db`, `sqlite::memory:`): one `rusqlite` connection
//!   (WAL, `busy_timeout` 5 s, [`register_sqlite_functions`]) behind an async mutex; every
//!   statement runs on `tokio::task::spawn_blocking`.
//! - **PostgreSQL** (`postgres://…`, `postgresql://…`, no TLS yet): a small pool of
//!   `tokio-postgres` clients ([`POOL_SIZE`]), each with `statement_timeout` set.
//!
//! Transactions are explicit: [`Db::begin`] gives a [`Tx`] that is ended by [`Tx::commit`] or
//! [`Tx::rollback`]; a `Tx` dropped without either is rolled back (in the background on the
//! runtime, and in any case before its connection is used again), so `?` inside a
//! transaction is safe.
//!
//! [`register_sqlite_functions`]: crate::base44::query::register_sqlite_functions

mod postgres;
mod sqlite;

pub use postgres::{Pool, bind as bind_postgres};
pub use sqlite::Lite;

use crate::base44::model::{Dialect, Entity};
use crate::base44::query::Sql;
use crate::base44::record::Cell;
use crate::base44::rls::{self, RlsError};
use crate::base44::schema::{
    self, Applied, SchemaError, applied_select_sql, decode_applied, schema_version_sql,
};

/// The private table of the auth routes' pending codes: sign-up email codes (`purpose`
/// `otp`, `lookup` the lower-cased email) and password-reset / invitation tokens (`reset`,
/// `lookup` the token's hash). `record` is the JSON of the `OtpRecord` / `ResetRecord`;
/// `expires_at` Unix seconds. Created by [`Db::migrate`].
pub const AUTH_CODES_TABLE: &str = "_ferry_auth_codes";

/// `CREATE TABLE IF NOT EXISTS` [`AUTH_CODES_TABLE`] and its email index.
pub fn auth_codes_sql(dialect: Dialect) -> String {
    let (text, int, strict) = match dialect {
        Dialect::Postgres => ("text", "bigint", ""),
        Dialect::Sqlite => ("TEXT", "INTEGER", " STRICT"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS \"{AUTH_CODES_TABLE}\" (\
         \"purpose\" {text} NOT NULL, \"lookup\" {text} NOT NULL, \"email\" {text} NOT NULL, \
         \"record\" {text} NOT NULL, \"expires_at\" {int} NOT NULL, \
         PRIMARY KEY (\"purpose\", \"lookup\")){strict}; \
         CREATE INDEX IF NOT EXISTS \"{AUTH_CODES_TABLE}__email_idx\" \
         ON \"{AUTH_CODES_TABLE}\" (\"purpose\", \"email\")"
    )
}

/// How many PostgreSQL connections a [`Db`] keeps at most.
pub const POOL_SIZE: usize = 8;

/// How long one PostgreSQL statement of the API may run (`statement_timeout`, milliseconds).
/// Migrations lift it for their own transaction.
pub const STATEMENT_TIMEOUT_MS: u64 = 30_000;

/// How long SQLite waits for another process' lock before failing (`busy_timeout`).
pub const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A failure of the database layer. Apart from [`StoreError::Conflict`] (a client-sent id that
/// exists), every variant is the server's fault; messages may hold SQL or driver detail and
/// must not be shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not `sqlite://…`, `sqlite::memory:` or `postgres(ql)://…`, or a
    /// PostgreSQL URL does not parse.
    #[error("invalid database url: {0}")]
    BadUrl(String),
    /// The database could not be opened or connected to.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// An SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL error.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A unique constraint refused the write (a record `id` or a `User` email that exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A result of an unexpected shape: a column count other than the caller's, or a column
    /// type this layer does not decode.
    #[error("unexpected result: {0}")]
    Shape(String),
    /// A blocking task failed (panicked or was cancelled).
    #[error("database task failed: {0}")]
    Task(String),
    /// A migration was refused or `_ferry_entities` is unreadable.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// An entity's `rls` rules are malformed (checked before a migration).
    #[error(transparent)]
    Rls(#[from] RlsError),
}

impl StoreError {
    /// A stable code: `bad-url`, `connect`, `conflict`, `schema`'s and `rls`'s own codes, or
    /// `database` for every other failure.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::BadUrl(_) => "bad-url",
            StoreError::Connect(_) => "connect",
            StoreError::Conflict(_) => "conflict",
            StoreError::Schema(e) => e.code(),
            StoreError::Rls(e) => e.code(),
            StoreError::Sqlite(_)
            | StoreError::Postgres(_)
            | StoreError::Shape(_)
            | StoreError::Task(_) => "database",
        }
    }
}

/// Shorthand for this module's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The owner's database. Clones share the connection (SQLite) or the pool (PostgreSQL).
#[derive(Clone)]
pub enum Db {
    /// An SQLite file (or in-memory database).
    Sqlite(Lite),
    /// A PostgreSQL database, through a small pool of connections.
    Postgres(Pool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Db").field(&self.dialect()).finish()
    }
}

impl Db {
    /// Opens the database at `url`: `sqlite:///absolute/path.db`, `sqlite://relative.db`,
    /// `sqlite::memory:`, or `postgres://user:pass@host:port/db` (also `postgresql://`). The
    /// SQLite file is created when missing; one PostgreSQL connection is made now to check the
    /// URL (the others on demand). Needs a tokio runtime.
    pub async fn open(url: &str) -> Result<Db> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let target = if rest == ":memory:" {
                None
            } else if let Some(path) = rest.strip_prefix("//") {
                if path.is_empty() {
                    return Err(StoreError::BadUrl("the sqlite url has no path".into()));
                }
                Some(std::path::PathBuf::from(path))
            } else {
                return Err(StoreError::BadUrl(
                    "expected sqlite:///path or sqlite::memory:".into(),
                ));
            };
            return Ok(Db::Sqlite(sqlite::Lite::open(target).await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Db::Postgres(postgres::Pool::open(url, POOL_SIZE).await?));
        }
        Err(StoreError::BadUrl(
            "expected a sqlite:// or postgres:// url".into(),
        ))
    }

    /// The SQL dialect of this database.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    async fn conn(&self) -> Result<Conn> {
        Ok(match self {
            Db::Sqlite(lite) => Conn::Sqlite(lite.acquire().await?),
            Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Runs `sql` and returns its rows, each of `columns` cells (a row of another width is
    /// [`StoreError::Shape`]).
    pub async fn query(&self, sql: &Sql, columns: usize) -> Result<Vec<Vec<Cell>>> {
        self.conn().await?.query(sql, columns).await
    }

    /// Runs `sql` (a statement returning no rows) and returns how many rows it changed.
    pub async fn execute(&self, sql: &Sql) -> Result<u64> {
        self.conn().await?.execute(sql).await
    }

    /// Starts a transaction (SQLite `BEGIN IMMEDIATE`: it takes the write lock at once).
    pub async fn begin(&self) -> Result<Tx> {
        let mut conn = self.conn().await?;
        conn.begin().await?;
        Ok(Tx { conn })
    }

    /// The entities recorded in `_ferry_entities` (what the tables really hold), by name; empty
    /// when nothing was ever deployed.
    pub async fn applied(&self) -> Result<Vec<Applied>> {
        let mut tx = self.begin().await?;
        tx.batch(&schema_version_sql(self.dialect())).await?;
        let applied = read_applied(&mut tx, self.dialect()).await?;
        tx.rollback().await?;
        Ok(applied)
    }

    /// Deploys `entities` (see `docs/base44.md`, "Migrations"): checks each entity's `rls`
    /// rules, reads `_ferry_entities`, plans with [`schema::plan_deploy`] and runs every
    /// statement, and the creation of [`AUTH_CODES_TABLE`] when missing, in one transaction (PostgreSQL: under an advisory lock, without the statement
    /// timeout). Returns the applied state of every entity of the deploy; serve those entities,
    /// not a fresh parse.
    pub async fn migrate(&self, entities: Vec<Entity>) -> Result<Vec<Applied>> {
        for entity in &entities {
            rls::validate(entity)?;
        }
        let dialect = self.dialect();
        let mut tx = self.begin().await?;
        if dialect == Dialect::Postgres {
            tx.batch(
                "SET LOCAL statement_timeout = 0; \
                 SELECT pg_advisory_xact_lock(7261504716021153890)",
            )
            .await?;
        }
        tx.batch(&schema_version_sql(dialect)).await?;
        let applied = read_applied(&mut tx, dialect).await?;
        let deploy = schema::plan_deploy(&applied, entities, dialect)?;
        for statement in &deploy.statements {
            tx.batch(statement).await?;
        }
        tx.batch(&auth_codes_sql(dialect)).await?;
        tx.commit().await?;
        Ok(deploy.applied)
    }
}

async fn read_applied(tx: &mut Tx, dialect: Dialect) -> Result<Vec<Applied>> {
    let sql = Sql {
        text: applied_select_sql(dialect),
        params: Vec::new(),
    };
    let mut out = Vec::new();
    for row in tx.query(&sql, 2).await? {
        match (&row[0], &row[1]) {
            (Cell::Text(name), Cell::Text(json)) => out.push(decode_applied(name, json)?),
            (Cell::Text(name), Cell::Json(json)) => {
                out.push(decode_applied(name, &json.to_string())?);
            }
            _ => return Err(StoreError::Shape("unreadable _ferry_entities row".into())),
        }
    }
    Ok(out)
}

/// A transaction. End it with [`Tx::commit`] or [`Tx::rollback`]; dropping it rolls back.
pub struct Tx {
    conn: Conn,
}

impl Tx {
    /// [`Db::query`] inside the transaction.
    pub async fn query(&mut self, sql: &Sql, columns: usize) -> Result<Vec<Vec<Cell>>> {
        self.conn.query(sql, columns).await
    }

    /// [`Db::execute`] inside the transaction.
    pub async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        self.conn.execute(sql).await
    }

    /// Runs statements without parameters (DDL), separated by `;`.
    pub async fn batch(&mut self, text: &str) -> Result<()> {
        self.conn.batch(text).await
    }

    /// Starts `COPY … FROM STDIN` (PostgreSQL only; SQLite answers [`StoreError::Shape`]):
    /// send the data to the returned sink, then `finish` it. A sink dropped unfinished aborts
    /// the copy, and with it the transaction.
    pub async fn copy_in(
        &mut self,
        statement: &str,
    ) -> Result<tokio_postgres::CopyInSink<bytes::Bytes>> {
        match &mut self.conn {
            Conn::Postgres(c) => c.copy_in(statement).await,
            Conn::Sqlite(_) => Err(StoreError::Shape("COPY is PostgreSQL only".into())),
        }
    }

    /// Commits.
    pub async fn commit(mut self) -> Result<()> {
        self.conn.end("COMMIT").await
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        self.conn.end("ROLLBACK").await
    }
}

/// One connection, held for the duration of a statement or a transaction.
enum Conn {
    Sqlite(sqlite::LiteConn),
    Postgres(postgres::PooledClient),
}

impl Conn {
    async fn query(&mut self, sql: &Sql, columns: usize) -> Result<Vec<Vec<Cell>>> {
        match self {
            Conn::Sqlite(c) => c.query(sql, columns).await,
            Conn::Postgres(c) => c.query(sql, columns).await,
        }
    }

    async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        match self {
            Conn::Sqlite(c) => c.execute(sql).await,
            Conn::Postgres(c) => c.execute(sql).await,
        }
    }

    async fn batch(&mut self, text: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.batch(text).await,
            Conn::Postgres(c) => c.batch(text).await,
        }
    }

    async fn begin(&mut self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.batch("BEGIN IMMEDIATE").await,
            Conn::Postgres(c) => c.begin().await,
        }
    }

    async fn end(&mut self, statement: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.batch(statement).await,
            Conn::Postgres(c) => c.end(statement).await,
        }
    }
}
