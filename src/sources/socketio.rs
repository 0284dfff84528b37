//! Engine.IO / Socket.IO text framing for PDK's stream, as a pure codec.
//!
//! No I/O here: frames in, packets out (and back), plus the protocol rules both the
//! live client and the loopback simulator must obey (`protocols/pdk.md`, "Streaming
//! API" and "Engine.IO v4 / Socket.IO v5 framing over a raw WebSocket").
//!
//! Layers: one WebSocket text frame is one [`EnginePacket`] ([`decode_engine`] /
//! [`encode_engine`]); an [`EnginePacket::Message`] carries one [`SocketPacket`]
//! ([`decode_socket`] / [`encode_socket`]). [`EngineRules`] says which packets are
//! allowed under EIO=3 or EIO=4 (a server closes the connection on the others), and
//! [`is_silent`] is the heartbeat deadline.
//!
//! Nothing here panics on any input, and no error text repeats frame contents or URL
//! values: frames may carry tokens (`renewedToken`) and URLs always do.

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Why a frame, packet or URL could not be decoded or built. The text never contains
/// payload contents, tokens or URL values, so it can be logged and shown as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty {0} packet")]
    Empty(&'static str),
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownEngineType(char),
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownSocketType(char),
    #[error("{0} is not supported: PDK does not use binary packets")]
    Binary(&'static str),
    #[error("Engine.IO {0} packet must not carry data")]
    UnexpectedData(&'static str),
    #[error("{what} is not valid JSON ({category} error at line {line}, column {column})")]
    Json {
        what: &'static str,
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("Engine.IO open packet: {0}")]
    BadOpen(&'static str),
    #[error("Socket.IO packet: {0}")]
    BadSocket(&'static str),
    #[error("Socket.IO ack id is too large (above 18446744073709551615)")]
    AckIdTooLarge,
    #[error("stream URL: {0}")]
    BadUrl(&'static str),
    #[error("unsupported Engine.IO version {0}: use 4 (default) or 3")]
    BadVersion(u8),
}

/// Turn a serde_json error into a [`CodecError`] without its message: serde_json's
/// messages quote offending values (`invalid type: string "..."`), which may be secret.
fn json_error(what: &'static str, e: &serde_json::Error) -> CodecError {
    let category = match e.classify() {
        serde_json::error::Category::Io => "I/O",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "truncated input",
    };
    CodecError::Json {
        what,
        category,
        line: e.line(),
        column: e.column(),
    }
}

// ---------------------------------------------------------------------------------
// Engine.IO
// ---------------------------------------------------------------------------------

/// Engine.IO protocol revision, as sent in the `EIO` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EioVersion {
    /// Socket.IO 2.x servers: the client pings, the server joins the client to `/`.
    V3,
    /// Current servers (PDK's recommendation): the server pings, the client sends `40`.
    #[default]
    V4,
}

impl EioVersion {
    /// The `EIO` query value: `"3"` or `"4"`.
    pub fn query_value(self) -> &'static str {
        match self {
            EioVersion::V3 => "3",
            EioVersion::V4 => "4",
        }
    }

    /// From the source config's `engine_io` (`None` means the default, 4).
    pub fn from_config(engine_io: Option<u8>) -> Result<Self, CodecError> {
        match engine_io {
            None => Ok(EioVersion::V4),
            Some(n) => EioVersion::try_from(n),
        }
    }
}

impl TryFrom<u8> for EioVersion {
    type Error = CodecError;
    fn try_from(n: u8) -> Result<Self, CodecError> {
        match n {
            3 => Ok(EioVersion::V3),
            4 => Ok(EioVersion::V4),
            other => Err(CodecError::BadVersion(other)),
        }
    }
}

/// One Engine.IO packet, i.e. one WebSocket text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket {
    /// `0{json}`, server only: the handshake. `max_payload` is absent under EIO=3.
    Open {
        sid: String,
        upgrades: Vec<String>,
        ping_interval_ms: u64,
        ping_timeout_ms: u64,
        max_payload: Option<u64>,
    },
    /// `1`
    Close,
    /// `2[data]` (`2probe` during transport upgrades). Empty data decodes as `None`.
    Ping(Option<String>),
    /// `3[data]`. Empty data decodes as `None`.
    Pong(Option<String>),
    /// `4<data>`: one Socket.IO packet, see [`decode_socket`].
    Message(String),
    /// `5`
    Upgrade,
    /// `6`
    Noop,
}

impl EnginePacket {
    /// A short name for messages and logs (never the contents).
    pub fn kind(&self) -> &'static str {
        match self {
            EnginePacket::Open { .. } => "open",
            EnginePacket::Close => "close",
            EnginePacket::Ping(_) => "ping",
            EnginePacket::Pong(_) => "pong",
            EnginePacket::Message(_) => "message",
            EnginePacket::Upgrade => "upgrade",
            EnginePacket::Noop => "noop",
        }
    }

    /// The heartbeat timing of an `Open` packet.
    pub fn heartbeat(&self) -> Option<Heartbeat> {
        match self {
            EnginePacket::Open {
                ping_interval_ms,
                ping_timeout_ms,
                ..
            } => Some(Heartbeat {
                ping_interval_ms: *ping_interval_ms,
                ping_timeout_ms: *ping_timeout_ms,
            }),
            _ => None,
        }
    }
}

fn optional_data(rest: &str) -> Option<String> {
    (!rest.is_empty()).then(|| rest.to_string())
}

fn no_data(rest: &str, packet: EnginePacket) -> Result<EnginePacket, CodecError> {
    if rest.is_empty() {
        Ok(packet)
    } else {
        Err(CodecError::UnexpectedData(packet.kind()))
    }
}

/// Decode one WebSocket text frame.
pub fn decode_engine(frame: &str) -> Result<EnginePacket, CodecError> {
    let mut chars = frame.chars();
    let Some(kind) = chars.next() else {
        return Err(CodecError::Empty("Engine.IO"));
    };
    let rest = chars.as_str();
    match kind {
        '0' => decode_open(rest),
        '1' => no_data(rest, EnginePacket::Close),
        '2' => Ok(EnginePacket::Ping(optional_data(rest))),
        '3' => Ok(EnginePacket::Pong(optional_data(rest))),
        '4' => Ok(EnginePacket::Message(rest.to_string())),
        '5' => no_data(rest, EnginePacket::Upgrade),
        '6' => no_data(rest, EnginePacket::Noop),
        'b' => Err(CodecError::Binary("a base64 binary Engine.IO packet")),
        other => Err(CodecError::UnknownEngineType(other)),
    }
}

fn ms_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<Result<u64, ()>> {
    obj.get(key).map(|v| v.as_u64().ok_or(()))
}

fn decode_open(rest: &str) -> Result<EnginePacket, CodecError> {
    if rest.is_empty() {
        return Err(CodecError::BadOpen("missing handshake data"));
    }
    let v: Value = serde_json::from_str(rest).map_err(|e| json_error("open packet data", &e))?;
    let Value::Object(obj) = v else {
        return Err(CodecError::BadOpen("handshake data is not a JSON object"));
    };
    let sid = match obj.get("sid") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(CodecError::BadOpen("sid is not a string")),
        None => return Err(CodecError::BadOpen("sid is missing")),
    };
    let upgrades = match obj.get("upgrades") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|u| u.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or(CodecError::BadOpen("upgrades holds a non-string"))?,
        Some(_) => return Err(CodecError::BadOpen("upgrades is not an array")),
    };
    let ping_interval_ms = match ms_field(&obj, "pingInterval") {
        Some(Ok(n)) => n,
        Some(Err(())) => {
            return Err(CodecError::BadOpen(
                "pingInterval is not a whole number of milliseconds",
            ));
        }
        None => return Err(CodecError::BadOpen("pingInterval is missing")),
    };
    let ping_timeout_ms = match ms_field(&obj, "pingTimeout") {
        Some(Ok(n)) => n,
        Some(Err(())) => {
            return Err(CodecError::BadOpen(
                "pingTimeout is not a whole number of milliseconds",
            ));
        }
        None => return Err(CodecError::BadOpen("pingTimeout is missing")),
    };
    let max_payload = match obj.get("maxPayload") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or(CodecError::BadOpen(
            "maxPayload is not a whole number of bytes",
        ))?),
    };
    Ok(EnginePacket::Open {
        sid,
        upgrades,
        ping_interval_ms,
        ping_timeout_ms,
        max_payload,
    })
}

/// Encode one packet as a WebSocket text frame.
pub fn encode_engine(packet: &EnginePacket) -> String {
    match packet {
        EnginePacket::Open {
            sid,
            upgrades,
            ping_interval_ms,
            ping_timeout_ms,
            max_payload,
        } => {
            let mut obj = json!({
                "sid": sid,
                "upgrades": upgrades,
                "pingInterval": ping_interval_ms,
                "pingTimeout": ping_timeout_ms,
            });
            if let (Some(max), Some(map)) = (max_payload, obj.as_object_mut()) {
                map.insert("maxPayload".into(), json!(max));
            }
            format!("0{obj}")
        }
        EnginePacket::Close => "1".into(),
        EnginePacket::Ping(data) => format!("2{}", data.as_deref().unwrap_or("")),
        EnginePacket::Pong(data) => format!("3{}", data.as_deref().unwrap_or("")),
        EnginePacket::Message(data) => format!("4{data}"),
        EnginePacket::Upgrade => "5".into(),
        EnginePacket::Noop => "6".into(),
    }
}

// ---------------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------------

/// The main namespace.
pub const MAIN_NAMESPACE: &str = "/";

/// One Socket.IO packet (the data of an Engine.IO message).
///
/// Wire form: `<type>[<namespace>,][<ack id>][<JSON data>]`; the namespace is written
/// only when it is not `/`. Namespaces start with `/` and must not contain `,`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketPacket {
    /// `0`: the client asks to join (`40`); the server confirms (`40{"sid":"..."}`).
    Connect {
        namespace: String,
        data: Option<Value>,
    },
    /// `1`
    Disconnect { namespace: String },
    /// `2`: `42["name",arg,...]`, `421["name"]` with an ack id.
    Event {
        namespace: String,
        ack_id: Option<u64>,
        name: String,
        args: Vec<Value>,
    },
    /// `3`: `431[arg,...]`, the answer to an event with ack id 1.
    Ack {
        namespace: String,
        ack_id: u64,
        args: Vec<Value>,
    },
    /// `4`: the server refused a connect, `44{"message":"..."}` (a bare string under
    /// old servers).
    ConnectError {
        namespace: String,
        data: Option<Value>,
    },
}

impl SocketPacket {
    /// An event to the main namespace, without ack id.
    pub fn event(name: impl Into<String>, args: Vec<Value>) -> Self {
        SocketPacket::Event {
            namespace: MAIN_NAMESPACE.into(),
            ack_id: None,
            name: name.into(),
            args,
        }
    }

    /// A short name for messages and logs (never the contents).
    pub fn kind(&self) -> &'static str {
        match self {
            SocketPacket::Connect { .. } => "connect",
            SocketPacket::Disconnect { .. } => "disconnect",
            SocketPacket::Event { .. } => "event",
            SocketPacket::Ack { .. } => "ack",
            SocketPacket::ConnectError { .. } => "connect_error",
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            SocketPacket::Connect { namespace, .. }
            | SocketPacket::Disconnect { namespace }
            | SocketPacket::Event { namespace, .. }
            | SocketPacket::Ack { namespace, .. }
            | SocketPacket::ConnectError { namespace, .. } => namespace,
        }
    }
}

/// Decode the data of an Engine.IO message.
pub fn decode_socket(s: &str) -> Result<SocketPacket, CodecError> {
    let mut chars = s.chars();
    let Some(kind) = chars.next() else {
        return Err(CodecError::Empty("Socket.IO"));
    };
    match kind {
        '0'..='4' => {}
        '5' => return Err(CodecError::Binary("a Socket.IO binary event (type 5)")),
        '6' => return Err(CodecError::Binary("a Socket.IO binary ack (type 6)")),
        other => return Err(CodecError::UnknownSocketType(other)),
    }
    let mut rest = chars.as_str();

    // Namespace: from a leading '/' up to ',' or the end.
    let namespace = if rest.starts_with('/') {
        match rest.find(',') {
            Some(i) => {
                let ns = &rest[..i];
                rest = &rest[i + 1..];
                ns.to_string()
            }
            None => {
                let ns = rest.to_string();
                rest = "";
                ns
            }
        }
    } else {
        MAIN_NAMESPACE.to_string()
    };

    // Ack id: leading ASCII digits.
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack_id = if digits > 0 {
        let id = rest[..digits]
            .parse::<u64>()
            .map_err(|_| CodecError::AckIdTooLarge)?;
        rest = &rest[digits..];
        Some(id)
    } else {
        None
    };

    // Data is a JSON object, array or string. Anything else (a bare number, leading
    // whitespace) would not survive re-encoding: `4` + `0` reads back as ack id 0.
    if !rest.is_empty() && !rest.starts_with(['{', '[', '"']) {
        return Err(CodecError::BadSocket(
            "packet data must be a JSON object, array or string",
        ));
    }
    let data = if rest.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(rest)
                .map_err(|e| json_error("Socket.IO packet data", &e))?,
        )
    };

    let no_ack = |what| {
        if ack_id.is_some() {
            Err(CodecError::BadSocket(what))
        } else {
            Ok(())
        }
    };
    match kind {
        '0' => {
            no_ack("a connect packet must not have an ack id")?;
            Ok(SocketPacket::Connect { namespace, data })
        }
        '1' => {
            no_ack("a disconnect packet must not have an ack id")?;
            if data.is_some() {
                return Err(CodecError::BadSocket(
                    "a disconnect packet must not carry data",
                ));
            }
            Ok(SocketPacket::Disconnect { namespace })
        }
        '2' => {
            let Some(Value::Array(mut items)) = data else {
                return Err(CodecError::BadSocket(
                    "event data must be a JSON array starting with the event name",
                ));
            };
            if items.is_empty() {
                return Err(CodecError::BadSocket("event has no name"));
            }
            let Value::String(name) = items.remove(0) else {
                return Err(CodecError::BadSocket("event name is not a string"));
            };
            Ok(SocketPacket::Event {
                namespace,
                ack_id,
                name,
                args: items,
            })
        }
        '3' => {
            let Some(ack_id) = ack_id else {
                return Err(CodecError::BadSocket("ack packet without ack id"));
            };
            let Some(Value::Array(args)) = data else {
                return Err(CodecError::BadSocket("ack data must be a JSON array"));
            };
            Ok(SocketPacket::Ack {
                namespace,
                ack_id,
                args,
            })
        }
        _ => {
            no_ack("a connect error packet must not have an ack id")?;
            Ok(SocketPacket::ConnectError { namespace, data })
        }
    }
}

/// Encode a Socket.IO packet (without the Engine.IO `4`; see [`encode_message`]).
pub fn encode_socket(packet: &SocketPacket) -> String {
    let (kind, ack_id, data) = match packet {
        SocketPacket::Connect { data, .. } => ('0', None, data.clone()),
        SocketPacket::Disconnect { .. } => ('1', None, None),
        SocketPacket::Event {
            ack_id, name, args, ..
        } => {
            let mut items = Vec::with_capacity(args.len() + 1);
            items.push(Value::String(name.clone()));
            items.extend(args.iter().cloned());
            ('2', *ack_id, Some(Value::Array(items)))
        }
        SocketPacket::Ack { ack_id, args, .. } => {
            ('3', Some(*ack_id), Some(Value::Array(args.clone())))
        }
        SocketPacket::ConnectError { data, .. } => ('4', None, data.clone()),
    };
    let mut out = String::new();
    out.push(kind);
    let namespace = packet.namespace();
    if !namespace.is_empty() && namespace != MAIN_NAMESPACE {
        out.push_str(namespace);
        out.push(',');
    }
    if let Some(id) = ack_id {
        let _ = write!(out, "{id}");
    }
    if let Some(data) = data {
        let _ = write!(out, "{data}");
    }
    out
}

/// A Socket.IO packet as a whole WebSocket text frame (`4` + [`encode_socket`]).
pub fn encode_message(packet: &SocketPacket) -> String {
    encode_engine(&EnginePacket::Message(encode_socket(packet)))
}

/// Decode a WebSocket text frame that must be a Socket.IO message.
pub fn decode_message(frame: &str) -> Result<SocketPacket, CodecError> {
    match decode_engine(frame)? {
        EnginePacket::Message(data) => decode_socket(&data),
        _ => Err(CodecError::BadSocket("frame is not an Engine.IO message")),
    }
}

/// `40`: join the main namespace (EIO=4 only; see [`EngineRules`]).
pub fn connect_frame() -> String {
    encode_message(&SocketPacket::Connect {
        namespace: MAIN_NAMESPACE.into(),
        data: None,
    })
}

/// `42["subscribeIsolated",{"topics":[...]}]`
pub fn subscribe_frame(topics: &[String]) -> String {
    encode_message(&SocketPacket::event(
        "subscribeIsolated",
        vec![json!({ "topics": topics })],
    ))
}

/// `42["renewedToken",{"token":"..."}]`. The frame holds the token: don't log it.
pub fn renewed_token_frame(token: &str) -> String {
    encode_message(&SocketPacket::event(
        "renewedToken",
        vec![json!({ "token": token })],
    ))
}

// ---------------------------------------------------------------------------------
// Protocol rules
// ---------------------------------------------------------------------------------

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

/// A packet the protocol does not allow. The server closes the connection on every
/// client-side one; the client should treat server-side ones as a broken connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("invalid heartbeat direction: a client ping (2) under EIO=4, where the server pings")]
    ClientPingUnderV4,
    #[error("invalid heartbeat direction: a client pong (3) under EIO=3, where the client pings")]
    ClientPongUnderV3,
    #[error("client sent {0} before joining the namespace with 40 (EIO=4)")]
    BeforeConnect(&'static str),
    #[error("client sent 40 under EIO=3, where the server joins the client to / itself")]
    ClientConnectUnderV3,
    #[error("client sent an open packet, which only the server sends")]
    ClientOpen,
    #[error("server sent {0} before the open packet")]
    BeforeOpen(&'static str),
    #[error("server sent a second open packet")]
    DuplicateOpen,
    #[error("server ping (2) under EIO=3, where the client pings: protocol version mismatch")]
    ServerPingUnderV3,
    #[error("server pong (3) under EIO=4, where the client never pings: protocol version mismatch")]
    ServerPongUnderV4,
    #[error("malformed packet: {0}")]
    Malformed(CodecError),
}

/// The EIO=3 / EIO=4 rule sets of `protocols/pdk.md`, with the little connection
/// state they need. One instance per connection; feed it every packet both ways.
///
/// Client side: [`check_incoming`](Self::check_incoming) each received packet and
/// [`check_outgoing`](Self::check_outgoing) before sending (a guard against our own
/// bugs). Server side (the simulator): [`enforce_client_frame`](Self::enforce_client_frame)
/// each client frame and close the connection on `Err`.
///
/// Rules, client → server: under EIO=4 a ping is fatal, and so is any packet before
/// the client's `40` except a pong (and a close, which ends the connection anyway);
/// under EIO=3 a `40` to `/` is fatal (joining other namespaces is allowed) and so is
/// a pong (as engine.io enforces); an open is always fatal. Server → client: the open
/// must come first and once; a server ping under EIO=3 or pong under EIO=4 means the
/// two ends disagree on the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRules {
    pub version: EioVersion,
    opened: bool,
    joined: bool,
    connected: bool,
}

impl EngineRules {
    pub fn new(version: EioVersion) -> Self {
        EngineRules {
            version,
            opened: false,
            joined: false,
            connected: false,
        }
    }

    /// The server's open packet has been seen.
    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// The client is in the main namespace as far as the server is concerned: it sent
    /// `40` (EIO=4), or the open arrived (EIO=3, the server joins it itself).
    pub fn has_joined(&self) -> bool {
        self.joined
    }

    /// The server confirmed the main namespace with a connect packet.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the client sends the pings (EIO=3) rather than answering them (EIO=4).
    pub fn client_pings(&self) -> bool {
        self.version == EioVersion::V3
    }

    /// What the client must send back for a received packet: under EIO=4 a ping is
    /// answered by a pong with the same data.
    pub fn heartbeat_reply(&self, incoming: &EnginePacket) -> Option<EnginePacket> {
        match (self.version, incoming) {
            (EioVersion::V4, EnginePacket::Ping(data)) => Some(EnginePacket::Pong(data.clone())),
            _ => None,
        }
    }

    /// Check a packet the client is about to send.
    pub fn check_outgoing(&mut self, packet: &EnginePacket) -> Result<(), Violation> {
        self.check(Direction::ClientToServer, packet)
    }

    /// Check a packet the client received.
    pub fn check_incoming(&mut self, packet: &EnginePacket) -> Result<(), Violation> {
        self.check(Direction::ServerToClient, packet)
    }

    /// Server side: decode a frame from the client and check it. On `Err` the server
    /// closes the connection (a frame that does not decode is fatal too).
    pub fn enforce_client_frame(&mut self, frame: &str) -> Result<EnginePacket, Violation> {
        let packet = decode_engine(frame).map_err(Violation::Malformed)?;
        self.check(Direction::ClientToServer, &packet)?;
        Ok(packet)
    }

    /// Check one packet travelling `dir` and update the state when it is allowed.
    pub fn check(&mut self, dir: Direction, packet: &EnginePacket) -> Result<(), Violation> {
        match dir {
            Direction::ClientToServer => self.check_client(packet),
            Direction::ServerToClient => self.check_server(packet),
        }
    }

    fn check_client(&mut self, packet: &EnginePacket) -> Result<(), Violation> {
        let v4 = self.version == EioVersion::V4;
        match packet {
            EnginePacket::Open { .. } => return Err(Violation::ClientOpen),
            EnginePacket::Close => return Ok(()),
            EnginePacket::Ping(_) if v4 => return Err(Violation::ClientPingUnderV4),
            EnginePacket::Pong(_) if !v4 => return Err(Violation::ClientPongUnderV3),
            EnginePacket::Pong(_) => return Ok(()),
            _ => {}
        }
        let socket = match packet {
            EnginePacket::Message(data) => Some(decode_socket(data).map_err(Violation::Malformed)?),
            _ => None,
        };
        let main_connect = matches!(
            &socket,
            Some(SocketPacket::Connect { namespace, .. }) if is_main(namespace)
        );
        if v4 {
            if !self.joined && !main_connect {
                let what = socket.as_ref().map_or(packet.kind(), SocketPacket::kind);
                return Err(Violation::BeforeConnect(what));
            }
        } else if main_connect {
            return Err(Violation::ClientConnectUnderV3);
        }
        match &socket {
            Some(SocketPacket::Connect { namespace, .. }) if is_main(namespace) => {
                self.joined = true
            }
            Some(SocketPacket::Disconnect { namespace }) if is_main(namespace) => {
                self.joined = false;
                self.connected = false;
            }
            _ => {}
        }
        Ok(())
    }

    fn check_server(&mut self, packet: &EnginePacket) -> Result<(), Violation> {
        let v4 = self.version == EioVersion::V4;
        match packet {
            EnginePacket::Open { .. } if self.opened => return Err(Violation::DuplicateOpen),
            EnginePacket::Open { .. } => {
                self.opened = true;
                if !v4 {
                    self.joined = true;
                }
                return Ok(());
            }
            _ if !self.opened => return Err(Violation::BeforeOpen(packet.kind())),
            EnginePacket::Ping(_) if !v4 => return Err(Violation::ServerPingUnderV3),
            EnginePacket::Pong(_) if v4 => return Err(Violation::ServerPongUnderV4),
            _ => {}
        }
        if let EnginePacket::Message(data) = packet {
            match decode_socket(data).map_err(Violation::Malformed)? {
                SocketPacket::Connect { namespace, .. } if is_main(&namespace) => {
                    self.connected = true
                }
                SocketPacket::Disconnect { namespace } if is_main(&namespace) => {
                    self.connected = false;
                    self.joined = false;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn is_main(namespace: &str) -> bool {
    namespace.is_empty() || namespace == MAIN_NAMESPACE
}

// ---------------------------------------------------------------------------------
// Heartbeat
// ---------------------------------------------------------------------------------

/// Heartbeat timing from the server's open packet (always use the values sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
}

impl Heartbeat {
    /// How long the connection may stay silent: `pingInterval + pingTimeout`.
    pub fn max_silence(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
            .saturating_add(Duration::from_millis(self.ping_timeout_ms))
    }

    /// When a connection last heard from at `last_rx` counts as dead (`None` when the
    /// deadline is beyond what `Instant` can represent).
    pub fn deadline(&self, last_rx: Instant) -> Option<Instant> {
        last_rx.checked_add(self.max_silence())
    }
}

/// Whether nothing has arrived for `pingInterval + pingTimeout`: the connection is
/// dead and must be reconnected. A `now` before `last_rx` is never silent.
pub fn is_silent(last_rx: Instant, now: Instant, open: &Heartbeat) -> bool {
    now.saturating_duration_since(last_rx) >= open.max_silence()
}

// ---------------------------------------------------------------------------------
// Stream URL
// ---------------------------------------------------------------------------------

/// Percent-encode a query value: everything but RFC 3986 unreserved characters.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The stream URL for a source: `base_url` with `https` → `wss` and `http` → `ws`,
/// path `/socket.io/` (after any path prefix of `base_url`), and the query
/// `systemId`, `token`, `EIO`, `transport=websocket`, values percent-encoded.
///
/// Errors name what is wrong with `base_url` but never repeat it or the token.
pub fn stream_url(
    base_url: &str,
    system_id: &str,
    token: &str,
    eio: EioVersion,
) -> Result<String, CodecError> {
    let base = base_url.trim();
    let Some((scheme, rest)) = base.split_once("://") else {
        return Err(CodecError::BadUrl(
            "base_url has no scheme (expected https:// or http://)",
        ));
    };
    let ws_scheme = if scheme.eq_ignore_ascii_case("https") {
        "wss"
    } else if scheme.eq_ignore_ascii_case("http") {
        "ws"
    } else {
        return Err(CodecError::BadUrl("base_url scheme must be https or http"));
    };
    if rest.contains(['?', '#']) {
        return Err(CodecError::BadUrl(
            "base_url must not have a query or fragment",
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(CodecError::BadUrl("base_url has no host"));
    }
    if authority.contains('@') {
        return Err(CodecError::BadUrl(
            "base_url must not carry user credentials",
        ));
    }
    if base
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(CodecError::BadUrl(
            "base_url contains spaces, control or non-ASCII characters",
        ));
    }
    if system_id.is_empty() {
        return Err(CodecError::BadUrl("systemId is empty"));
    }
    if token.is_empty() {
        return Err(CodecError::BadUrl("token is empty"));
    }
    let prefix = path.trim_end_matches('/');
    Ok(format!(
        "{ws_scheme}://{authority}{prefix}/socket.io/?systemId={}&token={}&EIO={}&transport=websocket",
        encode_query_value(system_id),
        encode_query_value(token),
        eio.query_value(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn open_packet() -> EnginePacket {
        EnginePacket::Open {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            upgrades: vec![],
            ping_interval_ms: 25000,
            ping_timeout_ms: 20000,
            max_payload: Some(1_000_000),
        }
    }

    fn msg(p: SocketPacket) -> EnginePacket {
        EnginePacket::Message(encode_socket(&p))
    }

    #[test]
    fn real_open_frame() {
        let frame = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let p = decode_engine(frame).unwrap();
        assert_eq!(p, open_packet());
        assert_eq!(
            p.heartbeat(),
            Some(Heartbeat {
                ping_interval_ms: 25000,
                ping_timeout_ms: 20000
            })
        );
        // EIO=3 style: upgrades present, no maxPayload.
        let v3 = decode_engine(
            r#"0{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#,
        )
        .unwrap();
        assert_eq!(
            v3,
            EnginePacket::Open {
                sid: "a".into(),
                upgrades: vec!["websocket".into()],
                ping_interval_ms: 25000,
                ping_timeout_ms: 5000,
                max_payload: None,
            }
        );
    }

    #[test]
    fn bad_open_frames() {
        for bad in [
            "0",
            "0{",
            "0[]",
            r#"0{"upgrades":[],"pingInterval":1,"pingTimeout":1}"#,
            r#"0{"sid":1,"pingInterval":1,"pingTimeout":1}"#,
            r#"0{"sid":"x","pingTimeout":1}"#,
            r#"0{"sid":"x","pingInterval":-1,"pingTimeout":1}"#,
            r#"0{"sid":"x","pingInterval":1.5,"pingTimeout":1}"#,
            r#"0{"sid":"x","pingInterval":99999999999999999999999,"pingTimeout":1}"#,
            r#"0{"sid":"x","pingInterval":1e400,"pingTimeout":1}"#,
            r#"0{"sid":"x","upgrades":[1],"pingInterval":1,"pingTimeout":1}"#,
            r#"0{"sid":"x","pingInterval":1,"pingTimeout":1,"maxPayload":"big"}"#,
        ] {
            assert!(decode_engine(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn simple_engine_frames() {
        assert_eq!(decode_engine("1").unwrap(), EnginePacket::Close);
        assert_eq!(decode_engine("2").unwrap(), EnginePacket::Ping(None));
        assert_eq!(decode_engine("3").unwrap(), EnginePacket::Pong(None));
        assert_eq!(
            decode_engine("2probe").unwrap(),
            EnginePacket::Ping(Some("probe".into()))
        );
        assert_eq!(decode_engine("5").unwrap(), EnginePacket::Upgrade);
        assert_eq!(decode_engine("6").unwrap(), EnginePacket::Noop);
        assert_eq!(
            decode_engine("40").unwrap(),
            EnginePacket::Message("0".into())
        );
        assert_eq!(
            decode_engine("4").unwrap(),
            EnginePacket::Message(String::new())
        );
        assert_eq!(decode_engine(""), Err(CodecError::Empty("Engine.IO")));
        assert_eq!(decode_engine("7"), Err(CodecError::UnknownEngineType('7')));
        assert_eq!(decode_engine("é"), Err(CodecError::UnknownEngineType('é')));
        assert!(matches!(decode_engine("bAAEC"), Err(CodecError::Binary(_))));
        assert!(matches!(
            decode_engine("1x"),
            Err(CodecError::UnexpectedData("close"))
        ));
    }

    #[test]
    fn engine_round_trips() {
        for p in [
            open_packet(),
            EnginePacket::Open {
                sid: "s\"é\u{1F600}".into(),
                upgrades: vec!["websocket".into()],
                ping_interval_ms: u64::MAX,
                ping_timeout_ms: 0,
                max_payload: None,
            },
            EnginePacket::Close,
            EnginePacket::Ping(None),
            EnginePacket::Ping(Some("probe".into())),
            EnginePacket::Pong(None),
            EnginePacket::Pong(Some("probe".into())),
            EnginePacket::Message(r#"2["a"]"#.into()),
            EnginePacket::Message(String::new()),
            EnginePacket::Upgrade,
            EnginePacket::Noop,
        ] {
            assert_eq!(decode_engine(&encode_engine(&p)).unwrap(), p);
        }
        assert_eq!(encode_engine(&EnginePacket::Ping(None)), "2");
        assert_eq!(encode_engine(&EnginePacket::Pong(None)), "3");
    }

    #[test]
    fn real_socket_frames() {
        assert_eq!(
            decode_message("40").unwrap(),
            SocketPacket::Connect {
                namespace: "/".into(),
                data: None
            }
        );
        assert_eq!(
            decode_message(r#"40{"sid":"x"}"#).unwrap(),
            SocketPacket::Connect {
                namespace: "/".into(),
                data: Some(json!({"sid": "x"}))
            }
        );
        let event = r#"42["device.request.allowed",{"id":"e1","topic":"device.request.allowed","body":{"deviceId":"d1","cardNumber":"123"},"occurred":1700000000000}]"#;
        match decode_message(event).unwrap() {
            SocketPacket::Event {
                namespace,
                ack_id,
                name,
                args,
            } => {
                assert_eq!(namespace, "/");
                assert_eq!(ack_id, None);
                assert_eq!(name, "device.request.allowed");
                assert_eq!(args.len(), 1);
                assert_eq!(args[0]["body"]["cardNumber"], "123");
                assert_eq!(args[0]["occurred"], 1_700_000_000_000u64);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_message(r#"44{"message":"Not authorized"}"#).unwrap(),
            SocketPacket::ConnectError {
                namespace: "/".into(),
                data: Some(json!({"message": "Not authorized"}))
            }
        );
        assert_eq!(
            decode_message("41").unwrap(),
            SocketPacket::Disconnect {
                namespace: "/".into()
            }
        );
    }

    #[test]
    fn namespaces_and_ack_ids() {
        assert_eq!(
            decode_socket(r#"0/admin,{"token":"t"}"#).unwrap(),
            SocketPacket::Connect {
                namespace: "/admin".into(),
                data: Some(json!({"token": "t"}))
            }
        );
        assert_eq!(
            decode_socket("0/admin").unwrap(),
            SocketPacket::Connect {
                namespace: "/admin".into(),
                data: None
            }
        );
        assert_eq!(
            decode_socket("1/admin,").unwrap(),
            SocketPacket::Disconnect {
                namespace: "/admin".into()
            }
        );
        assert_eq!(
            decode_socket(r#"21["x",{}]"#).unwrap(),
            SocketPacket::Event {
                namespace: "/".into(),
                ack_id: Some(1),
                name: "x".into(),
                args: vec![json!({})]
            }
        );
        assert_eq!(
            decode_socket(r#"2/admin,456["x"]"#).unwrap(),
            SocketPacket::Event {
                namespace: "/admin".into(),
                ack_id: Some(456),
                name: "x".into(),
                args: vec![]
            }
        );
        assert_eq!(
            decode_socket(r#"3/admin,13[{"ok":true}]"#).unwrap(),
            SocketPacket::Ack {
                namespace: "/admin".into(),
                ack_id: 13,
                args: vec![json!({"ok": true})]
            }
        );
        assert_eq!(
            decode_socket("318446744073709551615[]").unwrap(),
            SocketPacket::Ack {
                namespace: "/".into(),
                ack_id: u64::MAX,
                args: vec![]
            }
        );
        assert_eq!(
            decode_socket("318446744073709551616[]"),
            Err(CodecError::AckIdTooLarge)
        );
        assert_eq!(
            decode_socket(&format!("2{}[\"x\"]", "9".repeat(500))),
            Err(CodecError::AckIdTooLarge)
        );
        // Encoding writes the namespace only when it is not "/".
        assert_eq!(
            encode_socket(&SocketPacket::Event {
                namespace: "/admin".into(),
                ack_id: Some(7),
                name: "x".into(),
                args: vec![json!(1)]
            }),
            r#"2/admin,7["x",1]"#
        );
        assert_eq!(
            encode_socket(&SocketPacket::Connect {
                namespace: "/".into(),
                data: None
            }),
            "0"
        );
    }

    #[test]
    fn bad_socket_packets() {
        for bad in [
            "",
            "7",
            "x",
            "2",
            "2[]",
            "2[1]",
            r#"2{"a":1}"#,
            "3[]",
            "31",
            r#"31{"a":1}"#,
            "1{}",
            "11",
            "01",
            r#"2["x""#,
            r#"2["x"]trailing"#,
            "2/admin,",
        ] {
            assert!(decode_socket(bad).is_err(), "{bad:?}");
        }
        let e = decode_socket(r#"51-["x",{"_placeholder":true,"num":0}]"#).unwrap_err();
        assert!(e.to_string().contains("PDK does not use binary"), "{e}");
        assert!(matches!(decode_socket("6"), Err(CodecError::Binary(_))));
    }

    #[test]
    fn socket_round_trips() {
        for p in [
            SocketPacket::Connect {
                namespace: "/".into(),
                data: None,
            },
            SocketPacket::Connect {
                namespace: "/admin".into(),
                data: Some(json!({"sid": "x"})),
            },
            SocketPacket::Disconnect {
                namespace: "/".into(),
            },
            SocketPacket::Disconnect {
                namespace: "/a/b".into(),
            },
            SocketPacket::Event {
                namespace: "/".into(),
                ack_id: None,
                name: "é \u{1F600}".into(),
                args: vec![json!({"k": [1, 2.5, null, "ü"]}), json!("s")],
            },
            SocketPacket::Event {
                namespace: "/admin".into(),
                ack_id: Some(0),
                name: "x".into(),
                args: vec![],
            },
            SocketPacket::Ack {
                namespace: "/".into(),
                ack_id: 42,
                args: vec![],
            },
            SocketPacket::Ack {
                namespace: "/admin".into(),
                ack_id: u64::MAX,
                args: vec![json!(1), json!("two")],
            },
            SocketPacket::ConnectError {
                namespace: "/".into(),
                data: Some(json!({"message": "nope"})),
            },
            SocketPacket::ConnectError {
                namespace: "/admin".into(),
                data: Some(json!("old style")),
            },
            SocketPacket::ConnectError {
                namespace: "/".into(),
                data: None,
            },
        ] {
            assert_eq!(decode_socket(&encode_socket(&p)).unwrap(), p, "{p:?}");
            assert_eq!(decode_message(&encode_message(&p)).unwrap(), p);
        }
    }

    #[test]
    fn helper_frames() {
        assert_eq!(connect_frame(), "40");
        let topics = vec![
            "device.request.allowed".to_string(),
            "liveEvent".to_string(),
        ];
        assert_eq!(
            subscribe_frame(&topics),
            r#"42["subscribeIsolated",{"topics":["device.request.allowed","liveEvent"]}]"#
        );
        assert_eq!(
            subscribe_frame(&[]),
            r#"42["subscribeIsolated",{"topics":[]}]"#
        );
        assert_eq!(
            renewed_token_frame("a\"b"),
            r#"42["renewedToken",{"token":"a\"b"}]"#
        );
        assert_eq!(
            decode_message(&renewed_token_frame("tok")).unwrap(),
            SocketPacket::event("renewedToken", vec![json!({"token": "tok"})])
        );
    }

    #[test]
    fn json_errors_do_not_echo_contents() {
        let secret = "s3cr3t-token";
        for frame in [
            format!(r#"42["renewedToken",{{"token":"{secret}"}}"#),
            format!(r#"0{{"sid":"{secret}","pingInterval":"{secret}","pingTimeout":1}}"#),
            format!(r#"0{{"sid":1,"x":"{secret}"}}"#),
            format!(r#"42[{{"token":"{secret}"}}]"#),
        ] {
            let e = decode_engine(&frame)
                .and_then(|p| match p {
                    EnginePacket::Message(m) => decode_socket(&m).map(|_| ()),
                    _ => Ok(()),
                })
                .unwrap_err();
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }

    #[test]
    fn eio4_client_rules() {
        let mut r = EngineRules::new(EioVersion::V4);
        assert!(r.check_incoming(&open_packet()).is_ok());
        assert!(r.is_open() && !r.has_joined());
        // Before 40: a pong is fine, anything else is fatal.
        assert!(r.check_outgoing(&EnginePacket::Pong(None)).is_ok());
        assert_eq!(
            r.clone()
                .check_outgoing(&decode_engine(&subscribe_frame(&[])).unwrap()),
            Err(Violation::BeforeConnect("event"))
        );
        assert_eq!(
            r.clone().check_outgoing(&EnginePacket::Noop),
            Err(Violation::BeforeConnect("noop"))
        );
        assert_eq!(
            r.clone().check_outgoing(&msg(SocketPacket::Connect {
                namespace: "/admin".into(),
                data: None
            })),
            Err(Violation::BeforeConnect("connect"))
        );
        // A client ping is always fatal under EIO=4.
        assert_eq!(
            r.clone().check_outgoing(&EnginePacket::Ping(None)),
            Err(Violation::ClientPingUnderV4)
        );
        assert!(r.check_outgoing(&decode_engine("40").unwrap()).is_ok());
        assert!(r.has_joined() && !r.is_connected());
        assert!(
            r.check_incoming(&decode_engine(r#"40{"sid":"x"}"#).unwrap())
                .is_ok()
        );
        assert!(r.is_connected());
        assert!(
            r.check_outgoing(&decode_engine(&subscribe_frame(&[])).unwrap())
                .is_ok()
        );
        assert_eq!(
            r.check_outgoing(&EnginePacket::Ping(None)),
            Err(Violation::ClientPingUnderV4)
        );
        // Server heartbeat: ping allowed and answered; pong is a version mismatch.
        let ping = decode_engine("2").unwrap();
        assert!(r.check_incoming(&ping).is_ok());
        assert_eq!(r.heartbeat_reply(&ping), Some(EnginePacket::Pong(None)));
        assert_eq!(
            r.check_incoming(&EnginePacket::Pong(None)),
            Err(Violation::ServerPongUnderV4)
        );
        assert!(!r.client_pings());
        assert!(r.check_outgoing(&EnginePacket::Close).is_ok());
    }

    #[test]
    fn eio3_client_rules() {
        let mut r = EngineRules::new(EioVersion::V3);
        assert!(r.client_pings());
        assert_eq!(
            r.check_incoming(&EnginePacket::Ping(None)),
            Err(Violation::BeforeOpen("ping"))
        );
        assert!(r.check_incoming(&open_packet()).is_ok());
        assert!(r.has_joined());
        // No 40 from the client; it may emit at once and must ping.
        assert_eq!(
            r.clone().check_outgoing(&decode_engine("40").unwrap()),
            Err(Violation::ClientConnectUnderV3)
        );
        assert!(
            r.check_outgoing(&decode_engine(&subscribe_frame(&[])).unwrap())
                .is_ok()
        );
        assert!(r.check_outgoing(&EnginePacket::Ping(None)).is_ok());
        assert_eq!(
            r.check_outgoing(&EnginePacket::Pong(None)),
            Err(Violation::ClientPongUnderV3)
        );
        assert!(r.check_incoming(&EnginePacket::Pong(None)).is_ok());
        assert_eq!(
            r.check_incoming(&EnginePacket::Ping(None)),
            Err(Violation::ServerPingUnderV3)
        );
        assert_eq!(r.heartbeat_reply(&EnginePacket::Ping(None)), None);
        // The server's own 40 confirms the auto-join.
        assert!(r.check_incoming(&decode_engine("40").unwrap()).is_ok());
        assert!(r.is_connected());
        assert_eq!(
            r.check_incoming(&open_packet()),
            Err(Violation::DuplicateOpen)
        );
        // Other namespaces may still be joined under EIO=3.
        assert!(
            r.check_outgoing(&decode_engine("40/admin,").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn server_enforcement() {
        let mut v4 = EngineRules::new(EioVersion::V4);
        assert!(matches!(
            v4.clone().enforce_client_frame("42[\"x\"]"),
            Err(Violation::BeforeConnect("event"))
        ));
        assert!(matches!(
            v4.clone().enforce_client_frame("2"),
            Err(Violation::ClientPingUnderV4)
        ));
        assert!(matches!(
            v4.clone().enforce_client_frame("garbage"),
            Err(Violation::Malformed(_))
        ));
        assert!(matches!(
            v4.clone().enforce_client_frame("4zz"),
            Err(Violation::Malformed(_))
        ));
        assert!(matches!(
            v4.clone()
                .enforce_client_frame(r#"0{"sid":"a","pingInterval":1,"pingTimeout":1}"#),
            Err(Violation::ClientOpen)
        ));
        assert_eq!(v4.enforce_client_frame("3"), Ok(EnginePacket::Pong(None)));
        assert!(v4.enforce_client_frame("40").is_ok());
        assert!(
            v4.enforce_client_frame(&subscribe_frame(&["a".into()]))
                .is_ok()
        );
        assert!(v4.enforce_client_frame("3").is_ok());
        // After leaving "/", the before-40 rule applies again.
        assert!(v4.enforce_client_frame("41").is_ok());
        assert!(matches!(
            v4.enforce_client_frame("42[\"x\"]"),
            Err(Violation::BeforeConnect("event"))
        ));

        let mut v3 = EngineRules::new(EioVersion::V3);
        assert!(v3.enforce_client_frame("42[\"x\"]").is_ok());
        assert!(v3.enforce_client_frame("2").is_ok());
        assert!(matches!(
            v3.enforce_client_frame("40"),
            Err(Violation::ClientConnectUnderV3)
        ));
        assert!(matches!(
            v3.enforce_client_frame("40{\"a\":1}"),
            Err(Violation::ClientConnectUnderV3)
        ));
        let text = Violation::ClientPingUnderV4.to_string();
        assert!(text.contains("invalid heartbeat direction"), "{text}");
    }

    #[test]
    fn silence_deadline() {
        let hb = Heartbeat {
            ping_interval_ms: 25000,
            ping_timeout_ms: 20000,
        };
        let t0 = Instant::now();
        assert!(!is_silent(t0, t0, &hb));
        assert!(!is_silent(t0, t0 + Duration::from_millis(44_999), &hb));
        assert!(is_silent(t0, t0 + Duration::from_millis(45_000), &hb));
        assert!(is_silent(t0, t0 + Duration::from_secs(3600), &hb));
        // A clock reading before the last receive is never silent.
        assert!(!is_silent(t0 + Duration::from_secs(10), t0, &hb));
        assert_eq!(hb.deadline(t0), Some(t0 + Duration::from_millis(45_000)));
        let huge = Heartbeat {
            ping_interval_ms: u64::MAX,
            ping_timeout_ms: u64::MAX,
        };
        assert!(!is_silent(t0, t0 + Duration::from_secs(1 << 40), &huge));
        let _ = huge.deadline(t0);
        let zero = Heartbeat {
            ping_interval_ms: 0,
            ping_timeout_ms: 0,
        };
        assert!(is_silent(t0, t0, &zero));
    }

    #[test]
    fn stream_urls() {
        let token = "a+b/c=d&e f%?#é";
        let url = stream_url("https://systems.pdk.io", "sys-1", token, EioVersion::V4).unwrap();
        assert_eq!(
            url,
            "wss://systems.pdk.io/socket.io/?systemId=sys-1&token=a%2Bb%2Fc%3Dd%26e%20f%25%3F%23%C3%A9&EIO=4&transport=websocket"
        );
        let url = stream_url("http://127.0.0.1:8080/", "s", "t", EioVersion::V3).unwrap();
        assert_eq!(
            url,
            "ws://127.0.0.1:8080/socket.io/?systemId=s&token=t&EIO=3&transport=websocket"
        );
        let url = stream_url("HTTPS://proxy.local/pdk/", "s", "t", EioVersion::V4).unwrap();
        assert_eq!(
            url,
            "wss://proxy.local/pdk/socket.io/?systemId=s&token=t&EIO=4&transport=websocket"
        );
        let secret = "SECRET-tok";
        for base in [
            "systems.pdk.io",
            "ftp://x",
            "https://",
            "https:///path",
            "https://u:p@host",
            "https://host?x=1",
            "https://ho st",
            "https://hóst",
        ] {
            let e = stream_url(base, "s", secret, EioVersion::V4).unwrap_err();
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!e.to_string().contains("u:p"), "{e}");
        }
        assert!(stream_url("https://h", "", "t", EioVersion::V4).is_err());
        assert!(stream_url("https://h", "s", "", EioVersion::V4).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(EioVersion::from_config(None), Ok(EioVersion::V4));
        assert_eq!(EioVersion::from_config(Some(3)), Ok(EioVersion::V3));
        assert_eq!(EioVersion::try_from(4), Ok(EioVersion::V4));
        assert!(EioVersion::try_from(5).is_err());
        assert_eq!(EioVersion::default().query_value(), "4");
    }

    fn namespace() -> impl Strategy<Value = String> {
        prop_oneof![Just("/".to_string()), "/[a-z0-9/_-]{1,10}"]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn decoders_never_panic(s in "\\PC{0,64}") {
            let _ = decode_engine(&s);
            let _ = decode_socket(&s);
            let _ = decode_message(&s);
            let _ = EngineRules::new(EioVersion::V4).enforce_client_frame(&s);
            let _ = EngineRules::new(EioVersion::V3).enforce_client_frame(&s);
            let mut r = EngineRules::new(EioVersion::V4);
            if let Ok(p) = decode_engine(&s) {
                let _ = r.check_incoming(&p);
                let _ = r.check_outgoing(&p);
            }
        }

        #[test]
        fn structured_prefixes_never_panic(
            head in prop_oneof![Just(""), Just("0"), Just("4"), Just("42"), Just("40/"), Just("43"), Just("2/a,")],
            tail in "[0-9\\[\\]{}\",:/a-z\u{e9}\u{1F600}-]{0,40}",
        ) {
            let s = format!("{head}{tail}");
            let _ = decode_engine(&s);
            let _ = decode_socket(&s);
            let _ = decode_socket(&s[head.len().min(1)..]);
        }

        #[test]
        fn any_bytes_as_text_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = decode_engine(&s);
            let _ = decode_socket(&s);
        }

        #[test]
        fn socket_events_round_trip(
            ns in namespace(),
            ack in proptest::option::of(any::<u64>()),
            name in ".{0,16}",
            args in proptest::collection::vec(json_value(), 0..4),
        ) {
            let p = SocketPacket::Event { namespace: ns, ack_id: ack, name, args };
            prop_assert_eq!(decode_message(&encode_message(&p)).unwrap(), p);
        }

        #[test]
        fn stream_url_never_panics(base in "\\PC{0,40}", sys in "\\PC{0,10}", tok in "\\PC{0,20}") {
            let tok = format!("TOK{tok}");
            if let Err(e) = stream_url(&base, &sys, &tok, EioVersion::V4) {
                prop_assert!(!e.to_string().contains("TOK"));
            }
        }
    }
}
