//! Engine.IO v4 and socket.io v5 packets, as text WebSocket frames (one packet per frame: the
//! WebSocket transport never batches).
//!
//! Engine.IO: a type digit (`0` open, `1` close, `2` ping, `3` pong, `4` message, `5`
//! upgrade, `6` noop) then the data. A socket.io packet rides in a message: a type digit (`0`
//! CONNECT, `1` DISCONNECT, `2` EVENT, `3` ACK, `4` CONNECT_ERROR, `5`/`6` binary forms), an
//! optional namespace (`/name,`), an optional ack id (digits), then JSON. Binary packets are
//! refused: nothing the SDK sends uses them.

use serde_json::{Value, json};

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 256;
/// The most digits an ack id may have (socket.io's ids are JavaScript numbers).
const MAX_ACK_DIGITS: usize = 15;

/// A frame that is not a valid packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// An empty frame.
    #[error("empty packet")]
    Empty,
    /// A type digit outside the protocol.
    #[error("unknown packet type `{0}`")]
    UnknownType(char),
    /// A namespace that is too long, unterminated or not printable ASCII.
    #[error("bad namespace")]
    BadNamespace,
    /// An ack id that is too long.
    #[error("bad ack id")]
    BadAck,
    /// A payload that is not JSON, or not the JSON the packet type needs.
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// A binary socket.io packet (attachments are not supported).
    #[error("binary packets are not supported")]
    Binary,
}

/// An Engine.IO packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    /// `1`: the client closes the session.
    Close,
    /// `2…`: a ping (clients only send this while probing an upgrade).
    Ping(&'a str),
    /// `3…`: the answer to the server's ping.
    Pong(&'a str),
    /// `4…`: a socket.io packet.
    Message(&'a str),
    /// `5`: upgrade (meaningless on a WebSocket-only session).
    Upgrade,
    /// `6`: no-op.
    Noop,
}

/// Parses one text frame as an Engine.IO packet. `0` (open) is the server's only.
pub fn parse_engine(frame: &str) -> Result<EnginePacket<'_>, PacketError> {
    let mut chars = frame.chars();
    let kind = chars.next().ok_or(PacketError::Empty)?;
    let rest = chars.as_str();
    Ok(match kind {
        '1' => EnginePacket::Close,
        '2' => EnginePacket::Ping(rest),
        '3' => EnginePacket::Pong(rest),
        '4' => EnginePacket::Message(rest),
        '5' => EnginePacket::Upgrade,
        '6' => EnginePacket::Noop,
        other => return Err(PacketError::UnknownType(other)),
    })
}

/// A socket.io packet's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioKind {
    /// `0`: connect to a namespace (data: the optional `auth` object).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event, `["name", …args]`.
    Event,
    /// `3`: the answer to an event that asked for one.
    Ack,
    /// `4`: a refused connection (server to client only).
    ConnectError,
}

/// A socket.io packet received from a client.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    /// Its type.
    pub kind: SioKind,
    /// Its namespace (`/` when none is written).
    pub nsp: String,
    /// The ack id the client waits for, if any.
    pub ack: Option<u64>,
    /// The JSON payload, if any.
    pub data: Option<Value>,
}

/// Parses the socket.io packet of an Engine.IO message.
pub fn parse_sio(text: &str) -> Result<SioPacket, PacketError> {
    let mut chars = text.chars();
    let kind = match chars.next().ok_or(PacketError::Empty)? {
        '0' => SioKind::Connect,
        '1' => SioKind::Disconnect,
        '2' => SioKind::Event,
        '3' => SioKind::Ack,
        '4' => SioKind::ConnectError,
        '5' | '6' => return Err(PacketError::Binary),
        other => return Err(PacketError::UnknownType(other)),
    };
    let mut rest = chars.as_str();
    let nsp = if rest.starts_with('/') {
        let (nsp, after) = match rest.find(',') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if nsp.len() > MAX_NAMESPACE_LEN || !nsp.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PacketError::BadNamespace);
        }
        rest = after;
        nsp.to_string()
    } else {
        "/".to_string()
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack = if digits == 0 {
        None
    } else if digits > MAX_ACK_DIGITS {
        return Err(PacketError::BadAck);
    } else {
        let id = rest[..digits].parse().map_err(|_| PacketError::BadAck)?;
        rest = &rest[digits..];
        Some(id)
    };
    let data = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str(rest).map_err(|e| PacketError::BadPayload(e.to_string()))?)
    };
    if kind == SioKind::Event
        && !matches!(&data, Some(Value::Array(a)) if a.first().is_some_and(Value::is_string))
    {
        return Err(PacketError::BadPayload(
            "an event is a JSON array starting with its name".into(),
        ));
    }
    Ok(SioPacket {
        kind,
        nsp,
        ack,
        data,
    })
}

/// The Engine.IO open packet of a WebSocket-only session.
pub fn open(sid: &str, ping_interval_ms: u64, ping_timeout_ms: u64, max_payload: usize) -> String {
    let body = json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    });
    format!("0{body}")
}

/// The Engine.IO ping the server sends.
pub const PING: &str = "2";

/// A socket.io packet to send, as the text of its WebSocket frame (`4` + type + namespace +
/// ack id + JSON).
pub fn sio_frame(kind: SioKind, nsp: &str, ack: Option<u64>, data: Option<&str>) -> String {
    let digit = match kind {
        SioKind::Connect => '0',
        SioKind::Disconnect => '1',
        SioKind::Event => '2',
        SioKind::Ack => '3',
        SioKind::ConnectError => '4',
    };
    let mut out = String::with_capacity(8 + nsp.len() + data.map_or(0, str::len));
    out.push('4');
    out.push(digit);
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = ack {
        out.push_str(&id.to_string());
    }
    if let Some(data) = data {
        out.push_str(data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_packets() {
        assert_eq!(parse_engine("3"), Ok(EnginePacket::Pong("")));
        assert_eq!(parse_engine("2probe"), Ok(EnginePacket::Ping("probe")));
        assert_eq!(parse_engine("40"), Ok(EnginePacket::Message("0")));
        assert_eq!(parse_engine("1"), Ok(EnginePacket::Close));
        assert_eq!(parse_engine("6"), Ok(EnginePacket::Noop));
        assert_eq!(parse_engine(""), Err(PacketError::Empty));
        assert_eq!(parse_engine("0{}"), Err(PacketError::UnknownType('0')));
        assert_eq!(parse_engine("é"), Err(PacketError::UnknownType('é')));
        assert_eq!(parse_engine("9"), Err(PacketError::UnknownType('9')));
    }

    #[test]
    fn socketio_packets() {
        let p = parse_sio("0/_ferry/base44,").expect("connect");
        assert_eq!(
            (p.kind, p.nsp.as_str(), p.ack, p.data),
            (SioKind::Connect, "/_ferry/base44", None, None)
        );
        let p = parse_sio("0").expect("root connect");
        assert_eq!(p.nsp, "/");
        let p = parse_sio("0{\"token\":\"x\"}").expect("connect with auth");
        assert_eq!(p.data, Some(json!({"token": "x"})));
        let p = parse_sio("2/ns,12[\"join\",\"entities:a:Task\"]").expect("event");
        assert_eq!(p.kind, SioKind::Event);
        assert_eq!(p.nsp, "/ns");
        assert_eq!(p.ack, Some(12));
        assert_eq!(p.data, Some(json!(["join", "entities:a:Task"])));
        let p = parse_sio("1/ns,").expect("disconnect");
        assert_eq!((p.kind, p.nsp.as_str()), (SioKind::Disconnect, "/ns"));
        let p = parse_sio("1/ns").expect("disconnect without comma");
        assert_eq!(p.nsp, "/ns");
    }

    #[test]
    fn hostile_socketio_packets_are_errors() {
        assert_eq!(parse_sio(""), Err(PacketError::Empty));
        assert_eq!(parse_sio("7"), Err(PacketError::UnknownType('7')));
        assert_eq!(
            parse_sio("51-[\"x\",{\"_placeholder\":true,\"num\":0}]"),
            Err(PacketError::Binary)
        );
        assert!(matches!(
            parse_sio("2[not json"),
            Err(PacketError::BadPayload(_))
        ));
        assert!(matches!(
            parse_sio("2{\"a\":1}"),
            Err(PacketError::BadPayload(_))
        ));
        assert!(matches!(
            parse_sio("2[1,2]"),
            Err(PacketError::BadPayload(_))
        ));
        assert!(matches!(parse_sio("2"), Err(PacketError::BadPayload(_))));
        assert_eq!(parse_sio("2/a b,[\"x\"]"), Err(PacketError::BadNamespace));
        let long = format!("0/{},", "n".repeat(MAX_NAMESPACE_LEN + 1));
        assert_eq!(parse_sio(&long), Err(PacketError::BadNamespace));
        assert_eq!(
            parse_sio("21234567890123456[\"x\"]"),
            Err(PacketError::BadAck)
        );
        assert_eq!(parse_sio("0/ns\u{1}x,"), Err(PacketError::BadNamespace));
        // Deeply nested JSON is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("2[\"x\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse_sio(&deep), Err(PacketError::BadPayload(_))));
        // Multi-byte characters right after the type digit or in the namespace.
        assert!(parse_sio("2é").is_err());
        assert!(parse_sio("0/é,").is_err());
    }

    #[test]
    fn frames() {
        assert_eq!(
            sio_frame(SioKind::Connect, "/", None, Some("{\"sid\":\"x\"}")),
            "40{\"sid\":\"x\"}"
        );
        assert_eq!(
            sio_frame(
                SioKind::Event,
                "/_ferry/base44",
                None,
                Some("[\"update_model\",{}]")
            ),
            "42/_ferry/base44,[\"update_model\",{}]"
        );
        assert_eq!(
            sio_frame(SioKind::Ack, "/ns", Some(7), Some("[]")),
            "43/ns,7[]"
        );
        let open = open("abc", 25_000, 20_000, 1000);
        assert!(open.starts_with("0{"));
        let body: Value = serde_json::from_str(&open[1..]).expect("json");
        assert_eq!(body["sid"], "abc");
        assert_eq!(body["upgrades"], json!([]));
        assert_eq!(body["pingInterval"], 25_000);
        assert_eq!(body["pingTimeout"], 20_000);
        assert_eq!(body["maxPayload"], 1000);
    }
}
