//! One request's context: the app and entity it names, and the caller (a signed-in user's
//! attributes read again from `User`), with the helpers every handler uses to check the
//! entity's access rules and run its statements.

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::request::{Answer, ok, record_not_found};
use super::{ApiError, Shared};
use crate::base44::model::{Dialect, Entity, USER_ENTITY};
use crate::base44::query::{Filter, ListQuery, Sql, count_sql, parse_filter, select_sql};
use crate::base44::realtime::ChangeKind;
use crate::base44::record::{
    Author, Cell, get_sql, is_valid_id, public_columns, row_to_record, update_sql,
};
use crate::base44::rls::{self, Access, Caller, Operation};
use crate::base44::store::{Db, Tx};

/// One request's entity and caller.
pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Shared,
    pub(super) entity: &'a Entity,
    pub(super) caller: Caller,
}

impl Shared {
    pub(super) fn db(&self) -> &Db {
        &self.app.db
    }

    /// Checks the app id of the path and of `X-App-Id` (when sent): another is a 404.
    pub(super) fn check_app(&self, headers: &HeaderMap, app_id: &str) -> Result<(), ApiError> {
        let header_ok = headers
            .get("x-app-id")
            .is_none_or(|h| h.as_bytes() == self.app.app_id.as_bytes());
        if app_id != self.app.app_id || !header_ok {
            return Err(ApiError::not_found("unknown-app", "no such app"));
        }
        Ok(())
    }

    /// Checks the app id (path and `X-App-Id`), finds the entity, resolves the caller.
    pub(super) async fn ctx(
        &self,
        headers: &HeaderMap,
        app_id: &str,
        name: &str,
    ) -> Result<Ctx<'_>, ApiError> {
        self.check_app(headers, app_id)?;
        let entity = self
            .entities
            .get(name)
            .ok_or_else(|| ApiError::not_found("unknown-entity", "no such entity"))?;
        let caller = self.caller(headers).await?;
        Ok(Ctx {
            shared: self,
            entity,
            caller,
        })
    }

    /// The caller, a signed-in user's attributes read again from `User`.
    pub(super) async fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let caller = (self.app.caller_from)(headers)?;
        let (Some(user), false) = (&caller.user, caller.service) else {
            return Ok(caller);
        };
        let Some(users) = self.entities.get(USER_ENTITY) else {
            return Ok(caller);
        };
        let dialect = self.db().dialect();
        let sql = match (user.get("id"), user.get("email")) {
            (Some(Value::String(id)), _) => {
                if !is_valid_id(id) {
                    return Err(ApiError::unauthorized("unknown user"));
                }
                get_sql(users, id, dialect, None)?
            }
            (_, Some(Value::String(email))) => {
                let query = ListQuery {
                    filter: Some(parse_filter(&json!({ "email": email }))?),
                    limit: 2,
                    ..ListQuery::default()
                };
                select_sql(users, &query, dialect)?
            }
            _ => return Ok(caller),
        };
        let mut records = self.records(users, &sql).await?;
        match (records.pop(), records.is_empty()) {
            (Some(Value::Object(record)), true) => Ok(Caller::user(record)),
            _ => Err(ApiError::unauthorized("unknown user")),
        }
    }

    /// Runs a statement returning public columns and decodes its rows.
    pub(super) async fn records(&self, entity: &Entity, sql: &Sql) -> Result<Vec<Value>, ApiError> {
        let rows = self.db().query(sql, public_columns(entity).len()).await?;
        decode(entity, rows, self.db().dialect())
    }
}

pub(super) fn decode(
    entity: &Entity,
    rows: Vec<Vec<Cell>>,
    dialect: Dialect,
) -> Result<Vec<Value>, ApiError> {
    rows.iter()
        .map(|cells| row_to_record(entity, cells, dialect).map_err(ApiError::from))
        .collect()
}

impl Ctx<'_> {
    pub(super) fn access(&self, op: Operation) -> Result<Access, ApiError> {
        Ok(rls::access(self.entity, op, &self.caller)?)
    }

    pub(super) fn dialect(&self) -> Dialect {
        self.shared.db().dialect()
    }

    /// Publishes committed `records` of the entity to realtime subscribers (nothing is built
    /// when there are none). Call it only after the write's transaction has committed.
    pub(super) fn publish<'r>(
        &self,
        kind: ChangeKind,
        records: impl IntoIterator<Item = &'r Value>,
    ) {
        let app = &self.shared.app;
        app.events.publish(&app.app_id, self.entity, kind, records);
    }

    /// Whether anyone subscribes to the app's changes.
    pub(super) fn observed(&self) -> bool {
        self.shared.app.events.active()
    }

    pub(super) fn columns(&self) -> usize {
        public_columns(self.entity).len()
    }

    pub(super) fn author(&self) -> Author {
        let text = |key: &str| {
            self.caller
                .user
                .as_ref()
                .and_then(|u| u.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Author {
            email: text("email"),
            id: text("id"),
        }
    }

    /// On `User`, a caller who is neither an admin nor the service role cannot set `role`
    /// (nor change `email`, the sign-in identity, on update): those keys are dropped.
    pub(super) fn guard_user_fields(&self, record: &mut Map<String, Value>, update: bool) {
        if self.entity.name != USER_ENTITY || self.caller.service || self.caller.is_admin() {
            return;
        }
        record.remove("role");
        if update {
            record.remove("email");
        }
    }

    /// Runs a write returning one record's public columns; with `check`, inside a transaction
    /// that re-selects the record `id` with the filter and rolls back (403) when it does not
    /// match. `Ok(None)`: the write touched no row.
    pub(super) async fn write_one(
        &self,
        sql: &Sql,
        id: &str,
        check: Option<&Filter>,
    ) -> Result<Option<Value>, ApiError> {
        let db = self.shared.db();
        let Some(filter) = check else {
            let mut records = self.shared.records(self.entity, sql).await?;
            return Ok(records.pop());
        };
        let mut tx = db.begin().await?;
        if tx.query(sql, self.columns()).await?.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let recheck = get_sql(self.entity, id, self.dialect(), Some(filter))?;
        let rows = tx.query(&recheck, self.columns()).await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Err(ApiError::forbidden(
                "the record's values are not allowed by the entity's access rules",
            ));
        }
        tx.commit().await?;
        Ok(decode(self.entity, rows, self.dialect())?.pop())
    }

    /// The number of records among `ids` that do NOT match `rule`, in `tx` (0: every record
    /// written is allowed). Counting the ones outside, `id IN (…) AND NOT (rule)`, lets the
    /// database find them by primary key: an index on the rule's field (`created_by`) cannot
    /// serve a negation, so a planner without statistics never walks all of a user's rows.
    pub(super) async fn count_outside(
        &self,
        tx: &mut Tx,
        ids: &[String],
        rule: &Filter,
    ) -> Result<usize, ApiError> {
        let these = parse_filter(&json!({ "id": { "$in": ids } }))?;
        let both = Filter::And(vec![these, Filter::Nor(vec![rule.clone()])]);
        let counted = tx
            .query(&count_sql(self.entity, Some(&both), self.dialect())?, 1)
            .await?;
        Ok(match counted.first().and_then(|r| r.first()) {
            Some(Cell::Int(n)) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        })
    }

    /// A partial update of record `id` under the update rule (the `update` route's work,
    /// shared with `updateMe`).
    pub(super) async fn update(&self, id: &str, mut changes: Map<String, Value>) -> Answer {
        let check = write_filter(self.access(Operation::Update)?, Operation::Update)?;
        self.guard_user_fields(&mut changes, true);
        let sql = update_sql(self.entity, id, &changes, self.dialect(), check.as_ref())?;
        match self.write_one(&sql, id, check.as_ref()).await? {
            Some(record) => {
                self.publish(ChangeKind::Update, [&record]);
                ok(record)
            }
            None => Err(record_not_found()),
        }
    }
}

/// `Denied` → 403; `All` → no filter; `Rows(f)` → `f`.
pub(super) fn write_filter(access: Access, op: Operation) -> Result<Option<Filter>, ApiError> {
    match access {
        Access::All => Ok(None),
        Access::Denied => Err(ApiError::forbidden(format!(
            "{op} is not allowed on this entity"
        ))),
        Access::Rows(f) => Ok(Some(f)),
    }
}
