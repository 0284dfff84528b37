//! What an event is indexed under: one term list per index.
//!
//! The search module asks for postings with the same functions, so the terms a query
//! looks up and the terms an event was filed under cannot drift apart.

use crate::model::Event;

/// The secondary indexes. The byte is part of every posting key: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Index {
    Door = b'd',
    Person = b'p',
    Controller = b'c',
    Site = b's',
    Kind = b'k',
    Vendor = b'v',
    Source = b'o',
    Severity = b'y',
    /// Words of the summary, ref names and vendor type (free text).
    Word = b'w',
}

impl Index {
    pub fn byte(self) -> u8 {
        self as u8
    }
}

/// Term for a ref's exact id.
pub fn ref_id_term(id: &str) -> String {
    format!("i:{}", clean(id))
}

/// Term for a ref's whole name, case-folded.
pub fn ref_name_term(name: &str) -> String {
    format!("n:{}", clean(&name.to_lowercase()))
}

/// Term for one word of a ref's name.
pub fn ref_word_term(word: &str) -> String {
    format!("w:{}", clean(word))
}

/// Longest word that is indexed; longer tokens are mostly ids and payload noise.
const MAX_WORD: usize = 48;

/// Case-folded alphanumeric words of a text, in order, duplicates kept.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_WORD)
        .map(str::to_lowercase)
}

/// Terms may not hold the 0x00 that ends them in a key.
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_string()
    }
}

/// Every (index, term) an event is filed under, each once.
pub fn event_terms(e: &Event) -> Vec<(Index, String)> {
    let mut out: Vec<(Index, String)> = Vec::with_capacity(24);
    visit_terms(e, &mut TermScratch::default(), |index, term| {
        if !out.iter().any(|(i, t)| *i == index && t == term) {
            out.push((index, term.to_string()));
        }
    });
    out
}

/// Reusable buffers for [`visit_terms`], so that filing an event allocates nothing.
#[derive(Default)]
pub struct TermScratch {
    term: String,
}

/// Call `f` with every (index, term) an event is filed under. A term may come more
/// than once (a word in both the summary and a name): callers that keep postings
/// drop repeats when they sort them. This is the one definition of an event's terms;
/// [`event_terms`] and ingest both go through it.
pub fn visit_terms(e: &Event, scratch: &mut TermScratch, mut f: impl FnMut(Index, &str)) {
    let t = &mut scratch.term;
    for (index, r) in [
        (Index::Door, &e.door),
        (Index::Person, &e.person),
        (Index::Controller, &e.controller),
        (Index::Site, &e.site),
    ] {
        let Some(r) = r else { continue };
        t.clear();
        t.push_str("i:");
        push_clean(t, &r.id);
        f(index, t);
        if let Some(name) = &r.name {
            t.clear();
            t.push_str("n:");
            push_lower(t, name);
            if t.contains('\0') {
                *t = t.replace('\0', "");
            }
            f(index, t);
            for_each_word(name, t, |t| {
                t.insert_str(0, "w:");
                f(index, t)
            });
        }
    }
    f(Index::Kind, &e.kind.name());
    f(Index::Vendor, e.vendor.as_str());
    t.clear();
    push_clean(t, &e.source);
    f(Index::Source, t);
    f(Index::Severity, e.severity.as_str());
    let names = e.refs().into_iter().filter_map(|(_, r)| r?.name.as_deref());
    for text in std::iter::once(e.summary.as_str())
        .chain(names)
        .chain(std::iter::once(e.vendor_type.as_str()))
    {
        for_each_word(text, t, |t| f(Index::Word, t));
    }
}

/// [`words`] without allocating: each word, case-folded, in `buf`.
fn for_each_word(text: &str, buf: &mut String, mut f: impl FnMut(&mut String)) {
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() || w.len() > MAX_WORD {
            continue;
        }
        buf.clear();
        push_lower(buf, w);
        f(buf);
    }
}

/// Lower-case exactly as `str::to_lowercase` does (the query side uses it).
fn push_lower(buf: &mut String, s: &str) {
    if s.is_ascii() {
        buf.extend(s.bytes().map(|b| b.to_ascii_lowercase() as char));
    } else {
        buf.push_str(&s.to_lowercase());
    }
}

fn push_clean(buf: &mut String, s: &str) {
    buf.extend(s.chars().filter(|c| *c != '\0'));
}

/// The words free text matches against: summary, every ref name, the vendor type.
pub fn text_words(e: &Event) -> impl Iterator<Item = String> + '_ {
    let names = e.refs().into_iter().filter_map(|(_, r)| r?.name.as_deref());
    words(&e.summary)
        .chain(names.flat_map(words))
        .chain(words(&e.vendor_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, Ref, Severity, Vendor};
    use chrono::Utc;

    #[test]
    fn an_event_is_filed_under_ids_names_words_and_text() {
        let e = Event {
            id: "hq:1".into(),
            source: "hq".into(),
            vendor: Vendor::Pdk,
            occurred_at: Utc::now(),
            received_at: Utc::now(),
            kind: EventKind::AccessDenied,
            vendor_type: "device.request.denied".into(),
            severity: Severity::Warning,
            door: Some(Ref::new("D-1", Some("Server Room"))),
            controller: None,
            person: Some(Ref::new("p9", Some("Jane Roe"))),
            site: None,
            credential: None,
            success: Some(false),
            summary: "Jane Roe denied at Server Room".into(),
            raw: crate::model::RawJson::null(),
        };
        let terms = event_terms(&e);
        let has = |i: Index, t: &str| terms.iter().any(|(ii, tt)| *ii == i && tt == t);
        assert!(has(Index::Door, "i:D-1"));
        assert!(has(Index::Door, "n:server room"));
        assert!(has(Index::Door, "w:server"));
        assert!(has(Index::Person, "w:roe"));
        assert!(has(Index::Kind, "access.denied"));
        assert!(has(Index::Severity, "warning"));
        assert!(has(Index::Word, "denied"));
        assert!(has(Index::Word, "device"));
        let denied = terms
            .iter()
            .filter(|(i, t)| *i == Index::Word && t == "denied")
            .count();
        assert_eq!(denied, 1, "words are filed once per event");
    }
}
