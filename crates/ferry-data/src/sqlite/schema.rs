//! Postgres tables and indexes as SQLite DDL (the mapping is documented in
//! docs/data-sqlite.md).

use std::collections::{HashMap, HashSet};

use super::translate::{translate_default, translate_generated};
use super::{SCHEMA_TABLE, table_name};
use crate::catalog::{
    Catalog, Column, Constraint, QualifiedName, Table, ValueKind, quote_ident, quote_literal,
};
use crate::error::{DataError, Result};

/// The declared SQLite type of a kind (its affinity decides how values are stored).
pub(super) fn sqlite_type(kind: &ValueKind) -> &'static str {
    match kind {
        ValueKind::Bool | ValueKind::Int => "INTEGER",
        ValueKind::Float => "REAL",
        ValueKind::Bytea => "BLOB",
        _ => "TEXT",
    }
}

/// The SQL of every table, and what could not be carried.
#[derive(Debug, Default)]
pub(super) struct TablesPlan {
    pub(super) tables: Vec<TableDdl>,
    pub(super) warnings: Vec<String>,
}

/// One `CREATE TABLE`.
#[derive(Debug)]
pub(super) struct TableDdl {
    /// The SQLite name ([`table_name`]).
    pub(super) name: String,
    /// Column definitions and table constraints.
    body: Vec<String>,
}

impl TableDdl {
    /// `CREATE TABLE [IF NOT EXISTS] "name" (…)`.
    pub(super) fn create_sql(&self, if_not_exists: bool) -> String {
        format!(
            "CREATE TABLE {}{} (\n  {}\n)",
            if if_not_exists { "IF NOT EXISTS " } else { "" },
            quote_ident(&self.name),
            self.body.join(",\n  ")
        )
    }
}

/// The columns each table has in SQLite (copied ones and carried generated ones), lower-cased.
type Present = HashMap<QualifiedName, HashSet<String>>;

/// Plans every table of the catalog. Errors when a table cannot exist in SQLite.
pub(super) fn plan_tables(catalog: &Catalog) -> Result<TablesPlan> {
    check_names(catalog)?;
    let mut plan = TablesPlan::default();
    let mut present = Present::new();
    let mut generated: HashMap<(QualifiedName, String), String> = HashMap::new();
    for table in &catalog.tables {
        let mut columns = HashSet::new();
        for column in &table.columns {
            match &column.generated {
                None => {
                    columns.insert(column.name.to_ascii_lowercase());
                }
                Some(expr) => match translate_generated(expr, table) {
                    Some(sql) => {
                        columns.insert(column.name.to_ascii_lowercase());
                        generated.insert((table.name.clone(), column.name.clone()), sql);
                    }
                    None => plan.warnings.push(format!(
                        "{}: generated column {} (`{expr}`) not carried to SQLite: its expression has no SQLite translation",
                        table.name, column.name
                    )),
                },
            }
        }
        present.insert(table.name.clone(), columns);
    }
    let unique_sets = unique_sets(catalog, &present);
    for table in &catalog.tables {
        let mut body = Vec::new();
        for column in &table.columns {
            let carried = match &column.generated {
                None => Some(None),
                Some(_) => generated
                    .get(&(table.name.clone(), column.name.clone()))
                    .map(Some),
            };
            if let Some(expr) = carried {
                body.push(column_sql(
                    catalog,
                    table,
                    column,
                    expr.map(String::as_str),
                    &mut plan.warnings,
                ));
            }
        }
        let has = |cols: &[String]| -> bool {
            present
                .get(&table.name)
                .is_some_and(|p| cols.iter().all(|c| p.contains(&c.to_ascii_lowercase())))
        };
        let mut checks = Vec::new();
        for constraint in &table.constraints {
            let name = quote_ident(&constraint.name);
            let cols = idents(&constraint.columns);
            match constraint.kind {
                'p' | 'u' if !has(&constraint.columns) || constraint.columns.is_empty() => {
                    plan.warnings.push(format!(
                        "{}: constraint {} not carried to SQLite: it names a column SQLite does not have",
                        table.name, constraint.name
                    ));
                }
                'p' if constraint
                    .columns
                    .iter()
                    .any(|c| table.column(c).is_some_and(|c| c.generated.is_some())) =>
                {
                    plan.warnings.push(format!(
                        "{}: primary key {} not carried to SQLite: it includes a generated column",
                        table.name, constraint.name
                    ));
                }
                'p' => body.push(format!("CONSTRAINT {name} PRIMARY KEY ({cols})")),
                'u' => body.push(format!("CONSTRAINT {name} UNIQUE ({cols})")),
                'f' => match foreign_key(table, constraint, &present, &unique_sets) {
                    Ok(sql) => body.push(format!("CONSTRAINT {name} {sql}")),
                    Err(why) => plan.warnings.push(format!(
                        "{}: foreign key {} not carried to SQLite: {why}",
                        table.name, constraint.name
                    )),
                },
                'c' => checks.push(constraint.name.clone()),
                _ => plan.warnings.push(format!(
                    "{}: exclusion constraint {} not carried to SQLite",
                    table.name, constraint.name
                )),
            }
        }
        if !checks.is_empty() {
            plan.warnings.push(format!(
                "{}: CHECK constraints not carried to SQLite: {}",
                table.name,
                checks.join(", ")
            ));
        }
        if table.rls.0 || !table.policies.is_empty() {
            plan.warnings.push(format!(
                "{}: row-level security ({} {}) not carried to SQLite, which has no roles",
                table.name,
                table.policies.len(),
                if table.policies.len() == 1 {
                    "policy"
                } else {
                    "policies"
                }
            ));
        }
        if !table.triggers.is_empty() {
            let n = table.triggers.len();
            plan.warnings.push(format!(
                "{}: {n} {} not carried to SQLite",
                table.name,
                if n == 1 { "trigger" } else { "triggers" }
            ));
        }
        plan.tables.push(TableDdl {
            name: table_name(&table.name),
            body,
        });
    }
    if !catalog.views.is_empty() {
        let n = catalog.views.len();
        plan.warnings.push(format!(
            "{n} {} not carried to SQLite",
            if n == 1 { "view" } else { "views" }
        ));
    }
    if !catalog.functions.is_empty() {
        let n = catalog.functions.len();
        plan.warnings.push(format!(
            "{n} {} not carried to SQLite",
            if n == 1 { "function" } else { "functions" }
        ));
    }
    Ok(plan)
}

/// Refuses names SQLite cannot hold: two tables (or two columns of a table) equal but for
/// ASCII case, the reserved `sqlite_` prefix, the metadata table, a table without columns.
fn check_names(catalog: &Catalog) -> Result<()> {
    let mut seen: HashMap<String, &QualifiedName> = HashMap::new();
    for table in &catalog.tables {
        let name = table_name(&table.name);
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("sqlite_") || lower == SCHEMA_TABLE {
            return Err(DataError::UnsupportedType {
                what: format!("{}: the name {name} is reserved in SQLite", table.name),
            });
        }
        if let Some(other) = seen.insert(lower, &table.name) {
            return Err(DataError::UnsupportedType {
                what: format!(
                    "{other} and {} have the same SQLite name ({name}; SQLite ignores case)",
                    table.name
                ),
            });
        }
        if table.copied_columns().next().is_none() {
            return Err(DataError::UnsupportedType {
                what: format!("{} has no column SQLite can hold", table.name),
            });
        }
        let mut columns: HashMap<String, &str> = HashMap::new();
        for column in &table.columns {
            if let Some(other) = columns.insert(column.name.to_ascii_lowercase(), &column.name) {
                return Err(DataError::UnsupportedType {
                    what: format!(
                        "{}: columns {other} and {} differ only in case, which SQLite ignores",
                        table.name, column.name
                    ),
                });
            }
        }
    }
    Ok(())
}

fn idents(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One column definition.
fn column_sql(
    catalog: &Catalog,
    table: &Table,
    column: &Column,
    generated: Option<&str>,
    warnings: &mut Vec<String>,
) -> String {
    let name = quote_ident(&column.name);
    let mut sql = format!("{name} {}", sqlite_type(&column.kind));
    if let Some(expr) = generated {
        sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
    }
    if column.not_null {
        sql.push_str(" NOT NULL");
    }
    if generated.is_none()
        && let Some(default) = column
            .default
            .as_deref()
            .and_then(|d| translate_default(column, d))
    {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    match &column.kind {
        ValueKind::Bool => sql.push_str(&format!(" CHECK ({name} IN (0, 1))")),
        ValueKind::Json | ValueKind::Jsonb | ValueKind::Array(_) => {
            sql.push_str(&format!(" CHECK (json_valid({name}))"));
        }
        ValueKind::Enum => match enum_labels(catalog, &column.sql_type) {
            Some(labels) if !labels.is_empty() => {
                let list: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
                sql.push_str(&format!(" CHECK ({name} IN ({}))", list.join(", ")));
            }
            _ => warnings.push(format!(
                "{}: the labels of {} (column {}) are unknown: no CHECK on its values",
                table.name, column.sql_type, column.name
            )),
        },
        _ => {}
    }
    sql
}

/// Splits a type name as `format_type` prints it (`public.todo_status`, `"My".x`) into its
/// identifiers, unquoted.
fn type_parts(sql_type: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = sql_type.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// The labels of the enum a column's `sql_type` names (directly or through a domain).
fn enum_labels<'c>(catalog: &'c Catalog, sql_type: &str) -> Option<&'c [String]> {
    let parts = type_parts(sql_type)?;
    let matches = |name: &QualifiedName| match parts.as_slice() {
        [schema, n] => &name.schema == schema && &name.name == n,
        [n] => &name.name == n,
        _ => false,
    };
    if let Some(e) = catalog.enums.iter().find(|e| matches(&e.name)) {
        return Some(&e.labels);
    }
    let domain = catalog.domains.iter().find(|d| matches(&d.name))?;
    if domain.base_type == sql_type {
        return None;
    }
    enum_labels(catalog, &domain.base_type)
}

/// For each table, the column sets (lower-cased, sorted) SQLite will know as unique: the
/// primary key, unique constraints and carried unique indexes.
fn unique_sets(catalog: &Catalog, present: &Present) -> HashMap<QualifiedName, Vec<Vec<String>>> {
    let mut sets: HashMap<QualifiedName, Vec<Vec<String>>> = HashMap::new();
    for table in &catalog.tables {
        let Some(cols) = present.get(&table.name) else {
            continue;
        };
        let mut add = |columns: &[String]| {
            let mut set: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
            if !set.is_empty() && set.iter().all(|c| cols.contains(c)) {
                set.sort();
                sets.entry(table.name.clone()).or_default().push(set);
            }
        };
        for c in table
            .constraints
            .iter()
            .filter(|c| c.kind == 'p' || c.kind == 'u')
        {
            add(&c.columns);
        }
        for index in &table.indexes {
            if index_carried(index).is_ok() && index.unique && !has_include(index) {
                add(&index.columns);
            }
        }
    }
    sets
}

/// `FOREIGN KEY (…) REFERENCES "parent" (…) ON DELETE … ON UPDATE …`, or why not.
fn foreign_key(
    table: &Table,
    fk: &Constraint,
    present: &Present,
    unique_sets: &HashMap<QualifiedName, Vec<Vec<String>>>,
) -> std::result::Result<String, String> {
    let Some(parent) = &fk.references else {
        return Err("its referenced table is unknown".into());
    };
    let Some(parent_cols) = present.get(parent) else {
        return Err(format!("it references {parent}, which is not copied"));
    };
    let child_cols = present.get(&table.name);
    let child_ok = child_cols.is_some_and(|p| {
        fk.columns
            .iter()
            .all(|c| p.contains(&c.to_ascii_lowercase()))
    });
    let parent_ok = fk
        .ref_columns
        .iter()
        .all(|c| parent_cols.contains(&c.to_ascii_lowercase()));
    if fk.columns.is_empty() || fk.columns.len() != fk.ref_columns.len() || !child_ok || !parent_ok
    {
        return Err("it names a column SQLite does not have".into());
    }
    let mut key: Vec<String> = fk
        .ref_columns
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    key.sort();
    if !unique_sets
        .get(parent)
        .is_some_and(|sets| sets.contains(&key))
    {
        return Err(format!(
            "the referenced columns of {parent} have no primary key or unique index in SQLite"
        ));
    }
    let mut sql = format!(
        "FOREIGN KEY ({}) REFERENCES {} ({})",
        idents(&fk.columns),
        quote_ident(&table_name(parent)),
        idents(&fk.ref_columns)
    );
    for (clause, action) in [("ON DELETE", &fk.on_delete), ("ON UPDATE", &fk.on_update)] {
        if [
            "NO ACTION",
            "CASCADE",
            "SET NULL",
            "SET DEFAULT",
            "RESTRICT",
        ]
        .contains(&action.as_str())
        {
            sql.push_str(&format!(" {clause} {action}"));
        }
    }
    if fk.definition.contains("INITIALLY DEFERRED") {
        sql.push_str(" DEFERRABLE INITIALLY DEFERRED");
    }
    Ok(sql)
}

// ---------------------------------------------------------------------------------------
// Indexes.

/// The SQL of each carried index (name, statement), and what was left out.
#[derive(Debug, Default)]
pub(super) struct IndexesPlan {
    pub(super) indexes: Vec<(String, String)>,
    pub(super) warnings: Vec<String>,
}

fn has_include(index: &crate::catalog::Index) -> bool {
    index.definition.contains(" INCLUDE (")
}

/// Whether SQLite can rebuild an index from its columns, or why not.
fn index_carried(index: &crate::catalog::Index) -> std::result::Result<(), &'static str> {
    if index.columns.is_empty() {
        return Err("it indexes an expression");
    }
    if index.definition.contains(" WHERE ") {
        return Err("it is partial (WHERE)");
    }
    let method = index
        .definition
        .split_once(" USING ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("btree");
    if method != "btree" && method != "hash" {
        return Err("its access method has no SQLite counterpart");
    }
    Ok(())
}

/// Plans the indexes of every table (names unique across the file, case-insensitively).
pub(super) fn plan_indexes(catalog: &Catalog) -> IndexesPlan {
    let mut plan = IndexesPlan::default();
    let mut used: HashSet<String> = catalog
        .tables
        .iter()
        .map(|t| table_name(&t.name).to_ascii_lowercase())
        .collect();
    used.insert(SCHEMA_TABLE.to_string());
    for table in &catalog.tables {
        let stored = table_name(&table.name);
        for index in &table.indexes {
            if let Err(why) = index_carried(index) {
                plan.warnings.push(format!(
                    "{}: index {} not carried to SQLite: {why}",
                    table.name, index.name
                ));
                continue;
            }
            let missing = index
                .columns
                .iter()
                .find(|c| table.column(c).is_none_or(|col| col.generated.is_some()));
            if let Some(missing) = missing {
                plan.warnings.push(format!(
                    "{}: index {} not carried to SQLite: it indexes generated column {missing}",
                    table.name, index.name
                ));
                continue;
            }
            let unique = index.unique && !has_include(index);
            if index.unique && !unique {
                plan.warnings.push(format!(
                    "{}: unique index {} has INCLUDE columns: carried to SQLite as a plain index",
                    table.name, index.name
                ));
            }
            let mut name = table_name(&QualifiedName::new(&table.name.schema, &index.name));
            if used.contains(&name.to_ascii_lowercase()) {
                name = format!("{stored}_{}", index.name);
            }
            let base = name.clone();
            let mut n = 2;
            while used.contains(&name.to_ascii_lowercase()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            used.insert(name.to_ascii_lowercase());
            let sql = format!(
                "CREATE {}INDEX IF NOT EXISTS {} ON {} ({})",
                if unique { "UNIQUE " } else { "" },
                quote_ident(&name),
                quote_ident(&stored),
                idents(&index.columns)
            );
            plan.indexes.push((name, sql));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_type_names_parse() {
        assert_eq!(
            type_parts("public.todo_status"),
            Some(vec!["public".into(), "todo_status".into()])
        );
        assert_eq!(
            type_parts("public.\"Weird\"\"Name\""),
            Some(vec!["public".into(), "Weird\"Name".into()])
        );
        assert_eq!(
            type_parts("\"a.b\".\"c\""),
            Some(vec!["a.b".into(), "c".into()])
        );
        assert_eq!(type_parts("mood"), Some(vec!["mood".into()]));
        assert_eq!(type_parts("\"x\"y"), None);
    }
}
