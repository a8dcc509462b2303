//! Turning decoded changes into idempotent statements (one plan, two SQL dialects): inserts
//! and same-key updates as upserts on the key, key changes as delete + upsert, deletes by
//! key, truncates. Tables without a key (`REPLICA IDENTITY FULL`) match one row on every
//! column of the old row.

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
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                key.join(", "),
                sets.join(", ")
            ));
        }
    }
    Stmt {
        sql,
        table: t,
        values: cols.iter().map(|&i| (i, &row[i])).collect(),
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
}
