//! Realtime entity subscriptions, as `@base44/sdk`'s `entities.X.subscribe(cb)` expects them:
//! socket.io (Engine.IO v4, WebSocket transport only) at `/ws-user-apps/socket.io/` on the
//! app's origin. A client joins the room `entities:{appId}:{Entity}` (in any namespace: the
//! SDK's `serverUrl` path becomes the namespace) and receives `update_model` events
//! `{"room", "data"}` whose `data` is the JSON text of `{type, data, id, timestamp}`.
//!
//! Every write of the entities API publishes its records on the app's [`Events`] after its
//! transaction commits; each socket checks the entity's read rule for its own caller against
//! the record ([`matcher`]) and sends only what that caller could read (for a delete, the
//! record as it was). `docs/base44.md`, "Realtime", has the protocol and the limits.

pub mod matcher;
pub mod packet;
mod socket;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::base44::model::Entity;
use crate::base44::rls::Caller;

pub use socket::router;

/// The path the SDK's socket.io client connects to (`mountPath`), at the origin's root.
pub const SOCKET_PATH: &str = "/ws-user-apps/socket.io/";
/// How many events an app's channel holds for a subscriber that has not read them yet; a
/// subscriber further behind skips the oldest (and never receives a wrong one).
pub const EVENT_BUFFER: usize = 16_384;
/// Above this many bytes, an event's record is slimmed for transport as the SDK expects
/// (`data._oversize: true`, string fields over [`OVERSIZE_FIELD_BYTES`] emptied).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// The string fields an oversize record loses.
pub const OVERSIZE_FIELD_BYTES: usize = 10 * 1024;

/// What a write did to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created (`create`, `bulkCreate`, `import`, an upsert's new record).
    Create,
    /// Updated (`update`, `updateMe`, `bulkUpdate`, `updateMany`, an upsert's existing one).
    Update,
    /// Deleted (`delete`, `deleteMany`).
    Delete,
}

impl ChangeKind {
    /// The `type` the SDK reads: `create`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }
}

/// One committed change of one record, ready to send.
#[derive(Debug)]
pub struct Change {
    /// The entity as the writing API applied it (its `rls` decides who receives the change).
    pub entity: Arc<Entity>,
    /// What happened.
    pub kind: ChangeKind,
    /// The record as the API answers it (for a delete, as it was before).
    pub record: Map<String, Value>,
    /// The socket.io event's arguments, `["update_model", {"room", "data"}]`, as JSON text.
    pub event: String,
}

/// An app's channel of committed changes, shared by every release of the app (sockets
/// outlive a deploy) and counted for the socket cap.
#[derive(Debug, Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<Arc<Change>>,
    sockets: AtomicUsize,
}

impl Default for Events {
    fn default() -> Events {
        Events::new(EVENT_BUFFER)
    }
}

impl Events {
    /// A channel holding up to `buffer` unread events per subscriber.
    pub fn new(buffer: usize) -> Events {
        let (tx, _) = broadcast::channel(buffer.max(1));
        Events {
            inner: Arc::new(Inner {
                tx,
                sockets: AtomicUsize::new(0),
            }),
        }
    }

    /// Whether anyone listens (writes skip building events otherwise).
    pub fn active(&self) -> bool {
        self.inner.tx.receiver_count() > 0
    }

    /// How many sockets are open.
    pub fn sockets(&self) -> usize {
        self.inner.sockets.load(Ordering::Relaxed)
    }

    /// Publishes committed `records` of `entity` (each a JSON object with its `id`) to the
    /// app `app_id`'s subscribers; nothing is built when there are none.
    pub fn publish<'r>(
        &self,
        app_id: &str,
        entity: &Entity,
        kind: ChangeKind,
        records: impl IntoIterator<Item = &'r Value>,
    ) {
        if !self.active() {
            return;
        }
        let entity = Arc::new(entity.clone());
        let room = format!("entities:{app_id}:{}", entity.name);
        for record in records {
            let Value::Object(record) = record else {
                continue;
            };
            let change = build(&entity, &room, kind, record.clone());
            // An error only means every subscriber left meanwhile.
            let _ = self.inner.tx.send(Arc::new(change));
        }
    }

    /// A receiver of the changes published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.inner.tx.subscribe()
    }

    /// Counts one more socket unless `max` are open already.
    fn reserve(&self, max: usize) -> Option<SocketSlot> {
        let taken = self
            .inner
            .sockets
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        taken.ok().map(|_| SocketSlot {
            events: self.clone(),
        })
    }
}

/// One open socket in its app's count; dropping it frees the place.
#[derive(Debug)]
struct SocketSlot {
    events: Events,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.events.inner.sockets.fetch_sub(1, Ordering::AcqRel);
    }
}

fn build(entity: &Arc<Entity>, room: &str, kind: ChangeKind, record: Map<String, Value>) -> Change {
    let id = record.get("id").cloned().unwrap_or(Value::Null);
    let timestamp = match kind {
        ChangeKind::Delete => None,
        _ => record
            .get("updated_date")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
    .unwrap_or_else(crate::base44::now_datetime);
    let mut data = json!({
        "type": kind.as_str(),
        "data": &record,
        "id": &id,
        "timestamp": timestamp,
    })
    .to_string();
    if data.len() > MAX_EVENT_BYTES {
        data = json!({
            "type": kind.as_str(),
            "data": slim(&record),
            "id": &id,
            "timestamp": timestamp,
        })
        .to_string();
    }
    let event = json!(["update_model", {"room": room, "data": data}]).to_string();
    Change {
        entity: entity.clone(),
        kind,
        record,
        event,
    }
}

/// The record with string fields over [`OVERSIZE_FIELD_BYTES`] emptied and `_oversize: true`;
/// when that is still too big, only its built-in fields.
fn slim(record: &Map<String, Value>) -> Value {
    let mut out: Map<String, Value> = record
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.len() > OVERSIZE_FIELD_BYTES => {
                (k.clone(), Value::String(String::new()))
            }
            other => (k.clone(), other.clone()),
        })
        .collect();
    out.insert("_oversize".into(), Value::Bool(true));
    let out = Value::Object(out);
    if out.to_string().len() <= MAX_EVENT_BYTES {
        return out;
    }
    let mut stub: Map<String, Value> = crate::base44::model::BUILTIN_FIELDS
        .iter()
        .filter_map(|k| Some(((*k).to_string(), record.get(*k)?.clone())))
        .collect();
    stub.insert("_oversize".into(), Value::Bool(true));
    Value::Object(stub)
}

/// Resolves the handshake's `token` into the socket's caller (anonymous when absent or not
/// valid).
pub type ResolveFn =
    Arc<dyn Fn(Option<String>) -> Pin<Box<dyn Future<Output = Caller> + Send>> + Send + Sync>;

/// The bounds of one app's sockets.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest frame a client may send, in bytes (announced as `maxPayload`).
    pub max_payload: usize,
    /// How many rooms one socket may be in, over all its namespaces.
    pub max_rooms: usize,
    /// How many namespaces one socket may connect to.
    pub max_namespaces: usize,
    /// How many sockets the app may have open.
    pub max_sockets: usize,
    /// How often the server pings; a socket that has not answered the previous ping by the
    /// next one is closed.
    pub ping_interval: Duration,
    /// Announced to the client (`pingTimeout`): how long after a missing ping it gives up.
    pub ping_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_payload: 64 * 1024,
            max_rooms: 128,
            max_namespaces: 8,
            max_sockets: 10_000,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

/// What one app's socket endpoint serves.
pub struct Realtime {
    /// The app id rooms name (`entities:{app_id}:{Entity}`); the handshake's `app_id`, when
    /// sent, must be this one.
    pub app_id: String,
    /// The app's changes.
    pub events: Events,
    /// Turns the handshake's token into the caller.
    pub resolve: ResolveFn,
    /// The bounds.
    pub limits: Limits,
}

impl std::fmt::Debug for Realtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realtime")
            .field("app_id", &self.app_id)
            .field("events", &self.events)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
