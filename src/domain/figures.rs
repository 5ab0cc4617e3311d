//! The few formulas every report shares, in one place so `/pipeline stats`, `/kpi`, the other
//! reports and the weekly digest can never disagree on what a win rate or an average is.
//! Each returns `None` where the figure is undefined, so a report shows "—" instead of NaN.

/// `numerator / denominator`, or `None` when the denominator is zero. Takes anything that
/// widens to `i128`, so a difference or sum handed in cannot wrap on the way.
pub fn ratio(numerator: impl Into<i128>, denominator: impl Into<i128>) -> Option<f64> {
    let (n, d) = (numerator.into(), denominator.into());
    (d != 0).then(|| n as f64 / d as f64)
}

/// Deals won over deals closed, `won / (won + lost)`; `None` when nothing closed.
pub fn win_rate(won: i64, lost: i64) -> Option<f64> {
    ratio(won, i128::from(won) + i128::from(lost))
}

/// The average deal, `total / count` in whole minor units rounded half up (as weighted amounts
/// are: 10 / 4 is 3, 10 / 3 is 3, 11 / 2 is 6); `None` for no deals. Stays integer because
/// amounts never touch floats; the average of amounts that fit `i64` fits too.
pub fn average_deal(total: i64, count: i64) -> Option<i64> {
    // |total / count| <= |total|, so the quotient fits.
    (count > 0).then(|| div_half_up(total.into(), count.into()) as i64)
}

/// Integer division rounded half up (away from zero for halves, so a negative value rounds
/// like its mirror), in `i128` so products of amounts never overflow; 0 for a zero divisor.
pub fn div_half_up(n: i128, d: i128) -> i128 {
    if d == 0 {
        return 0;
    }
    let q = (2 * n.abs() + d.abs()) / (2 * d.abs());
    if (n < 0) != (d < 0) {
        -q
    } else {
        q
    }
}

/// The relative change from `before` to `now`, `(now - before) / before` (0.5 for +50%);
/// `None` when there is nothing before to compare with.
pub fn percent_change(before: i64, now: i64) -> Option<f64> {
    ratio(i128::from(now) - i128::from(before), before)
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
        // Rounded half up, like weighted amounts.
        assert_eq!(average_deal(10, 3), Some(3));
        assert_eq!(average_deal(10, 4), Some(3));
        assert_eq!(average_deal(11, 2), Some(6));
        assert_eq!(average_deal(20, 3), Some(7));
        assert_eq!(average_deal(-11, 2), Some(-6));
        assert_eq!(percent_change(100, 150), Some(0.5));
        assert_eq!(percent_change(200, 100), Some(-0.5));
        assert_eq!(days(4 * 86_400 + 43_200), 4.5);
        assert_eq!(average_days(days(4 * 86_400 + 43_200), 4), Some(1.125));
    }

    #[test]
    fn figures_at_the_bounds_do_not_wrap() {
        assert_eq!(average_deal(i64::MAX, 1), Some(i64::MAX));
        assert_eq!(average_deal(i64::MAX, 2), Some(i64::MAX / 2 + 1));
        assert_eq!(average_deal(i64::MIN, 1), Some(i64::MIN));
        assert_eq!(win_rate(i64::MAX, i64::MAX), Some(0.5));
        assert_eq!(percent_change(i64::MAX, i64::MIN), Some(-2.0));
        assert_eq!(percent_change(-1, i64::MAX), Some(i64::MIN as f64));
    }
}
