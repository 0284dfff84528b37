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
    texts(e).flat_map(words)
}

/// The texts free text matches against, in [`text_words`] order.
fn texts(e: &Event) -> impl Iterator<Item = &str> + '_ {
    let names = e.refs().into_iter().filter_map(|(_, r)| r?.name.as_deref());
    std::iter::once(e.summary.as_str())
        .chain(names)
        .chain(std::iter::once(e.vendor_type.as_str()))
}

/// How a query's word meets a word of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordMatch {
    /// The word is the query's word.
    Exact,
    /// The word starts with the query's word.
    Prefix,
}

/// Whether any of [`text_words`]`(e)` is (or starts with) `want`, which must be
/// case-folded already (one of [`words`]). Allocates nothing: a search re-checks every
/// hit with it.
pub fn any_text_word(e: &Event, want: &str, how: WordMatch) -> bool {
    texts(e).any(|text| any_word(text, want, how))
}

/// Whether any of [`words`]`(text)` is (or starts with) `want` (case-folded already),
/// without making those words.
pub fn any_word(text: &str, want: &str, how: WordMatch) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_WORD)
        .any(|w| lower_matches(w, want, how))
}

/// Whether `s.to_lowercase()` is (or starts with) `want`, mostly without making it.
pub fn lower_matches(s: &str, want: &str, how: WordMatch) -> bool {
    if s.is_ascii() {
        let (s, want) = (s.as_bytes(), want.as_bytes());
        let fits = match how {
            WordMatch::Exact => s.len() == want.len(),
            WordMatch::Prefix => s.len() >= want.len(),
        };
        return fits
            && s.iter()
                .zip(want)
                .all(|(a, b)| a.to_ascii_lowercase() == *b);
    }
    // `str::to_lowercase` is `char::to_lowercase` of each char, except for a capital
    // sigma, whose small form depends on its neighbours: let std decide those.
    if s.contains('Σ') {
        let lower = s.to_lowercase();
        return match how {
            WordMatch::Exact => lower == want,
            WordMatch::Prefix => lower.starts_with(want),
        };
    }
    let mut have = s.chars().flat_map(char::to_lowercase);
    want.chars().all(|c| have.next() == Some(c))
        && (how == WordMatch::Prefix || have.next().is_none())
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

    fn event_with(summary: &str, name: &str, vendor_type: &str) -> Event {
        Event {
            id: "hq:1".into(),
            source: "hq".into(),
            vendor: Vendor::Kisi,
            occurred_at: Utc::now(),
            received_at: Utc::now(),
            kind: EventKind::Other,
            vendor_type: vendor_type.into(),
            severity: Severity::Info,
            door: Some(Ref::new("d", Some(name))),
            controller: None,
            person: None,
            site: None,
            credential: None,
            success: None,
            summary: summary.into(),
            raw: crate::model::RawJson::null(),
        }
    }

    /// What [`any_text_word`] must agree with: the words, made.
    fn made(e: &Event, want: &str, how: WordMatch) -> bool {
        text_words(e).any(|w| match how {
            WordMatch::Exact => w == want,
            WordMatch::Prefix => w.starts_with(want),
        })
    }

    #[test]
    fn word_checks_fold_case_as_to_lowercase_does() {
        let e = event_with(
            "Door FORCED open",
            "\u{1F48}\u{3b4}\u{3c5}\u{3c3}\u{3c3}\u{3b5}\u{3cd}\u{3c2} \u{39f}\u{394}\u{39f}\u{3a3} \u{130}stanbul",
            "door.forced",
        );
        for (want, how, hit) in [
            ("forced", WordMatch::Exact, true),
            ("force", WordMatch::Prefix, true),
            ("force", WordMatch::Exact, false),
            ("forcedx", WordMatch::Prefix, false),
            // Ὀδυσσεύς: a capital with a breathing mark.
            (
                "\u{1F40}\u{3b4}\u{3c5}\u{3c3}\u{3c3}\u{3b5}\u{3cd}\u{3c2}",
                WordMatch::Exact,
                true,
            ),
            // ΟΔΟΣ: a final capital sigma folds to ς, not σ.
            ("\u{3bf}\u{3b4}\u{3bf}\u{3c2}", WordMatch::Exact, true),
            ("\u{3bf}\u{3b4}\u{3bf}\u{3c3}", WordMatch::Exact, false),
            ("\u{3bf}\u{3b4}\u{3bf}", WordMatch::Prefix, true),
            // İ folds to two chars, i and a combining dot.
            ("i\u{307}stanbul", WordMatch::Exact, true),
            ("i\u{307}", WordMatch::Prefix, true),
            ("istanbul", WordMatch::Prefix, false),
        ] {
            assert_eq!(
                any_text_word(&e, want, how),
                made(&e, want, how),
                "{want} {how:?}"
            );
            assert_eq!(any_text_word(&e, want, how), hit, "{want} {how:?}");
        }
    }

    /// Text from a mix of ASCII, accented and cased non-Latin letters, capital sigma,
    /// letters whose small form is longer (İ) or ASCII (the Kelvin sign), with
    /// separators between.
    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(
            "[a-zA-Z0-9 .:_ÉéÄßΣσςΑαΟοİıKÅ\u{212A}\u{212B}\u{130}\u{307}-]{0,40}",
        )
        .unwrap()
    }

    proptest::proptest! {
        #[test]
        fn any_text_word_agrees_with_text_words(
            summary in text(),
            name in text(),
            vendor_type in text(),
            query in text(),
            any in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let e = event_with(&summary, &name, &vendor_type);
            // Query words as the query side makes them, and words the event has (and
            // their prefixes), so that hits are tried as well as misses.
            let mut wants: Vec<String> = words(&query).collect();
            let have: Vec<String> = text_words(&e).collect();
            if !have.is_empty() {
                let w = &have[any.index(have.len())];
                wants.push(w.clone());
                let cut = w.char_indices().map(|(i, _)| i).nth(w.chars().count() / 2).unwrap_or(0);
                wants.push(w[..cut].to_string());
            }
            for want in &wants {
                for how in [WordMatch::Exact, WordMatch::Prefix] {
                    proptest::prop_assert_eq!(any_text_word(&e, want, how), made(&e, want, how), "{:?} {:?}", want, how);
                }
            }
        }

        #[test]
        fn lower_matches_agrees_with_to_lowercase(s in text(), t in text()) {
            let t = t.to_lowercase();
            let lower = s.to_lowercase();
            proptest::prop_assert_eq!(lower_matches(&s, &t, WordMatch::Exact), lower == t);
            proptest::prop_assert_eq!(lower_matches(&s, &t, WordMatch::Prefix), lower.starts_with(&t));
            proptest::prop_assert!(lower_matches(&s, &lower, WordMatch::Exact));
        }
    }
}
