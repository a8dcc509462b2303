//! Chunk plans: how each table is split for parallel copy and for resume. A table with a
//! single integer key is split into key ranges (a redo deletes exactly its range on
//! the target, so no row is ever written twice); other large tables are split into physical
//! page ranges (`ctid`), which cannot be matched on the target: such a table is redone whole.
//! (A random key such as a uuid is split by pages too: a key range of random values touches
//! every page, so each chunk would read the whole table.)
//! The plan is fixed at the first run and stored with the job.

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use crate::catalog::{Table, ValueKind, quote_ident, quote_literal};
use crate::error::{DataError, Result};

/// Default target bytes per chunk. Large on purpose: a table copied as one chunk is loaded
/// with `TRUNCATE` + `COPY … FREEZE` in one transaction, which made the whole 1.2 GB bench
/// pull 10 s instead of 14 s (no hint-bit writes during index builds and foreign-key checks);
/// only tables larger than this are split for parallelism.
pub const CHUNK_BYTES: i64 = 1 << 30;
/// At most this many chunks per table.
const MAX_CHUNKS: i64 = 256;

/// One unit of copy work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chunk {
    /// Number within the table.
    pub id: u32,
    /// Predicate on the source (None: the whole table).
    pub source_where: Option<String>,
    /// Predicate on the target selecting exactly this chunk's rows (key ranges only).
    pub target_where: Option<String>,
}

/// A table's chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TablePlan {
    /// `schema.table`.
    pub table: String,
    /// Chunks, in order.
    pub chunks: Vec<Chunk>,
    /// Whether each chunk can be redone alone (key ranges, or a single chunk).
    pub exact: bool,
    /// Estimated bytes (for ordering and progress).
    pub bytes: i64,
    /// Estimated rows.
    pub rows: i64,
}

/// Splits a table into chunks of about `chunk_bytes` (a table smaller than that is one chunk).
pub async fn plan_table(
    client: &impl GenericClient,
    table: &Table,
    chunk_bytes: i64,
) -> Result<TablePlan> {
    let wanted = (table.bytes / chunk_bytes.max(8192) + 1).clamp(1, MAX_CHUNKS);
    let single = |t: &Table| TablePlan {
        table: t.name.to_string(),
        chunks: vec![Chunk {
            id: 0,
            source_where: None,
            target_where: None,
        }],
        exact: true,
        bytes: t.bytes,
        rows: t.estimated_rows,
    };
    if wanted < 2 {
        return Ok(single(table));
    }
    let key = table.key();
    let key_column = if key.len() == 1 {
        table.column(&key[0])
    } else {
        None
    };
    let bounds: Vec<Option<String>> = match key_column.map(|c| &c.kind) {
        Some(ValueKind::Int) => {
            let col = quote_ident(&key[0]);
            let row = client
                .query_one(
                    &format!(
                        "SELECT min({col})::int8, max({col})::int8 FROM ONLY {}",
                        table.name.sql()
                    ),
                    &[],
                )
                .await
                .map_err(|e| DataError::Sql {
                    side: "source",
                    context: format!("planning chunks of {}", table.name),
                    reason: crate::pg::error_text(&e),
                })?;
            let (Some(min), Some(max)) =
                (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
            else {
                return Ok(single(table));
            };
            let span = (max as i128 - min as i128 + 1).max(1);
            let n = (wanted as i128).min(span);
            (1..n)
                .map(|i| Some((min as i128 + span * i / n).to_string()))
                .collect()
        }
        Some(ValueKind::Uuid) => (1..wanted)
            .map(|i| {
                let v = ((1u64 << 32) * i as u64 / wanted as u64) as u32;
                Some(quote_literal(&format!(
                    "{v:08x}-0000-0000-0000-000000000000"
                )))
            })
            .collect(),
        _ => vec![],
    };
    if !bounds.is_empty() {
        let col = quote_ident(&key[0]);
        let mut chunks = Vec::new();
        let mut lower: Option<String> = None;
        for (i, upper) in bounds
            .iter()
            .cloned()
            .chain(std::iter::once(None))
            .enumerate()
        {
            let pred = match (&lower, &upper) {
                (None, Some(u)) => format!("{col} < {u}"),
                (Some(l), Some(u)) => format!("{col} >= {l} AND {col} < {u}"),
                (Some(l), None) => format!("{col} >= {l}"),
                (None, None) => "TRUE".into(),
            };
            chunks.push(Chunk {
                id: i as u32,
                source_where: Some(pred.clone()),
                target_where: Some(pred),
            });
            lower = upper;
        }
        return Ok(TablePlan {
            table: table.name.to_string(),
            chunks,
            exact: true,
            bytes: table.bytes,
            rows: table.estimated_rows,
        });
    }
    // Physical page ranges; the last range is open so pages added later are still read.
    let pages = (table.bytes / 8192).max(1);
    let n = wanted.min(pages);
    let mut chunks = Vec::new();
    for i in 0..n {
        let lo = pages * i / n;
        let hi = pages * (i + 1) / n;
        let pred = if i + 1 == n {
            format!("ctid >= '({lo},0)'::tid")
        } else {
            format!("ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid")
        };
        chunks.push(Chunk {
            id: i as u32,
            source_where: Some(pred),
            target_where: None,
        });
    }
    Ok(TablePlan {
        table: table.name.to_string(),
        chunks,
        exact: false,
        bytes: table.bytes,
        rows: table.estimated_rows,
    })
}
