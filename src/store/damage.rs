//! A damaged store file is the operator's problem to fix, not a crash: every way sled
//! reports damage (a corruption error, a missing blob, an unreadable `conf`, a panic)
//! becomes [`StoreError::Corrupt`], whose message names the directory and the way out.

use super::StoreError;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;

impl StoreError {
    /// This error as what it means for the store at `path`: sled's reports of damage
    /// (and events that no longer decode) become [`StoreError::Corrupt`]; anything
    /// else stays as it is.
    pub fn located(self, path: &Path) -> StoreError {
        match self.damage() {
            Some(detail) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail,
            },
            None => self,
        }
    }
}

impl StoreError {
    /// What is damaged, when this error says the store's files are: sled's reports of
    /// damage, and events that no longer decode.
    pub fn damage(&self) -> Option<String> {
        match self {
            StoreError::Sled(e) => sled_damage(e),
            StoreError::Decode(e) => Some(e.to_string()),
            StoreError::Corrupt { detail, .. } => Some(detail.clone()),
            _ => None,
        }
    }
}

/// What sled says when the error is damage to its files; `None` for other errors.
pub(super) fn sled_damage(e: &sled::Error) -> Option<String> {
    match e {
        sled::Error::Corruption { at, .. } => Some(match at {
            Some(ptr) => format!(
                "sled found corrupted data at offset {} of its log",
                ptr.lid()
            ),
            None => "sled found corrupted data in its log or snapshot".into(),
        }),
        // A garbled `conf` reads as a store from an older sled.
        sled::Error::Unsupported(why) => Some(format!("sled cannot read its files: {why}")),
        // A large value lives in a file of its own under blobs/.
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("a file of it is missing ({io})"))
        }
        _ => None,
    }
}

thread_local! {
    /// Set while this thread runs [`catch_panics`]: its panics are reported as errors.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`, turning a panic into [`StoreError::Corrupt`]. sled 0.34 asserts on some
/// inputs it cannot read; at the boundary where the store is opened that is damage to
/// report, and its panic message (with a backtrace hint) is not printed.
pub(super) fn catch_panics<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    silence_quiet_threads();
    let was = QUIET.with(|q| q.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("sled stopped reading it: {what}"),
        })
    })
}

/// Install (once) a panic hook that stays silent for threads inside [`catch_panics`]
/// and hands every other panic to the hook that was there before (the console's
/// terminal restore, or the default report).
fn silence_quiet_threads() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_a_corrupt_store_error() {
        let path = Path::new("/tmp/some/store");
        let r: Result<(), StoreError> = catch_panics(path, || panic!("bad page {}", 7));
        let text = r.unwrap_err().to_string();
        assert!(text.contains("/tmp/some/store is damaged"), "{text}");
        assert!(text.contains("bad page 7"), "{text}");
        // Outside, panics are reported again (the flag is reset).
        assert!(!QUIET.with(Cell::get));
    }

    #[test]
    fn sled_damage_is_located_and_other_errors_are_not() {
        let path = Path::new("/d/store");
        let corrupt = StoreError::Sled(sled::Error::Corruption { at: None, bt: () }).located(path);
        assert!(matches!(corrupt, StoreError::Corrupt { .. }), "{corrupt}");
        let other = StoreError::Sled(sled::Error::Io(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        )))
        .located(path);
        assert!(matches!(other, StoreError::Sled(_)), "{other}");
    }
}
