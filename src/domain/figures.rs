//! The one home of the formulas every report, reply and digest shares, so a figure cannot be
//! computed two ways.

/// Won / (won + lost) among deals closed in a period; `None` when none closed.
pub fn win_rate(won: i64, lost: i64) -> Option<f64> {
    let closed = won + lost;
    (closed > 0).then(|| won as f64 / closed as f64)
}

/// The change from `before` to `now` as a share of `before`; `None` when `before` is zero
/// (a change from nothing has no percentage).
pub fn change_share(now: i64, before: i64) -> Option<f64> {
    (before != 0).then(|| (now - before) as f64 / before as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_changes() {
        assert_eq!(win_rate(1, 3), Some(0.25));
        assert_eq!(win_rate(0, 0), None);
        assert_eq!(change_share(150, 100), Some(0.5));
        assert_eq!(change_share(50, 100), Some(-0.5));
        assert_eq!(change_share(5, 0), None);
    }
}
