//! Handing freed memory back to the system while the store owner is idle.
//!
//! mimalloc (the global allocator of `doorwatch` and the bench) purges freed memory
//! after a delay (1 s in its v3), as part of later allocator calls. After a bulk load
//! sled's flusher thread compacts the log in the background for minutes, and in an
//! idle console the memory it freed was never purged: RSS grew from 92 to 387 MB while
//! sled compacted a fresh 1M-event store (measured here).
//!
//! Purging at once (delay 0) kept RSS at 64-66 MB through the same compaction, but cost
//! ingest ~15% (madvise on the hot path). Collecting from the engine thread did not
//! reach the memory. So the delay is switched: 0 while the store owner is idle, the
//! configured delay while commits flow.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h`, the version libmimalloc-sys
/// builds by default. The test below holds it to that option's default.
const PURGE_DELAY: mi_option_t = 15;

/// Switches mimalloc between prompt purging (idle) and its configured delay (busy).
pub struct IdlePurge {
    busy_delay: i64,
    idle: bool,
}

impl Default for IdlePurge {
    fn default() -> Self {
        IdlePurge {
            // As configured: mimalloc's default, or MIMALLOC_PURGE_DELAY.
            busy_delay: purge_delay_ms(),
            idle: false,
        }
    }
}

impl IdlePurge {
    /// Nothing to do for a while: purge what is freed from now on at once.
    pub fn idle(&mut self) {
        if !self.idle {
            self.idle = true;
            set_purge_delay_ms(0);
        }
    }

    /// Work came: back to the configured delay.
    pub fn busy(&mut self) {
        if self.idle {
            self.idle = false;
            set_purge_delay_ms(self.busy_delay);
        }
    }
}

// c_long is i64 here but i32 on other targets, where the conversion is not useless.
#[allow(clippy::useless_conversion)]
fn purge_delay_ms() -> i64 {
    // SAFETY: reads one integer option.
    i64::from(unsafe { mi_option_get(PURGE_DELAY) })
}

fn set_purge_delay_ms(ms: i64) {
    // SAFETY: sets one integer option; mimalloc reads options atomically.
    unsafe { mi_option_set(PURGE_DELAY, ms as _) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_mimallocs_purge_delay_between_idle_and_busy() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // mimalloc v3's purge_delay defaults to 1000 ms and no neighbouring option
        // does: a wrong index (another mimalloc version) fails here rather than
        // setting some other option in the field.
        assert_eq!(purge_delay_ms(), 1000);
        let mut p = IdlePurge::default();
        p.busy();
        assert_eq!(purge_delay_ms(), 1000);
        p.idle();
        assert_eq!(purge_delay_ms(), 0);
        p.idle();
        assert_eq!(purge_delay_ms(), 0);
        p.busy();
        assert_eq!(purge_delay_ms(), 1000);
    }
}
