//! Where a rules decision runs: on the request's own (async) thread, or on a blocking one.
//!
//! A decision of the standard module takes about 25 µs (BENCHMARKS.md). Handing it to
//! tokio's blocking pool and back (a queued task, a parked thread woken, the request's task
//! woken again) cost 7% of the server's samples during rules creates, against 10% for the
//! decisions themselves (issue 10 §8). So decisions run on the request's thread. But a decision may run up to its module's deadline (50 ms by
//! default), and meanwhile that thread serves nothing else: a module whose decision hits
//! its deadline, or takes longer than [`SLOW`] [`SLOW_IN_A_ROW`] times in a row (once may
//! be the thread being preempted on a busy machine), has its decisions run on blocking
//! threads from then on. Modules are told apart by content hash, so a fixed module that
//! replaces a slow one runs inline again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::rules::types::{Decisions, RuleInput};
use crate::rules::{LoadedModule, RuleFailure, RulesEngine, RulesError};

/// A decision longer than this counts as slow.
pub(super) const SLOW: Duration = Duration::from_millis(2);
/// Slow decisions in a row after which a module's decisions leave the async threads.
pub(super) const SLOW_IN_A_ROW: u32 = 3;

/// Each module's recent pace, by content hash.
#[derive(Default)]
pub(super) struct DecisionPace {
    modules: Mutex<HashMap<String, Pace>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Pace {
    slow_in_a_row: u32,
    blocking: bool,
}

impl Pace {
    fn record(&mut self, took: Duration, hit_deadline: bool) {
        self.slow_in_a_row = if took > SLOW { self.slow_in_a_row + 1 } else { 0 };
        if hit_deadline || self.slow_in_a_row >= SLOW_IN_A_ROW {
            self.blocking = true;
        }
    }
}

impl DecisionPace {
    /// Runs one decision of `module`: on this thread, or on a blocking thread for a module
    /// known to be slow.
    ///
    /// # Errors
    /// The blocking task failed (it panicked, or the runtime is shutting down).
    pub(super) async fn decide(
        &self,
        engine: &Arc<RulesEngine>,
        module: Arc<LoadedModule>,
        input: RuleInput,
    ) -> Result<Result<Decisions, RulesError>, tokio::task::JoinError> {
        let hash = &module.id().hash;
        if !self.blocking(hash) {
            let started = Instant::now();
            let result = engine.decide(&module, &input);
            let hit_deadline = matches!(&result, Err(RulesError { cause: RuleFailure::Deadline(_), .. }));
            self.record(hash, started.elapsed(), hit_deadline);
            return Ok(result);
        }
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || engine.decide(&module, &input)).await
    }

    fn blocking(&self, hash: &str) -> bool {
        self.lock().get(hash).is_some_and(|p| p.blocking)
    }

    fn record(&self, hash: &str, took: Duration, hit_deadline: bool) {
        let mut modules = self.lock();
        match modules.get_mut(hash) {
            Some(pace) => pace.record(took, hit_deadline),
            None => {
                let mut pace = Pace::default();
                pace.record(took, hit_deadline);
                modules.insert(hash.to_owned(), pace);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pace>> {
        self.modules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_micros(25);
    const LONG: Duration = Duration::from_millis(5);

    #[test]
    fn a_module_leaves_the_async_threads_after_a_deadline_or_a_run_of_slow_decisions() {
        let pace = DecisionPace::default();
        // One or two slow decisions (a preempted thread) are forgiven by a fast one.
        pace.record("a", LONG, false);
        pace.record("a", LONG, false);
        pace.record("a", FAST, false);
        pace.record("a", LONG, false);
        pace.record("a", LONG, false);
        assert!(!pace.blocking("a"));
        // The third slow one in a row is not.
        pace.record("a", LONG, false);
        assert!(pace.blocking("a"));
        // And it stays so, however fast its later decisions.
        pace.record("a", FAST, false);
        assert!(pace.blocking("a"));
        // A deadline is enough at once; other modules are not affected.
        pace.record("b", LONG, true);
        assert!(pace.blocking("b"));
        pace.record("c", FAST, false);
        assert!(!pace.blocking("c"));
        assert!(!pace.blocking("unknown"));
    }
}
