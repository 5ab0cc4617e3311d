//! The arithmetic behind the reports beyond the funnel: quotas over a period, trend buckets and
//! their change, customer segments from recency, frequency and monetary value, the forecast's
//! what-if, and the product lines people type. Pure: the store reads, this decides.

use crate::domain::money::{parse_amount, Amount, Currency, MoneyError};
use chrono::{Datelike, Days, Months, NaiveDate};

pub use super::figures::{percent_change as change, ratio};

/// Integer division rounded half up (away from zero for halves), in i128 so products of
/// amounts never overflow.
fn div_half_up(n: i128, d: i128) -> i64 {
    if d == 0 {
        return 0;
    }
    let q = (2 * n.abs() + d.abs()) / (2 * d.abs());
    (if (n < 0) != (d < 0) { -q } else { q }) as i64
}

fn days_in_month(first: NaiveDate) -> i64 {
    first
        .checked_add_months(Months::new(1))
        .map_or(31, |next| (next - first).num_days())
}

/// A monthly quota over the local days `[from, until)`: each calendar month contributes the
/// quota times the share of its days inside the period, so a month is exactly one quota, a
/// quarter three and a week its share of the month (or months) it falls in.
pub fn period_quota(monthly: i64, from: NaiveDate, until: NaiveDate) -> i64 {
    if until <= from {
        return 0;
    }
    // Sum day shares over a common denominator per month, rounding once at the end.
    let mut total_num: i128 = 0;
    let mut total_den: i128 = 1;
    let mut month = from.with_day(1).unwrap_or(from);
    while month < until {
        let next = month.checked_add_months(Months::new(1)).unwrap_or(until);
        let start = from.max(month);
        let end = until.min(next);
        let inside = (end - start).num_days() as i128;
        let len = days_in_month(month) as i128;
        // total_num / total_den + inside / len
        total_num = total_num * len + inside * total_den;
        total_den *= len;
        let g = gcd(total_num, total_den);
        if g > 1 {
            total_num /= g;
            total_den /= g;
        }
        month = next;
    }
    div_half_up(monthly as i128 * total_num, total_den)
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

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

/// A customer segment, from recency, frequency and monetary value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// Bought recently, often, and among the biggest spenders.
    Champions,
    /// Buys again and again, recently enough.
    Loyal,
    /// First bought within the last 90 days.
    New,
    /// Has not bought for a while (up to a year).
    AtRisk,
    /// Nothing for over a year.
    Dormant,
}

impl Segment {
    /// Every segment, in the order reports show them.
    pub const ALL: [Segment; 5] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::New,
        Segment::AtRisk,
        Segment::Dormant,
    ];

    /// Stable key for data and catalog lookups.
    pub fn key(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::New => "new",
            Segment::AtRisk => "at_risk",
            Segment::Dormant => "dormant",
        }
    }
}

/// One customer's purchase history as of a day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rfm {
    /// Days since the last won deal.
    pub recency_days: i64,
    /// Days since the first won deal.
    pub first_days: i64,
    /// Won deals.
    pub frequency: i64,
    /// Their total amount, minor units.
    pub monetary: i64,
}

/// The 75th percentile by nearest rank (`ceil(0.75 n)`-th smallest); 0 for no values.
pub fn p75(values: &[i64]) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let rank = (3 * n).div_ceil(4);
    sorted[rank.saturating_sub(1)]
}

/// The segment a customer is in; the first rule that matches wins, so the segments never
/// overlap and every customer is in one.
pub fn segment(c: &Rfm, p75_monetary: i64) -> Segment {
    if c.first_days <= 90 {
        Segment::New
    } else if c.recency_days <= 90 && c.frequency >= 3 && c.monetary >= p75_monetary {
        Segment::Champions
    } else if c.recency_days <= 180 && c.frequency >= 2 {
        Segment::Loyal
    } else if c.recency_days <= 365 {
        Segment::AtRisk
    } else {
        Segment::Dormant
    }
}

/// The `n` most common values with their counts, most common first, ties by value.
pub fn top_values<'a>(values: impl Iterator<Item = &'a str>, n: usize) -> Vec<(String, i64)> {
    let mut counts: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut out: Vec<(String, i64)> = counts
        .into_iter()
        .map(|(v, c)| (v.to_string(), c))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(n);
    out
}

/// One open stage as the forecast sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastStage {
    /// Position in the pipeline.
    pub position: i32,
    /// Win probability, percent.
    pub probability: i16,
    /// Open amount expected to close in the period, minor units.
    pub amount: i64,
}

/// The open stages with the amount expected to close in the period, from the per-stage totals
/// of those deals; the forecast and the digest weigh the same list.
pub fn forecast_stages(
    stages: &[crate::domain::stage::Stage],
    by_stage: &[crate::domain::pipeline::StageTotal],
) -> Vec<ForecastStage> {
    stages
        .iter()
        .filter(|s| s.kind == crate::domain::stage::StageKind::Open)
        .map(|s| ForecastStage {
            position: s.position,
            probability: s.probability,
            amount: by_stage
                .iter()
                .filter(|t| t.stage_id == s.id)
                .map(|t| t.amount)
                .sum(),
        })
        .collect()
}

/// A forecast's money figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outlook {
    /// Open amounts times their probability.
    pub weighted: i64,
    /// Won plus weighted.
    pub expected: i64,
    /// Won plus every open amount.
    pub best_case: i64,
}

/// What to change in a what-if.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WhatIf {
    /// The stage whose conversion changes (its position), with the current and the new
    /// conversion to the next stage.
    pub conversion: Option<(i32, f64, f64)>,
    /// Relative change of deal sizes, e.g. 0.1 for +10%.
    pub deal_size: f64,
}

/// The outlook from won money and the open stages, changed as `what_if` says. Without a change
/// this is the plain weighted forecast (integer arithmetic, half up per stage). A conversion
/// change scales the probability of that stage and every stage before it (their deals must pass
/// through it) by new/current, capped at 100%.
pub fn outlook(won: i64, stages: &[ForecastStage], what_if: &WhatIf) -> Outlook {
    let mut weighted = 0i64;
    let mut open = 0i64;
    let unchanged = what_if.conversion.is_none() && what_if.deal_size == 0.0;
    for s in stages {
        if unchanged {
            weighted += crate::domain::pipeline::weighted(s.amount, s.probability);
            open += s.amount;
            continue;
        }
        let amount = s.amount as f64 * (1.0 + what_if.deal_size);
        let mut p = f64::from(s.probability);
        if let Some((position, current, new)) = what_if.conversion {
            if s.position <= position && current > 0.0 {
                p = (p * new / current).min(100.0);
            }
        }
        weighted += (amount * p / 100.0 + 0.5).floor() as i64;
        open += (amount + 0.5).floor() as i64;
    }
    Outlook {
        weighted,
        expected: won + weighted,
        best_case: won + open,
    }
}

/// One product line as typed: `Widget x3 @1,200`.
#[derive(Clone, Debug, PartialEq)]
pub struct LineSpec {
    /// Product name as typed (matched against the catalogue later).
    pub name: String,
    /// Units, at least 1.
    pub quantity: i32,
    /// Unit price; the list price when absent.
    pub price: Option<Amount>,
}

/// Why a product list was not understood.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LineError {
    /// An entry has no product name.
    #[error("empty product entry")]
    Empty,
    /// The quantity is not a whole number from 1 to 100,000.
    #[error("bad quantity '{0}'")]
    Quantity(String),
    /// The price did not parse.
    #[error("bad price '{0}': {1}")]
    Price(String, MoneyError),
    /// More than 20 lines.
    #[error("too many lines")]
    TooMany,
    /// The same product twice.
    #[error("'{0}' is listed twice")]
    Repeated(String),
}

/// Most lines one deal may carry when typed in one go.
pub const MAX_LINES: usize = 20;

/// Parses `name [xN] [@price]` entries separated by `;`.
pub fn parse_lines(input: &str, currency: Currency) -> Result<Vec<LineSpec>, LineError> {
    let mut out: Vec<LineSpec> = Vec::new();
    for entry in input.split([';', '；']) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (head, price) = match entry.rsplit_once('@') {
            Some((h, p)) => {
                let p = p.trim();
                let amount =
                    parse_amount(p, currency).map_err(|e| LineError::Price(p.to_string(), e))?;
                (h.trim(), Some(amount))
            }
            None => (entry, None),
        };
        let (name, quantity) = match head.rsplit_once(|c: char| c.is_whitespace()) {
            Some((n, q)) if is_quantity(q) => (n.trim(), parse_quantity(q)?),
            _ => (head, 1),
        };
        if name.is_empty() {
            return Err(LineError::Empty);
        }
        if out.iter().any(|l| l.name.eq_ignore_ascii_case(name)) {
            return Err(LineError::Repeated(name.to_string()));
        }
        out.push(LineSpec {
            name: name.to_string(),
            quantity,
            price,
        });
        if out.len() > MAX_LINES {
            return Err(LineError::TooMany);
        }
    }
    if out.is_empty() {
        return Err(LineError::Empty);
    }
    Ok(out)
}

fn is_quantity(token: &str) -> bool {
    let t = token.trim_start_matches(['x', 'X', '×']);
    t.len() < token.len() && !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == ',')
}

fn parse_quantity(token: &str) -> Result<i32, LineError> {
    let digits: String = token
        .trim_start_matches(['x', 'X', '×'])
        .chars()
        .filter(|c| *c != ',')
        .collect();
    match digits.parse::<i32>() {
        Ok(q) if (1..=100_000).contains(&q) => Ok(q),
        _ => Err(LineError::Quantity(token.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn quotas_follow_calendar_months() {
        let q = 3_000_000; // 30,000.00 a month
        let cases = [
            ("2026-12-01", "2027-01-01", 3_000_000),         // a month
            ("2026-10-01", "2027-01-01", 9_000_000),         // a quarter
            ("2026-01-01", "2027-01-01", 36_000_000),        // a year
            ("2026-02-01", "2026-02-15", 1_500_000),         // half of February
            ("2026-11-30", "2026-12-07", 100_000 + 580_645), // 1/30 + 6/31, rounded once
            ("2026-12-07", "2026-12-07", 0),
        ];
        for (from, until, want) in cases {
            assert_eq!(period_quota(q, d(from), d(until)), want, "{from}..{until}");
        }
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
    fn percentile_by_nearest_rank() {
        assert_eq!(p75(&[]), 0);
        assert_eq!(p75(&[5]), 5);
        assert_eq!(p75(&[1, 2, 3, 4]), 3);
        assert_eq!(p75(&[4, 1, 3, 2, 5]), 4);
    }

    #[test]
    fn segments_by_rule_order() {
        let c = |r, f, n, m| Rfm {
            recency_days: r,
            first_days: f,
            frequency: n,
            monetary: m,
        };
        let p = 1000;
        let cases = [
            (c(10, 30, 5, 5000), Segment::New),
            (c(10, 400, 3, 1000), Segment::Champions),
            (c(10, 400, 3, 999), Segment::Loyal),
            (c(150, 400, 2, 10), Segment::Loyal),
            (c(100, 100, 1, 10), Segment::AtRisk),
            (c(365, 900, 9, 9000), Segment::AtRisk),
            (c(366, 900, 9, 9000), Segment::Dormant),
        ];
        for (rfm, want) in cases {
            assert_eq!(segment(&rfm, p), want, "{rfm:?}");
        }
    }

    #[test]
    fn common_values_most_frequent_first() {
        let v = ["b", "a", "b", "c", "a", "d"];
        assert_eq!(
            top_values(v.into_iter(), 3),
            vec![("a".into(), 2), ("b".into(), 2), ("c".into(), 1)]
        );
    }

    #[test]
    fn what_if_scales_the_stages_a_deal_must_pass() {
        let stages = [
            ForecastStage {
                position: 1,
                probability: 10,
                amount: 100_000,
            },
            ForecastStage {
                position: 3,
                probability: 50,
                amount: 200_000,
            },
            ForecastStage {
                position: 4,
                probability: 80,
                amount: 100_000,
            },
        ];
        let now = outlook(50_000, &stages, &WhatIf::default());
        assert_eq!(now.weighted, 10_000 + 100_000 + 80_000);
        assert_eq!(now.expected, 240_000);
        assert_eq!(now.best_case, 450_000);
        // Proposal (position 3) converting 60% instead of 40%: Lead and Proposal × 1.5.
        let sim = outlook(
            50_000,
            &stages,
            &WhatIf {
                conversion: Some((3, 0.4, 0.6)),
                deal_size: 0.0,
            },
        );
        assert_eq!(sim.weighted, 15_000 + 150_000 + 80_000);
        // Deals 10% larger.
        let sim = outlook(
            50_000,
            &stages,
            &WhatIf {
                conversion: None,
                deal_size: 0.1,
            },
        );
        assert_eq!(sim.weighted, 11_000 + 110_000 + 88_000);
        assert_eq!(sim.best_case, 50_000 + 440_000);
        // Capped at 100%.
        let sim = outlook(
            0,
            &stages,
            &WhatIf {
                conversion: Some((4, 0.2, 1.0)),
                deal_size: 0.0,
            },
        );
        assert_eq!(sim.weighted, 50_000 + 200_000 + 100_000);
    }

    #[test]
    fn product_lines_as_typed() {
        let usd = Currency::parse("USD").unwrap();
        let l = parse_lines("Widget Pro x3 @1,200; Support ;  Cable ×12", usd).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].name, "Widget Pro");
        assert_eq!(l[0].quantity, 3);
        assert_eq!(l[0].price.map(|p| p.minor()), Some(120_000));
        assert_eq!(
            (l[1].name.as_str(), l[1].quantity, l[1].price),
            ("Support", 1, None)
        );
        assert_eq!((l[2].name.as_str(), l[2].quantity), ("Cable", 12));
        // A name that merely ends in a word stays whole.
        assert_eq!(parse_lines("Box x", usd).unwrap()[0].name, "Box x");
        let bad = [
            ("", LineError::Empty),
            (" ; ", LineError::Empty),
            ("@5", LineError::Empty),
            ("Widget x0", LineError::Quantity("x0".into())),
            ("Widget x200000", LineError::Quantity("x200000".into())),
            ("A; a", LineError::Repeated("a".into())),
        ];
        for (input, want) in bad {
            assert_eq!(parse_lines(input, usd), Err(want), "{input}");
        }
        assert!(matches!(
            parse_lines("Widget @abc", usd),
            Err(LineError::Price(_, _))
        ));
    }
}
