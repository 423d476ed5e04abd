//! Estimators as pure functions on slices; each doc comment gives its formula.

/// Respondent score = Σ w_k x_k / Σ w_k over the answered items k.
/// `answers[k]` is the item's score x_k (None = not answered). Returns None when no
/// item was answered.
pub fn respondent_score(answers: impl Iterator<Item = (f64, Option<f64>)>) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (w, x) in answers {
        if let Some(x) = x {
            num += w * x;
            den += w;
        }
    }
    (den > 0.0).then(|| num / den)
}

/// Arithmetic mean; None for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample variance s² = Σ (x − x̄)² / (n − 1); None when n < 2.
pub fn sample_variance(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    Some(xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64)
}

/// Median (mean of the two middle values for an even count); None when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respondent_score_reweights_over_answered_items() {
        // Weights 0.1, 0.2, 0.7; the third not answered: (0.1·100 + 0.2·60) / 0.3.
        let s = respondent_score([(0.1, Some(100.0)), (0.2, Some(60.0)), (0.7, None)].into_iter())
            .unwrap();
        assert!((s - 22.0 / 0.3).abs() < 1e-12);
        assert_eq!(respondent_score([(1.0, None)].into_iter()), None);
    }

    #[test]
    fn variance_and_median_match_hand_values() {
        assert_eq!(
            sample_variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            Some(32.0 / 7.0)
        );
        assert_eq!(sample_variance(&[1.0]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
