//! Shared by the `socketio` cargo-fuzz target and `tests/fuzz.rs`, which check the
//! same round trip.

use doorwatch::sources::socketio::SocketPacket;

/// Everything of a packet but its JSON values: serde_json (without `float_roundtrip`)
/// may read a long float's last digit differently the second time, which is not the
/// codec's doing (the first crash the `socketio` cargo-fuzz target found).
pub fn shape(p: &SocketPacket) -> String {
    match p {
        SocketPacket::Connect { namespace, data }
        | SocketPacket::ConnectError { namespace, data } => {
            format!("{} {namespace} {}", p.kind(), data.is_some())
        }
        SocketPacket::Disconnect { namespace } => format!("disconnect {namespace}"),
        SocketPacket::Event {
            namespace,
            ack_id,
            name,
            args,
        } => format!("event {namespace} {ack_id:?} {name} {}", args.len()),
        SocketPacket::Ack {
            namespace,
            ack_id,
            args,
        } => format!("ack {namespace} {ack_id} {}", args.len()),
    }
}
