//! Turning decoded changes into idempotent statements (one plan, two SQL dialects): inserts
//! and same-key updates as upserts on the key, key changes as delete + upsert, deletes by
//! key, truncates. Tables without a key (`REPLICA IDENTITY FULL`) match one row on every
//! column of the old row.

use std::collections::HashMap;

use super::pgoutput::Datum;
use crate::catalog::{QualifiedName, ValueKind, quote_ident};
use crate::error::{DataError, Result};
use crate::sqlite;

/// A followed column, in the order of the source's Relation message.
#[derive(Debug, Clone)]
pub(super) struct ColumnInfo {
    pub name: String,
    /// `format_type` (used for casts on a Postgres target).
    pub sql_type: String,
    pub kind: ValueKind,
    pub not_null: bool,
}

/// A followed table as the stream describes it.
#[derive(Debug, Clone)]
pub(super) struct TableInfo {
    pub name: QualifiedName,
    pub columns: Vec<ColumnInfo>,
    /// Positions of the key columns (empty: no key, replica identity FULL).
    pub key: Vec<usize>,
}

/// One row change, values in the relation's column order.
#[derive(Debug, Clone)]
pub(super) enum Change {
    Insert {
        table: usize,
        new: Vec<Datum>,
    },
    Update {
        table: usize,
        old: Option<Vec<Datum>>,
        new: Vec<Datum>,
    },
    Delete {
        table: usize,
        old: Vec<Datum>,
    },
    Truncate {
        tables: Vec<usize>,
    },
}

/// SQL flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Postgres,
    Sqlite,
}

/// A statement with its parameters: (table, column position, value).
#[derive(Debug)]
pub(super) struct Stmt<'a> {
    pub sql: String,
    pub table: usize,
    pub values: Vec<(usize, &'a Datum)>,
}

/// What to run for one change.
#[derive(Debug)]
pub(super) enum Op<'a> {
    /// Run it.
    Exec(Stmt<'a>),
    /// Run the first; when it changed no row, run the second.
    Else(Stmt<'a>, Stmt<'a>),
}

fn table_sql(d: Dialect, name: &QualifiedName) -> String {
    match d {
        Dialect::Postgres => name.sql(),
        Dialect::Sqlite => quote_ident(&sqlite::table_name(name)),
    }
}

fn param(d: Dialect, n: usize, column: &ColumnInfo) -> String {
    match d {
        Dialect::Postgres => format!("${n}::{}", column.sql_type),
        Dialect::Sqlite => format!("?{n}"),
    }
}

fn present(values: &[Datum]) -> Vec<usize> {
    (0..values.len())
        .filter(|&i| values[i] != Datum::Unchanged)
        .collect()
}

fn insert<'a>(d: Dialect, t: usize, info: &TableInfo, row: &'a [Datum]) -> Stmt<'a> {
    let cols = present(row);
    let names: Vec<String> = cols
        .iter()
        .map(|&i| quote_ident(&info.columns[i].name))
        .collect();
    let marks: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(n, &i)| param(d, n + 1, &info.columns[i]))
        .collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table_sql(d, &info.name),
        names.join(", "),
        marks.join(", ")
    );
    if !info.key.is_empty() {
        sql.push(' ');
        sql.push_str(&on_conflict(d, info, &cols));
    }
    Stmt {
        sql,
        table: t,
        values: cols.iter().map(|&i| (i, &row[i])).collect(),
    }
}

/// `ON CONFLICT (key) DO UPDATE SET` each written non-key column of `cols` to the excluded
/// row's (`DO NOTHING` when only the key is written): the upsert clause of one insert and of
/// the batched Postgres upsert.
fn on_conflict(d: Dialect, info: &TableInfo, cols: &[usize]) -> String {
    let key: Vec<String> = info
        .key
        .iter()
        .map(|&i| quote_ident(&info.columns[i].name))
        .collect();
    let excluded = match d {
        Dialect::Postgres => "EXCLUDED",
        Dialect::Sqlite => "excluded",
    };
    let sets: Vec<String> = cols
        .iter()
        .filter(|i| !info.key.contains(i))
        .map(|&i| {
            let c = quote_ident(&info.columns[i].name);
            format!("{c} = {excluded}.{c}")
        })
        .collect();
    if sets.is_empty() {
        format!("ON CONFLICT ({}) DO NOTHING", key.join(", "))
    } else {
        format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            sets.join(", ")
        )
    }
}

/// `WHERE` on the key (from `row`'s key positions), parameters numbered from `first`.
fn where_key<'a>(
    d: Dialect,
    info: &TableInfo,
    row: &'a [Datum],
    first: usize,
) -> (String, Vec<(usize, &'a Datum)>) {
    let parts: Vec<String> = info
        .key
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            format!(
                "{} = {}",
                quote_ident(&info.columns[i].name),
                param(d, first + n, &info.columns[i])
            )
        })
        .collect();
    (
        parts.join(" AND "),
        info.key.iter().map(|&i| (i, &row[i])).collect(),
    )
}

fn delete_key<'a>(d: Dialect, t: usize, info: &TableInfo, old: &'a [Datum]) -> Stmt<'a> {
    let (cond, values) = where_key(d, info, old, 1);
    Stmt {
        sql: format!("DELETE FROM {} WHERE {cond}", table_sql(d, &info.name)),
        table: t,
        values,
    }
}

/// Deletes one row equal to `old` on every column it carries (tables without a key).
fn delete_one<'a>(d: Dialect, t: usize, info: &TableInfo, old: &'a [Datum]) -> Stmt<'a> {
    let cols = present(old);
    let table = table_sql(d, &info.name);
    let parts: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let c = quote_ident(&info.columns[i].name);
            let p = param(d, n + 1, &info.columns[i]);
            match d {
                Dialect::Postgres => format!("{c} IS NOT DISTINCT FROM {p}"),
                Dialect::Sqlite => format!("{c} IS {p}"),
            }
        })
        .collect();
    let cond = if parts.is_empty() {
        "TRUE".to_string()
    } else {
        parts.join(" AND ")
    };
    let id = match d {
        Dialect::Postgres => "ctid",
        Dialect::Sqlite => "rowid",
    };
    Stmt {
        sql: format!(
            "DELETE FROM {table} WHERE {id} = (SELECT {id} FROM {table} WHERE {cond} LIMIT 1)"
        ),
        table: t,
        values: cols.iter().map(|&i| (i, &old[i])).collect(),
    }
}

/// `UPDATE … SET <present new columns> WHERE <old key>`.
fn update_key<'a>(
    d: Dialect,
    t: usize,
    info: &TableInfo,
    old: &'a [Datum],
    new: &'a [Datum],
) -> Stmt<'a> {
    let cols = present(new);
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            format!(
                "{} = {}",
                quote_ident(&info.columns[i].name),
                param(d, n + 1, &info.columns[i])
            )
        })
        .collect();
    let (cond, key_values) = where_key(d, info, old, cols.len() + 1);
    let mut values: Vec<(usize, &Datum)> = cols.iter().map(|&i| (i, &new[i])).collect();
    values.extend(key_values);
    Stmt {
        sql: format!(
            "UPDATE {} SET {} WHERE {cond}",
            table_sql(d, &info.name),
            sets.join(", ")
        ),
        table: t,
        values,
    }
}

fn key_of<'a>(info: &TableInfo, row: &'a [Datum]) -> Vec<&'a Datum> {
    info.key.iter().map(|&i| &row[i]).collect()
}

/// The statements of one change. `filled` holds the new rows of keyless updates whose
/// unchanged values were taken from the old row (it must outlive the plan).
pub(super) fn plan<'a>(
    d: Dialect,
    tables: &[TableInfo],
    change: &'a Change,
    filled: &'a [Vec<Datum>],
) -> Result<Vec<Op<'a>>> {
    let info = |t: usize| {
        tables.get(t).ok_or_else(|| DataError::Protocol {
            reason: format!("a change names table #{t}, which was not described"),
        })
    };
    Ok(match change {
        Change::Insert { table, new } => vec![Op::Exec(insert(d, *table, info(*table)?, new))],
        Change::Update { table, old, new } => {
            let ti = info(*table)?;
            if ti.key.is_empty() {
                let Some(old) = old else {
                    return Err(DataError::Protocol {
                        reason: format!("an update of {} (no key) carries no old row", ti.name),
                    });
                };
                let new = filled.first().map(Vec::as_slice).unwrap_or(new);
                vec![
                    Op::Exec(delete_one(d, *table, ti, old)),
                    Op::Exec(insert(d, *table, ti, new)),
                ]
            } else {
                if key_of(ti, new).contains(&&Datum::Unchanged) {
                    return Err(DataError::UnsupportedType {
                        what: format!(
                            "{}: an update left a key column as an unchanged TOAST value",
                            ti.name
                        ),
                    });
                }
                match old {
                    Some(old) if key_of(ti, old) != key_of(ti, new) => {
                        if new.contains(&Datum::Unchanged) {
                            vec![Op::Else(
                                update_key(d, *table, ti, old, new),
                                insert(d, *table, ti, new),
                            )]
                        } else {
                            vec![
                                Op::Exec(delete_key(d, *table, ti, old)),
                                Op::Exec(insert(d, *table, ti, new)),
                            ]
                        }
                    }
                    _ => vec![Op::Exec(insert(d, *table, ti, new))],
                }
            }
        }
        Change::Delete { table, old } => {
            let ti = info(*table)?;
            if ti.key.is_empty() {
                vec![Op::Exec(delete_one(d, *table, ti, old))]
            } else {
                vec![Op::Exec(delete_key(d, *table, ti, old))]
            }
        }
        Change::Truncate { tables: list } => {
            let mut names = Vec::new();
            for &t in list {
                names.push(table_sql(d, &info(t)?.name));
            }
            if names.is_empty() {
                return Ok(Vec::new());
            }
            match d {
                Dialect::Postgres => vec![Op::Exec(Stmt {
                    sql: format!("TRUNCATE {}", names.join(", ")),
                    table: list[0],
                    values: Vec::new(),
                })],
                Dialect::Sqlite => list
                    .iter()
                    .zip(names)
                    .map(|(&t, n)| {
                        Op::Exec(Stmt {
                            sql: format!("DELETE FROM {n}"),
                            table: t,
                            values: Vec::new(),
                        })
                    })
                    .collect(),
            }
        }
    })
}

/// For a keyless update: the new row with its unchanged values taken from the old row.
pub(super) fn fill_unchanged(change: &Change) -> Vec<Vec<Datum>> {
    match change {
        Change::Update {
            old: Some(old),
            new,
            ..
        } if new.contains(&Datum::Unchanged) => vec![
            new.iter()
                .zip(old)
                .map(|(n, o)| {
                    if *n == Datum::Unchanged {
                        o.clone()
                    } else {
                        n.clone()
                    }
                })
                .collect(),
        ],
        _ => Vec::new(),
    }
}

/// At most this many rows per grouped statement (bigger groups are split).
pub(super) const GROUP_ROWS: usize = 5_000;

/// One step of a batch applied as grouped statements ([`group`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Delete these keys (values in key order) from `table`: one statement.
    Delete { table: usize, keys: Vec<Vec<Datum>> },
    /// Upsert these rows (full width, distinct keys) of `table`, all carrying values for the
    /// same `columns` (the others were unchanged TOAST values): one statement.
    Upsert {
        table: usize,
        columns: Vec<usize>,
        rows: Vec<Vec<Datum>>,
    },
    /// `changes[i]` exactly as [`plan`] says (truncates, tables without a key, a key change
    /// whose new row leaves a value unchanged).
    Exact(usize),
}

/// What a key ends as within a group: deleted, or this row.
type Net = HashMap<(usize, Vec<Datum>), (usize, Option<Vec<Datum>>)>;

/// Plans a batch (whole transactions in commit order) as few statements: between barriers
/// (a truncate, a key change leaving a value unchanged) each key of a keyed table ends as
/// its last change says — deleted, or upserted with its last row (unchanged TOAST values
/// taken from an earlier row of the same group when there is one) — and the group becomes
/// one delete per table, then one upsert per table and set of present columns, in the order
/// the changes came; changes of tables without a key are kept, in order, after them. The
/// final state of every key is the one the changes in order give; only a constraint other
/// than the key (a unique column swapped within the group) can see the difference, so a
/// grouped batch that fails that way is applied again statement by statement ([`plan`]).
pub(super) fn group(tables: &[TableInfo], changes: &[Change]) -> Result<Vec<Step>> {
    let info = |t: usize| {
        tables.get(t).ok_or_else(|| DataError::Protocol {
            reason: format!("a change names table #{t}, which was not described"),
        })
    };
    let mut steps = Vec::new();
    let mut net = Net::new();
    let mut kept = Vec::new();
    let mut seq = 0usize;
    let mut put = |net: &mut Net, table: usize, key: Vec<Datum>, row: Option<Vec<Datum>>| {
        seq += 1;
        net.insert((table, key), (seq, row));
    };
    for (i, change) in changes.iter().enumerate() {
        match change {
            Change::Truncate { .. } => {
                flush(&mut net, &mut kept, &mut steps);
                steps.push(Step::Exact(i));
            }
            Change::Insert { table, new } => {
                let ti = info(*table)?;
                if ti.key.is_empty() {
                    kept.push(i);
                } else {
                    put(&mut net, *table, owned_key(ti, new), Some(new.clone()));
                }
            }
            Change::Delete { table, old } => {
                let ti = info(*table)?;
                if ti.key.is_empty() {
                    kept.push(i);
                } else {
                    put(&mut net, *table, owned_key(ti, old), None);
                }
            }
            Change::Update { table, old, new } => {
                let ti = info(*table)?;
                if ti.key.is_empty() {
                    kept.push(i);
                    continue;
                }
                let new_key = owned_key(ti, new);
                if new_key.contains(&Datum::Unchanged) {
                    // plan() refuses it, in order.
                    flush(&mut net, &mut kept, &mut steps);
                    steps.push(Step::Exact(i));
                    continue;
                }
                let old_key = old.as_ref().map(|o| owned_key(ti, o));
                let moved = old_key.as_ref().filter(|k| **k != new_key);
                let before = moved.unwrap_or(&new_key);
                let mut row = new.clone();
                if row.contains(&Datum::Unchanged)
                    && let Some((_, Some(prev))) = net.get(&(*table, before.clone()))
                {
                    for (v, p) in row.iter_mut().zip(prev) {
                        if *v == Datum::Unchanged {
                            *v = p.clone();
                        }
                    }
                }
                match moved {
                    Some(_) if row.contains(&Datum::Unchanged) => {
                        // Updated in place (or inserted) on the target: exact, in order.
                        flush(&mut net, &mut kept, &mut steps);
                        steps.push(Step::Exact(i));
                    }
                    Some(old_key) => {
                        put(&mut net, *table, old_key.clone(), None);
                        put(&mut net, *table, new_key, Some(row));
                    }
                    None => put(&mut net, *table, new_key, Some(row)),
                }
            }
        }
    }
    flush(&mut net, &mut kept, &mut steps);
    Ok(steps)
}

fn owned_key(info: &TableInfo, row: &[Datum]) -> Vec<Datum> {
    info.key.iter().map(|&i| row[i].clone()).collect()
}

/// Turns a group into steps: deletes, upserts, then the kept changes.
fn flush(net: &mut Net, kept: &mut Vec<usize>, steps: &mut Vec<Step>) {
    let mut entries: Vec<_> = net.drain().collect();
    entries.sort_unstable_by_key(|(_, (seq, _))| *seq);
    // Deletes per table, tables in the order of their first delete.
    let mut deletes: Vec<(usize, Vec<Vec<Datum>>)> = Vec::new();
    // Upserts per (table, present columns), in the order of their first row.
    let mut upserts: Vec<(usize, Vec<usize>, Vec<Vec<Datum>>)> = Vec::new();
    for ((table, key), (_, row)) in entries {
        match row {
            None => match deletes.iter_mut().find(|(t, _)| *t == table) {
                Some((_, keys)) => keys.push(key),
                None => deletes.push((table, vec![key])),
            },
            Some(row) => {
                let columns = present(&row);
                match upserts
                    .iter_mut()
                    .find(|(t, c, _)| *t == table && *c == columns)
                {
                    Some((_, _, rows)) => rows.push(row),
                    None => upserts.push((table, columns, vec![row])),
                }
            }
        }
    }
    for (table, keys) in deletes {
        for chunk in keys.chunks(GROUP_ROWS) {
            steps.push(Step::Delete {
                table,
                keys: chunk.to_vec(),
            });
        }
    }
    for (table, columns, rows) in upserts {
        for chunk in rows.chunks(GROUP_ROWS) {
            steps.push(Step::Upsert {
                table,
                columns: columns.clone(),
                rows: chunk.to_vec(),
            });
        }
    }
    steps.extend(kept.drain(..).map(Step::Exact));
}

/// Postgres: upserts many rows given as one text array per column (`$n::text[]`, in
/// `columns` order), cast to the column types.
pub(super) fn upsert_many_sql(info: &TableInfo, columns: &[usize]) -> String {
    let names: Vec<String> = columns
        .iter()
        .map(|&i| quote_ident(&info.columns[i].name))
        .collect();
    let arrays: Vec<String> = (1..=columns.len())
        .map(|n| format!("${n}::text[]"))
        .collect();
    let aliases: Vec<String> = (1..=columns.len()).map(|n| format!("c{n}")).collect();
    let casts: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(n, &i)| format!("u.c{}::{}", n + 1, info.columns[i].sql_type))
        .collect();
    let conflict = on_conflict(Dialect::Postgres, info, columns);
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS u({}) {conflict}",
        info.name.sql(),
        names.join(", "),
        casts.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    )
}

/// Postgres: deletes many keys given as one text array per key column.
pub(super) fn delete_many_sql(info: &TableInfo) -> String {
    let arrays: Vec<String> = (1..=info.key.len())
        .map(|n| format!("${n}::text[]"))
        .collect();
    let aliases: Vec<String> = (1..=info.key.len()).map(|n| format!("k{n}")).collect();
    let cond: Vec<String> = info
        .key
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let c = &info.columns[i];
            format!("d.{} = u.k{}::{}", quote_ident(&c.name), n + 1, c.sql_type)
        })
        .collect();
    format!(
        "DELETE FROM {} AS d USING unnest({}) AS u({}) WHERE {}",
        info.name.sql(),
        arrays.join(", "),
        aliases.join(", "),
        cond.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> TableInfo {
        let col = |name: &str, sql_type: &str| ColumnInfo {
            name: name.into(),
            sql_type: sql_type.into(),
            kind: ValueKind::Other,
            not_null: false,
        };
        TableInfo {
            name: QualifiedName::new("public", "orders"),
            columns: vec![col("id", "bigint"), col("note", "text")],
            key: vec![0],
        }
    }

    fn t(v: &str) -> Datum {
        Datum::Text(v.into())
    }

    #[test]
    fn inserts_are_upserts_and_key_changes_delete_first() {
        let tables = [orders()];
        let ins = Change::Insert {
            table: 0,
            new: vec![t("1"), t("a")],
        };
        let ops = plan(Dialect::Postgres, &tables, &ins, &[]).expect("plan");
        let Op::Exec(s) = &ops[0] else { panic!() };
        assert_eq!(
            s.sql,
            "INSERT INTO \"public\".\"orders\" (\"id\", \"note\") VALUES ($1::bigint, $2::text) ON CONFLICT (\"id\") DO UPDATE SET \"note\" = EXCLUDED.\"note\""
        );
        let upd = Change::Update {
            table: 0,
            old: Some(vec![t("1"), Datum::Null]),
            new: vec![t("2"), t("b")],
        };
        let ops = plan(Dialect::Sqlite, &tables, &upd, &[]).expect("plan");
        assert_eq!(ops.len(), 2);
        let Op::Exec(s) = &ops[0] else { panic!() };
        assert_eq!(s.sql, "DELETE FROM \"orders\" WHERE \"id\" = ?1");
        assert_eq!(s.values, vec![(0, &t("1"))]);
        let toast = Change::Update {
            table: 0,
            old: Some(vec![t("1"), Datum::Null]),
            new: vec![t("2"), Datum::Unchanged],
        };
        let ops = plan(Dialect::Postgres, &tables, &toast, &[]).expect("plan");
        let Op::Else(u, _) = &ops[0] else { panic!() };
        assert_eq!(
            u.sql,
            "UPDATE \"public\".\"orders\" SET \"id\" = $1::bigint WHERE \"id\" = $2::bigint"
        );
    }

    fn log() -> TableInfo {
        TableInfo {
            name: QualifiedName::new("public", "log"),
            key: Vec::new(),
            ..orders()
        }
    }

    fn ins(table: usize, id: &str, note: &str) -> Change {
        Change::Insert {
            table,
            new: vec![t(id), t(note)],
        }
    }

    fn upd(old: Option<&str>, id: &str, note: Datum) -> Change {
        Change::Update {
            table: 0,
            old: old.map(|o| vec![t(o), Datum::Null]),
            new: vec![t(id), note],
        }
    }

    fn del(id: &str) -> Change {
        Change::Delete {
            table: 0,
            old: vec![t(id), Datum::Null],
        }
    }

    #[test]
    fn a_group_ends_each_key_at_its_last_change() {
        let tables = [orders(), log()];
        let changes = [
            ins(0, "1", "a"),
            upd(None, "1", t("b")),
            upd(None, "1", Datum::Unchanged),
            del("2"),
            ins(0, "2", "again"),
            ins(0, "3", "gone"),
            del("3"),
            ins(1, "x", "kept"),
            upd(Some("4"), "40", t("moved")),
            ins(1, "y", "kept"),
        ];
        let steps = group(&tables, &changes).expect("group");
        assert_eq!(
            steps,
            vec![
                Step::Delete {
                    table: 0,
                    keys: vec![vec![t("3")], vec![t("4")]],
                },
                Step::Upsert {
                    table: 0,
                    columns: vec![0, 1],
                    rows: vec![
                        // Its last change left the note unchanged: the earlier value.
                        vec![t("1"), t("b")],
                        vec![t("2"), t("again")],
                        vec![t("40"), t("moved")],
                    ],
                },
                Step::Exact(7),
                Step::Exact(9),
            ]
        );
    }

    #[test]
    fn truncates_and_key_changes_without_their_values_split_a_group() {
        let tables = [orders()];
        let changes = [
            ins(0, "1", "a"),
            Change::Truncate { tables: vec![0] },
            ins(0, "1", "b"),
            // The unchanged note is only on the target: an exact update in place.
            upd(Some("5"), "50", Datum::Unchanged),
            upd(None, "6", Datum::Unchanged),
        ];
        let steps = group(&tables, &changes).expect("group");
        let one = |id: &str, note: &str| Step::Upsert {
            table: 0,
            columns: vec![0, 1],
            rows: vec![vec![t(id), t(note)]],
        };
        assert_eq!(
            steps,
            vec![
                one("1", "a"),
                Step::Exact(1),
                one("1", "b"),
                Step::Exact(3),
                Step::Upsert {
                    table: 0,
                    columns: vec![0],
                    rows: vec![vec![t("6"), Datum::Unchanged]],
                },
            ]
        );
        assert_eq!(
            upsert_many_sql(&tables[0], &[0, 1]),
            "INSERT INTO \"public\".\"orders\" (\"id\", \"note\") SELECT u.c1::bigint, u.c2::text FROM unnest($1::text[], $2::text[]) AS u(c1, c2) ON CONFLICT (\"id\") DO UPDATE SET \"note\" = EXCLUDED.\"note\""
        );
        assert_eq!(
            delete_many_sql(&tables[0]),
            "DELETE FROM \"public\".\"orders\" AS d USING unnest($1::text[]) AS u(k1) WHERE d.\"id\" = u.k1::bigint"
        );
    }
}
