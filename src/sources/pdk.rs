//! PDK (ProdataKey) payloads → unified events.
//!
//! An import item is either `{"topic": T, "body": B}` (the Socket.IO event name and its
//! single argument, as the stream delivers them) or a payload that carries its own
//! `topic`. Payloads come in four shapes (see `protocols/pdk.md`):
//!
//! - device / endpoint events `{id, topic, body, cloudNode, occurred}` (`occurred` in
//!   epoch ms; the door is `body.deviceId`, falling back to `body.device.id`);
//! - entity events `{id, systemId, topic: "system.<id>.entity.cloudnode.<verb>", body,
//!   metadata: {userId, userName, occurred}}`;
//! - connection and sync notices (`serialNumber` / `panelSn` with `timestamp` or
//!   `details.timestamp`, RFC 3339 or epoch ms), which have neither `id` nor `occurred`;
//! - `liveEvent` companions `{topic, info, placeholders, cloudNode, occurred}`, which
//!   [`parse_batch`] folds into the summary of their primary event (see [`merge_live`]).

pub mod live;

use super::fields::{at, boolean, content_id, first_text, json_type, make_ref, text, time};
use super::{ParseContext, ParseError, Rejected};
use crate::model::{Event, EventKind, RawJson, Ref, Severity, Vendor};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// The Socket.IO event name of PDK's human-readable companion events.
pub const LIVE_EVENT: &str = "liveEvent";

/// Where a payload's time may be, in order: device and live events, entity events,
/// connection notices, sync notices.
const TIME_PATHS: &[&[&str]] = &[
    &["occurred"],
    &["metadata", "occurred"],
    &["timestamp"],
    &["details", "timestamp"],
];

/// Keys only a payload has at its top level, never the `{"topic", "body"}` wrapper.
const PAYLOAD_KEYS: &[&str] = &[
    "id",
    "occurred",
    "metadata",
    "cloudNode",
    "systemId",
    "info",
    "placeholders",
];

/// The verbs of cloud node entity events (`cloudnode.created`, ...).
const CLOUDNODE_VERBS: &[&str] = &["created", "deleted", "registered", "unregistered"];

/// Parse one PDK item: `{"topic": T, "body": B}` or a payload carrying its own `topic`.
/// A `liveEvent` parsed alone becomes an event of its own; [`parse_batch`] merges it.
pub fn parse(ctx: &ParseContext, item: &Value) -> Result<Event, ParseError> {
    let (topic, payload) = split_item(item)?;
    build(ctx, topic, payload, item.into())
}

/// Parse one Socket.IO event: its name (the topic) and its single argument. The raw
/// payload is kept as the import item `{"topic": T, "body": payload}`, so it re-imports
/// to the same event.
pub fn parse_topic(ctx: &ParseContext, topic: &str, payload: &Value) -> Result<Event, ParseError> {
    let topic = topic.trim();
    if topic.is_empty() {
        return Err(ParseError::new("PDK event has an empty topic"));
    }
    build(
        ctx,
        topic,
        payload,
        json!({"topic": topic, "body": payload}).into(),
    )
}

/// Parse a batch; `liveEvent` companions enrich their primary event's summary instead
/// of becoming events of their own. A companion whose primary is not in the batch is
/// kept as an event of its own, so nothing is lost. Order follows the input.
pub fn parse_batch(ctx: &ParseContext, items: Vec<Value>) -> Vec<Result<Event, Rejected>> {
    let mut out: Vec<Option<Result<Event, Rejected>>> = Vec::with_capacity(items.len());
    let mut lives = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match parse(ctx, &item) {
            Ok(event) if item_is_live(&item) => {
                lives.push((i, event));
                out.push(None);
            }
            Ok(event) => out.push(Some(Ok(event))),
            Err(e) => out.push(Some(Err(Rejected {
                raw: item.to_string(),
                error: e.to_string(),
            }))),
        }
    }
    // Merge against primaries only: unmatched companions go in after all merges.
    let unmatched: Vec<(usize, Event)> = lives
        .into_iter()
        .filter(|(_, live)| {
            let primaries = out.iter_mut().flatten().filter_map(|r| r.as_mut().ok());
            !merge_live(primaries, live, Duration::zero())
        })
        .collect();
    for (i, live) in unmatched {
        out[i] = Some(Ok(live));
    }
    out.into_iter().flatten().collect()
}

/// PDK has no list page format of its own.
pub fn page_items(_v: &Value) -> Option<Vec<Value>> {
    None
}

/// Whether `event` came from a `liveEvent` companion (parsed on its own).
pub fn is_live(event: &Event) -> bool {
    item_is_live(&raw_value(event))
}

/// Whether a PDK item (an event's raw payload) is a `liveEvent` companion.
fn item_is_live(item: &Value) -> bool {
    split_item(item).is_ok_and(|(topic, payload)| topic == LIVE_EVENT || is_live_payload(payload))
}

/// An event's raw payload, parsed; `null` if a damaged store handed back text that is
/// not JSON (then it is no companion and names no device).
fn raw_value(event: &Event) -> Value {
    event.raw.parse().unwrap_or(Value::Null)
}

/// Whether `live` (a `liveEvent` parsed on its own) describes `primary`: same topic,
/// occurred within `window`, same door (PDK's two device ids both count), and the same
/// cloud node serial when both name one.
pub fn live_matches(live: &Event, primary: &Event, window: Duration) -> bool {
    if primary.vendor_type != live.vendor_type {
        return false;
    }
    if distance_ms(live, primary) > window.num_milliseconds().unsigned_abs() {
        return false;
    }
    if let (Some(a), Some(b)) = (&live.controller, &primary.controller)
        && a.id != b.id
    {
        return false;
    }
    // The payload is parsed only for a primary that passed the cheap checks above.
    let raw = raw_value(primary);
    if item_is_live(&raw) {
        return false;
    }
    match &live.door {
        None => true,
        Some(door) => device_ids(primary, &raw).contains(&door.id),
    }
}

/// Give the rendered text of `live` to its primary among `candidates` (primary events
/// only): the matching events nearest in time (all of them if they tie, e.g. one event
/// delivered twice). Returns whether a primary was found; the caller then drops `live`.
/// Pure, so the live source can use it with a time window over recent events.
pub fn merge_live<'a>(
    candidates: impl IntoIterator<Item = &'a mut Event>,
    live: &Event,
    window: Duration,
) -> bool {
    let matches: Vec<(u64, &mut Event)> = candidates
        .into_iter()
        .filter(|p| live_matches(live, p, window))
        .map(|p| (distance_ms(live, p), p))
        .collect();
    let Some(nearest) = matches.iter().map(|(d, _)| *d).min() else {
        return false;
    };
    let raw = raw_value(live);
    let rendered = split_item(&raw)
        .ok()
        .and_then(|(_, payload)| live_text(payload));
    if let Some(summary) = rendered {
        for (_, primary) in matches.into_iter().filter(|(d, _)| *d == nearest) {
            primary.summary = summary.clone();
        }
    }
    true
}

/// Fill a `liveEvent`'s `info` ("%s was granted access to %s") with its placeholders'
/// texts, in order. A missing placeholder shows as `?`; whitespace is collapsed.
pub fn render_info(info: &str, placeholders: &[Value]) -> String {
    let mut out = String::with_capacity(info.len() + 32);
    let mut rest = info;
    let mut next = placeholders.iter();
    while let Some(pos) = rest.find("%s") {
        out.push_str(&rest[..pos]);
        let fill = next
            .next()
            .and_then(|p| first_text(p, &[&["text"], &["id"]]))
            .unwrap_or_else(|| "?".into());
        out.push_str(&fill);
        rest = &rest[pos + 2..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The item's topic and payload: the wrapper's `body`, or the item itself.
fn split_item(item: &Value) -> Result<(&str, &Value), ParseError> {
    let obj = item.as_object().ok_or_else(|| {
        ParseError::new(format!(
            "PDK item must be a JSON object, got {}",
            json_type(item)
        ))
    })?;
    let topic = match obj.get("topic") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
        Some(other) => {
            return Err(ParseError::new(format!(
                "PDK item's `topic` must be a non-empty string, got {}",
                shown(other)
            )));
        }
        None => {
            return Err(ParseError::new(
                "PDK item has no `topic`: expected {\"topic\": T, \"body\": B} or a payload carrying its own topic",
            ));
        }
    };
    let wrapper = obj.contains_key("body") && !PAYLOAD_KEYS.iter().any(|k| obj.contains_key(*k));
    Ok((topic, if wrapper { &obj["body"] } else { item }))
}

fn is_live_payload(payload: &Value) -> bool {
    payload.get("info").is_some_and(Value::is_string)
        && payload.get("placeholders").is_some_and(Value::is_array)
        && payload.get("body").is_none()
}

/// `system.<id>.entity.cloudnode.created` → `cloudnode.created` (the system id is not
/// checked: PDK's does not always match); other topics unchanged.
fn short_topic(topic: &str) -> (&str, bool) {
    match topic.rfind("entity.") {
        Some(pos) if pos == 0 || topic[..pos].ends_with('.') => {
            (&topic[pos + "entity.".len()..], true)
        }
        _ => (topic, false),
    }
}

fn build(
    ctx: &ParseContext,
    topic: &str,
    payload: &Value,
    raw: RawJson,
) -> Result<Event, ParseError> {
    if !payload.is_object() {
        return Err(ParseError::new(format!(
            "PDK `{topic}` payload must be a JSON object, got {}",
            json_type(payload)
        )));
    }
    let live = topic == LIVE_EVENT || is_live_payload(payload);
    let topic = if live {
        match payload.get("topic") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.trim() != LIVE_EVENT => s.trim(),
            _ => {
                return Err(ParseError::new(
                    "PDK liveEvent has no `topic` naming its access event",
                ));
            }
        }
    } else {
        topic
    };
    let (short, long_entity) = short_topic(topic);
    let entity = long_entity
        || short
            .strip_prefix("cloudnode.")
            .is_some_and(|verb| CLOUDNODE_VERBS.contains(&verb));
    let occurred_at = occurred_at(short, payload)?;

    let controller = if entity {
        text(payload, &["body", "serialNumber"])
            .map(|sn| Ref::new(sn, text(payload, &["body", "name"])))
    } else {
        first_text(
            payload,
            &[
                &["cloudNode", "serialNumber"],
                &["panelSn"],
                &["serialNumber"],
            ],
        )
        .map(|sn| Ref::new(sn, text(payload, &["cloudNode", "name"])))
    };
    let (door, person, credential) = if live {
        (
            placeholder(payload, &["device", "door", "reader"]),
            placeholder(payload, &["holder", "person", "user"]),
            placeholder(payload, &["credential", "card"]).map(|r| r.name.unwrap_or(r.id)),
        )
    } else if entity {
        let actor = make_ref(
            text(payload, &["metadata", "userId"]),
            text(payload, &["metadata", "userName"]),
        );
        (None, actor, None)
    } else {
        let door = make_ref(
            first_text(payload, &[&["body", "deviceId"], &["body", "device", "id"]]),
            text(payload, &["body", "device", "name"]),
        );
        let holder = make_ref(
            first_text(payload, &[&["body", "holderId"], &["body", "holder", "id"]]),
            text(payload, &["body", "holder", "name"]),
        );
        let card = first_text(
            payload,
            &[&["body", "cardNumber"], &["body", "credentialId"]],
        );
        (door, holder, card)
    };

    let node = match &controller {
        Some(c) => Some(node_label(&c.id, c.name.as_deref())),
        None if entity => text(payload, &["body", "name"]),
        None => None,
    };
    let names = Names {
        door: door.as_ref().map_or("unknown door", Ref::label),
        node,
        person: person.as_ref().map(Ref::label),
    };
    let meaning = if entity {
        entity_meaning(short, &names, payload)
    } else {
        topic_meaning(short, &names, payload, occurred_at)
    };
    let summary = if live {
        live_text(payload).unwrap_or(meaning.summary)
    } else {
        meaning.summary
    };

    let vendor_id = if live {
        let key = door
            .as_ref()
            .map(|d| d.id.clone())
            .or_else(|| controller.as_ref().map(|c| c.id.clone()))
            .unwrap_or_else(|| content_id(payload));
        format!(
            "{LIVE_EVENT}:{short}:{}:{key}",
            occurred_at.timestamp_millis()
        )
    } else {
        vendor_event_id(short, payload, occurred_at, door.as_ref())
    };

    Ok(Event {
        id: Event::make_id(ctx.source, &vendor_id),
        source: ctx.source.to_string(),
        vendor: Vendor::Pdk,
        occurred_at,
        received_at: ctx.received_at,
        kind: meaning.kind,
        vendor_type: short.to_string(),
        severity: meaning.severity,
        door,
        controller,
        person,
        site: None,
        credential,
        success: meaning.success,
        summary,
        raw,
    })
}

/// The first parseable time among [`TIME_PATHS`], or an error naming what was there.
fn occurred_at(topic: &str, payload: &Value) -> Result<DateTime<Utc>, ParseError> {
    if let Some(t) = TIME_PATHS.iter().find_map(|p| time(payload, p)) {
        return Ok(t);
    }
    let present: Vec<String> = TIME_PATHS
        .iter()
        .filter_map(|p| at(payload, p).map(|v| format!("{} = {}", p.join("."), shown(v))))
        .collect();
    Err(ParseError::new(if present.is_empty() {
        format!(
            "PDK `{topic}` has no time: expected occurred, metadata.occurred, timestamp or details.timestamp"
        )
    } else {
        format!(
            "PDK `{topic}` has no parseable time: {}",
            present.join(", ")
        )
    }))
}

/// `<topic>:<id>` when the payload has an id (ids repeat across topics), else
/// `<topic>:<serial>:<epoch ms>` (plus the door, if any), else a content hash.
fn vendor_event_id(
    topic: &str,
    payload: &Value,
    occurred_at: DateTime<Utc>,
    door: Option<&Ref>,
) -> String {
    if let Some(id) = text(payload, &["id"]) {
        return format!("{topic}:{id}");
    }
    let serial = first_text(
        payload,
        &[
            &["serialNumber"],
            &["panelSn"],
            &["cloudNode", "serialNumber"],
        ],
    );
    match (serial, door) {
        (Some(sn), None) => format!("{topic}:{sn}:{}", occurred_at.timestamp_millis()),
        (Some(sn), Some(d)) => format!("{topic}:{sn}:{}:{}", occurred_at.timestamp_millis(), d.id),
        (None, _) => format!("{topic}:{}", content_id(payload)),
    }
}

/// What an event means in doorwatch's terms.
struct Meaning {
    kind: EventKind,
    severity: Severity,
    success: Option<bool>,
    summary: String,
}

impl Meaning {
    fn new(kind: EventKind, severity: Severity, summary: String) -> Self {
        Meaning {
            kind,
            severity,
            success: None,
            summary,
        }
    }
}

/// Display names for summaries.
struct Names<'a> {
    door: &'a str,
    /// `HQ-1 (SN 1234)`, `SN 1234`, or a name alone.
    node: Option<String>,
    person: Option<&'a str>,
}

fn topic_meaning(topic: &str, n: &Names, payload: &Value, occurred_at: DateTime<Utc>) -> Meaning {
    use EventKind as K;
    use Severity::{Alarm, Info, Notice, Warning};
    let d = n.door;
    let door = |kind, severity, what: &str| Meaning::new(kind, severity, format!("{d} {what}"));
    let node = n.node.as_deref().unwrap_or("unknown");
    match topic {
        "cloudnode.connected" => Meaning::new(
            K::ControllerOnline,
            Notice,
            format!("Cloud node {node} online"),
        ),
        "cloudnode.disconnected" => Meaning::new(
            K::ControllerOffline,
            Warning,
            format!("Cloud node {node} offline"),
        ),
        "device.alarm.forced" => door(K::DoorForcedOpen, Alarm, "forced open"),
        "device.alarm.forced.cleared" => {
            door(K::DoorForcedOpenCleared, Notice, "forced open cleared")
        }
        "device.alarm.propped.on" => door(K::DoorHeldOpen, Alarm, "propped open"),
        "device.alarm.propped.off" => {
            door(K::DoorHeldOpenCleared, Notice, "no longer propped open")
        }
        "device.autoopen.on" => door(K::DoorScheduledUnlockStarted, Notice, "auto open on"),
        "device.autoopen.off" => door(K::DoorScheduledUnlockEnded, Notice, "auto open off"),
        "device.forceopen.on" => door(K::DoorForceUnlockOn, Notice, "force unlock on"),
        "device.forceopen.off" => door(K::DoorForceUnlockOff, Notice, "force unlock off"),
        "device.forceclose.on" => door(K::DoorDoNotDisturbOn, Notice, "do not disturb on"),
        "device.forceclose.off" => door(K::DoorDoNotDisturbOff, Notice, "do not disturb off"),
        "device.input.dps.opened" => door(K::DoorOpened, Notice, "opened"),
        "device.input.dps.closed" => door(K::DoorClosed, Notice, "closed"),
        "device.input.relay.on" => door(K::DoorUnlocked, Notice, "unlocked"),
        "device.input.relay.off" => door(K::DoorLocked, Notice, "locked"),
        "device.input.rex.on" => door(K::DoorExitRequest, Notice, "request to exit"),
        "device.input.rex.off" => door(K::Other, Info, "request to exit released"),
        "device.request.allowed" => Meaning {
            success: Some(true),
            ..Meaning::new(
                K::AccessGranted,
                Info,
                format!("{} granted at {d}", n.person.unwrap_or("Unknown holder")),
            )
        },
        "device.request.denied" => {
            let why = denial_hint(payload, occurred_at)
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            let who = n.person.unwrap_or("Unknown holder");
            Meaning {
                success: Some(false),
                ..Meaning::new(
                    K::AccessDenied,
                    Warning,
                    format!("{who} denied at {d}{why}"),
                )
            }
        }
        "device.request.unknown" => {
            let card = match (
                text(payload, &["body", "cardNumber"]),
                text(payload, &["body", "facilityCode"]),
            ) {
                (Some(c), Some(fc)) => format!("Unknown card {c} (facility {fc})"),
                (Some(c), None) => format!("Unknown card {c}"),
                _ => "Unknown credential".into(),
            };
            Meaning {
                success: Some(false),
                ..Meaning::new(
                    K::AccessUnknownCredential,
                    Warning,
                    format!("{card} at {d}"),
                )
            }
        }
        "endpoint.sync.started" | "endpoint.sync.finished" => {
            let (kind, what) = if topic.ends_with("started") {
                (K::ControllerSyncStarted, "started")
            } else {
                (K::ControllerSyncFinished, "finished")
            };
            let endpoint = match (
                text(payload, &["body", "type"]),
                text(payload, &["body", "address"]),
            ) {
                (Some(t), Some(a)) => format!(" ({t} at {a})"),
                (None, Some(a)) => format!(" (at {a})"),
                (Some(t), None) => format!(" ({t})"),
                (None, None) => String::new(),
            };
            Meaning::new(
                kind,
                Notice,
                format!("Controller sync {what} on cloud node {node}{endpoint}"),
            )
        }
        "endpoint.sync.finished.all" => Meaning::new(
            K::ControllerSyncFinished,
            Notice,
            format!("All controllers synced on cloud node {node}"),
        ),
        "sync.not_synced" => {
            let status = text(payload, &["details", "dataFlowStatus"])
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            Meaning::new(
                K::ControllerSyncPending,
                Warning,
                format!("Cloud node {node} needs sync{status}"),
            )
        }
        "sync.synced" => Meaning::new(
            K::ControllerSyncFinished,
            Notice,
            format!("Cloud node {node} synced"),
        ),
        other => {
            let place = match (other.starts_with("device."), &n.node) {
                (true, _) => format!(" at {d}"),
                (false, Some(node)) => format!(" on cloud node {node}"),
                (false, None) => String::new(),
            };
            Meaning::new(K::Other, Info, format!("PDK {other}{place}"))
        }
    }
}

/// Entity (audit) events: `cloudnode.<verb>` → `admin.controller_<verb>`; other entity
/// types keep their own name (`holder.created` → `admin.holder_created`).
fn entity_meaning(topic: &str, n: &Names, payload: &Value) -> Meaning {
    let (entity, verb) = topic.split_once('.').unwrap_or((topic, "changed"));
    let (kind, what, subject) = if entity == "cloudnode" {
        let node = n.node.as_deref().unwrap_or("unknown");
        let kind = EventKind::admin(&format!("controller_{verb}"));
        (
            kind,
            format!("cloud node {node}"),
            format!("Cloud node {node}"),
        )
    } else {
        let name = text(payload, &["body", "name"])
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        let kind = EventKind::admin(&format!("{entity}_{verb}"));
        (
            kind,
            format!("{entity}{name}"),
            format!("PDK {entity}{name}"),
        )
    };
    let summary = match n.person {
        Some(actor) => format!("{actor} {verb} {what}"),
        None => format!("{subject} {verb}"),
    };
    Meaning::new(kind, Severity::Info, summary)
}

/// Why a known holder may have been denied, from what the payload says about them.
fn denial_hint(payload: &Value, occurred_at: DateTime<Utc>) -> Option<&'static str> {
    if boolean(payload, &["body", "holder", "enabled"]) == Some(false) {
        return Some("holder disabled");
    }
    if time(payload, &["body", "holder", "expireDate"]).is_some_and(|t| t < occurred_at) {
        return Some("holder expired");
    }
    if time(payload, &["body", "holder", "activeDate"]).is_some_and(|t| t > occurred_at) {
        return Some("holder not yet active");
    }
    None
}

/// `HQ-1 (SN 1234)` or `SN 1234`.
fn node_label(serial: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{n} (SN {serial})"),
        None => format!("SN {serial}"),
    }
}

/// The first `liveEvent` placeholder whose `type` mentions one of `types`.
fn placeholder(payload: &Value, types: &[&str]) -> Option<Ref> {
    payload
        .get("placeholders")?
        .as_array()?
        .iter()
        .filter(|p| {
            text(p, &["type"]).is_some_and(|t| {
                let t = t.to_ascii_lowercase();
                types.iter().any(|want| t.contains(want))
            })
        })
        .find_map(|p| make_ref(text(p, &["id"]), text(p, &["text"])))
}

/// A `liveEvent`'s rendered text, if it has a non-empty `info`.
fn live_text(payload: &Value) -> Option<String> {
    let info = text(payload, &["info"])?;
    let placeholders = payload
        .get("placeholders")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    Some(render_info(&info, placeholders)).filter(|s| !s.is_empty())
}

/// The ids an event's door goes by: its ref and, from its raw payload (`raw`, parsed),
/// `body.device.id`.
fn device_ids(event: &Event, raw: &Value) -> Vec<String> {
    let mut ids: Vec<String> = event.door.iter().map(|d| d.id.clone()).collect();
    if let Some(id) = split_item(raw)
        .ok()
        .and_then(|(_, p)| text(p, &["body", "device", "id"]))
    {
        ids.push(id);
    }
    ids
}

fn distance_ms(a: &Event, b: &Event) -> u64 {
    (a.occurred_at - b.occurred_at)
        .num_milliseconds()
        .unsigned_abs()
}

/// A value for an error message: short strings and numbers as JSON, else their type.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => v.to_string(),
        Value::Number(_) => v.to_string(),
        other => json_type(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ctx() -> ParseContext<'static> {
        ParseContext {
            source: "hq-pdk",
            received_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        }
    }

    fn ms(t: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(t).unwrap()
    }

    const T0: i64 = 1_795_341_600_000; // 2026-11-22T10:00:00Z

    fn allowed(id: &str, device_id: &str, body_device_id: &str, at: i64) -> Value {
        json!({"topic": "device.request.allowed", "body": {
            "id": id, "topic": "device.request.allowed", "occurred": at,
            "cloudNode": {"id": "cn-1", "serialNumber": "10702458", "name": "HQ-1"},
            "body": {"deviceId": device_id, "device": {"id": body_device_id, "name": "Front Door"},
                     "holderId": "h-1", "holder": {"id": "h-1", "name": "Jane Roe", "enabled": true},
                     "cardNumber": "44120", "facilityCode": "12", "requestFactor": "CARD_ONLY"}}})
    }

    fn live(topic: &str, device_id: &str, at: i64) -> Value {
        json!({"topic": "liveEvent", "body": {
            "topic": topic, "info": "%s was granted access to %s", "occurred": at,
            "cloudNode": {"id": "cn-9", "serialNumber": "10702458", "name": "HQ-1"},
            "placeholders": [{"text": "Jane Roe", "id": "h-1", "type": "holder"},
                             {"text": "Front Door", "id": device_id, "type": "device"}]}})
    }

    #[test]
    fn connection_notices_take_both_timestamp_forms() {
        let on = parse_topic(
            &ctx(),
            "cloudnode.connected",
            &json!({"serialNumber": "10702458", "timestamp": "2026-11-22T10:00:00Z"}),
        )
        .unwrap();
        assert_eq!(on.occurred_at, ms(T0));
        assert_eq!(on.kind, EventKind::ControllerOnline);
        assert_eq!(on.controller, Some(Ref::new("10702458", None::<String>)));
        assert_eq!(on.id, "hq-pdk:cloudnode.connected:10702458:1795341600000");
        assert_eq!(on.summary, "Cloud node SN 10702458 online");
        assert_eq!(on.raw.parse().unwrap()["body"]["serialNumber"], "10702458");

        let frac = parse_topic(
            &ctx(),
            "cloudnode.connected",
            &json!({"serialNumber": "1", "timestamp": "2026-11-22T10:00:00.250+00:00"}),
        )
        .unwrap();
        assert_eq!(frac.occurred_at, ms(T0 + 250));

        let off = parse(&ctx(), &json!({"topic": "cloudnode.disconnected", "body": {"serialNumber": "10702458", "timestamp": T0 + 5}})).unwrap();
        assert_eq!(off.occurred_at, ms(T0 + 5));
        assert_eq!(
            (off.kind, off.severity),
            (EventKind::ControllerOffline, Severity::Warning)
        );
    }

    #[test]
    fn entity_events_use_metadata_and_short_topic() {
        let item = json!({"id": "ev-7", "systemId": "sys-a", "topic": "system.sys-other.entity.cloudnode.created",
            "body": {"id": "cn-1", "name": "HQ-1", "serialNumber": "10702458"},
            "metadata": {"userId": "u-1", "userName": "Dana Admin", "occurred": T0}});
        let e = parse(&ctx(), &item).unwrap();
        assert_eq!(e.kind, EventKind::admin("controller_created"));
        assert_eq!(e.vendor_type, "cloudnode.created");
        assert_eq!(e.id, "hq-pdk:cloudnode.created:ev-7");
        assert_eq!(e.person, Some(Ref::new("u-1", Some("Dana Admin"))));
        assert_eq!(e.controller, Some(Ref::new("10702458", Some("HQ-1"))));
        assert_eq!(
            e.summary,
            "Dana Admin created cloud node HQ-1 (SN 10702458)"
        );
        assert_eq!(e.raw, item);
        // Wrapped under the short topic: the same event.
        let wrapped = parse(&ctx(), &json!({"topic": "cloudnode.created", "body": item})).unwrap();
        assert_eq!(wrapped.id, e.id);
        assert_eq!(wrapped.kind, e.kind);
    }

    #[test]
    fn door_keys_on_device_id_not_device_dot_id() {
        let e = parse(&ctx(), &allowed("r-1", "dev-A", "dev-B", T0)).unwrap();
        assert_eq!(e.door, Some(Ref::new("dev-A", Some("Front Door"))));
        assert_eq!(e.person, Some(Ref::new("h-1", Some("Jane Roe"))));
        assert_eq!(e.credential.as_deref(), Some("44120"));
        assert_eq!(e.success, Some(true));
        assert_eq!(e.summary, "Jane Roe granted at Front Door");

        let mut only_device = allowed("r-2", "x", "dev-B", T0);
        only_device["body"]["body"]
            .as_object_mut()
            .unwrap()
            .remove("deviceId");
        let e = parse(&ctx(), &only_device).unwrap();
        assert_eq!(e.door.unwrap().id, "dev-B");
    }

    #[test]
    fn same_id_on_two_topics_gives_two_events() {
        let forced = json!({"id": "a-1", "topic": "device.alarm.forced", "occurred": T0, "body": {"deviceId": "d"}});
        let mut cleared = forced.clone();
        cleared["topic"] = json!("device.alarm.forced.cleared");
        let (a, b) = (
            parse(&ctx(), &forced).unwrap(),
            parse(&ctx(), &cleared).unwrap(),
        );
        assert_ne!(a.id, b.id);
        assert_eq!(
            (a.severity, b.severity),
            (Severity::Alarm, Severity::Notice)
        );
    }

    #[test]
    fn live_event_merges_into_its_primary_either_side() {
        for order in [false, true] {
            let mut items = vec![
                allowed("r-1", "dev-A", "dev-B", T0),
                live("device.request.allowed", "dev-B", T0),
            ];
            if order {
                items.reverse();
            }
            let out = parse_batch(&ctx(), items);
            assert_eq!(out.len(), 1, "{out:?}");
            let e = out[0].as_ref().unwrap();
            assert_eq!(e.id, "hq-pdk:device.request.allowed:r-1");
            assert_eq!(e.summary, "Jane Roe was granted access to Front Door");
        }
    }

    #[test]
    fn live_event_without_primary_stands_alone_with_stable_id() {
        let items = vec![
            allowed("r-1", "dev-A", "dev-B", T0),
            live("device.request.allowed", "dev-A", T0 + 1), // other time
            live("device.request.denied", "dev-A", T0),      // other topic
            live("device.request.allowed", "dev-Z", T0),     // other door
        ];
        let out: Vec<Event> = parse_batch(&ctx(), items.clone())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].summary, "Jane Roe granted at Front Door");
        let alone = &out[1];
        assert_eq!(
            alone.id,
            "hq-pdk:liveEvent:device.request.allowed:1795341600001:dev-A"
        );
        assert_eq!(alone.kind, EventKind::AccessGranted);
        assert_eq!(alone.vendor_type, "device.request.allowed");
        assert_eq!(alone.door, Some(Ref::new("dev-A", Some("Front Door"))));
        assert_eq!(alone.person, Some(Ref::new("h-1", Some("Jane Roe"))));
        assert_eq!(alone.controller.as_ref().unwrap().id, "10702458");
        assert_eq!(alone.summary, "Jane Roe was granted access to Front Door");
        assert!(is_live(alone) && !is_live(&out[0]));
        assert_eq!(out[2].kind, EventKind::AccessDenied);
        let again: Vec<String> = parse_batch(&ctx(), items)
            .into_iter()
            .map(|r| r.unwrap().id)
            .collect();
        assert_eq!(again, out.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn merge_with_window_picks_nearest() {
        let mut a = parse(&ctx(), &allowed("r-1", "dev-A", "dev-B", T0)).unwrap();
        let mut b = parse(&ctx(), &allowed("r-2", "dev-A", "dev-B", T0 + 3000)).unwrap();
        let l = parse(&ctx(), &live("device.request.allowed", "dev-A", T0 + 2500)).unwrap();
        assert!(!merge_live([&mut a, &mut b], &l, Duration::zero()));
        assert!(merge_live([&mut a, &mut b], &l, Duration::seconds(5)));
        assert_eq!(a.summary, "Jane Roe granted at Front Door");
        assert_eq!(b.summary, "Jane Roe was granted access to Front Door");
    }

    #[test]
    fn render_info_fills_in_order() {
        let p = [json!({"text": "Jane"}), json!({"id": "d-1"})];
        assert_eq!(render_info("%s  at %s", &p), "Jane at d-1");
        assert_eq!(render_info("%s at %s by %s", &p), "Jane at d-1 by ?");
        assert_eq!(render_info("no placeholders", &[]), "no placeholders");
        assert_eq!(render_info("100%", &[]), "100%");
    }

    #[test]
    fn garbage_is_rejected_with_reasons() {
        let bad = [
            (json!([1, 2]), "must be a JSON object, got an array"),
            (json!("x"), "got a string"),
            (json!({"body": {"occurred": T0}}), "no `topic`"),
            (json!({"topic": 5, "body": {}}), "non-empty string, got 5"),
            (
                json!({"topic": {"a": [1]}, "body": {}}),
                "non-empty string, got an object",
            ),
            (
                json!({"topic": "  ", "body": {}}),
                "non-empty string, got \"  \"",
            ),
            (
                json!({"topic": "x", "body": {"id": 1, "occurred": [1]}}),
                "occurred = an array",
            ),
            (
                json!({"topic": "device.alarm.forced", "body": null}),
                "payload must be a JSON object, got null",
            ),
            (
                json!({"topic": "device.alarm.forced", "body": {"id": 1}}),
                "has no time",
            ),
            (
                json!({"topic": "device.alarm.forced", "body": {"id": 1, "occurred": "soon"}}),
                "no parseable time: occurred = \"soon\"",
            ),
            (
                json!({"topic": "liveEvent", "body": {"info": "x", "placeholders": [], "occurred": T0}}),
                "liveEvent has no `topic`",
            ),
        ];
        for (item, want) in bad {
            let err = parse(&ctx(), &item).unwrap_err().to_string();
            assert!(err.contains(want), "{item}: {err}");
        }
        assert!(parse_topic(&ctx(), "", &json!({})).is_err());
        let out = parse_batch(&ctx(), vec![json!(null), json!(42)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap_err().raw, "null");
    }

    #[test]
    fn unknown_topics_are_other_not_errors() {
        let e = parse(
            &ctx(),
            &json!({"id": 9, "topic": "device.input.aux.on", "occurred": T0,
            "body": {"deviceId": "d-1", "device": {"name": "Lobby"}}}),
        )
        .unwrap();
        assert_eq!((e.kind, e.severity), (EventKind::Other, Severity::Info));
        assert_eq!(e.vendor_type, "device.input.aux.on");
        assert_eq!(e.summary, "PDK device.input.aux.on at Lobby");
        assert_eq!(e.id, "hq-pdk:device.input.aux.on:9");
        let other_entity = parse(
            &ctx(),
            &json!({"id": "x", "topic": "system.s.entity.holder.created",
            "body": {"name": "Jane Roe"}, "metadata": {"userName": "Dana Admin", "occurred": T0}}),
        )
        .unwrap();
        assert_eq!(other_entity.kind, EventKind::admin("holder_created"));
        assert_eq!(other_entity.summary, "Dana Admin created holder Jane Roe");
    }

    #[test]
    fn denied_and_unknown_requests() {
        let mut item = allowed("r-3", "dev-A", "dev-A", T0);
        item["topic"] = json!("device.request.denied");
        item["body"]["body"]["holder"]["expireDate"] = json!("2026-01-01T00:00:00Z");
        let e = parse(&ctx(), &item).unwrap();
        assert_eq!(
            (e.kind.clone(), e.success),
            (EventKind::AccessDenied, Some(false))
        );
        assert_eq!(e.summary, "Jane Roe denied at Front Door (holder expired)");

        let unknown = parse_topic(
            &ctx(),
            "device.request.unknown",
            &json!({"id": "u", "occurred": T0,
            "body": {"deviceId": "d", "device": {"name": "Lobby"}, "cardNumber": "9", "facilityCode": "12"}}),
        )
        .unwrap();
        assert_eq!(unknown.summary, "Unknown card 9 (facility 12) at Lobby");
        assert_eq!(unknown.person, None);
        assert_eq!(unknown.severity, Severity::Warning);
    }
}
