//! Engine.IO / Socket.IO codec: decode, re-encode round trip, and the protocol rules.
#![no_main]

use doorwatch::sources::socketio::{
    Direction, EioVersion, EngineRules, decode_engine, decode_message, decode_socket,
    encode_engine, encode_socket,
};
use libfuzzer_sys::fuzz_target;

#[path = "../shared/packet_shape.rs"]
mod packet_shape;
use packet_shape::shape;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // One frame per line: a whole connection's worth of frames for the rules.
    let mut rules = EngineRules::new(if data.first() == Some(&b'3') {
        EioVersion::V3
    } else {
        EioVersion::V4
    });
    for (i, frame) in text.split('\n').enumerate() {
        if let Ok(p) = decode_engine(frame) {
            assert_eq!(
                decode_engine(&encode_engine(&p)),
                Ok(p.clone()),
                "{frame:?}"
            );
            let _ = rules.heartbeat_reply(&p);
            let dir = if i % 2 == 0 {
                Direction::ServerToClient
            } else {
                Direction::ClientToServer
            };
            let _ = rules.check(dir, &p);
        }
        if let Ok(p) = decode_socket(frame) {
            let again = decode_socket(&encode_socket(&p)).map(|q| shape(&q));
            assert_eq!(again, Ok(shape(&p)), "{frame:?}");
        }
        let _ = decode_message(frame);
        let _ = rules.enforce_client_frame(frame);
    }
});
