//! The socket endpoint: the Engine.IO handshake over a WebSocket upgrade, then one task per
//! socket reading the client's packets, pinging it, and forwarding the app's changes in the
//! rooms it joined that its caller may read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::packet::{self, EnginePacket, SioKind, parse_engine, parse_sio};
use super::{Change, Limits, Realtime, SOCKET_PATH, SocketSlot, matcher};
use crate::base44::rls::{self, Access, Caller, Operation};

/// The socket endpoint of one app: mount it at the root of the app's origin (it answers
/// [`SOCKET_PATH`], with or without the final `/`, and any other path under `/ws-user-apps/`
/// with a JSON 404). It has no fallback, so it merges with other routers.
pub fn router(realtime: Arc<Realtime>) -> Router {
    Router::new()
        .route(SOCKET_PATH, any(handshake))
        .route(SOCKET_PATH.trim_end_matches('/'), any(handshake))
        .route("/ws-user-apps/{*rest}", any(no_such_path))
        .with_state(realtime)
}

async fn no_such_path() -> Response {
    refuse(StatusCode::NOT_FOUND, 3, "no such socket path")
}

/// An Engine.IO error answer: `{"code", "message"}` (the codes engine.io uses: 0 unknown
/// transport, 1 unknown session, 3 bad request, 5 unsupported protocol version).
fn refuse(status: StatusCode, code: u8, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn random_id() -> String {
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: ids only need to be distinct within the process.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn handshake(
    State(rt): State<Arc<Realtime>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let params = query.map(|Query(q)| q).unwrap_or_default();
    if params.get("EIO").map(String::as_str) != Some("4") {
        return refuse(
            StatusCode::BAD_REQUEST,
            5,
            "Unsupported protocol version: ferry speaks Engine.IO 4 (EIO=4)",
        );
    }
    if params.get("transport").map(String::as_str) != Some("websocket") {
        return refuse(
            StatusCode::BAD_REQUEST,
            0,
            "Transport unknown: ferry serves the websocket transport only (transports: [\"websocket\"])",
        );
    }
    if params.contains_key("sid") {
        return refuse(
            StatusCode::BAD_REQUEST,
            1,
            "Session ID unknown: sessions start on a WebSocket",
        );
    }
    if params.get("app_id").is_some_and(|id| *id != rt.app_id) {
        return refuse(StatusCode::NOT_FOUND, 3, "unknown app");
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                3,
                "Bad request: a WebSocket upgrade is expected",
            );
        }
    };
    let Some(slot) = rt.events.reserve(rt.limits.max_sockets) else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            3,
            "too many sockets for this app",
        );
    };
    let token = params
        .get("token")
        .filter(|t| !matches!(t.as_str(), "" | "undefined" | "null"))
        .cloned();
    let caller = (rt.resolve)(token).await;
    let max = rt.limits.max_payload;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |ws| async move {
            let mut session = Session::new(rt, caller, slot);
            session.run(ws).await;
        })
}

/// One socket's state.
struct Session {
    rt: Arc<Realtime>,
    caller: Caller,
    sid: String,
    /// The namespaces connected, each with the entities whose rooms it joined.
    namespaces: HashMap<String, HashSet<String>>,
    /// The read access per entity name, with the rules it was compiled from.
    access: HashMap<String, (Option<Value>, Access)>,
    _slot: SocketSlot,
}

/// What the loop does after a packet.
enum Next {
    Continue,
    Close,
}

impl Session {
    fn new(rt: Arc<Realtime>, caller: Caller, slot: SocketSlot) -> Session {
        Session {
            rt,
            caller,
            sid: random_id(),
            namespaces: HashMap::new(),
            access: HashMap::new(),
            _slot: slot,
        }
    }

    fn limits(&self) -> &Limits {
        &self.rt.limits
    }

    async fn run(&mut self, mut ws: WebSocket) {
        let mut changes = self.rt.events.subscribe();
        let limits = self.limits().clone();
        let open = packet::open(
            &self.sid,
            u64::try_from(limits.ping_interval.as_millis()).unwrap_or(u64::MAX),
            u64::try_from(limits.ping_timeout.as_millis()).unwrap_or(u64::MAX),
            limits.max_payload,
        );
        if ws.send(Message::text(open)).await.is_err() {
            return;
        }
        let start = tokio::time::Instant::now() + limits.ping_interval;
        let mut ping = tokio::time::interval_at(start, limits.ping_interval);
        let mut awaiting_pong = false;
        loop {
            tokio::select! {
                frame = ws.recv() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        // Binary frames, close frames, errors (oversized frames included), end.
                        _ => break,
                    };
                    let mut out = Vec::new();
                    let next = self.on_frame(text.as_str(), &mut awaiting_pong, &mut out);
                    for frame in out {
                        if ws.send(Message::text(frame)).await.is_err() {
                            return;
                        }
                    }
                    if let Next::Close = next {
                        break;
                    }
                }
                change = changes.recv() => {
                    let change = match change {
                        Ok(change) => change,
                        // Too far behind: the skipped events are lost, none is wrong.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    };
                    for frame in self.deliver(&change) {
                        if ws.send(Message::text(frame)).await.is_err() {
                            return;
                        }
                    }
                }
                _ = ping.tick() => {
                    if awaiting_pong {
                        break;
                    }
                    awaiting_pong = true;
                    if ws.send(Message::text(packet::PING)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = ws.send(Message::Close(None)).await;
    }

    /// Handles one text frame, pushing the frames to answer into `out`.
    fn on_frame(&mut self, text: &str, awaiting_pong: &mut bool, out: &mut Vec<String>) -> Next {
        let packet = match parse_engine(text) {
            Ok(p) => p,
            Err(_) => return Next::Close,
        };
        match packet {
            EnginePacket::Pong(_) => {
                *awaiting_pong = false;
                Next::Continue
            }
            EnginePacket::Ping(data) => {
                out.push(format!("3{data}"));
                Next::Continue
            }
            EnginePacket::Noop => Next::Continue,
            EnginePacket::Close | EnginePacket::Upgrade => Next::Close,
            EnginePacket::Message(message) => self.on_message(message, out),
        }
    }

    fn on_message(&mut self, message: &str, out: &mut Vec<String>) -> Next {
        let Ok(p) = parse_sio(message) else {
            return Next::Close;
        };
        match p.kind {
            SioKind::Connect => {
                if !self.namespaces.contains_key(&p.nsp)
                    && self.namespaces.len() >= self.limits().max_namespaces
                {
                    let error = json!({ "message": "too many namespaces on one socket" });
                    out.push(packet::sio_frame(
                        SioKind::ConnectError,
                        &p.nsp,
                        None,
                        Some(&error.to_string()),
                    ));
                    return Next::Continue;
                }
                self.namespaces.entry(p.nsp.clone()).or_default();
                let ok = json!({ "sid": random_id() });
                out.push(packet::sio_frame(
                    SioKind::Connect,
                    &p.nsp,
                    None,
                    Some(&ok.to_string()),
                ));
            }
            SioKind::Disconnect => {
                self.namespaces.remove(&p.nsp);
            }
            SioKind::Event => {
                let answer = self.on_event(&p.nsp, p.data.as_ref());
                if let Some(id) = p.ack
                    && self.namespaces.contains_key(&p.nsp)
                {
                    out.push(packet::sio_frame(
                        SioKind::Ack,
                        &p.nsp,
                        Some(id),
                        Some(&answer.to_string()),
                    ));
                }
            }
            SioKind::Ack | SioKind::ConnectError => {}
        }
        Next::Continue
    }

    /// `join`/`leave` a room; anything else is ignored. Answers the ack's arguments.
    fn on_event(&mut self, nsp: &str, data: Option<&Value>) -> Value {
        let total: usize = self.namespaces.values().map(HashSet::len).sum();
        let max_rooms = self.limits().max_rooms;
        let Some(rooms) = self.namespaces.get_mut(nsp) else {
            return json!([]);
        };
        let args = data
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (Some(name), Some(room)) = (
            args.first().and_then(Value::as_str),
            args.get(1).and_then(Value::as_str),
        ) else {
            return json!([]);
        };
        let Some(entity) = entity_of(&self.rt.app_id, room) else {
            return json!([]);
        };
        match name {
            "join" if !rooms.contains(entity) => {
                if total >= max_rooms {
                    return json!([{ "error": "too many rooms on one socket" }]);
                }
                rooms.insert(entity.to_string());
            }
            "leave" => {
                rooms.remove(entity);
            }
            _ => {}
        }
        json!([])
    }

    /// The frames `change` makes for this socket: one per namespace whose rooms include the
    /// entity, none when the caller may not read the record.
    fn deliver(&mut self, change: &Change) -> Vec<String> {
        let name = &change.entity.name;
        if !self.namespaces.values().any(|rooms| rooms.contains(name)) || !self.may_read(change) {
            return Vec::new();
        }
        self.namespaces
            .iter()
            .filter(|(_, rooms)| rooms.contains(name))
            .map(|(nsp, _)| packet::sio_frame(SioKind::Event, nsp, None, Some(&change.event)))
            .collect()
    }

    /// Whether this socket's caller may read `change.record` under the entity's read rule.
    fn may_read(&mut self, change: &Change) -> bool {
        let entity = &change.entity;
        let fresh = match self.access.get(&entity.name) {
            Some((rules, _)) => rules.as_ref() != entity.rls.as_ref(),
            None => true,
        };
        if fresh {
            let access =
                rls::access(entity, Operation::Read, &self.caller).unwrap_or(Access::Denied);
            self.access
                .insert(entity.name.clone(), (entity.rls.clone(), access));
        }
        match self.access.get(&entity.name) {
            Some((_, Access::All)) => true,
            Some((_, Access::Rows(filter))) => matcher::matches(entity, filter, &change.record),
            Some((_, Access::Denied)) | None => false,
        }
    }
}

/// The entity a room `entities:{app_id}:{Entity}` names, when it is one of this app's.
fn entity_of<'r>(app_id: &str, room: &'r str) -> Option<&'r str> {
    let rest = room.strip_prefix("entities:")?;
    let (app, entity) = rest.split_once(':')?;
    (app == app_id && !entity.is_empty() && entity.len() <= 256).then_some(entity)
}
