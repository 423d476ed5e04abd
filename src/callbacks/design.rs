//! The statistics of callbacks (docs/callbacks.md): what a verified callback says
//! about an interviewer, when to stop calling, and how many calls to draw. Pure
//! functions of counts.
//!
//! A callback that reaches someone is *verified*: it either confirms the interview
//! or fails it (the respondent denies it, or the number is wrong). Unreachable and
//! refused calls verify nothing. For an honest interviewer a verified callback fails
//! with probability p0 (forgetful respondents, mistyped numbers); for one who
//! fabricated a share φ of his questionnaires, with p1 = φ + (1 − φ)·p0 (a fabricated
//! questionnaire never confirms).

use serde::{Deserialize, Serialize};

use crate::estimators::binomial_at_least;

/// The callback design for a round: the hypotheses, the test and its sizes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Design {
    /// p0: the share of an honest interviewer's verified callbacks that fail.
    pub honest_failure: f64,
    /// φ: the fabricated share the design is sized to find.
    pub fabricated_share: f64,
    /// p1 = φ + (1 − φ)·p0.
    pub failing_share: f64,
    /// Flag when P(X ≥ failures | verified, p0) ≤ alpha (exact binomial test).
    pub alpha: f64,
    /// The chance of flagging an interviewer who fabricated φ of his work.
    pub power: f64,
    /// n*: the verified callbacks after which an interviewer not flagged is cleared
    /// (the smallest n whose exact test at alpha has the power against p1).
    pub verified_needed: u64,
    /// c*: the failures among n* that flag.
    pub failures_to_flag: u64,
    /// Confirmations in a row that clear an interviewer early (the sequential
    /// probability ratio test's lower bound, ln(β′/(1 − α)) with β′ = (1 − power)/2).
    pub confirmations_to_clear: u64,
    /// ρ: the share of calls that verify (reach someone who answers).
    pub reach_rate: f64,
}

/// Where an interviewer stands after his verified callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Nothing verified yet.
    NotVerified,
    /// Failures significantly above the honest baseline.
    Flagged,
    /// Enough confirmations: no more calls needed.
    Cleared,
    /// Neither yet: more calls needed.
    Open,
}

impl Standing {
    pub fn text_zh(self) -> &'static str {
        match self {
            Standing::NotVerified => "尚未核实",
            Standing::Flagged => "回访核实未通过",
            Standing::Cleared => "回访核实通过",
            Standing::Open => "需继续回访",
        }
    }
}

impl Design {
    /// The design for an honest failure share `p0`, a fabricated share `phi`, the
    /// test's `alpha` and `power`, and the reach rate `reach`.
    pub fn new(p0: f64, phi: f64, alpha: f64, power: f64, reach: f64) -> Design {
        let p1 = phi + (1.0 - phi) * p0;
        let mut n_star = 200;
        let mut c_star = 200;
        for n in 1..=200u64 {
            let c = critical(n, p0, alpha);
            if c <= n && binomial_at_least(n, p1, c) >= power {
                n_star = n;
                c_star = c;
                break;
            }
        }
        let mut d = Design {
            honest_failure: p0,
            fabricated_share: phi,
            failing_share: p1,
            alpha,
            power,
            verified_needed: n_star,
            failures_to_flag: c_star,
            confirmations_to_clear: 0,
            reach_rate: reach,
        };
        d.confirmations_to_clear = d.to_clear(0, 0).min(n_star);
        d
    }

    /// ln L(p1)/L(p0) after `verified` callbacks with `failed` failures.
    pub fn llr(&self, verified: u64, failed: u64) -> f64 {
        let (p0, p1) = (self.honest_failure, self.failing_share);
        failed as f64 * (p1 / p0).ln()
            + (verified - failed.min(verified)) as f64 * ((1.0 - p1) / (1.0 - p0)).ln()
    }

    /// The lower bound of the sequential test: ln(β′/(1 − α)), β′ = (1 − power)/2.
    pub fn lower(&self) -> f64 {
        ((1.0 - self.power) / 2.0 / (1.0 - self.alpha)).ln()
    }

    /// P(X ≥ failed | verified, p0): how often an honest interviewer fails this often.
    pub fn p_value(&self, verified: u64, failed: u64) -> f64 {
        binomial_at_least(verified, self.honest_failure, failed)
    }

    pub fn standing(&self, verified: u64, failed: u64) -> Standing {
        if verified == 0 {
            Standing::NotVerified
        } else if self.p_value(verified, failed) <= self.alpha {
            Standing::Flagged
        } else if self.llr(verified, failed) <= self.lower() || verified >= self.verified_needed {
            Standing::Cleared
        } else {
            Standing::Open
        }
    }

    /// Confirmations still needed to clear from (verified, failed).
    fn to_clear(&self, verified: u64, failed: u64) -> u64 {
        let step = ((1.0 - self.failing_share) / (1.0 - self.honest_failure)).ln();
        let gap = self.llr(verified, failed) - self.lower();
        if gap <= 0.0 || step >= 0.0 {
            0
        } else {
            (gap / -step).ceil() as u64
        }
    }

    /// Further verified callbacks an interviewer needs: none once flagged or cleared;
    /// otherwise as many as would clear him if all confirmed, at most up to n*.
    pub fn more_verified(&self, verified: u64, failed: u64) -> u64 {
        match self.standing(verified, failed) {
            Standing::Flagged | Standing::Cleared => 0,
            Standing::NotVerified | Standing::Open => self
                .to_clear(verified, failed)
                .min(self.verified_needed.saturating_sub(verified))
                .max(1),
        }
    }

    /// Calls that give `verified` verified callbacks at the reach rate, rounded up.
    pub fn calls_for(&self, verified: u64) -> u64 {
        if verified == 0 {
            return 0;
        }
        (verified as f64 / self.reach_rate.max(0.05)).ceil() as u64
    }
}

/// The smallest c with P(X ≥ c | n, p0) ≤ alpha (n + 1 when none).
pub fn critical(n: u64, p0: f64, alpha: f64) -> u64 {
    (0..=n)
        .find(|&c| binomial_at_least(n, p0, c) <= alpha)
        .unwrap_or(n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_design_by_hand() {
        // p0 = 0.05, φ = 0.5 → p1 = 0.525. At n = 8: c = 3 (P(X ≥ 3 | .05) = 0.0058),
        // power P(X ≥ 3 | .525) = 0.886 < 0.9; at n = 9: c = 3 (0.0084 ≤ 0.01), power
        // 1 − (.475⁹ + 9·.525·.475⁸ + 36·.525²·.475⁷) = 0.932.
        let d = Design::new(0.05, 0.5, 0.01, 0.9, 0.7);
        assert!((d.failing_share - 0.525).abs() < 1e-12);
        assert_eq!((d.verified_needed, d.failures_to_flag), (9, 3));
        // Each confirmation: ln(.475/.95) = −0.693; the bound ln(.05/.99) = −2.986:
        // five confirmations clear.
        assert_eq!(d.confirmations_to_clear, 5);
        assert_eq!(d.standing(5, 0), Standing::Cleared);
        assert_eq!(d.standing(4, 0), Standing::Open);
        // One failure alone is not proof; two of two are (P = .0025).
        assert_eq!(d.standing(1, 1), Standing::Open);
        assert_eq!(d.standing(2, 2), Standing::Flagged);
        assert_eq!(d.standing(9, 2), Standing::Cleared);
        assert_eq!(d.standing(9, 3), Standing::Flagged);
        assert_eq!(d.calls_for(5), 8);
        // After one failure in three: ln(10.5)·1 + 2·(−0.693) = 0.965; to the bound
        // 3.95/0.693 → 6 more, capped by n* − 3 = 6.
        assert_eq!(d.more_verified(3, 1), 6);
        assert_eq!(d.more_verified(2, 2), 0);
    }
}
