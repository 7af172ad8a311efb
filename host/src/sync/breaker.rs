//! The deprovisioning circuit breaker's window: how many people an app disabled or deleted
//! in Confluence lately, and whether one more may go.
//!
//! A stolen token or a misconfigured identity provider can disable everyone in minutes.
//! Each app counts its deprovisioning operations (`Op::SetActive { active: false }` and
//! `Op::DeleteUser`) over a sliding window; once the count would pass the threshold, the
//! next ones are held for an administrator's approval (see [`super::outbox::Outbox::hold`]).
//! The threshold is the larger of `max_deprovisions` and `max_share` of the app's people,
//! so a small app is not tripped by a normal leavers' day and a large one still is by a
//! mass deletion.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::plan::Op;

/// Whether an operation takes someone's access away: a disable or a delete.
pub fn is_deprovision(op: &Op) -> bool {
    matches!(op, Op::SetActive { active: false, .. } | Op::DeleteUser { .. })
}

/// How an app's breaker trips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Off: nothing is ever held.
    pub enabled: bool,
    /// Deprovisions allowed in one window, at least.
    pub max_deprovisions: usize,
    /// Or this share of the app's people, when that is more.
    pub max_share: f64,
    pub window: Duration,
}

impl Default for BreakerSettings {
    /// On, 50 or 10 % of the app's people (whichever is larger) in 10 minutes.
    fn default() -> Self {
        BreakerSettings { enabled: true, max_deprovisions: 50, max_share: 0.10, window: Duration::from_secs(600) }
    }
}

impl BreakerSettings {
    /// The deprovisions allowed in one window for an app of `people` people.
    pub fn threshold(&self, people: usize) -> usize {
        let share = (self.max_share.clamp(0.0, 1.0) * people as f64).floor() as usize;
        self.max_deprovisions.max(share)
    }
}

/// The recent deprovisions of one app. Bounded: it never keeps more instants than the
/// threshold allows, since one more is refused anyway.
#[derive(Debug, Default)]
pub struct Window {
    settings: BreakerSettings,
    recent: VecDeque<Instant>,
}

impl Window {
    pub fn new(settings: BreakerSettings) -> Window {
        Window { settings, recent: VecDeque::new() }
    }

    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    fn expire(&mut self, now: Instant) {
        while self.recent.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.settings.window) {
            self.recent.pop_front();
        }
    }

    /// Whether one more deprovision may go now for an app of `people` people; if so it is
    /// counted.
    pub fn admit(&mut self, now: Instant, people: usize) -> bool {
        if !self.settings.enabled {
            return true;
        }
        self.expire(now);
        if self.recent.len() >= self.settings.threshold(people) {
            return false;
        }
        self.recent.push_back(now);
        true
    }

    /// Forgets the `n` newest admissions (their change was not stored after all).
    pub fn refund(&mut self, n: usize) {
        for _ in 0..n {
            self.recent.pop_back();
        }
    }

    /// Deprovisions counted in the window now.
    pub fn count(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.recent.len()
    }

    /// Starts a new window (an administrator approved what was held).
    pub fn reset(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: usize, share: f64) -> BreakerSettings {
        BreakerSettings { enabled: true, max_deprovisions: max, max_share: share, window: Duration::from_secs(600) }
    }

    #[test]
    fn the_threshold_is_the_larger_of_the_count_and_the_share() {
        let s = BreakerSettings::default();
        assert_eq!(s.threshold(0), 50);
        assert_eq!(s.threshold(400), 50);
        assert_eq!(s.threshold(2_000), 200);
        assert_eq!(settings(3, 0.5).threshold(9), 4);
        assert_eq!(settings(3, 7.0).threshold(9), 9, "a share above 1 means everyone");
    }

    #[test]
    fn deprovisions_past_the_threshold_in_the_window_are_refused_until_it_slides() {
        let mut w = Window::new(settings(3, 0.0));
        let t0 = Instant::now();
        assert!((0..3).all(|i| w.admit(t0 + Duration::from_secs(i), 10)));
        assert!(!w.admit(t0 + Duration::from_secs(5), 10), "the fourth in ten minutes is held");
        assert_eq!(w.count(t0 + Duration::from_secs(5)), 3, "a refusal is not counted");
        // The first leaves the window at t0 + 600 s: one more may go, then none.
        let later = t0 + Duration::from_secs(600);
        assert!(w.admit(later, 10));
        assert!(!w.admit(later, 10));
        w.refund(1);
        assert!(w.admit(later, 10), "a refunded admission frees its place");
        w.reset();
        assert_eq!(w.count(later), 0);
    }

    #[test]
    fn a_larger_app_may_lose_more_and_a_disabled_breaker_holds_nothing() {
        let mut w = Window::new(settings(2, 0.1));
        let now = Instant::now();
        assert_eq!((0..40).filter(|_| w.admit(now, 300)).count(), 30);
        let mut off = Window::new(BreakerSettings { enabled: false, ..settings(0, 0.0) });
        assert!((0..1000).all(|_| off.admit(now, 1)));
        assert_eq!(off.count(now), 0, "nothing is kept when off");
    }
}
