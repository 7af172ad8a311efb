//! Where a decision runs: on the calling (async) thread, or on a blocking one.
//!
//! A decision of the standard module takes about 25 µs (BENCHMARKS.md). Handing it to
//! tokio's blocking pool and back (a queued task, a parked thread woken, the request's
//! task woken again) cost the server about 70 µs of CPU per rules create, more than the
//! decision itself (issue 10 §8). So decisions run on the caller's thread. But a decision
//! may run up to its module's deadline (50 ms by default), and meanwhile that thread
//! serves nothing else: a module whose decision hits its deadline, or takes longer than
//! [`SLOW`] [`SLOW_IN_A_ROW`] times in a row (once may be the thread being preempted on a
//! busy machine), has its decisions run on blocking threads from then on. The pace lives
//! in the loaded module, so a fixed module that replaces a slow one runs inline again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// A decision longer than this counts as slow.
pub(super) const SLOW: Duration = Duration::from_millis(2);
/// Slow decisions in a row after which a module's decisions leave the async threads.
pub(super) const SLOW_IN_A_ROW: u32 = 3;

/// One loaded module's recent pace.
#[derive(Debug, Default)]
pub(super) struct Pace {
    slow_in_a_row: AtomicU32,
    blocking: AtomicBool,
}

impl Pace {
    /// Whether the module's decisions go to blocking threads.
    pub(super) fn blocking(&self) -> bool {
        self.blocking.load(Ordering::Relaxed)
    }

    /// Records an inline decision that took `took`.
    pub(super) fn record(&self, took: Duration, hit_deadline: bool) {
        let slow_in_a_row = if took > SLOW {
            self.slow_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.slow_in_a_row.store(0, Ordering::Relaxed);
            0
        };
        if (hit_deadline || slow_in_a_row >= SLOW_IN_A_ROW) && !self.blocking.swap(true, Ordering::Relaxed) {
            tracing::info!(
                took_ms = took.as_millis(),
                hit_deadline,
                "a slow rules module: its decisions move to blocking threads"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_micros(25);
    const LONG: Duration = Duration::from_millis(5);

    #[test]
    fn a_module_leaves_the_async_threads_after_a_deadline_or_a_run_of_slow_decisions() {
        let a = Pace::default();
        // One or two slow decisions (a preempted thread) are forgiven by a fast one.
        a.record(LONG, false);
        a.record(LONG, false);
        a.record(FAST, false);
        a.record(LONG, false);
        a.record(LONG, false);
        assert!(!a.blocking());
        // The third slow one in a row is not.
        a.record(LONG, false);
        assert!(a.blocking());
        // And it stays so, however fast its later decisions.
        a.record(FAST, false);
        assert!(a.blocking());
        // A deadline is enough at once.
        let b = Pace::default();
        b.record(LONG, true);
        assert!(b.blocking());
        let c = Pace::default();
        c.record(FAST, false);
        assert!(!c.blocking());
    }
}
