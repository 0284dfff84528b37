//! Medians and 99th percentiles.

use std::time::Duration;

/// p50 and p99 in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
}

impl Summary {
    pub fn of(mut times: Vec<Duration>) -> Summary {
        times.sort();
        Summary {
            p50: percentile(&times, 0.50),
            p99: percentile(&times, 0.99),
        }
    }

    pub fn of_ms(mut v: Vec<f64>) -> Summary {
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            v[((v.len() as f64 - 1.0) * p).round() as usize]
        };
        Summary {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Nearest-rank percentile of sorted times, in ms.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

pub fn count_label(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}
