//! The query language: `door:"server room" person:jane kind:access.denied since:2h text`.
//!
//! Terms AND together. Errors carry the byte span of the bad term so a caller can
//! point at it (the CLI draws a caret, the TUI underlines it).

use crate::model::{EventKind, RefField, Severity, Vendor, parse_duration};
use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub clauses: Vec<Clause>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// `door:`, `person:`, `controller:`, `site:` — the ref's exact id, or its name
    /// (whole name when quoted, a word of it when not), case-insensitively.
    Ref {
        field: RefField,
        value: String,
        quoted: bool,
    },
    Kind(KindMatch),
    Vendor(Vendor),
    Source(String),
    Severity(Severity),
    /// A bare word (each of its words starts a word of the text) or a quoted phrase
    /// (found in the text, starting at a word boundary). Case-insensitive.
    Text {
        value: String,
        quoted: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum KindMatch {
    Exact(String),
    /// `kind:door.*` → `Prefix("door.")`.
    Prefix(String),
}

/// A query that could not be parsed: what is wrong, and where (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at column {})", self.message, self.start + 1)
    }
}

impl std::error::Error for QueryError {}

impl QueryError {
    /// The query with a caret line under the bad term, for terminals.
    pub fn pointer(&self, query: &str) -> String {
        let lead = query[..self.start.min(query.len())].chars().count();
        let width = query
            .get(self.start..self.end)
            .map_or(1, |s| s.chars().count().max(1));
        format!("  {query}\n  {}{}", " ".repeat(lead), "^".repeat(width))
    }
}

const FIELDS: &str = "door, person, controller, site, kind, vendor, source, severity, since, until";

impl Query {
    /// Parse `text`; relative times (`since:2h`) count back from `now`.
    pub fn parse(text: &str, now: DateTime<Utc>) -> Result<Query, QueryError> {
        let mut q = Query::default();
        for tok in tokenize(text)? {
            let err = |message: String| QueryError {
                message,
                start: tok.start,
                end: tok.end,
            };
            let Some(field) = tok.field.as_deref() else {
                if !tok.value.is_empty() {
                    q.clauses.push(Clause::Text {
                        value: tok.value,
                        quoted: tok.quoted,
                    });
                }
                continue;
            };
            if tok.value.is_empty() {
                return Err(err(format!(
                    "`{field}:` needs a value, e.g. {field}:{}",
                    example(field)
                )));
            }
            let v = tok.value;
            match field.to_ascii_lowercase().as_str() {
                "door" => q.clauses.push(ref_clause(RefField::Door, v, tok.quoted)),
                "person" => q.clauses.push(ref_clause(RefField::Person, v, tok.quoted)),
                "controller" => q
                    .clauses
                    .push(ref_clause(RefField::Controller, v, tok.quoted)),
                "site" => q.clauses.push(ref_clause(RefField::Site, v, tok.quoted)),
                "kind" => q.clauses.push(Clause::Kind(kind_match(&v).map_err(err)?)),
                "vendor" => q.clauses.push(Clause::Vendor(v.parse().map_err(err)?)),
                "source" => q.clauses.push(Clause::Source(v)),
                "severity" => q.clauses.push(Clause::Severity(v.parse().map_err(err)?)),
                "since" => q.since = Some(time_bound(&v, now).map_err(err)?),
                "until" => q.until = Some(time_bound(&v, now).map_err(err)?),
                other => {
                    return Err(err(format!(
                        "unknown field `{other}`: fields are {FIELDS}; to search for the text, quote it: \"{other}:{v}\""
                    )));
                }
            }
        }
        Ok(q)
    }
}

fn example(field: &str) -> &'static str {
    match field {
        "kind" => "door.forced_open",
        "vendor" => "pdk",
        "severity" => "alarm",
        "since" | "until" => "2h",
        _ => "\"Server Room\"",
    }
}

fn ref_clause(field: RefField, value: String, quoted: bool) -> Clause {
    Clause::Ref {
        field,
        value,
        quoted,
    }
}

fn kind_match(v: &str) -> Result<KindMatch, String> {
    if let Some(prefix) = v.strip_suffix('*') {
        let families: Vec<&str> = EventKind::fixed()
            .map(|k| k.family())
            .chain(["admin", "other"])
            .collect();
        let family = prefix.split('.').next().unwrap_or("");
        if !families.contains(&family) {
            return Err(format!(
                "no kind starts with `{prefix}`: families are access, door, device, controller, source, admin, other"
            ));
        }
        return Ok(KindMatch::Prefix(prefix.to_string()));
    }
    match v.parse::<EventKind>() {
        Ok(k) => Ok(KindMatch::Exact(k.name().into_owned())),
        Err(_) => {
            // Suggest the kinds sharing the longest start with what was typed.
            let common = |n: &str| n.chars().zip(v.chars()).take_while(|(a, b)| a == b).count();
            let best = EventKind::fixed()
                .map(|k| common(&k.name()))
                .max()
                .unwrap_or(0);
            let near: Vec<String> = EventKind::fixed()
                .map(|k| k.name().into_owned())
                .filter(|n| best >= 4 && common(n) == best)
                .take(4)
                .collect();
            let hint = if near.is_empty() {
                "use kind:<family>.* for a family, e.g. kind:door.*".to_string()
            } else {
                format!("did you mean {}?", near.join(", "))
            };
            Err(format!("unknown kind `{v}`: {hint}"))
        }
    }
}

/// `2h`, `30m`, `1d12h`, `90s`, `2w`, an RFC 3339 time, or a date (its midnight, UTC).
pub fn time_bound(v: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Some(d) = parse_duration(v) {
        return now
            .checked_sub_signed(d)
            .ok_or_else(|| format!("`{v}` reaches back too far"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{v}` is not a time: use a duration back from now (30m, 2h, 7d, 1w) or a date/time (2026-11-01, 2026-11-01T08:00:00Z)"
    ))
}

#[derive(Debug)]
struct Token {
    field: Option<String>,
    value: String,
    quoted: bool,
    start: usize,
    end: usize,
}

/// Split on whitespace outside quotes; `field:value`, `field:"quoted value"`, bare
/// words and `"quoted phrases"`. Inside quotes `\"` is a quote and `\\` a backslash.
fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut field = None;
        let mut value = String::new();
        let mut quoted = false;
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            if c == '"' {
                if quoted || !value.is_empty() {
                    return Err(QueryError {
                        message: "a quote may only open a value, e.g. door:\"Server Room\"".into(),
                        start: i,
                        end,
                    });
                }
                quoted = true;
                let mut closed = false;
                while let Some((j, c)) = chars.next() {
                    end = j + c.len_utf8();
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            if let Some((k, esc)) = chars.next() {
                                end = k + esc.len_utf8();
                                value.push(esc);
                            }
                        }
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(QueryError {
                        message: "unclosed quote: add a closing \"".into(),
                        start: i,
                        end: text.len(),
                    });
                }
                if let Some(&(j, c)) = chars.peek()
                    && !c.is_whitespace()
                {
                    return Err(QueryError {
                        message: "put a space after a closing quote".into(),
                        start: j,
                        end: j + c.len_utf8(),
                    });
                }
            } else if c == ':' && field.is_none() && !value.is_empty() {
                field = Some(std::mem::take(&mut value));
            } else {
                value.push(c);
            }
        }
        out.push(Token {
            field,
            value,
            quoted,
            start,
            end,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn parse(s: &str) -> Result<Query, QueryError> {
        Query::parse(s, now())
    }

    #[test]
    fn the_design_example_parses() {
        let q = parse(r#"door:"server room" person:jane kind:access.denied vendor:pdk source:hq since:2h until:2026-11-01 severity:alarm free text"#).unwrap();
        assert_eq!(
            q.clauses,
            vec![
                Clause::Ref {
                    field: RefField::Door,
                    value: "server room".into(),
                    quoted: true
                },
                Clause::Ref {
                    field: RefField::Person,
                    value: "jane".into(),
                    quoted: false
                },
                Clause::Kind(KindMatch::Exact("access.denied".into())),
                Clause::Vendor(Vendor::Pdk),
                Clause::Source("hq".into()),
                Clause::Severity(Severity::Alarm),
                Clause::Text {
                    value: "free".into(),
                    quoted: false
                },
                Clause::Text {
                    value: "text".into(),
                    quoted: false
                },
            ]
        );
        assert_eq!(
            q.since,
            Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap())
        );
        assert_eq!(
            q.until,
            Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn empty_query_is_valid() {
        assert_eq!(parse("   ").unwrap(), Query::default());
    }

    #[test]
    fn kind_prefix_and_admin() {
        assert_eq!(
            parse("kind:door.*").unwrap().clauses,
            vec![Clause::Kind(KindMatch::Prefix("door.".into()))]
        );
        assert_eq!(
            parse("kind:admin.card_create").unwrap().clauses,
            vec![Clause::Kind(KindMatch::Exact("admin.card_create".into()))]
        );
    }

    #[test]
    fn errors_point_at_the_bad_term() {
        let e = parse("door:lobby kind:door.forced since:2h").unwrap_err();
        assert_eq!((e.start, e.end), (11, 27));
        assert!(
            e.message.contains("did you mean door.forced_open"),
            "{}",
            e.message
        );
        assert!(
            e.pointer("door:lobby kind:door.forced since:2h")
                .ends_with("           ^^^^^^^^^^^^^^^^")
        );

        let e = parse("colour:red").unwrap_err();
        assert!(
            e.message.starts_with("unknown field `colour`"),
            "{}",
            e.message
        );
        let e = parse("since:yesterday").unwrap_err();
        assert!(e.message.contains("not a time"), "{}", e.message);
        let e = parse(r#"door:"server room"#).unwrap_err();
        assert!(e.message.contains("unclosed quote"));
        assert_eq!(e.start, 5);
        assert!(
            parse("vendor:acme")
                .unwrap_err()
                .message
                .contains("unknown vendor")
        );
        assert!(
            parse("severity:")
                .unwrap_err()
                .message
                .contains("needs a value")
        );
        assert!(
            parse("kind:zzz.*")
                .unwrap_err()
                .message
                .contains("no kind starts with")
        );
        let e = parse("kind:door.forcd").unwrap_err();
        assert!(
            e.message.contains(
                "did you mean door.forced_open, door.forced_open_cleared, door.force_unlock_on"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn quoted_phrases_and_escapes() {
        let q = parse(r#""forced open" person:"O\"Brien""#).unwrap();
        assert_eq!(
            q.clauses,
            vec![
                Clause::Text {
                    value: "forced open".into(),
                    quoted: true
                },
                Clause::Ref {
                    field: RefField::Person,
                    value: "O\"Brien".into(),
                    quoted: true
                },
            ]
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        for s in [
            "\"",
            "::",
            ":a",
            "a:",
            "door:\"\"",
            "é:ü",
            "\"a\"b",
            "since:-1h",
            "kind:*",
            "\\",
            "door:\"a\\",
        ] {
            let _ = parse(s);
        }
    }
}
