//! The soak under faults (issue 8): the four vendor simulators on loopback, every fault
//! switch they have cycling in turn and overlapping (disconnects, token expiry, 429 and
//! 500 storms, malformed frames, duplicates, out-of-order pages, oversized answers, a
//! revoked key, clock skew of ±5 min, a vendor going silent), against the real
//! `doorwatch daemon`. At the end: the store holds exactly the simulators' ledgers (no
//! event lost, none twice), memory is flat, and every fault was visible in the status
//! of the source it hit.
//!
//! `cargo test --release --test soak` runs it for 2 minutes (CI); `soak/run --minutes
//! 30` runs the full one (`DOORWATCH_SOAK_MINUTES`), printing the report.

mod common;

use common::running::{self, Running};
use doorwatch::daemon::status_line;
use doorwatch::model::Vendor;
use doorwatch::remote::Client;
use doorwatch::sim::doorflow::{DoorflowSim, DoorflowSimHandle, DoorflowSimOptions};
use doorwatch::sim::kisi::{KisiFault, KisiSim, KisiSimHandle, KisiSimOptions};
use doorwatch::sim::launch::write_private;
use doorwatch::sim::pdk::{HISTORY_PATH, PdkFault, PdkSim, PdkSimHandle, PdkSimOptions};
use doorwatch::sim::seam::{SeamFault, SeamSim, SeamSimHandle, SeamSimOptions};
use doorwatch::sources::runtime::{LinkState, SourceStatus};
use doorwatch::sources::{ParseContext, parse_batch};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the faults cycle: `DOORWATCH_SOAK_MINUTES`, default 2 (the CI run).
fn soak_length() -> Duration {
    let minutes = std::env::var("DOORWATCH_SOAK_MINUTES")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|m| m.is_finite() && *m > 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(minutes * 60.0)
}

/// Events of history in the store before the daemon starts:
/// `DOORWATCH_SOAK_HISTORY`, default 20,000 (`soak/run` uses 200,000). A desk's store
/// holds years; an empty one would leave sled's cache still filling at the end and
/// hide whether memory is flat.
fn history_size() -> usize {
    std::env::var("DOORWATCH_SOAK_HISTORY")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(20_000)
}

/// Fill the store with `n` events of the simulated building's past (sources `hq-*`),
/// ending a day ago, the way a store that has run for a year looks.
fn prefill_history(data: &Path, n: usize) {
    use doorwatch::store::{AppendBatch, Store, StoreOptions};
    if n == 0 {
        return;
    }
    // As a bulk import leaves it: postings written, nothing left to a journal.
    let opts = StoreOptions {
        auto_checkpoint: true,
        ..StoreOptions::default()
    };
    let store = Store::open_with(data, opts).expect("open the store for history");
    let end_ms = chrono::Utc::now().timestamp_millis() - 86_400_000;
    let mut events = doorwatch::sim::history::history(n, end_ms, 365 * 86_400_000, 7).peekable();
    while events.peek().is_some() {
        let batch: Vec<_> = events.by_ref().take(1000).collect();
        store
            .append(AppendBatch {
                events: batch,
                ..AppendBatch::default()
            })
            .expect("append history");
    }
    store.flush().expect("flush history");
}

fn is_history(source: &str) -> bool {
    source.starts_with("hq-")
}

const SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(120);
const STATUS_EVERY: Duration = Duration::from_millis(250);

fn source_name(v: Vendor) -> String {
    format!("soak-{v}")
}

// ---------------------------------------------------------------------------------
// The simulators

struct Sims {
    kisi: KisiSimHandle,
    pdk: PdkSimHandle,
    seam: SeamSimHandle,
    doorflow: DoorflowSimHandle,
}

impl Sims {
    /// All four, busy (a few to ten events a second each), with the simulators' own
    /// limits (Kisi's 5 requests/s, PDK's 10 token POSTs/s) left as they are.
    async fn start() -> Sims {
        let kisi = KisiSim::start(KisiSimOptions {
            rate: 4.0,
            alarm_every: Duration::from_secs(30),
            ..KisiSimOptions::default()
        })
        .await
        .unwrap();
        let pdk = PdkSim::start(PdkSimOptions {
            rate: 3.0,
            alarm_every: Duration::from_secs(30),
            ping_interval: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(3),
            ..PdkSimOptions::default()
        })
        .await
        .unwrap();
        let seam = SeamSim::start(SeamSimOptions {
            rate: 4.0,
            alarm_every: Duration::from_secs(30),
            visibility_lag: Duration::from_millis(800),
            ..SeamSimOptions::default()
        })
        .await
        .unwrap();
        let doorflow = DoorflowSim::start(DoorflowSimOptions {
            rate: 8.0,
            ..DoorflowSimOptions::default()
        })
        .await
        .unwrap();
        Sims {
            kisi,
            pdk,
            seam,
            doorflow,
        }
    }

    /// The config; `touched[vendor]` changes that source's table a little (its poll
    /// interval by a millisecond per touch), which is how an operator makes a reload
    /// restart a source that failed on a rejected key.
    fn config(&self, touched: &HashMap<Vendor, u32>) -> String {
        let poll = |v: Vendor| format!("{}ms", 2000 + touched.get(&v).copied().unwrap_or(0));
        let k = &self.kisi;
        let p = &self.pdk;
        let s = &self.seam;
        let d = &self.doorflow;
        format!(
            "[[source]]\nname = \"{kn}\"\nvendor = \"kisi\"\nbase_url = \"{ku}\"\ntoken = \"{kt}\"\n\
             poll_interval = \"{kp}\"\nbackfill = \"2h\"\n\n\
             [[source]]\nname = \"{pn}\"\nvendor = \"pdk\"\nbase_url = \"{pu}\"\nauth_url = \"{pu}\"\n\
             system_id = \"{ps}\"\nclient_id = \"{pi}\"\nclient_secret = \"{pc}\"\n\
             history_path = \"{HISTORY_PATH}\"\nbackfill = \"2h\"\nmax_response = 1048576\n\n\
             [[source]]\nname = \"{sn}\"\nvendor = \"seam\"\nbase_url = \"{su}\"\ntoken = \"{st}\"\n\
             poll_interval = \"{sp}\"\nbackfill = \"2h\"\n\n\
             [[source]]\nname = \"{dn}\"\nvendor = \"doorflow\"\nbase_url = \"{du}\"\n\
             client_id = \"{di}\"\nclient_secret = \"{dc}\"\nrefresh_token = \"{dr}\"\n\
             poll_interval = \"{dp}\"\nbackfill = \"2h\"\npage_size = 100\n",
            kn = source_name(Vendor::Kisi),
            ku = k.base_url(),
            kt = k.api_key(),
            kp = poll(Vendor::Kisi),
            pn = source_name(Vendor::Pdk),
            pu = p.base_url(),
            ps = p.system_id(),
            pi = p.client_id(),
            pc = p.client_secret(),
            sn = source_name(Vendor::Seam),
            su = s.base_url(),
            st = s.api_key(),
            sp = poll(Vendor::Seam),
            dn = source_name(Vendor::Doorflow),
            du = d.base_url(),
            di = d.client_id(),
            dc = d.client_secret(),
            dr = d.initial_refresh_token(),
            dp = poll(Vendor::Doorflow),
        )
    }

    /// Switch `kind` on or off at `vendor`'s simulator (one-shot faults act on `on`).
    fn set(&self, vendor: Vendor, kind: Kind, on: bool) {
        let skew = |sign: i32| {
            if on {
                SKEW * sign
            } else {
                chrono::TimeDelta::zero()
            }
        };
        match (vendor, kind) {
            (_, Kind::SkewBehind) => self.skew(vendor, skew(-1)),
            (_, Kind::SkewAhead) => self.skew(vendor, skew(1)),
            (Vendor::Kisi, k) => {
                let f = match k {
                    Kind::ServerError => KisiFault::ServerError,
                    Kind::RateLimited => KisiFault::RateLimited,
                    Kind::Malformed => KisiFault::MalformedPage,
                    Kind::Duplicates => KisiFault::DuplicateAcrossPages,
                    Kind::FailedSets => KisiFault::FailEventSets,
                    Kind::KeyRevoked => KisiFault::KeyRevoked,
                    Kind::Paused => KisiFault::Paused,
                    other => panic!("kisi has no {other:?}"),
                };
                self.kisi.set_fault(f, on);
            }
            (Vendor::Seam, k) => {
                let f = match k {
                    Kind::ServerError => SeamFault::ServerError,
                    Kind::RateLimited => SeamFault::RateLimited,
                    Kind::Malformed => SeamFault::MalformedPage,
                    Kind::Duplicates => SeamFault::Duplicates,
                    Kind::OutOfOrder => SeamFault::OutOfOrder,
                    Kind::KeyRevoked => SeamFault::KeyRevoked,
                    Kind::Paused => SeamFault::Paused,
                    other => panic!("seam has no {other:?}"),
                };
                self.seam.set_fault(f, on);
            }
            (Vendor::Pdk, k) => match k {
                Kind::Disconnect => {
                    if on {
                        self.pdk.drop_connections();
                    }
                }
                Kind::TokenExpiry => {
                    if on {
                        self.pdk.expire_tokens();
                    }
                }
                // The token endpoints fail while the tokens in use expire: the
                // renewal has to wait out the 500s.
                Kind::ServerError => {
                    self.pdk.set_fault(PdkFault::TokenServerError, on);
                    if on {
                        self.pdk.expire_tokens();
                    }
                }
                Kind::Duplicates => self.pdk.set_fault(PdkFault::Duplicates, on),
                Kind::OutOfOrder => self.pdk.set_fault(PdkFault::OutOfOrder, on),
                Kind::Malformed => self.pdk.set_fault(PdkFault::Malformed, on),
                Kind::HungLink => self.pdk.set_fault(PdkFault::Silent, on),
                Kind::Oversized => self.pdk.set_fault(PdkFault::Oversized, on),
                Kind::Silent | Kind::Paused => self.pdk.set_fault(PdkFault::Paused, on),
                other => panic!("pdk has no {other:?}"),
            },
            (Vendor::Doorflow, k) => {
                let f = self.doorflow.faults();
                match k {
                    Kind::ServerError => f.fail_next(if on { u32::MAX } else { 0 }),
                    Kind::RateLimited => f.rate_limit_next(if on { u32::MAX } else { 0 }, 1),
                    Kind::Malformed => f.malformed_next(if on { u32::MAX } else { 0 }),
                    Kind::Duplicates => f.set_duplicates(on),
                    Kind::TokenExpiry => {
                        if on {
                            f.expire_access_now();
                        }
                    }
                    // One endless body, then one announcing 1 GiB.
                    Kind::Oversized => {
                        if on {
                            let declared = f.pending() % 2 == 1;
                            f.oversized_next(1, declared);
                        }
                    }
                    Kind::Paused => f.set_paused(on),
                    other => panic!("doorflow has no {other:?}"),
                }
            }
        }
    }

    fn skew(&self, vendor: Vendor, skew: chrono::TimeDelta) {
        match vendor {
            Vendor::Kisi => self.kisi.set_clock_skew(skew),
            Vendor::Pdk => self.pdk.set_clock_skew(skew),
            Vendor::Seam => self.seam.set_clock_skew(skew),
            Vendor::Doorflow => self.doorflow.faults().set_clock_skew(skew),
        }
    }

    /// Every switch off, every clock right.
    fn clear(&self) {
        for f in [
            KisiFault::ServerError,
            KisiFault::RateLimited,
            KisiFault::KeyRevoked,
            KisiFault::MalformedPage,
            KisiFault::DuplicateAcrossPages,
            KisiFault::Paused,
            KisiFault::FailEventSets,
        ] {
            self.kisi.set_fault(f, false);
        }
        for f in [
            PdkFault::Paused,
            PdkFault::Duplicates,
            PdkFault::OutOfOrder,
            PdkFault::Malformed,
            PdkFault::TokenServerError,
            PdkFault::Silent,
            PdkFault::Oversized,
        ] {
            self.pdk.set_fault(f, false);
        }
        for f in [
            SeamFault::ServerError,
            SeamFault::RateLimited,
            SeamFault::KeyRevoked,
            SeamFault::MalformedPage,
            SeamFault::Duplicates,
            SeamFault::OutOfOrder,
            SeamFault::Paused,
        ] {
            self.seam.set_fault(f, false);
        }
        self.doorflow.faults().clear();
        for v in Vendor::ALL {
            self.skew(v, chrono::TimeDelta::zero());
        }
    }

    /// Stop the building: no event is made after this returns.
    async fn stop_generating(&self) {
        self.kisi.set_fault(KisiFault::Paused, true);
        self.pdk.set_fault(PdkFault::Paused, true);
        self.seam.set_fault(SeamFault::Paused, true);
        self.doorflow.faults().set_paused(true);
        // A step already under way lands within a generator tick.
        let mut last = (self.ledger_sizes(), Instant::now());
        while last.1.elapsed() < Duration::from_millis(500) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.ledger_sizes();
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
    }

    fn ledger_sizes(&self) -> [usize; 4] {
        [
            self.kisi.ledger_len(),
            self.pdk.ledger_len(),
            self.seam.ledger_len(),
            self.doorflow.ledger_len(),
        ]
    }

    /// The id each ledger event must be stored under, per vendor, and when it occurred
    /// (for messages).
    fn expected_ids(&self) -> (BTreeMap<Vendor, BTreeSet<String>>, HashMap<String, String>) {
        let mut times = HashMap::new();
        let ids = self.ledger_ids(&mut times);
        (ids, times)
    }

    fn ledger_ids(
        &self,
        times: &mut HashMap<String, String>,
    ) -> BTreeMap<Vendor, BTreeSet<String>> {
        let pdk: Vec<Value> = self
            .pdk
            .ledger()
            .iter()
            .filter(|e| !e.companion)
            .map(|e| e.item())
            .collect();
        [
            (Vendor::Kisi, self.kisi.ledger()),
            (Vendor::Pdk, pdk),
            (Vendor::Seam, self.seam.ledger()),
            (Vendor::Doorflow, self.doorflow.ledger()),
        ]
        .into_iter()
        .map(|(vendor, items)| {
            let name = source_name(vendor);
            let ctx = ParseContext {
                source: &name,
                received_at: chrono::Utc::now(),
            };
            let ids = items
                .into_iter()
                .map(|item| match parse_batch(vendor, &ctx, vec![item]).pop() {
                    Some(Ok(e)) => {
                        times.insert(e.id.clone(), doorwatch::model::format_time(&e.occurred_at));
                        e.id
                    }
                    other => panic!("the {vendor} ledger holds an unparseable event: {other:?}"),
                })
                .collect();
            (vendor, ids)
        })
        .collect()
    }

    /// Repeats the simulators served on purpose (duplicate faults).
    fn duplicates_served(&self) -> BTreeMap<Vendor, u64> {
        BTreeMap::from([
            (Vendor::Kisi, self.kisi.duplicates_served()),
            (Vendor::Pdk, self.pdk.stats().duplicates_sent),
            (Vendor::Seam, self.seam.duplicates_served()),
            (Vendor::Doorflow, self.doorflow.faults().duplicates_served()),
        ])
    }
}

// ---------------------------------------------------------------------------------
// The fault schedule

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Disconnect,
    TokenExpiry,
    KeyRevoked,
    RateLimited,
    ServerError,
    Malformed,
    Duplicates,
    OutOfOrder,
    FailedSets,
    HungLink,
    Oversized,
    /// A vendor pausing for a few seconds.
    Paused,
    /// The long silence (10 of 30 minutes).
    Silent,
    SkewBehind,
    SkewAhead,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Disconnect => "disconnect",
            Kind::TokenExpiry => "token expiry",
            Kind::KeyRevoked => "key revoked",
            Kind::RateLimited => "429 storm",
            Kind::ServerError => "500 storm",
            Kind::Malformed => "malformed",
            Kind::Duplicates => "duplicates",
            Kind::OutOfOrder => "out of order",
            Kind::FailedSets => "failed event sets",
            Kind::HungLink => "hung link",
            Kind::Oversized => "oversized",
            Kind::Paused => "pause",
            Kind::Silent => "silent",
            Kind::SkewBehind => "clock -5 min",
            Kind::SkewAhead => "clock +5 min",
        }
    }

    /// What the source's status must have shown while (or just after) it happened;
    /// `None`: nothing to show, proven by the store alone (out-of-order delivery).
    fn evidence(self, vendor: Vendor) -> Option<Evidence> {
        Some(match self {
            // A link dropped without a close handshake: a reset, or the end of stream.
            Kind::Disconnect => Evidence::Text(&[
                "backing off (WebSocket protocol error",
                "backing off (I/O error",
                "backing off (the stream closed",
                "backing off (connection closed",
            ]),
            Kind::TokenExpiry => Evidence::Text(&["token renewed"]),
            Kind::KeyRevoked => Evidence::Text(&["failed (token rejected (HTTP 401)"]),
            Kind::RateLimited => Evidence::Text(&["HTTP 429"]),
            Kind::ServerError => Evidence::Text(&["HTTP 500"]),
            Kind::Malformed => Evidence::Quarantined,
            Kind::Duplicates => Evidence::Duplicates,
            Kind::OutOfOrder => return None,
            Kind::FailedSets => Evidence::Text(&["a new one will be made"]),
            Kind::HungLink => Evidence::Text(&["no heartbeat"]),
            Kind::Oversized if vendor == Vendor::Pdk => Evidence::Text(&["message too large"]),
            Kind::Oversized => Evidence::Text(&["larger than"]),
            // A pause of a few seconds is nothing to show; a silence is.
            Kind::Paused => return None,
            Kind::Silent => Evidence::Text(&["; quiet for "]),
            Kind::SkewBehind => Evidence::Text(&["behind;"]),
            Kind::SkewAhead => Evidence::Text(&["ahead;"]),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Evidence {
    /// A status text containing one of these.
    Text(&'static [&'static str]),
    /// The quarantined count rising.
    Quarantined,
    /// The duplicates count rising.
    Duplicates,
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    vendor: Vendor,
    kind: Kind,
    start: Duration,
    end: Duration,
}

/// One slot of a vendor's cycle: faults with their start and length (seconds) in it.
type Slot = &'static [(Kind, f64, f64)];

/// The slots each vendor cycles through, one after another; in several, one fault
/// overlaps another (a 429 storm turning into a 500 storm, duplicates out of order).
fn cycle(vendor: Vendor) -> &'static [Slot] {
    use Kind::*;
    match vendor {
        Vendor::Kisi => &[
            &[(RateLimited, 0.0, 6.0), (ServerError, 4.0, 5.0)],
            &[(Malformed, 0.0, 6.0)],
            &[(Duplicates, 0.0, 8.0)],
            &[(FailedSets, 0.0, 6.0)],
            &[(Paused, 0.0, 8.0)],
            &[(KeyRevoked, 0.0, 6.0)],
        ],
        Vendor::Pdk => &[
            &[(Disconnect, 0.0, 6.0)],
            &[
                (TokenExpiry, 0.0, 1.0),
                (Duplicates, 0.0, 7.0),
                (OutOfOrder, 2.0, 6.0),
            ],
            &[(ServerError, 0.0, 7.0)],
            &[(Malformed, 0.0, 6.0), (Oversized, 3.0, 5.0)],
            &[(HungLink, 0.0, 7.0)],
        ],
        Vendor::Seam => &[
            &[(RateLimited, 0.0, 6.0), (ServerError, 4.0, 5.0)],
            &[(Duplicates, 0.0, 8.0), (OutOfOrder, 2.0, 6.0)],
            &[(Malformed, 0.0, 6.0)],
            &[(Paused, 0.0, 8.0)],
            &[(KeyRevoked, 0.0, 6.0)],
        ],
        Vendor::Doorflow => &[
            &[(RateLimited, 0.0, 6.0), (ServerError, 4.0, 5.0)],
            &[(Duplicates, 0.0, 8.0), (TokenExpiry, 3.0, 1.0)],
            &[(Malformed, 0.0, 6.0)],
            &[(Oversized, 0.0, 1.0)],
            &[(Paused, 0.0, 8.0)],
        ],
    }
}

/// Every episode of a soak of `total`: per vendor, its cycle of slots (one every 13 s,
/// leaving the source time to recover between them), its clock 5 min behind then 5 min
/// ahead (again and again on long runs) across those slots, and PDK silent for a third
/// of the run. All of it ends by 92 % of the run.
fn plan(total: Duration) -> Vec<Episode> {
    let t = total.as_secs_f64();
    let until = t * 0.92;
    let secs = Duration::from_secs_f64;
    let mut plan = Vec::new();
    let mut add = |vendor, kind, start: f64, end: f64| {
        let end = end.min(until);
        if end > start {
            plan.push(Episode {
                vendor,
                kind,
                start: secs(start),
                end: secs(end),
            });
        }
    };
    let silence = (t / 3.0).clamp(20.0_f64.min(t * 0.5), t * 0.5);
    let (quiet_from, quiet_to) = (t * 0.35, t * 0.35 + silence);
    add(Vendor::Pdk, Kind::Silent, quiet_from, quiet_to);
    let silent =
        |v: Vendor, from: f64, to: f64| v == Vendor::Pdk && to > quiet_from && from < quiet_to;

    // Clock skew windows; a silent link shows no clock, so PDK is skewed while it talks.
    let window = (t / 8.0).max(35.0);
    for (i, v) in Vendor::ALL.into_iter().enumerate() {
        let mut behind = true;
        let mut at = if v == Vendor::Pdk {
            2.0
        } else {
            2.0 + 5.0 * i as f64
        };
        while until - at >= 20.0 {
            let mut end = (at + window).min(until);
            if silent(v, at, end) {
                if at < quiet_from && quiet_from - at >= 20.0 {
                    end = quiet_from;
                } else {
                    at = quiet_to;
                    continue;
                }
            }
            let kind = if behind {
                Kind::SkewBehind
            } else {
                Kind::SkewAhead
            };
            add(v, kind, at, end);
            behind = !behind;
            at = end + window / 2.0;
        }
    }

    let period = 13.0;
    for (i, v) in Vendor::ALL.into_iter().enumerate() {
        let slots = cycle(v);
        let mut at = 4.0 + 2.0 * i as f64;
        let mut n = 0;
        while at + 6.0 < until {
            let slot = slots[n % slots.len()];
            let extent = slot.iter().map(|(_, o, l)| o + l).fold(0.0, f64::max);
            if !silent(v, at, at + extent) {
                for (kind, offset, len) in slot {
                    add(v, *kind, at + offset, at + offset + len);
                }
                n += 1;
            }
            at += period;
        }
    }
    plan.sort_by_key(|e| e.start);
    plan
}

// ---------------------------------------------------------------------------------
// The daemon and what it shows

/// The real binary as `daemon` on `config`, once it listens for consoles.
fn start_daemon(data: &Path, config: &Path) -> Running {
    let config = config.to_str().expect("a UTF-8 path");
    let d = running::spawn(data, &["--config", config, "daemon"]);
    d.wait_for("the daemon", Duration::from_secs(30), |lines| {
        lines.iter().any(|l| l.contains("consoles attach at"))
    });
    d
}

/// The daemon's resident memory, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One source's status text as it changed: (seconds since the soak began, text).
type History = Vec<(f64, String)>;

/// What the watcher saw: every status text per source, the latest statuses, RSS.
#[derive(Default)]
struct Seen {
    texts: BTreeMap<String, History>,
    latest: Vec<SourceStatus>,
    events_stored: u64,
    rss: Vec<(f64, u64)>,
}

/// Read the daemon's status over its socket every [`STATUS_EVERY`] and its memory
/// every second, until `stop`.
fn watch(
    data: PathBuf,
    pid: u32,
    t0: Instant,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut client: Option<Client> = None;
        let mut next_rss = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let at = t0.elapsed().as_secs_f64();
            if Instant::now() >= next_rss {
                next_rss += Duration::from_secs(1);
                if let Some(kib) = rss_kib(pid) {
                    seen.lock().unwrap().rss.push((at, kib));
                }
            }
            if client.is_none() {
                client = Client::connect(&data).ok().flatten();
            }
            if let Some(c) = client.as_mut() {
                match c.snapshot() {
                    Ok(snap) => {
                        let now = chrono::Utc::now();
                        let mut seen = seen.lock().unwrap();
                        for s in &snap.sources {
                            let text = status_line(s, now);
                            let history = seen.texts.entry(s.name.clone()).or_default();
                            if history.last().is_none_or(|(_, last)| *last != text) {
                                history.push((at, text));
                            }
                        }
                        seen.latest = snap.sources;
                        seen.events_stored = snap.events_stored;
                    }
                    Err(_) => client = None,
                }
            }
            std::thread::sleep(STATUS_EVERY);
        }
    })
}

/// A count from a status text: `stored 12, duplicates 3, quarantined 1`.
fn count(text: &str, what: &str) -> u64 {
    text.split(&format!("{what} "))
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A counter over the whole run: a source restarted by a reload starts counting at 0.
fn total(history: &History, what: &str) -> u64 {
    let (mut base, mut last) = (0, 0);
    for (_, text) in history {
        let n = count(text, what);
        if n < last {
            base += last;
        }
        last = n;
    }
    base + last
}

/// Whether `evidence` shows in `history` between `from` and `to` (seconds).
fn shows(history: &History, evidence: Evidence, from: f64, to: f64) -> bool {
    let during = |i: usize| {
        let (start, _) = history[i];
        let end = history.get(i + 1).map_or(f64::INFINITY, |(t, _)| *t);
        start <= to && end >= from
    };
    // A count rising; a restarted source counts from 0 again, so a drop to a count
    // above 0 is a rise too.
    let rises = |what: &str| {
        let mut prev = 0;
        for (i, (_, text)) in history.iter().enumerate() {
            let n = count(text, what);
            if during(i) && (n > prev || (n < prev && n > 0)) {
                return true;
            }
            prev = n;
        }
        false
    };
    match evidence {
        Evidence::Text(any) => (0..history.len())
            .any(|i| during(i) && any.iter().any(|what| history[i].1.contains(what))),
        Evidence::Quarantined => rises("quarantined"),
        Evidence::Duplicates => rises("duplicates"),
    }
}

// ---------------------------------------------------------------------------------
// The run

/// Operator reloads: the config as last written, and how often each source was touched.
struct Operator {
    path: PathBuf,
    touched: Mutex<HashMap<Vendor, u32>>,
}

impl Operator {
    /// Restart `vendor`'s source: touch its table, write the config, send SIGHUP.
    fn reload(&self, sims: &Sims, daemon_pid: u32, vendor: Vendor) {
        let text = {
            let mut touched = self.touched.lock().unwrap();
            *touched.entry(vendor).or_default() += 1;
            sims.config(&touched)
        };
        write_private(&self.path, &text).unwrap();
        let ok = Command::new("kill")
            .args(["-HUP", &daemon_pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "SIGHUP");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_faults_loses_nothing_doubles_nothing_and_shows_every_fault() {
    let length = soak_length();
    let wall = Instant::now();
    let sims = Arc::new(Sims::start().await);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let operator = Arc::new(Operator {
        path: dir.path().join("soak.toml"),
        touched: Mutex::new(HashMap::new()),
    });
    write_private(&operator.path, &sims.config(&HashMap::new())).unwrap();
    let history = history_size();
    prefill_history(&data, history);
    let mut daemon = start_daemon(&data, &operator.path);
    let pid = daemon.pid();

    let t0 = Instant::now();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(data.clone(), pid, t0, seen.clone(), stop.clone());

    // The schedule: every episode's on and off, in time order. Even the shortest run
    // has every fault of every vendor at least once.
    let plan = plan(length);
    for v in Vendor::ALL {
        let mut kinds: BTreeSet<Kind> = cycle(v)
            .iter()
            .flat_map(|s| s.iter().map(|k| k.0))
            .collect();
        kinds.extend([Kind::SkewBehind, Kind::SkewAhead]);
        for kind in kinds {
            assert!(
                plan.iter().any(|e| e.vendor == v && e.kind == kind),
                "a {length:?} soak has no {kind:?} for {v}"
            );
        }
    }
    let mut steps: Vec<(Duration, bool, Episode)> = plan
        .iter()
        .flat_map(|e| [(e.start, true, *e), (e.end, false, *e)])
        .collect();
    steps.sort_by_key(|(at, on, _)| (*at, *on));
    let mut injected: BTreeMap<(Kind, Vendor), u32> = BTreeMap::new();
    let mut reloads = Vec::new();
    for (at, on, e) in steps {
        tokio::time::sleep_until(tokio::time::Instant::from_std(t0 + at)).await;
        if on {
            *injected.entry((e.kind, e.vendor)).or_default() += 1;
        }
        if e.kind == Kind::KeyRevoked && !on {
            // The operator restores the key once the failure showed (or soon after
            // the episode), then reloads so the failed source starts again.
            let (sims, seen, operator) = (sims.clone(), seen.clone(), operator.clone());
            reloads.push(tokio::spawn(async move {
                let name = source_name(e.vendor);
                let failed = || {
                    seen.lock()
                        .unwrap()
                        .latest
                        .iter()
                        .any(|s| s.name == name && s.state == LinkState::Failed)
                };
                let deadline = Instant::now() + Duration::from_secs(15);
                while !failed() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                sims.set(e.vendor, e.kind, false);
                operator.reload(&sims, pid, e.vendor);
            }));
            continue;
        }
        sims.set(e.vendor, e.kind, on);
        // A disconnect episode drops the stream twice.
        if e.kind == Kind::Disconnect && on {
            let sims = sims.clone();
            let again = (e.end - e.start) / 2;
            tokio::spawn(async move {
                tokio::time::sleep(again).await;
                sims.set(Vendor::Pdk, Kind::Disconnect, true);
            });
        }
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(t0 + length)).await;
    for r in reloads {
        r.await.unwrap();
    }

    // Faults off, building stopped: every source must catch up with its ledger.
    sims.clear();
    sims.stop_generating().await;
    let (expected, times) = sims.expected_ids();
    // The store's count holds the history too.
    let want: u64 = expected.values().map(|ids| ids.len() as u64).sum::<u64>() + history as u64;
    let caught_up_at = Instant::now();
    let deadline = caught_up_at + CATCH_UP_DEADLINE;
    loop {
        let stored = seen.lock().unwrap().events_stored;
        if stored == want {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let catch_up = caught_up_at.elapsed();
    // Let the memory sample after the catch-up land.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rss_end = rss_kib(pid).unwrap_or(0);

    daemon.signal("-TERM");
    let exit = daemon.wait(Duration::from_secs(30));
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert!(exit.success(), "daemon exit {exit:?}:\n{}", daemon.output());

    // The store against the ledgers, through the CLI now that the daemon is gone.
    let out = common::doorwatch(&data, &["search", "--json", "--limit", "100000000"]);
    let out = common::ok(&out);
    let mut stored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut twice = Vec::new();
    let mut history_kept = 0;
    for line in out.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let (id, source) = (e["id"].as_str().unwrap(), e["source"].as_str().unwrap());
        if is_history(source) {
            history_kept += 1;
            continue;
        }
        if !stored
            .entry(source.to_string())
            .or_default()
            .insert(id.to_string())
        {
            twice.push(id.to_string());
        }
    }

    let seen = seen.lock().unwrap();
    // For a look at a run: every status text, the daemon's output and its data dir.
    if let Ok(dump) = std::env::var("DOORWATCH_SOAK_TRACE") {
        let mut text = format!("daemon output:\n{}\n", daemon.output());
        for (name, history) in &seen.texts {
            text += &format!("{name}:\n");
            for (t, line) in history {
                text += &format!("  {t:8.2} {line}\n");
            }
        }
        std::fs::write(&dump, text).unwrap();
        let kept = dir.keep();
        println!("trace in {dump}; data dir kept at {}", kept.display());
    }
    // Every fault must have shown in its source's status, during an episode of it
    // or within a minute after.
    let mut shown: BTreeMap<(Kind, Vendor), Option<bool>> = BTreeMap::new();
    for e in &plan {
        let entry = shown.entry((e.kind, e.vendor)).or_insert(None);
        let Some(evidence) = e.kind.evidence(e.vendor) else {
            continue;
        };
        let empty = Vec::new();
        let history = seen.texts.get(&source_name(e.vendor)).unwrap_or(&empty);
        let (from, to) = (e.start.as_secs_f64(), e.end.as_secs_f64() + 60.0);
        let showed = shows(history, evidence, from, to);
        *entry = Some(entry.unwrap_or(false) || showed);
    }
    let report = Report {
        length,
        shown: &shown,
        expected: &expected,
        stored: &stored,
        injected: &injected,
        served_twice: sims.duplicates_served(),
        seen: &seen,
        rss_end,
        catch_up,
        wall: wall.elapsed(),
        history: (history, history_kept),
    };
    report.print();

    // Nothing lost, nothing doubled.
    assert!(
        twice.is_empty(),
        "stored twice: {:?}",
        &twice[..twice.len().min(10)]
    );
    for (vendor, want) in &expected {
        let name = source_name(*vendor);
        let empty = BTreeSet::new();
        let have = stored.get(&name).unwrap_or(&empty);
        let mut missing: Vec<(&String, &String)> = want
            .difference(have)
            .map(|id| (times.get(id).unwrap_or(id), id))
            .collect();
        missing.sort();
        let extra: Vec<_> = have.difference(want).take(10).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: ledger {} vs store {}; {} missing, occurring {:?} .. {:?}: {:?}; extra {extra:?}",
            want.len(),
            have.len(),
            missing.len(),
            missing.first().map(|m| m.0),
            missing.last().map(|m| m.0),
            &missing[..missing.len().min(8)]
        );
    }
    let strays: Vec<_> = stored
        .keys()
        .filter(|s| !expected.keys().any(|v| source_name(*v) == **s))
        .collect();
    assert!(strays.is_empty(), "events of unknown sources {strays:?}");
    assert_eq!(
        history_kept, history,
        "the history stored before the soak is not all there"
    );

    // Memory flat: after the catch-up, within the limit of the warmed-up figure.
    let (warm, limit) = (report.rss_warm(), report.rss_limit());
    assert!(
        rss_end <= limit,
        "RSS grew from {warm} KiB (warm) to {rss_end} KiB, over the limit of {limit} KiB"
    );

    let never: Vec<_> = shown
        .iter()
        .filter(|(_, showed)| **showed == Some(false))
        .map(|(key, _)| *key)
        .collect();
    assert!(
        never.is_empty(),
        "faults that never showed in their source's status: {never:?}\n{}",
        seen.texts
            .iter()
            .map(|(name, h)| format!(
                "{name}:\n{}",
                h.iter()
                    .map(|(t, s)| format!("  {t:7.2} {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        catch_up < CATCH_UP_DEADLINE,
        "the sources did not catch up within {CATCH_UP_DEADLINE:?}"
    );
}

/// What the run measured, printed at the end.
struct Report<'a> {
    length: Duration,
    /// Per fault and vendor: shown in the status (`None`: nothing to show).
    shown: &'a BTreeMap<(Kind, Vendor), Option<bool>>,
    expected: &'a BTreeMap<Vendor, BTreeSet<String>>,
    stored: &'a BTreeMap<String, BTreeSet<String>>,
    injected: &'a BTreeMap<(Kind, Vendor), u32>,
    served_twice: BTreeMap<Vendor, u64>,
    seen: &'a Seen,
    rss_end: u64,
    catch_up: Duration,
    wall: Duration,
    /// History events stored before the soak, and found at the end.
    history: (usize, usize),
}

impl Report<'_> {
    /// RSS once warmed up: the first sample 5 minutes in, or half-way through a
    /// shorter run (sled's cache and the sources' buffers have filled by then).
    fn rss_warm(&self) -> u64 {
        let warm_at = (self.length.as_secs_f64() / 2.0).min(300.0);
        self.seen
            .rss
            .iter()
            .find(|(t, _)| *t >= warm_at)
            .or(self.seen.rss.last())
            .map_or(0, |(_, kib)| *kib)
    }

    /// The most RSS may be at the end: 1.25 × warm + 32 MB on a run of 10 minutes or
    /// more; a short run warms up for less time, so 1.5 × warm + 32 MB there.
    fn rss_limit(&self) -> u64 {
        let warm = self.rss_warm();
        let grown = if self.length >= Duration::from_secs(600) {
            warm * 5 / 4
        } else {
            warm * 3 / 2
        };
        grown + 32 * 1024
    }

    fn print(&self) {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let peak = self.seen.rss.iter().map(|(_, k)| *k).max().unwrap_or(0);
        let start = self.seen.rss.first().map_or(0, |(_, k)| *k);
        println!(
            "\n=== doorwatch soak: {:.1} min of faults ===",
            self.length.as_secs_f64() / 60.0
        );
        // "dup dropped": repeats dropped by the store or the source, re-reads after a
        // source restart (a reload after a revoked key) included.
        println!(
            "{:<10} {:>8} {:>8} {:>10} {:>12} {:>11}",
            "vendor", "ledger", "stored", "dup sent", "dup dropped", "quarantined"
        );
        for (vendor, want) in self.expected {
            let name = source_name(*vendor);
            let history = self.seen.texts.get(&name).cloned().unwrap_or_default();
            println!(
                "{:<10} {:>8} {:>8} {:>10} {:>12} {:>11}",
                vendor.to_string(),
                want.len(),
                self.stored.get(&name).map_or(0, |s| s.len()),
                self.served_twice.get(vendor).copied().unwrap_or(0),
                total(&history, "duplicates"),
                total(&history, "quarantined"),
            );
        }
        let mut by_kind: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
        for ((kind, vendor), n) in self.injected {
            let shown = match self.shown.get(&(*kind, *vendor)).copied().flatten() {
                Some(true) => "",
                Some(false) => " (NOT SHOWN)",
                None => " (nothing to show)",
            };
            by_kind
                .entry(*kind)
                .or_default()
                .push(format!("{vendor} {n}{shown}"));
        }
        println!("faults injected (each shown in its source's status unless said):");
        for (kind, list) in by_kind {
            println!("  {:<18} {}", kind.label(), list.join(", "));
        }
        println!(
            "daemon RSS: start {:.1} MiB, warm {:.1} MiB, peak {:.1} MiB, end {:.1} MiB (limit {:.1} MiB)",
            mib(start),
            mib(self.rss_warm()),
            mib(peak),
            mib(self.rss_end),
            mib(self.rss_limit())
        );
        let minute = |m: f64| {
            self.seen
                .rss
                .iter()
                .find(|(t, _)| *t >= m * 60.0)
                .map_or(String::from("-"), |(_, k)| format!("{:.0}", mib(*k)))
        };
        let marks: Vec<String> = (0..=(self.length.as_secs() / 60).min(60))
            .step_by(if self.length.as_secs() >= 600 { 5 } else { 1 })
            .map(|m| format!("{m}m {}", minute(m as f64)))
            .collect();
        println!("daemon RSS by minute (MiB): {}", marks.join(", "));
        println!(
            "history stored before the soak: {} events, {} found at the end",
            self.history.0, self.history.1
        );
        println!(
            "catch-up after the faults: {:.1} s; wall time {:.1} s",
            self.catch_up.as_secs_f64(),
            self.wall.as_secs_f64()
        );
        println!("status texts seen per source: {}", {
            self.seen
                .texts
                .iter()
                .map(|(n, h)| format!("{n} {}", h.len()))
                .collect::<Vec<_>>()
                .join(", ")
        });
    }
}
