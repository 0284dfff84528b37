//! The webhook receiver over the real binary: `doorwatch daemon` with `[webhooks] listen`
//! on a free loopback port and webhook-only sources for Kisi, Seam and DoorFlow; a real
//! HTTP client posts deliveries signed here (hmac/sha2 directly, not through doorwatch's
//! own verifier), and the store is read back with `search --json` after the daemon exits.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::running::{self, Finished, Running};
use common::{doorwatch, ok};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KISI_SECRET: &str = "kisi-signing-key-7Qd2";
const DOORFLOW_SECRET: &str = "doorflow-webhook-secret-Zx81";
/// The Svix signing key; the config holds it as `whsec_` + base64.
const SEAM_KEY: &[u8] = b"seam-svix-signing-key-bytes-4242";
/// Unset on purpose: the source that names it must refuse deliveries and say so.
const MISSING_ENV: &str = "DOORWATCH_TEST_WEBHOOK_SECRET_NOT_SET";

fn seam_secret() -> String {
    format!("whsec_{}", B64.encode(SEAM_KEY))
}

/// Every form a secret could leak in.
fn secret_forms() -> Vec<String> {
    vec![
        KISI_SECRET.to_string(),
        DOORFLOW_SECRET.to_string(),
        seam_secret(),
        B64.encode(SEAM_KEY),
        String::from_utf8_lossy(SEAM_KEY).into_owned(),
    ]
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------------------
// The daemon

struct Daemon {
    running: Running,
    addr: SocketAddr,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let text = format!(
        r#"
[[source]]
name = "hq-kisi"
vendor = "kisi"
poll = false
webhook_secret = "{KISI_SECRET}"

[[source]]
name = "hq-seam"
vendor = "seam"
poll = false
webhook_secret = "{seam}"

[[source]]
name = "hq-doorflow"
vendor = "doorflow"
poll = false
webhook_secret = "{DOORFLOW_SECRET}"

[[source]]
name = "annex-seam"
vendor = "seam"
poll = false
webhook_secret_env = "{MISSING_ENV}"

[webhooks]
listen = "127.0.0.1:{port}"
"#,
        seam = seam_secret()
    );
    let path = dir.join("doorwatch.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

impl Daemon {
    fn start(data: &Path) -> Daemon {
        let port = free_port();
        let config = write_config(data, port);
        let config = config.to_str().unwrap();
        let mut command =
            running::command(data, &["--config", config, "daemon", "--exit-after", "50s"]);
        command
            .env("DOORWATCH_LOG", "debug")
            .env_remove(MISSING_ENV);
        let mut daemon = Daemon {
            running: Running::start(command),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        };
        daemon.wait_for_listener();
        daemon
    }

    fn wait_for_listener(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.running.child.try_wait() {
                panic!(
                    "the daemon exited before listening: {status}\n{}",
                    self.running.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no webhook listener on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, source: &str) -> String {
        format!("http://{}/webhooks/{source}", self.addr)
    }

    /// SIGTERM, then wait (with a deadline) for the store to be flushed and closed.
    async fn stop(self) -> Finished {
        let exited = tokio::time::timeout(Duration::from_secs(20), self.running.terminate())
            .await
            .expect("the daemon did not stop on SIGTERM");
        assert!(
            exited.status.success(),
            "daemon exit {}\nstdout: {}\nstderr: {}",
            exited.status,
            exited.stdout,
            exited.stderr
        );
        exited
    }
}

/// Every stored event's kind, by id, read after the daemon exited.
fn stored(data: &Path) -> BTreeMap<String, String> {
    let out = ok(&doorwatch(
        data,
        &["search", "--json", "--limit", "1000000"],
    ));
    let mut by_id = BTreeMap::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let e: Value = serde_json::from_str(line).unwrap();
        let id = e["id"].as_str().unwrap().to_string();
        let kind = e["kind"].as_str().unwrap().to_string();
        assert!(
            by_id.insert(id.clone(), kind).is_none(),
            "{id} stored twice"
        );
    }
    by_id
}

fn quarantined(data: &Path) -> Vec<Value> {
    ok(&doorwatch(data, &["quarantine", "--json"]))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The text of every log file under the data dir.
fn logs(data: &Path) -> String {
    let mut text = String::new();
    if let Ok(dir) = std::fs::read_dir(data.join("logs")) {
        for f in dir.flatten() {
            text.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
        }
    }
    text
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secret_forms() {
        assert!(
            !text.contains(&secret),
            "a webhook secret leaked into {what}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Payloads and signed requests

fn kisi_event(uuid: &str) -> Value {
    json!({
        "uuid": uuid, "actor_type": "User", "actor_id": 5501, "actor_name": "Jane Roe",
        "object_type": "Lock", "object_id": 1201, "object_name": "Front Door",
        "organization_id": 77, "place_id": 4021, "success": true, "type": "lock.unlock",
        "error_code": null, "error_message": null, "created_at": "2026-11-22T09:00:01.000Z"
    })
}

fn seam_event(id: &str, event_type: &str) -> Value {
    json!({
        "event_id": id, "event_type": event_type,
        "workspace_id": "5b2e9c41-7f0a-4d3e-8c61-2a9f4e7d1b03",
        "device_id": "august_device_1", "connected_account_id": "ca-1",
        "created_at": "2026-11-22T09:00:02.123456Z", "occurred_at": "2026-11-22T09:00:01.654321Z"
    })
}

fn doorflow_event(id: i64, code: i64) -> Value {
    json!({
        "id": id, "event_id": id, "event_code": code, "event_label": "Door forced open",
        "door_controller_id": 4102, "door_controller_name": "Server Room",
        "channel_id": 4102, "channel_name": "Server Room",
        "person_id": null, "person_name": null, "credentials_number": null,
        "created_at": "2026-11-22T19:14:05+10:00", "updated_at": "2026-11-22T19:14:05+10:00"
    })
}

fn body_of(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn kisi_hex(body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(KISI_SECRET.as_bytes(), &[body]))
    )
}

fn kisi_base64(body: &[u8]) -> String {
    B64.encode(mac(KISI_SECRET.as_bytes(), &[body]))
}

/// Svix headers (`svix-*`, or the unbranded `webhook-*` when `prefix` says so).
fn svix_headers(
    prefix: &str,
    msg_id: &str,
    ts: i64,
    key: &[u8],
    body: &[u8],
) -> Vec<(String, String)> {
    let ts = ts.to_string();
    let sig = B64.encode(mac(
        key,
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    ));
    vec![
        (format!("{prefix}-id"), msg_id.to_string()),
        (format!("{prefix}-timestamp"), ts),
        // A rotated-out key's entry first, as Svix sends during rotation.
        (
            format!("{prefix}-signature"),
            format!("v1,{} v1,{sig}", B64.encode([7u8; 32])),
        ),
    ]
}

fn doorflow_headers(ts: i64, key: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let ts = ts.to_string();
    let sig = hex::encode(mac(key, &[ts.as_bytes(), b".", body]));
    vec![("Signature".into(), sig), ("Timestamp".into(), ts)]
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("the receiver answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn one(k: &str, v: String) -> Vec<(String, String)> {
    vec![(k.to_string(), v)]
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_are_stored_once_and_anything_else_stores_nothing() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let http = reqwest::Client::new();
    let (kisi, seam, doorflow) = (
        daemon.url("hq-kisi"),
        daemon.url("hq-seam"),
        daemon.url("hq-doorflow"),
    );
    let now = now_unix();
    let mut expected = BTreeMap::new();

    // Kisi: hex with the spec's `sha256=` prefix, and plain base64 (the encoding is undocumented).
    let body = body_of(&kisi_event("k-hex-1"));
    assert_eq!(
        post(&http, &kisi, &one("X-Signature", kisi_hex(&body)), &body)
            .await
            .0,
        200
    );
    expected.insert("hq-kisi:k-hex-1", "access.granted");
    let body = body_of(&json!([kisi_event("k-b64-2")]));
    assert_eq!(
        post(&http, &kisi, &one("x-signature", kisi_base64(&body)), &body)
            .await
            .0,
        200
    );
    expected.insert("hq-kisi:k-b64-2", "access.granted");
    // Signed for one body, sent with another; no signature; signed with another key.
    let signed = body_of(&kisi_event("k-forged-3"));
    let altered = body_of(&kisi_event("k-forged-4"));
    let (status, text) = post(
        &http,
        &kisi,
        &one("X-Signature", kisi_hex(&signed)),
        &altered,
    )
    .await;
    assert_eq!(status, 401, "{text}");
    assert_eq!(post(&http, &kisi, &[], &signed).await.0, 401);
    let wrong_key = hex::encode(mac(b"not-the-key", &[&signed]));
    assert_eq!(
        post(&http, &kisi, &one("X-Signature", wrong_key), &signed)
            .await
            .0,
        401
    );
    // Oversized (default limit 256 KiB) even though correctly signed.
    let mut big = kisi_event("k-big-5");
    big["padding"] = json!("x".repeat(300 * 1024));
    let big = body_of(&big);
    assert_eq!(
        post(&http, &kisi, &one("X-Signature", kisi_hex(&big)), &big)
            .await
            .0,
        413
    );

    // Seam (Svix): branded and unbranded headers; the same delivery retried, also concurrently.
    let body = body_of(&seam_event("ev-lock-1", "lock.locked"));
    let headers = svix_headers("svix", "msg_1", now, SEAM_KEY, &body);
    let (first, again, racing) = tokio::join!(
        post(&http, &seam, &headers, &body),
        post(&http, &seam, &headers, &body),
        post(&http, &seam, &headers, &body),
    );
    assert_eq!((first.0, again.0, racing.0), (200, 200, 200));
    let (status, text) = post(&http, &seam, &headers, &body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "stored 0, duplicates 1, quarantined 0")
    );
    expected.insert("hq-seam:ev-lock-1", "door.locked");
    let body = body_of(&seam_event("ev-tamper-2", "device.tampered"));
    let headers = svix_headers("webhook", "msg_2", now - 60, SEAM_KEY, &body);
    assert_eq!(post(&http, &seam, &headers, &body).await.0, 200);
    expected.insert("hq-seam:ev-tamper-2", "device.tamper");
    // Stale (10 minutes old, and 10 minutes ahead), wrong key, missing headers.
    let body = body_of(&seam_event("ev-stale-3", "lock.unlocked"));
    for ts in [now - 600, now + 600] {
        let (status, text) = post(
            &http,
            &seam,
            &svix_headers("svix", "msg_3", ts, SEAM_KEY, &body),
            &body,
        )
        .await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("outside the allowed window"), "{text}");
    }
    let wrong = svix_headers(
        "svix",
        "msg_3",
        now,
        b"another-svix-key-bytes-000000000",
        &body,
    );
    assert_eq!(post(&http, &seam, &wrong, &body).await.0, 401);
    let mut partial = svix_headers("svix", "msg_3", now, SEAM_KEY, &body);
    partial.retain(|(k, _)| k != "svix-timestamp");
    assert_eq!(post(&http, &seam, &partial, &body).await.0, 401);
    assert_eq!(post(&http, &seam, &[], &body).await.0, 401);

    // DoorFlow: a body of event objects is stored; a notification for a webhook-only
    // source is kept in quarantine (nothing here could fetch the event it points at).
    let body = body_of(&json!([doorflow_event(77001, 32)]));
    assert_eq!(
        post(
            &http,
            &doorflow,
            &doorflow_headers(now, DOORFLOW_SECRET.as_bytes(), &body),
            &body
        )
        .await
        .0,
        200
    );
    expected.insert("hq-doorflow:77001", "door.forced_open");
    let note = body_of(
        &json!([{"action": "CREATE", "resource_type": "Event", "resource_id": "77002",
        "resource": "https://api.doorflow.com/api/3/events/77002?ack_token=abc123",
        "account_id": "nbYfy7", "ack_token": "abc123"}]),
    );
    let (status, text) = post(
        &http,
        &doorflow,
        &doorflow_headers(now, DOORFLOW_SECRET.as_bytes(), &note),
        &note,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, "stored 0, duplicates 0, quarantined 1")
    );
    let body = body_of(&json!([doorflow_event(77003, 10)]));
    for ts in [now - 600, now + 600] {
        let h = doorflow_headers(ts, DOORFLOW_SECRET.as_bytes(), &body);
        assert_eq!(post(&http, &doorflow, &h, &body).await.0, 401);
    }
    let h = doorflow_headers(now, b"wrong-doorflow-secret", &body);
    assert_eq!(post(&http, &doorflow, &h, &body).await.0, 401);
    let mut h = doorflow_headers(now, DOORFLOW_SECRET.as_bytes(), &body);
    h.retain(|(k, _)| k != "Signature");
    assert_eq!(post(&http, &doorflow, &h, &body).await.0, 401);

    // No route for an unknown source; a source without its secret refuses.
    assert_eq!(post(&http, &daemon.url("nobody"), &[], b"{}").await.0, 404);
    let body = body_of(&seam_event("ev-annex-1", "lock.locked"));
    let h = svix_headers("svix", "msg_9", now, SEAM_KEY, &body);
    assert_eq!(
        post(&http, &daemon.url("annex-seam"), &h, &body).await.0,
        403
    );

    let data = dir.path();
    let exited = daemon.stop().await;

    let got = stored(data);
    let expected: BTreeMap<String, String> = expected
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, expected, "exactly the verified deliveries, once each");
    let q = quarantined(data);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["source"], "hq-doorflow");
    assert!(q[0]["raw"].as_str().unwrap().contains("77002"));

    let line = |name: &str| {
        exited
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} [")))
            .unwrap_or_else(|| panic!("no status line for {name}: {}", exited.stdout))
            .to_string()
    };
    let kisi_line = line("hq-kisi");
    assert!(
        kisi_line.contains("stored 2,") && kisi_line.ends_with("webhooks accepted 2, rejected 4"),
        "{kisi_line}"
    );
    let seam_line = line("hq-seam");
    assert!(
        seam_line.contains("stored 2, duplicates 3,")
            && seam_line.ends_with("webhooks accepted 5, rejected 5"),
        "{seam_line}"
    );
    let df_line = line("hq-doorflow");
    assert!(
        df_line.contains("stored 1, duplicates 0, quarantined 1")
            && df_line.ends_with("webhooks accepted 2, rejected 4"),
        "{df_line}"
    );
    let annex = line("annex-seam");
    assert!(
        annex.contains("failed") && annex.contains(MISSING_ENV),
        "{annex}"
    );
    assert!(
        exited.stderr.contains(MISSING_ENV),
        "the failure names the env var: {}",
        exited.stderr
    );
    let log = logs(data);
    assert!(
        log.contains(MISSING_ENV),
        "the log names the env var to set"
    );
    assert!(
        log.contains("first verified Kisi delivery"),
        "the Kisi signature form is logged"
    );

    assert_no_secret("stdout", &exited.stdout);
    assert_no_secret("stderr", &exited.stderr);
    assert_no_secret("the logs", &log);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_of_an_already_imported_event_is_not_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // The same payloads a poller (or an import) would have stored first.
    let seam_item = seam_event("ev-polled-1", "lock.unlocked");
    let kisi_item = kisi_event("k-polled-1");
    let df_item = doorflow_event(88001, 32);
    for (vendor, source, file, page) in [
        (
            "seam",
            "hq-seam",
            "seam.json",
            json!({"events": [seam_item]}),
        ),
        ("kisi", "hq-kisi", "kisi.json", json!([kisi_item])),
        ("doorflow", "hq-doorflow", "doorflow.json", json!([df_item])),
    ] {
        let path = data.join(file);
        std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
        ok(&doorwatch(
            data,
            &[
                "import",
                "--vendor",
                vendor,
                "--source",
                source,
                path.to_str().unwrap(),
            ],
        ));
    }
    let before = stored(data);
    assert_eq!(before.len(), 3, "{before:?}");

    let daemon = Daemon::start(data);
    let http = reqwest::Client::new();
    let now = now_unix();
    let body = body_of(&seam_item);
    let h = svix_headers("svix", "msg_p1", now, SEAM_KEY, &body);
    let (status, text) = post(&http, &daemon.url("hq-seam"), &h, &body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "stored 0, duplicates 1, quarantined 0")
    );
    let body = body_of(&kisi_item);
    let (status, text) = post(
        &http,
        &daemon.url("hq-kisi"),
        &one("X-Signature", kisi_hex(&body)),
        &body,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, "stored 0, duplicates 1, quarantined 0")
    );
    let body = body_of(&json!([df_item]));
    let h = doorflow_headers(now, DOORFLOW_SECRET.as_bytes(), &body);
    let (status, text) = post(&http, &daemon.url("hq-doorflow"), &h, &body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "stored 0, duplicates 1, quarantined 0")
    );
    let exited = daemon.stop().await;

    assert_eq!(
        stored(data),
        before,
        "webhook copies dedupe against the imported ones"
    );
    assert_no_secret("stdout", &exited.stdout);
    assert_no_secret("stderr", &exited.stderr);
    assert_no_secret("the logs", &logs(data));
}
