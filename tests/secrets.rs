//! No configured secret leaks anywhere doorwatch writes or draws.
//!
//! The real binary runs `--debug daemon` against all four simulators with inline
//! credentials (one Kisi source with a wrong key, so the 401 path runs) and three
//! webhook-only sources that get good and badly signed deliveries. Then exports,
//! search, quarantine and alarm listings run over the store, and the console is drawn
//! (ratatui `TestBackend`) over the same store with the live status board. Every byte
//! of the data dir (logs, sled files, exports), every stdout/stderr and every screen is
//! searched for every secret in every form it could take. A config holding inline
//! secrets is refused unless it is mode 0600, without echoing them.

mod common;

use common::secrets::*;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use doorwatch::config::Config;
use doorwatch::daemon::Live;
use doorwatch::engine::Engine;
use doorwatch::sim::doorflow::{DoorflowSim, DoorflowSimOptions};
use doorwatch::sim::kisi::{KisiSim, KisiSimOptions};
use doorwatch::sim::pdk::{PdkSim, PdkSimOptions};
use doorwatch::sim::seam::{SeamSim, SeamSimOptions};
use doorwatch::sources::runtime::LinkState;
use hmac::{Hmac, KeyInit, Mac};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use sha2::Sha256;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

struct Sims {
    kisi: String,
    pdk: (String, String),
    seam: String,
    doorflow: String,
}

fn config_text(s: &Sims, port: u16) -> String {
    format!(
        r#"
[[source]]
name = "kisi"
vendor = "kisi"
base_url = "{kisi}"
token = "{KISI_KEY}"
poll_interval = "200ms"

[[source]]
name = "kisi-wrong"
vendor = "kisi"
base_url = "{kisi}"
token = "{KISI_WRONG_KEY}"

[[source]]
name = "pdk"
vendor = "pdk"
base_url = "{pdk}"
auth_url = "{pdk}"
system_id = "{sys}"
client_id = "{PDK_ID}"
client_secret = "{PDK_SECRET}"

[[source]]
name = "seam"
vendor = "seam"
base_url = "{seam}"
token = "{SEAM_KEY}"
poll_interval = "200ms"

[[source]]
name = "df"
vendor = "doorflow"
base_url = "{df}"
client_id = "{DF_ID}"
client_secret = "{DF_SECRET}"
refresh_token = "{DF_REFRESH}"
poll_interval = "200ms"

[[source]]
name = "kisi-hooks"
vendor = "kisi"
poll = false
webhook_secret = "{KISI_HOOK}"

[[source]]
name = "seam-hooks"
vendor = "seam"
poll = false
webhook_secret = "{seam_hook}"

[[source]]
name = "df-hooks"
vendor = "doorflow"
poll = false
webhook_secret = "{DF_HOOK}"

[webhooks]
listen = "127.0.0.1:{port}"
"#,
        kisi = s.kisi,
        pdk = s.pdk.0,
        sys = s.pdk.1,
        seam = s.seam,
        df = s.doorflow,
        seam_hook = seam_hook_secret(),
    )
}

fn write_config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(format!("doorwatch-{mode:o}.toml"));
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

async fn doorwatch(data: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_doorwatch"))
        .arg("--debug")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .env("HOME", data)
        .env("USER", "tester")
        .output()
        .await
        .expect("run doorwatch")
}

/// Good and badly signed deliveries to each webhook-only source.
async fn post_webhooks(port: u16) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the webhook receiver never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::new();
    let url = |s: &str| format!("http://127.0.0.1:{port}/webhooks/{s}");
    let now = chrono::Utc::now().timestamp().to_string();
    let mut codes = Vec::new();
    let mut send = async |path: &str, headers: Vec<(&str, String)>, body: &[u8]| {
        let mut req = http
            .post(url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        codes.push(
            req.send()
                .await
                .expect("receiver answers")
                .status()
                .as_u16(),
        );
    };

    let kisi = serde_json::to_vec(&json!({
        "uuid": "0b7c0e1e-1111-4d2a-9c3e-abcdef012345", "actor_type": "User", "actor_id": 5501,
        "actor_name": "Jane Roe", "object_type": "Lock", "object_id": 1201,
        "object_name": "Front Door", "success": true, "type": "lock.unlock",
        "created_at": "2026-11-22T09:00:01.000Z"
    }))
    .unwrap();
    let good = hex::encode(mac(KISI_HOOK.as_bytes(), &[&kisi]));
    send("kisi-hooks", vec![("x-signature", good)], &kisi).await;
    send("kisi-hooks", vec![("x-signature", "0".repeat(64))], &kisi).await;

    let seam = serde_json::to_vec(&json!({
        "event_id": "c0ffee00-0000-4000-8000-000000000001", "event_type": "lock.unlocked",
        "workspace_id": "5b2e9c41-7f0a-4d3e-8c61-2a9f4e7d1b03", "device_id": "august_device_1",
        "created_at": "2026-11-22T09:00:02.123456Z", "occurred_at": "2026-11-22T09:00:01.654321Z"
    }))
    .unwrap();
    let sig = B64.encode(mac(
        SEAM_HOOK_KEY,
        &[b"msg_1", b".", now.as_bytes(), b".", &seam],
    ));
    let svix = |sig: String| {
        vec![
            ("svix-id", "msg_1".to_string()),
            ("svix-timestamp", now.clone()),
            ("svix-signature", format!("v1,{sig}")),
        ]
    };
    send("seam-hooks", svix(sig), &seam).await;
    send("seam-hooks", svix(B64.encode([9u8; 32])), &seam).await;

    let df = serde_json::to_vec(&json!({
        "id": 99001, "event_id": 99001, "event_code": 31, "event_label": "Door forced open",
        "door_controller_id": 4102, "door_controller_name": "Server Room", "channel_id": 4102,
        "channel_name": "Server Room", "created_at": "2026-11-22T19:14:05+10:00"
    }))
    .unwrap();
    let sig = hex::encode(mac(DF_HOOK.as_bytes(), &[now.as_bytes(), b".", &df]));
    send(
        "df-hooks",
        vec![("signature", sig), ("timestamp", now.clone())],
        &df,
    )
    .await;
    send(
        "df-hooks",
        vec![("signature", "ab".repeat(32)), ("timestamp", now.clone())],
        &df,
    )
    .await;
    // Malformed JSON under a good signature: quarantined raw.
    let junk = b"{\"uuid\": not json".to_vec();
    let good = hex::encode(mac(KISI_HOOK.as_bytes(), &[&junk]));
    send("kisi-hooks", vec![("x-signature", good)], &junk).await;
    codes
}

/// Every pane of the console at two sizes, as text.
fn screens(engine: &Engine, statuses: Vec<doorwatch::sources::runtime::SourceStatus>) -> String {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use doorwatch::search::{Query, execute};
    use doorwatch::ui::app::{self, App, Msg};
    use doorwatch::ui::keymap::Keymap;
    use doorwatch::ui::render::render;
    use doorwatch::ui::snapshot::Snapshot;
    use doorwatch::ui::theme::Theme;

    let now = chrono::Utc::now();
    let mut app = App::new(Theme::builtin("dark").unwrap(), Keymap::default(), now);
    app.snapshot = Snapshot::take(engine, statuses, now);
    let q = Query::parse("", now).unwrap();
    let recent = execute(engine.store(), &q, 500, None).unwrap().events;
    app::seed(&mut app, recent.into_iter().map(|(_, e)| e).collect());
    let mut text = String::new();
    for key in ['1', '2', '3', '4', '5', '?'] {
        let _ = app::update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE)),
        );
        for (w, h) in [(160, 48), (80, 24)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| render(&app, f)).unwrap();
            let buf = terminal.backend().buffer().clone();
            for y in 0..h {
                for x in 0..w {
                    text.push_str(buf[(x, y)].symbol());
                }
                text.push('\n');
            }
        }
        let _ = app::update(&mut app, Msg::Key(KeyEvent::from(KeyCode::Esc)));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_store_exports_output_or_screen() {
    let t0 = Instant::now();
    let kisi = KisiSim::start(KisiSimOptions {
        api_key: KISI_KEY.into(),
        rate: 5.0,
        ..KisiSimOptions::default()
    })
    .await
    .unwrap();
    let pdk = PdkSim::start(PdkSimOptions {
        client_id: PDK_ID.into(),
        client_secret: PDK_SECRET.into(),
        rate: 10.0,
        ..PdkSimOptions::default()
    })
    .await
    .unwrap();
    let seam = SeamSim::start(SeamSimOptions {
        api_key: SEAM_KEY.into(),
        rate: 5.0,
        ..SeamSimOptions::default()
    })
    .await
    .unwrap();
    let df = DoorflowSim::start(DoorflowSimOptions {
        client_id: DF_ID.into(),
        client_secret: DF_SECRET.into(),
        refresh_token: Some(DF_REFRESH.into()),
        rate: 1.0,
        speed: 300.0,
        ..DoorflowSimOptions::default()
    })
    .await
    .unwrap();
    let sims = Sims {
        kisi: kisi.base_url(),
        pdk: (pdk.base_url(), pdk.system_id().to_string()),
        seam: seam.base_url(),
        doorflow: df.base_url(),
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let text = config_text(&sims, port);

    // A readable config with inline secrets is refused, without echoing them.
    let open = write_config(dir.path(), &text, 0o644);
    let refused = doorwatch(&data, &["--config", open.to_str().unwrap(), "daemon"]).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    let mut outputs = vec![("refused config", refused)];

    // The daemon, with webhook deliveries while it runs.
    let private = write_config(dir.path(), &text, 0o600);
    let config_arg = private.to_str().unwrap().to_string();
    let daemon = {
        let data = data.clone();
        tokio::spawn(async move {
            doorwatch(
                &data,
                &["--config", &config_arg, "daemon", "--exit-after", "8s"],
            )
            .await
        })
    };
    let codes = post_webhooks(port).await;
    assert_eq!(
        codes,
        vec![200, 401, 200, 401, 200, 401, 200],
        "webhook answers"
    );
    let daemon = daemon.await.unwrap();
    let said = String::from_utf8_lossy(&daemon.stdout).into_owned();
    assert!(daemon.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("kisi-wrong [kisi]: failed") && l.contains("401")),
        "the wrong key fails with 401: {said}"
    );
    let debug = String::from_utf8_lossy(&daemon.stderr);
    assert!(
        debug.contains("DEBUG"),
        "--debug logs to stderr for the daemon"
    );
    assert!(
        debug.contains(r#"client_secret: Some("***")"#),
        "--debug dumps the config with its secrets redacted: {debug}"
    );
    for source in ["kisi [kisi]", "pdk [pdk]", "seam [seam]", "df [doorflow]"] {
        let line = said.lines().find(|l| l.starts_with(source)).unwrap_or("");
        assert!(
            !line.contains("stored 0,"),
            "{source} stored events: {said}"
        );
    }
    outputs.push(("daemon", daemon));

    // Everything that reads the store back.
    let export = data.join("export.jsonl");
    for args in [
        vec![
            "export",
            "--format",
            "jsonl",
            "--output",
            export.to_str().unwrap(),
        ],
        vec!["export", "--format", "csv"],
        vec!["search", "--json", "--limit", "1000000"],
        vec!["quarantine", "--json"],
        vec!["quarantine"],
        vec!["alarms", "--all", "--json"],
    ] {
        let out = doorwatch(&data, &args).await;
        assert!(out.status.success(), "{args:?}: {out:?}");
        outputs.push(("a store command", out));
    }
    assert!(std::fs::metadata(&export).unwrap().len() > 0);
    let quarantine = String::from_utf8_lossy(&outputs[outputs.len() - 3].1.stdout).into_owned();
    assert!(
        quarantine.contains("not json"),
        "the junk delivery is quarantined"
    );

    // The console over the same store, with the status board of a live run.
    let config = Config::parse(&text.replace(&format!(":{port}"), ":0"), None, true).unwrap();
    let engine = Engine::open(&data, config.alarm_config()).unwrap();
    let live = Live::start(&config, engine, |_, _| {}).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while live
        .board
        .get("kisi-wrong")
        .is_none_or(|s| s.state != LinkState::Failed)
    {
        assert!(Instant::now() < deadline, "kisi-wrong never failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let statuses = live.board.all();
    let engine = live.shutdown().await.unwrap();
    let screen = screens(&engine, statuses);
    engine.close().unwrap();
    assert!(
        screen.contains("kisi-wrong"),
        "the screen shows the sources"
    );
    assert_clean("the rendered console", screen.as_bytes());

    for (what, out) in &outputs {
        assert_clean(&format!("stdout of {what}"), &out.stdout);
        assert_clean(&format!("stderr of {what}"), &out.stderr);
    }
    let mut files = Vec::new();
    files_under(&data, &mut files);
    assert!(files.iter().any(|f| f.to_string_lossy().contains("logs")));
    for f in &files {
        assert_clean(&f.display().to_string(), &std::fs::read(f).unwrap());
    }
    eprintln!(
        "{} files and {} outputs clean, {:?}",
        files.len(),
        outputs.len(),
        t0.elapsed()
    );
    kisi.shutdown().await;
    pdk.shutdown().await;
    seam.shutdown().await;
    df.shutdown().await;
}
