//! Phase timings for the benchmark (`MANYI_TIMINGS=1`).

/// Wall time per phase of a command, printed to stderr when MANYI_TIMINGS is set (for
/// the benchmark in docs/performance.md).
pub struct Phases {
    start: std::time::Instant,
    last: std::time::Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn new() -> Phases {
        let now = std::time::Instant::now();
        Phases {
            start: now,
            last: now,
            laps: Vec::new(),
        }
    }

    pub fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }

    /// Prints the laps, labelled `what` (a file, a command).
    pub fn report(&self, what: &str) {
        if std::env::var_os("MANYI_TIMINGS").is_none() {
            return;
        }
        let laps: Vec<String> = self
            .laps
            .iter()
            .map(|(n, t)| format!("{n} {t:.3} s"))
            .collect();
        eprintln!(
            "timings {what}: {}; total {:.3} s",
            laps.join(", "),
            self.start.elapsed().as_secs_f64()
        );
    }
}

impl Default for Phases {
    fn default() -> Phases {
        Phases::new()
    }
}
