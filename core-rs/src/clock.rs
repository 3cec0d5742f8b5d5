//! The hybrid logical clock that stamps local writes.
//!
//! Invariants: issued states strictly increase (never repeat, never go backwards, even
//! when the wall clock does), and after observing a state the next issued state is
//! greater than it, so a write made after seeing another is ordered after it.
//! The engine has no clock of its own: the shell passes `now` into every call.

#[derive(Clone, Debug, Default)]
pub struct HybridClock {
    last: f64,
}

impl HybridClock {
    /// A fresh state for a local write: wall time when it has moved past everything
    /// seen, else the smallest float above the last state (GunDB adds 1/999 ms; the next
    /// representable float gives the most writes per millisecond before running ahead).
    pub fn issue(&mut self, now: f64) -> f64 {
        let next = if now > self.last { now } else { self.last.next_up() };
        self.last = next;
        next
    }

    /// Moves the clock past a state that was applied (so it is not in the future).
    pub fn observe(&mut self, state: f64) {
        if state > self.last {
            self.last = state;
        }
    }

    pub fn last(&self) -> f64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_strictly_increase_when_wall_clock_stalls_or_goes_back() {
        let mut clock = HybridClock::default();
        let a = clock.issue(1000.0);
        let b = clock.issue(1000.0);
        let c = clock.issue(999.0);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a, 1000.0);
        assert_eq!(clock.issue(2000.0), 2000.0);
    }

    #[test]
    fn observed_state_orders_later_writes_after_it() {
        let mut clock = HybridClock::default();
        clock.issue(1000.0);
        clock.observe(1500.5);
        let next = clock.issue(1200.0);
        assert!(next > 1500.5);
        clock.observe(10.0); // older states never move it back
        assert!(clock.issue(0.0) > next);
    }
}
