//! The source side of a follow: ferry's publication and logical replication slot (both named
//! `ferry_<16 hex>` from the job's identity), their prerequisites as typed errors, listing
//! with lag, and dropping.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::{FollowOptions, SlotInfo};
use crate::catalog::{Catalog, QualifiedName, quote_ident, quote_literal, read};
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::{canon, pg};

/// Prefix of every slot and publication ferry creates.
pub const PREFIX: &str = "ferry_";

/// The comment ferry puts on its publications: how a slot is known to be ferry's.
const MARKER: &str = "created by ferry db follow";

/// The slot (and publication) name of a follow from `source` to `target` over `selection`:
/// the same for every run of the same job, so a rerun finds its slot.
pub fn slot_name(source: &PgEndpoint, target: &Endpoint, opts: &FollowOptions) -> String {
    if let Some(name) = &opts.name {
        return name.clone();
    }
    let identity = format!(
        "{}|{}|{:?}|{:?}",
        source.redacted,
        target.display(),
        opts.selection.schemas,
        opts.selection.tables
    );
    format!("{PREFIX}{:016x}", canon::hash64(identity.as_bytes()))
}

fn src(context: &str) -> impl Fn(tokio_postgres::Error) -> DataError + '_ {
    move |e| pg::sql_error("source", context, &e)
}

/// Refuses a source that cannot be followed: `wal_level` not `logical`, a role without the
/// REPLICATION attribute.
pub(super) async fn check_source(client: &Client) -> Result<()> {
    let level: String = client
        .query_one("SELECT current_setting('wal_level')", &[])
        .await
        .map_err(src("reading wal_level"))?
        .get(0);
    if level != "logical" {
        return Err(DataError::WalLevel { level });
    }
    let row = client
        .query_one(
            "SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(src("reading the role's attributes"))?;
    if !row.get::<_, bool>(1) {
        return Err(DataError::ReplicationPrivilege { role: row.get(0) });
    }
    Ok(())
}

/// Refuses tables whose updates and deletes pgoutput cannot identify, naming the statement
/// that fixes each.
pub(super) async fn check_identity(client: &Client, catalog: &Catalog) -> Result<()> {
    let mut missing: Vec<&QualifiedName> = Vec::new();
    for table in &catalog.tables {
        let ident: String = client
            .query_one(
                "SELECT c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[&table.name.schema, &table.name.name],
            )
            .await
            .map_err(src("reading replica identities"))?
            .get(0);
        let ok = match ident.as_str() {
            "f" | "i" => true,
            "d" => !table.primary_key.is_empty(),
            _ => false,
        };
        if !ok {
            missing.push(&table.name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(DataError::NoReplicaIdentity {
        tables: missing
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        statements: missing
            .iter()
            .map(|n| format!("ALTER TABLE {} REPLICA IDENTITY FULL;", n.sql()))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// What exists on the source under a name.
struct Existing {
    slot: Option<SlotRow>,
    publication_is_ferrys: Option<bool>,
}

struct SlotRow {
    plugin: Option<String>,
    logical: bool,
    same_database: bool,
    active_pid: Option<i32>,
}

async fn existing(client: &Client, name: &str) -> Result<Existing> {
    let slot = client
        .query_opt(
            "SELECT plugin::text, slot_type = 'logical', database = current_database(), active_pid
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(src("reading pg_replication_slots"))?
        .map(|r| SlotRow {
            plugin: r.get(0),
            logical: r.get(1),
            same_database: r.get::<_, Option<bool>>(2).unwrap_or(false),
            active_pid: r.get(3),
        });
    let publication_is_ferrys = client
        .query_opt(
            "SELECT coalesce(obj_description(oid, 'pg_publication') = $2, false) FROM pg_publication WHERE pubname = $1",
            &[&name, &MARKER],
        )
        .await
        .map_err(src("reading pg_publication"))?
        .map(|r| r.get::<_, bool>(0));
    Ok(Existing {
        slot,
        publication_is_ferrys,
    })
}

/// Makes sure ferry's publication and slot exist for this follow (creating what is missing)
/// and may be used; returns whether the slot was created by this call. On failure, whatever
/// this call created is dropped again.
pub(super) async fn ensure(
    client: &Client,
    name: &str,
    catalog: &Catalog,
) -> Result<(bool, Option<String>)> {
    check_source(client).await?;
    check_identity(client, catalog).await?;
    let mut found = existing(client, name).await?;
    // A follower that was killed in the middle of a read holds the slot until its server
    // process notices: give it a few seconds.
    for _ in 0..50 {
        if found.slot.as_ref().is_none_or(|s| s.active_pid.is_none()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        found = existing(client, name).await?;
    }
    if found.publication_is_ferrys == Some(false) {
        return Err(DataError::SlotConflict {
            slot: name.into(),
            reason: format!(
                "cannot be used: a publication `{name}` exists that ferry did not create"
            ),
        });
    }
    if let Some(slot) = &found.slot {
        let ours = slot.logical
            && slot.plugin.as_deref() == Some("pgoutput")
            && slot.same_database
            && found.publication_is_ferrys == Some(true);
        if !ours {
            return Err(DataError::SlotConflict {
                slot: name.into(),
                reason: "already exists and was not created by ferry for this database".into(),
            });
        }
        if let Some(pid) = slot.active_pid {
            return Err(DataError::SlotConflict {
                slot: name.into(),
                reason: format!(
                    "is in use by another process (pid {pid}): is a follow already running?"
                ),
            });
        }
    }
    let tables: Vec<String> = catalog.tables.iter().map(|t| t.name.sql()).collect();
    let created_publication = found.publication_is_ferrys.is_none();
    if created_publication {
        let sql = format!(
            "CREATE PUBLICATION {q} FOR TABLE {}; COMMENT ON PUBLICATION {q} IS {}",
            tables.join(", "),
            quote_literal(MARKER),
            q = quote_ident(name)
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(src("creating the publication"))?;
    } else {
        // The selection may have changed since: publish exactly the selected tables.
        let sql = format!(
            "ALTER PUBLICATION {} SET TABLE {}",
            quote_ident(name),
            tables.join(", ")
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(src("updating the publication"))?;
    }
    if found.slot.is_some() {
        return Ok((false, None));
    }
    match create_slot(client, name).await {
        Ok(lsn) => Ok((true, Some(lsn))),
        Err(e) => {
            if created_publication {
                let _ = client
                    .batch_execute(&format!("DROP PUBLICATION IF EXISTS {}", quote_ident(name)))
                    .await;
            }
            Err(e)
        }
    }
}

async fn create_slot(client: &Client, name: &str) -> Result<String> {
    let row = client
        .query_one(
            "SELECT count(*), current_setting('max_replication_slots')::int8 FROM pg_replication_slots",
            &[],
        )
        .await
        .map_err(src("counting replication slots"))?;
    let (used, max): (i64, i64) = (row.get(0), row.get(1));
    if used >= max {
        return Err(DataError::SlotsExhausted { max });
    }
    match client
        .query_one(
            "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&name],
        )
        .await
    {
        Ok(row) => Ok(row.get(0)),
        Err(e) if e.code() == Some(&SqlState::CONFIGURATION_LIMIT_EXCEEDED) => {
            Err(DataError::SlotsExhausted { max })
        }
        Err(e) if e.code() == Some(&SqlState::DUPLICATE_OBJECT) => Err(DataError::SlotConflict {
            slot: name.into(),
            reason: "was created by someone else at the same time".into(),
        }),
        Err(e) => Err(pg::sql_error("source", "creating the replication slot", &e)),
    }
}

/// Creates ferry's publication (`FOR TABLE` the selected tables) and logical replication slot
/// (`pgoutput`) on the source, or finds the ones an earlier run created. Call it **before**
/// the copy takes its snapshot: every change committed after the slot's creation is then
/// followed, and the overlap with the copy is applied again, idempotently.
///
/// Refused with a typed error: `wal_level` not `logical`, a role without REPLICATION, a table
/// without a primary key nor `REPLICA IDENTITY FULL`, a slot of that name that is not ferry's
/// or is in use, no free slot. Nothing is left behind by a refused call.
pub async fn prepare(
    source: &PgEndpoint,
    target: &Endpoint,
    opts: &FollowOptions,
) -> Result<SlotInfo> {
    let client = pg::connect(source, "source").await?;
    check_source(&client).await?;
    let (_, catalog) = read::selected(&client, &opts.selection).await?;
    let name = slot_name(source, target, opts);
    let (created, _) = ensure(&client, &name, &catalog).await?;
    let mut info = info(&client, &name)
        .await?
        .ok_or_else(|| DataError::SlotConflict {
            slot: name.clone(),
            reason: "disappeared right after its creation".into(),
        })?;
    info.created = created;
    info.tables = catalog.tables.iter().map(|t| t.name.to_string()).collect();
    Ok(info)
}

const SLOT_QUERY: &str = "SELECT s.slot_name::text, s.database::text, s.active, s.active_pid,
        pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::int8,
        s.confirmed_flush_lsn::text, s.wal_status, p.pubname::text,
        coalesce(s.plugin = 'pgoutput' AND s.slot_type = 'logical', false)
 FROM pg_replication_slots s LEFT JOIN pg_publication p ON p.pubname = s.slot_name
 WHERE s.slot_name LIKE 'ferry\\_%'";

fn slot_info(row: &tokio_postgres::Row) -> SlotInfo {
    SlotInfo {
        slot: row.get(0),
        database: row.get(1),
        active: row.get(2),
        active_pid: row.get(3),
        lag_bytes: row.get::<_, Option<i64>>(4).map(|v| v.max(0) as u64),
        confirmed_lsn: row.get(5),
        wal_status: row.get(6),
        publication: row.get(7),
        created: false,
        tables: Vec::new(),
    }
}

/// The slot `name` with its lag, when it exists.
pub(super) async fn info(client: &Client, name: &str) -> Result<Option<SlotInfo>> {
    let row = client
        .query_opt(&format!("{SLOT_QUERY} AND s.slot_name = $1"), &[&name])
        .await
        .map_err(src("reading the slot"))?;
    Ok(row.as_ref().map(slot_info))
}

/// ferry's slots on the source (every database of the server: slots are server-wide), with
/// their lag in bytes, whether a process uses them, and their publication (when it lives in
/// the connected database).
pub async fn slots(source: &PgEndpoint) -> Result<Vec<SlotInfo>> {
    let client = pg::connect(source, "source").await?;
    let rows = client
        .query(&format!("{SLOT_QUERY} ORDER BY 1"), &[])
        .await
        .map_err(src("listing replication slots"))?;
    Ok(rows.iter().map(slot_info).collect())
}

/// Drops ferry's slot `name` and its publication. Refuses a name without the `ferry_` prefix
/// and a slot in use. Returns whether anything was dropped.
pub async fn drop_slot(source: &PgEndpoint, name: &str) -> Result<bool> {
    if !name.starts_with(PREFIX) {
        return Err(DataError::SlotConflict {
            slot: name.into(),
            reason: format!("is not ferry's (ferry's slots are named `{PREFIX}…`)"),
        });
    }
    let client = pg::connect(source, "source").await?;
    drop_with(&client, name).await
}

/// [`drop_slot`] over an open connection.
pub(super) async fn drop_with(client: &Client, name: &str) -> Result<bool> {
    let found = existing(client, name).await?;
    let mut dropped = false;
    if let Some(slot) = &found.slot {
        if let Some(pid) = slot.active_pid {
            return Err(DataError::SlotConflict {
                slot: name.into(),
                reason: format!("is in use (pid {pid}); stop the follow first"),
            });
        }
        client
            .execute("SELECT pg_drop_replication_slot($1)", &[&name])
            .await
            .map_err(src("dropping the replication slot"))?;
        dropped = true;
    }
    if found.publication_is_ferrys == Some(true) {
        client
            .batch_execute(&format!("DROP PUBLICATION IF EXISTS {}", quote_ident(name)))
            .await
            .map_err(src("dropping the publication"))?;
        dropped = true;
    }
    Ok(dropped)
}
