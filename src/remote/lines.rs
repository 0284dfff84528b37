//! JSON lines, bounded: a peer cannot make the other buffer without limit.

use super::protocol::{ErrorCode, MAX_LINE, Reply};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Read one line into `buf` (without its newline). `Ok(false)` at end of input.
pub async fn read_line(
    read: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    buf.clear();
    let n = read
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)
        .await?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line longer than {MAX_LINE} bytes"),
        ));
    }
    Ok(true)
}

/// Write one reply as a line. A reply that cannot be written (an event whose stored
/// raw payload is damaged, not JSON) goes as an error reply that says why.
pub async fn write_reply(
    write: &mut (impl AsyncWrite + Unpin),
    reply: &Reply,
) -> anyhow::Result<()> {
    let mut line = match serde_json::to_vec(reply) {
        Ok(line) => line,
        Err(e) => serde_json::to_vec(&Reply::Error {
            code: ErrorCode::Failed,
            message: format!("{e} (run `doorwatch check`)"),
        })?,
    };
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RawJson;

    #[tokio::test]
    async fn a_reply_with_a_damaged_payload_goes_as_an_error() {
        let mut event = crate::sim::history::history(1, 1_800_000_000_000, 86_400_000, 1)
            .next()
            .unwrap();
        let events = |e: &crate::model::Event| Reply::Events {
            events: vec![e.clone()],
            keys: vec!["k".into()],
            next: None,
        };
        let mut out = Vec::new();
        write_reply(&mut out, &events(&event)).await.unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["type"], "events");
        assert!(line["events"][0]["raw"].is_object());

        event.raw = RawJson::from_stored("{\"id\":".into());
        out.clear();
        write_reply(&mut out, &events(&event)).await.unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["type"], "error");
        assert_eq!(line["code"], "failed");
        let message = line["message"].as_str().unwrap();
        assert!(
            message.contains("not JSON") && message.contains("doorwatch check"),
            "{message}"
        );
    }
}
