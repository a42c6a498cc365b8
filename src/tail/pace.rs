//! The pace of FilterLogEvents calls for `tail` and scheduled `alert`: at
//! most a rate a second, and a back-off with jitter after a throttled one.

use std::time::Duration;

use super::Pace;

/// Calls at most `rps` a second; throttled answers back off with jitter.
pub struct Paced {
    gap: Duration,
    last: Option<tokio::time::Instant>,
    say: crate::output::diag::Reporter,
}

impl Paced {
    pub fn new(rps: f64, say: crate::output::diag::Reporter) -> Paced {
        Paced {
            gap: Duration::from_secs_f64(1.0 / rps),
            last: None,
            say,
        }
    }
}

impl Pace for Paced {
    async fn before_call(&mut self) {
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + self.gap).await;
        }
        self.last = Some(tokio::time::Instant::now());
    }

    async fn throttled(&mut self, n: u32) {
        let base = Duration::from_millis(500) * 2u32.pow(n.min(6));
        let jitter = Duration::from_millis(u64::from(rand_u32() % 500));
        self.say.line(format_args!(
            "throttled by FilterLogEvents; waiting {:.1}s and going on",
            (base + jitter).as_secs_f64()
        ));
        tokio::time::sleep(base + jitter).await;
    }
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}
