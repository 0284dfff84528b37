//! Planning and running a query against the store.
//!
//! Every indexable clause offers an access path (a union of posting lists). The
//! planner counts each path's postings inside the time range, up to a cap, and drives
//! the query from the smallest. When the driver is large, the other clauses' posting
//! lists are intersected with it key by key (no event is read for a key they lack);
//! every clause is then checked on the events that remain.
//! A full scan happens only when the query has neither an indexable clause nor a time
//! range (the empty query, or only text too common to index).

use super::parse::{Clause, KindMatch, Query};
use crate::model::{Event, RefField};
use crate::store::terms::{self, Index, WordMatch};
use crate::store::{EventKey, KeyRange, Result, Store, TermMatch};

/// Postings counted per path when choosing; beyond it a path is "big".
const ESTIMATE_CAP: usize = 2_000;
/// A free-text prefix that matches more distinct words than this is not used as a path.
const MAX_PREFIX_TERMS: usize = 256;

/// How a query reads the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Walk one index's postings (a union of terms) newest first.
    Index {
        index: Index,
        matches: Vec<TermMatch>,
        /// Postings counted in range, capped at `ESTIMATE_CAP` (at 1 when no other
        /// path competes).
        estimate: usize,
        /// Other clauses' paths intersected with the driver's keys.
        intersect: Vec<(Index, Vec<TermMatch>)>,
    },
    /// Walk the primary tree inside the query's time range.
    TimeScan,
    /// Walk all history: only for queries with nothing to narrow by.
    FullScan,
}

/// One page of results, newest first, and where the next page starts (if there is one).
#[derive(Debug, Clone)]
pub struct Page {
    pub events: Vec<(EventKey, Event)>,
    /// Pass as `before` to get the next (older) page.
    pub next: Option<EventKey>,
    pub access: Access,
}

fn ref_index(field: RefField) -> Index {
    match field {
        RefField::Door => Index::Door,
        RefField::Person => Index::Person,
        RefField::Controller => Index::Controller,
        RefField::Site => Index::Site,
    }
}

fn longest_word(value: &str) -> Option<String> {
    terms::words(value).max_by_key(|w| w.len())
}

/// The access path a clause offers, if any.
fn path(clause: &Clause) -> Option<(Index, Vec<TermMatch>)> {
    Some(match clause {
        Clause::Ref {
            field,
            value,
            quoted,
        } => {
            let mut m = vec![TermMatch::Exact(terms::ref_id_term(value))];
            if *quoted {
                m.push(TermMatch::Exact(terms::ref_name_term(value)));
            } else if let Some(w) = longest_word(value) {
                m.push(TermMatch::Exact(terms::ref_word_term(&w)));
            }
            (ref_index(*field), m)
        }
        Clause::Kind(KindMatch::Exact(k)) => (Index::Kind, vec![TermMatch::Exact(k.clone())]),
        Clause::Kind(KindMatch::Prefix(p)) => (Index::Kind, vec![TermMatch::Prefix(p.clone())]),
        Clause::Vendor(v) => (Index::Vendor, vec![TermMatch::Exact(v.as_str().into())]),
        Clause::Source(s) => (Index::Source, vec![TermMatch::Exact(s.clone())]),
        Clause::Severity(s) => (Index::Severity, vec![TermMatch::Exact(s.as_str().into())]),
        Clause::Text { value, .. } => (Index::Word, vec![TermMatch::Prefix(longest_word(value)?)]),
    })
}

fn range_of(q: &Query, before: Option<EventKey>) -> KeyRange {
    let mut range = KeyRange::time(
        q.since.map(|t| t.timestamp_millis()),
        q.until.map(|t| t.timestamp_millis()),
    );
    if let Some(b) = before {
        match b.pred() {
            Some(p) if p < range.hi => range.hi = p,
            Some(_) => {}
            None => range.hi = EventKey::MIN,
        }
        if b == EventKey::MIN {
            range.lo = EventKey::MAX;
        }
    }
    range
}

/// Choose the access path for `q` (see the module docs).
pub fn explain(store: &Store, q: &Query) -> Result<Access> {
    choose(store, q, range_of(q, None))
}

fn choose(store: &Store, q: &Query, range: KeyRange) -> Result<Access> {
    let offered: Vec<(Index, Vec<TermMatch>)> = q.clauses.iter().filter_map(path).collect();
    // Counting only chooses between paths: a lone path just needs to be non-empty
    // (counting 2,000 postings of `forced` cost more than reading its first 100 hits).
    let cap = if offered.len() > 1 { ESTIMATE_CAP } else { 1 };
    let mut paths = Vec::new();
    for (index, matches) in offered {
        let Some(iter) = store.postings(index, &matches, range, MAX_PREFIX_TERMS)? else {
            continue;
        };
        let mut estimate = 0;
        for k in iter.take(cap) {
            k?;
            estimate += 1;
        }
        if estimate == 0 {
            // Nothing can match: no need to look further.
            return Ok(Access::Index {
                index,
                matches,
                estimate,
                intersect: Vec::new(),
            });
        }
        paths.push((estimate, index, matches));
    }
    paths.sort_by_key(|(estimate, _, _)| *estimate);
    let mut paths = paths.into_iter();
    let Some((estimate, index, matches)) = paths.next() else {
        return Ok(if q.since.is_some() || q.until.is_some() {
            Access::TimeScan
        } else {
            Access::FullScan
        });
    };
    // A small driver is cheaper to verify event by event than to walk other lists.
    let intersect = if estimate >= ESTIMATE_CAP {
        paths.map(|(_, i, m)| (i, m)).collect()
    } else {
        Vec::new()
    };
    Ok(Access::Index {
        index,
        matches,
        estimate,
        intersect,
    })
}

/// Run `q`: up to `limit` events older than `before` (all when `None`), newest first.
pub fn execute(store: &Store, q: &Query, limit: usize, before: Option<EventKey>) -> Result<Page> {
    let range = range_of(q, before);
    let access = choose(store, q, range)?;
    let mut events = Vec::new();
    let mut next = None;
    if limit == 0 || range.is_empty() {
        return Ok(Page {
            events,
            next,
            access,
        });
    }
    let checks: Vec<Check> = q.clauses.iter().map(Check::new).collect();
    let mut take = |key: EventKey, e: Event| -> bool {
        if checks.iter().all(|c| c.holds(&e)) {
            if events.len() == limit {
                next = events.last().map(|(k, _): &(EventKey, Event)| *k);
                return false;
            }
            events.push((key, e));
        }
        true
    };
    match &access {
        Access::Index {
            index,
            matches,
            estimate,
            intersect,
        } => {
            if *estimate > 0 {
                let iter = store
                    .postings(*index, matches, range, MAX_PREFIX_TERMS)?
                    .into_iter()
                    .flatten();
                let mut reader = store.reader();
                let mut others = Vec::with_capacity(intersect.len());
                for (i, m) in intersect {
                    if let Some(it) = store.postings(*i, m, range, MAX_PREFIX_TERMS)? {
                        others.push(it.peekable());
                    }
                }
                'keys: for key in iter {
                    let key = key?;
                    // Both lists run newest first: skip the other list past `key`.
                    for other in &mut others {
                        loop {
                            match other.peek() {
                                Some(Ok(k)) if *k > key => {
                                    other.next();
                                }
                                Some(Ok(k)) if *k == key => break,
                                Some(Ok(_)) => continue 'keys,
                                Some(Err(_)) => {
                                    if let Some(Err(e)) = other.next() {
                                        return Err(e);
                                    }
                                }
                                None => break 'keys,
                            }
                        }
                    }
                    // A posting without its event would be a store bug; skip, don't fail.
                    let Some(e) = reader.get(key)? else { continue };
                    if !take(key, e) {
                        break;
                    }
                }
            }
        }
        Access::TimeScan | Access::FullScan => {
            for item in store.scan(range) {
                let (key, e) = item?;
                if !take(key, e) {
                    break;
                }
            }
        }
    }
    Ok(Page {
        events,
        next,
        access,
    })
}

/// Does one clause hold for an event? The definition of the language's semantics;
/// the indexes only narrow down where to look.
pub fn matches(clause: &Clause, e: &Event) -> bool {
    Check::new(clause).holds(e)
}

/// A clause made ready to check many events: its value's words and case-folded form
/// are made once per query, and checking an event allocates nothing (but for a
/// quoted phrase, which is looked for in a case-folded copy of the event's text).
struct Check<'q> {
    clause: &'q Clause,
    /// The words of the clause's value ([`terms::words`]).
    words: Vec<String>,
    /// The value, case-folded.
    lower: String,
}

impl<'q> Check<'q> {
    fn new(clause: &'q Clause) -> Check<'q> {
        let value = match clause {
            Clause::Ref { value, .. } | Clause::Text { value, .. } => value.as_str(),
            _ => "",
        };
        Check {
            clause,
            words: terms::words(value).collect(),
            lower: value.to_lowercase(),
        }
    }

    fn holds(&self, e: &Event) -> bool {
        match self.clause {
            Clause::Ref {
                field,
                value,
                quoted,
            } => {
                let Some(r) = e
                    .refs()
                    .into_iter()
                    .find(|(f, _)| f == field)
                    .and_then(|(_, r)| r)
                else {
                    return false;
                };
                if r.id == *value {
                    return true;
                }
                let Some(name) = &r.name else { return false };
                if *quoted {
                    terms::lower_matches(name, &self.lower, WordMatch::Exact)
                } else {
                    !self.words.is_empty()
                        && self
                            .words
                            .iter()
                            .all(|w| terms::any_word(name, w, WordMatch::Exact))
                }
            }
            Clause::Kind(KindMatch::Exact(k)) => e.kind.name() == k.as_str(),
            Clause::Kind(KindMatch::Prefix(p)) => e.kind.name().starts_with(p.as_str()),
            Clause::Vendor(v) => e.vendor == *v,
            Clause::Source(s) => e.source == *s,
            Clause::Severity(s) => e.severity == *s,
            Clause::Text { quoted: false, .. } => {
                if self.words.is_empty() {
                    return haystack(e).contains(&self.lower);
                }
                self.words
                    .iter()
                    .all(|w| terms::any_text_word(e, w, WordMatch::Prefix))
            }
            Clause::Text { quoted: true, .. } => {
                let hay = haystack(e);
                let needle = &self.lower;
                hay.match_indices(needle.as_str()).any(|(i, _)| {
                    hay[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !c.is_alphanumeric())
                })
            }
        }
    }
}

/// The text free-text searches: summary, ref names, vendor type; case-folded.
fn haystack(e: &Event) -> String {
    let mut s = e.summary.to_lowercase();
    for (_, r) in e.refs() {
        if let Some(name) = r.and_then(|r| r.name.as_deref()) {
            s.push('\n');
            s.push_str(&name.to_lowercase());
        }
    }
    s.push('\n');
    s.push_str(&e.vendor_type.to_lowercase());
    s
}

#[cfg(test)]
mod tests;
