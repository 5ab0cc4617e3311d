//! `/report trends`: a period cut into weeks or months, each bucket with its change against
//! the one before.

use crate::domain::figures::percent_change;
use chrono::{Datelike, Days, Months, NaiveDate};
use std::collections::BTreeMap;

/// How a trend splits its period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucketing {
    /// ISO weeks, Monday first.
    Week,
    /// Calendar months.
    Month,
}

impl Bucketing {
    /// The choice value: `week` or `month`.
    pub fn parse(s: &str) -> Option<Bucketing> {
        match s {
            "week" => Some(Bucketing::Week),
            "month" => Some(Bucketing::Month),
            _ => None,
        }
    }

    /// The choice value.
    pub fn key(self) -> &'static str {
        match self {
            Bucketing::Week => "week",
            Bucketing::Month => "month",
        }
    }

    /// The start of the bucket `day` is in.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Bucketing::Week => day - Days::new(day.weekday().num_days_from_monday() as u64),
            Bucketing::Month => day.with_day(1).unwrap_or(day),
        }
    }

    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Bucketing::Week => start.checked_add_days(Days::new(7)),
            Bucketing::Month => start.checked_add_months(Months::new(1)),
        }
    }
}

/// The buckets `[start, end)` covering the local days `[from, until)`, the first and last
/// clipped to the period; `None` when there would be more than `max`.
pub fn buckets(
    from: NaiveDate,
    until: NaiveDate,
    by: Bucketing,
    max: usize,
) -> Option<Vec<(NaiveDate, NaiveDate)>> {
    let mut out = Vec::new();
    let mut start = from;
    while start < until {
        if out.len() == max {
            return None;
        }
        let end = by
            .next(by.start_of(start))
            .map_or(until, |next| next.min(until));
        out.push((start, end));
        start = end;
    }
    Some(out)
}

/// One bucket's sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketTotals {
    /// Deals won.
    pub won_count: i64,
    /// Their amount, minor units.
    pub won_amount: i64,
    /// Deals created.
    pub created_count: i64,
    /// Their amount, minor units.
    pub created_amount: i64,
}

/// One bucket of a trend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrendPoint {
    /// First local day.
    pub start: NaiveDate,
    /// Day after the last one.
    pub end: NaiveDate,
    /// What happened in it.
    pub totals: BucketTotals,
    /// Won amount against the previous bucket; `None` for the first or after zero.
    pub revenue_change: Option<f64>,
    /// Created amount against the previous bucket.
    pub pipeline_change: Option<f64>,
}

/// The trend over `spans` (from [`buckets`]). Totals are keyed by the start of the whole
/// bucket, as the store groups them, since the first span may start mid-bucket; a bucket
/// without totals had nothing happen.
pub fn trend(
    spans: &[(NaiveDate, NaiveDate)],
    by: Bucketing,
    totals: &BTreeMap<NaiveDate, BucketTotals>,
) -> Vec<TrendPoint> {
    let mut out: Vec<TrendPoint> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        let t = totals
            .get(&by.start_of(*start))
            .copied()
            .unwrap_or_default();
        let prev = out.last().map(|p| p.totals);
        out.push(TrendPoint {
            start: *start,
            end: *end,
            totals: t,
            revenue_change: prev.and_then(|p| percent_change(p.won_amount, t.won_amount)),
            pipeline_change: prev.and_then(|p| percent_change(p.created_amount, t.created_amount)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{change, ratio};
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn change_needs_a_previous_value() {
        assert_eq!(change(0, 100), None);
        assert_eq!(change(100, 150), Some(0.5));
        assert_eq!(change(200, 100), Some(-0.5));
        assert_eq!(ratio(1, 0), None);
    }

    #[test]
    fn buckets_are_clipped_to_the_period() {
        // 2026-11-25 is a Wednesday.
        let b = buckets(d("2026-11-25"), d("2026-12-10"), Bucketing::Week, 60).unwrap();
        assert_eq!(
            b,
            vec![
                (d("2026-11-25"), d("2026-11-30")),
                (d("2026-11-30"), d("2026-12-07")),
                (d("2026-12-07"), d("2026-12-10")),
            ]
        );
        let b = buckets(d("2026-10-01"), d("2027-01-01"), Bucketing::Month, 60).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[2], (d("2026-12-01"), d("2027-01-01")));
        assert_eq!(
            buckets(d("2020-01-01"), d("2026-01-01"), Bucketing::Week, 60),
            None
        );
        assert_eq!(
            buckets(d("2026-01-01"), d("2026-01-01"), Bucketing::Week, 60),
            Some(vec![])
        );
    }

    #[test]
    fn trend_changes_against_the_bucket_before() {
        let spans = buckets(d("2026-11-25"), d("2026-12-10"), Bucketing::Week, 60).unwrap();
        let won = |won_amount| BucketTotals {
            won_count: 1,
            won_amount,
            ..BucketTotals::default()
        };
        // Keyed by the whole week's Monday, though the first span starts on a Wednesday.
        let totals = [(d("2026-11-23"), won(100)), (d("2026-11-30"), won(150))]
            .into_iter()
            .collect();
        let t = trend(&spans, Bucketing::Week, &totals);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].totals.won_amount, 100);
        assert_eq!(t[0].revenue_change, None);
        assert_eq!(t[1].revenue_change, Some(0.5));
        assert_eq!(t[1].pipeline_change, None);
        assert_eq!(t[2].totals, BucketTotals::default());
        assert_eq!(t[2].revenue_change, Some(-1.0));
    }
}
