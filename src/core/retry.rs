//! The reconnect policy. All use of the `backoff` crate stays in this module.

use std::time::{Duration, Instant};

use backoff::backoff::{Backoff as _, Constant};
use backoff::{ExponentialBackoff, ExponentialBackoffBuilder};

use super::options::Backoff;

enum Delays {
    Stop,
    Constant(Constant),
    Exponential(ExponentialBackoff),
}

/// Retry delays plus the give-up clock. The clock runs from the start of a
/// trouble period (watcher start, or the first failure after a healthy sync)
/// and is restarted by [`Retry::healthy`].
pub struct Retry {
    delays: Delays,
    max_elapsed: Option<Duration>,
    trouble_since: Instant,
}

impl Retry {
    pub fn new(policy: Backoff, max_elapsed: Option<Duration>) -> Self {
        let delays = match policy {
            Backoff::None => Delays::Stop,
            Backoff::Constant { interval } => Delays::Constant(Constant::new(interval)),
            Backoff::Exponential { initial, max } => Delays::Exponential(
                ExponentialBackoffBuilder::new()
                    .with_initial_interval(initial)
                    .with_max_interval(max)
                    .with_multiplier(1.5)
                    .with_randomization_factor(0.2)
                    .with_max_elapsed_time(None)
                    .build(),
            ),
        };
        Retry { delays, max_elapsed, trouble_since: Instant::now() }
    }

    /// A synchronisation succeeded: the next failure starts a new trouble
    /// period with the first delay again.
    pub fn healthy(&mut self) {
        self.trouble_since = Instant::now();
        match &mut self.delays {
            Delays::Stop => {}
            Delays::Constant(c) => c.reset(),
            Delays::Exponential(e) => e.reset(),
        }
    }

    /// The delay before the next attempt, or `None` to give up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let delay = match &mut self.delays {
            Delays::Stop => return None,
            Delays::Constant(c) => c.next_backoff()?,
            Delays::Exponential(e) => e.next_backoff()?,
        };
        match self.max_elapsed {
            Some(max) if self.trouble_since.elapsed() + delay > max => {
                let left = max.saturating_sub(self.trouble_since.elapsed());
                (!left.is_zero()).then_some(left)
            }
            _ => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_never_retries() {
        assert_eq!(Retry::new(Backoff::None, None).next_delay(), None);
    }

    #[test]
    fn exponential_grows_to_its_cap_and_restarts_when_healthy() {
        let ms = Duration::from_millis;
        let mut r = Retry::new(Backoff::Exponential { initial: ms(100), max: ms(400) }, None);
        let first = r.next_delay().unwrap();
        assert!(first >= ms(80) && first <= ms(120), "{first:?}");
        for _ in 0..20 {
            assert!(r.next_delay().unwrap() <= ms(480));
        }
        r.healthy();
        assert!(r.next_delay().unwrap() <= ms(120));
    }

    #[test]
    fn max_elapsed_gives_up_and_never_overshoots() {
        let ms = Duration::from_millis;
        let mut r = Retry::new(Backoff::Constant { interval: ms(30) }, Some(ms(50)));
        assert_eq!(r.next_delay(), Some(ms(30)));
        std::thread::sleep(ms(40));
        let last = r.next_delay().unwrap();
        assert!(last <= ms(10), "{last:?}");
        std::thread::sleep(ms(15));
        assert_eq!(r.next_delay(), None);
    }
}
