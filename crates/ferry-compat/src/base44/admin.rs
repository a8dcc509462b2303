//! What only the owner does, outside the API: making a user an admin (`ferry base44 admin
//! EMAIL`). Nobody becomes an admin by registering; migrated users keep their role; this is
//! the one way to grant it (and to take it back).

use serde_json::Value;

use crate::base44::model::{Dialect, Entity, USER_ENTITY};
use crate::base44::query::{Sql, SqlValue};
use crate::base44::record::{ident, now, public_columns, row_to_record};
use crate::base44::store::{Db, StoreError};

/// The roles a Base44 user can have.
pub const ROLES: [&str; 2] = ["admin", "user"];

fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}::text"),
        Dialect::Sqlite => format!("?{n}"),
    }
}

/// Sets the role of the user whose email is `email` (compared lower-cased, as sign-in does)
/// and returns their public record, or `None` when no such user exists. `users` is the applied
/// `User` entity; `role` must be one of [`ROLES`] (else a [`StoreError::Shape`]).
pub async fn set_role(
    db: &Db,
    users: &Entity,
    email: &str,
    role: &str,
) -> Result<Option<Value>, StoreError> {
    if users.name != USER_ENTITY {
        return Err(StoreError::Shape(format!(
            "`{}` is not the User entity",
            users.name
        )));
    }
    if !ROLES.contains(&role) {
        return Err(StoreError::Shape(format!(
            "`{role}` is not a role (admin or user)"
        )));
    }
    let d = db.dialect();
    let table = ident(&users.table);
    let email = email.trim().to_lowercase();
    let update = Sql {
        text: format!(
            "UPDATE {table} SET \"role\" = {}, \"updated_date\" = {} WHERE lower(\"email\") = {}",
            placeholder(d, 1),
            now(d),
            placeholder(d, 2)
        ),
        params: vec![SqlValue::Text(role.into()), SqlValue::Text(email.clone())],
    };
    if db.execute(&update).await? == 0 {
        return Ok(None);
    }
    let columns = public_columns(users);
    let select = Sql {
        text: format!(
            "SELECT {} FROM {table} WHERE lower(\"email\") = {}",
            columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", "),
            placeholder(d, 1)
        ),
        params: vec![SqlValue::Text(email)],
    };
    let rows = db.query(&select, columns.len()).await?;
    match rows.first() {
        Some(row) => row_to_record(users, row, d)
            .map(Some)
            .map_err(|err| StoreError::Shape(err.to_string())),
        None => Ok(None),
    }
}
