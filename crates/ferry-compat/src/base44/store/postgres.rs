//! PostgreSQL: a small pool of `tokio-postgres` clients (no TLS yet).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{FromSql, Json, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Row};

use super::{Result, STATEMENT_TIMEOUT_MS, StoreError};
use crate::base44::query::{Sql, SqlValue};
use crate::base44::record::Cell;

/// A pool of at most `size` PostgreSQL connections, made on demand and reused. Clones share
/// the pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    idle: std::sync::Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
}

impl Inner {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Client>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        tokio::spawn(async move {
            // The error (a lost connection) shows on the client's next call.
            let _ = connection.await;
        });
        client
            .batch_execute(&format!("SET statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            .await?;
        Ok(client)
    }
}

impl Pool {
    /// Parses `url` and makes the first connection (so a wrong URL or password fails here).
    pub(super) async fn open(url: &str, size: usize) -> Result<Pool> {
        let mut config: Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::BadUrl(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("ferry");
        }
        let inner = Arc::new(Inner {
            config,
            idle: std::sync::Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size.max(1))),
        });
        let first = inner.connect().await?;
        inner.idle().push(first);
        Ok(Pool { inner })
    }

    /// Waits for a free slot, then reuses an idle connection or makes one.
    pub(super) async fn acquire(&self) -> Result<PooledClient> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let idle = loop {
            let Some(client) = self.inner.idle().pop() else {
                break None;
            };
            if !client.is_closed() {
                break Some(client);
            }
        };
        let client = match idle {
            Some(c) => c,
            None => self.inner.connect().await?,
        };
        Ok(PooledClient {
            client: Some(client),
            in_tx: false,
            inner: self.inner.clone(),
            _permit: Some(permit),
        })
    }
}

/// A connection taken from the pool; it goes back when dropped (after a rollback when a
/// transaction was left open).
pub(super) struct PooledClient {
    client: Option<Client>,
    in_tx: bool,
    inner: Arc<Inner>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl PooledClient {
    fn client(&self) -> Result<&Client> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Task("the connection was lost".into()))
    }

    pub(super) async fn query(&mut self, sql: &Sql, columns: usize) -> Result<Vec<Vec<Cell>>> {
        let params = bind(&sql.params);
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .client()?
            .query(sql.text.as_str(), &refs)
            .await
            .map_err(map_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.len() != columns {
                return Err(StoreError::Shape(format!(
                    "{} columns, expected {columns}",
                    row.len()
                )));
            }
            out.push(
                (0..row.len())
                    .map(|i| cell(row, i))
                    .collect::<Result<_>>()?,
            );
        }
        Ok(out)
    }

    pub(super) async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        let params = bind(&sql.params);
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client()?
            .execute(sql.text.as_str(), &refs)
            .await
            .map_err(map_error)
    }

    pub(super) async fn batch(&mut self, text: &str) -> Result<()> {
        self.client()?.batch_execute(text).await.map_err(map_error)
    }

    pub(super) async fn copy_in(
        &mut self,
        statement: &str,
    ) -> Result<tokio_postgres::CopyInSink<bytes::Bytes>> {
        self.client()?.copy_in(statement).await.map_err(map_error)
    }

    pub(super) async fn begin(&mut self) -> Result<()> {
        self.in_tx = true;
        self.batch("BEGIN").await
    }

    pub(super) async fn end(&mut self, statement: &str) -> Result<()> {
        self.batch(statement).await?;
        self.in_tx = false;
        Ok(())
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if client.is_closed() {
            return;
        }
        if !self.in_tx {
            self.inner.idle().push(client);
            return;
        }
        // Roll back before the connection is reused; the slot stays taken until then. Without
        // a runtime the client is dropped, which closes the connection (and so aborts the
        // transaction on the server).
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = self.inner.clone();
        let permit = self._permit.take();
        handle.spawn(async move {
            if client.batch_execute("ROLLBACK").await.is_ok() {
                inner.idle().push(client);
            }
            drop(permit);
        });
    }
}

/// The parameters as `tokio-postgres` values: each placeholder is cast (`$n::type`) to the
/// type [`SqlValue::postgres_type`] names, so the server asks for exactly that type.
pub fn bind(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                SqlValue::Null => Box::new(Option::<String>::None),
                SqlValue::Bool(b) => Box::new(*b),
                SqlValue::Int(i) => Box::new(*i),
                SqlValue::Float(f) => Box::new(*f),
                SqlValue::Text(s) => Box::new(s.clone()),
                SqlValue::Json(v) => Box::new(Json(v.clone())),
            }
        })
        .collect()
}

/// PostgreSQL's binary `date`: days since 2000-01-01.
struct PgDate(i32);

impl<'a> FromSql<'a> for PgDate {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgDate(i32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

/// One column as a [`Cell`], by its runtime type.
fn cell(row: &Row, i: usize) -> Result<Cell> {
    let ty = row.columns()[i].type_().clone();
    let cell = if ty == Type::TEXT || ty == Type::VARCHAR || ty == Type::NAME {
        row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
    } else if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?
            .map(|v| Cell::Int(i64::from(v)))
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)?
            .map(|v| Cell::Int(i64::from(v)))
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)?.map(Cell::Float)
    } else if ty == Type::FLOAT4 {
        row.try_get::<_, Option<f32>>(i)?
            .map(|v| Cell::Float(f64::from(v)))
    } else if ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool)
    } else if ty == Type::JSONB || ty == Type::JSON {
        row.try_get::<_, Option<serde_json::Value>>(i)?
            .map(Cell::Json)
    } else if ty == Type::TIMESTAMPTZ {
        row.try_get::<_, Option<std::time::SystemTime>>(i)?
            .map(Cell::timestamp)
    } else if ty == Type::DATE {
        row.try_get::<_, Option<PgDate>>(i)?
            .map(|d| Cell::Int(i64::from(d.0) + PG_EPOCH_DAYS))
    } else {
        return Err(StoreError::Shape(format!(
            "column type {ty} is not decoded"
        )));
    };
    Ok(cell.unwrap_or(Cell::Null))
}

/// A unique violation is a [`StoreError::Conflict`]; the rest as they are.
fn map_error(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        return StoreError::Conflict("a unique value already exists".into());
    }
    StoreError::Postgres(e)
}
