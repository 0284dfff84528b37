//! The config parser: never panics; a non-private file never yields inline secrets.
#![no_main]

use doorwatch::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(private) = text.chars().next().map(|c| c == '#') else {
        return;
    };
    if let Ok(c) = Config::parse(text, None, private) {
        let _ = c.alarm_config();
        for s in &c.sources {
            let s = s.get_ref();
            if !private {
                assert!(
                    s.token.is_none() && s.client_secret.is_none() && s.webhook_secret.is_none()
                );
            }
            let _ = (
                s.poll_interval(),
                s.backfill(),
                s.overlap(std::time::Duration::from_secs(1)),
            );
        }
    }
});
