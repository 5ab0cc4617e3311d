//! The few formulas every report shares, in one place so `/pipeline stats`, `/kpi`, the other
//! reports and the weekly digest can never disagree on what a win rate or an average is.
//! Each returns `None` where the figure is undefined, so a report shows "—" instead of NaN.

/// `numerator / denominator`, or `None` when the denominator is zero.
pub fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

/// Deals won over deals closed, `won / (won + lost)`; `None` when nothing closed.
pub fn win_rate(won: i64, lost: i64) -> Option<f64> {
    ratio(won, won + lost)
}

/// The average deal, `total / count` in whole minor units (truncated, as integer division
/// does); `None` for no deals. Stays integer because amounts never touch floats.
pub fn average_deal(total: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| total / count)
}

/// The relative change from `before` to `now`, `(now - before) / before` (0.5 for +50%);
/// `None` when there is nothing before to compare with.
pub fn percent_change(before: i64, now: i64) -> Option<f64> {
    ratio(now - before, before)
}

/// Seconds as (fractional) days.
pub fn days(seconds: i64) -> f64 {
    seconds as f64 / 86_400.0
}

/// The average length in days of `count` spans that add up to `total_days`; `None` for none.
pub fn average_days(total_days: f64, count: i64) -> Option<f64> {
    (count > 0).then(|| total_days / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_figures_are_none() {
        assert_eq!(ratio(1, 0), None);
        assert_eq!(win_rate(0, 0), None);
        assert_eq!(average_deal(0, 0), None);
        assert_eq!(percent_change(0, 100), None);
        assert_eq!(average_days(0.0, 0), None);
    }

    #[test]
    fn figures_by_hand() {
        assert_eq!(win_rate(2, 6), Some(0.25));
        assert_eq!(win_rate(3, 0), Some(1.0));
        assert_eq!(average_deal(40_000, 2), Some(20_000));
        // Truncated, not rounded: the pipeline report has always shown it so.
        assert_eq!(average_deal(10, 3), Some(3));
        assert_eq!(percent_change(100, 150), Some(0.5));
        assert_eq!(percent_change(200, 100), Some(-0.5));
        assert_eq!(days(4 * 86_400 + 43_200), 4.5);
        assert_eq!(average_days(days(4 * 86_400 + 43_200), 4), Some(1.125));
    }
}
