//! `/kpi` lines: a member's (or the team's) sums over a period, the figures derived from them,
//! and the monthly quota pro-rated over the period.

use crate::domain::figures::{average_days, average_deal, days, div_half_up, ratio, win_rate};
use crate::domain::money::{add_minor, TotalOverflow};
use chrono::{Datelike, Months, NaiveDate};
use std::collections::BTreeMap;

fn days_in_month(first: NaiveDate) -> i64 {
    first
        .checked_add_months(Months::new(1))
        .map_or(31, |next| (next - first).num_days())
}

/// A monthly quota over the local days `[from, until)`: each calendar month contributes the
/// quota times the share of its days inside the period, so a month is exactly one quota, a
/// quarter three and a week its share of the month (or months) it falls in.
pub fn period_quota(monthly: i64, from: NaiveDate, until: NaiveDate) -> Result<i64, TotalOverflow> {
    if until <= from {
        return Ok(0);
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
    // New quotas are held to the cap, under which any period of fewer than 18 million months
    // fits; a quota stored before the cap (which was added NOT VALID) may not.
    i64::try_from(div_half_up(monthly as i128 * total_num, total_den)).map_err(|_| TotalOverflow)
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A member's quota over a period, from their monthly quota; `None` without a monthly quota
/// or for an open-ended period ("all time" has no quota to measure against).
pub fn quota_over(
    monthly: Option<i64>,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> Result<Option<i64>, TotalOverflow> {
    match (monthly, from, until) {
        (Some(q), Some(from), Some(until)) => period_quota(q, from, until).map(Some),
        _ => Ok(None),
    }
}

/// How much of the quota `amount` is (1.0 = met); `None` without a quota or for a zero one.
pub fn attainment(amount: i64, quota: Option<i64>) -> Option<f64> {
    quota.and_then(|q| ratio(amount, q))
}

/// What a KPI line is computed from: one member's (or the team's) sums over the period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KpiTotals {
    /// Won amount, minor units.
    pub revenue: i64,
    /// Deals won.
    pub won_count: i64,
    /// Deals lost.
    pub lost_count: i64,
    /// Seconds from open to won, summed over the won deals.
    pub cycle_seconds: i64,
    /// Activities logged, per kind.
    pub activities: BTreeMap<String, i64>,
    /// Satisfaction scores given, summed.
    pub satisfaction_sum: i64,
    /// Scores given.
    pub satisfaction_count: i64,
    /// Deals created.
    pub new_pipeline_count: i64,
    /// Their amount, minor units.
    pub new_pipeline_amount: i64,
    /// The quota for the period; `None` without one.
    pub quota: Option<i64>,
}

/// The figures a KPI line shows beyond its sums.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KpiFigures {
    /// won / (won + lost).
    pub win_rate: Option<f64>,
    /// Average won deal, minor units.
    pub avg_deal: Option<i64>,
    /// Average days from open to won.
    pub avg_cycle_days: Option<f64>,
    /// All activities.
    pub activities_total: i64,
    /// Mean satisfaction score given.
    pub avg_satisfaction: Option<f64>,
    /// revenue / quota.
    pub quota_attainment: Option<f64>,
}

impl KpiTotals {
    /// Adds another line's sums, for the team line. Quotas add up over the members that have
    /// one; the team has none when nobody has.
    /// Money is added checked: a team total past `i64` is [`TotalOverflow`].
    pub fn add(&mut self, other: &KpiTotals) -> Result<(), TotalOverflow> {
        self.revenue = add_minor(self.revenue, other.revenue)?;
        self.won_count += other.won_count;
        self.lost_count += other.lost_count;
        self.cycle_seconds += other.cycle_seconds;
        for (k, n) in &other.activities {
            *self.activities.entry(k.clone()).or_default() += n;
        }
        self.satisfaction_sum += other.satisfaction_sum;
        self.satisfaction_count += other.satisfaction_count;
        self.new_pipeline_count += other.new_pipeline_count;
        self.new_pipeline_amount = add_minor(self.new_pipeline_amount, other.new_pipeline_amount)?;
        if let Some(q) = other.quota {
            self.quota = Some(add_minor(self.quota.unwrap_or(0), q)?);
        }
        Ok(())
    }

    /// The derived figures.
    pub fn figures(&self) -> KpiFigures {
        KpiFigures {
            win_rate: win_rate(self.won_count, self.lost_count),
            avg_deal: average_deal(self.revenue, self.won_count),
            avg_cycle_days: average_days(days(self.cycle_seconds), self.won_count),
            activities_total: self.activities.values().sum(),
            avg_satisfaction: ratio(self.satisfaction_sum, self.satisfaction_count),
            quota_attainment: attainment(self.revenue, self.quota),
        }
    }

    /// Whether anything happened in the period (a quota alone is not a figure).
    pub fn has_figures(&self) -> bool {
        self.won_count != 0
            || self.lost_count != 0
            || self.activities.values().any(|n| *n != 0)
            || self.new_pipeline_count != 0
    }

    /// Whether the line has nothing to show at all, not even a quota: the leaderboard leaves
    /// such members out.
    pub fn is_blank(&self) -> bool {
        self.quota.is_none() && !self.has_figures()
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
            assert_eq!(
                period_quota(q, d(from), d(until)),
                Ok(want),
                "{from}..{until}"
            );
        }
    }

    #[test]
    fn a_quota_from_before_the_cap_overflows_a_year_as_an_error_not_a_wrap() {
        let year = (d("2026-01-01"), d("2027-01-01"));
        assert_eq!(
            period_quota(1_000_000_000_000_000_000, year.0, year.1),
            Err(TotalOverflow)
        );
        assert_eq!(
            period_quota(i64::MAX, year.0, d("2026-02-01")),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn no_quota_without_a_monthly_one_or_a_bounded_period() {
        let (from, until) = (Some(d("2026-12-01")), Some(d("2027-01-01")));
        assert_eq!(
            quota_over(Some(3_000_000), from, until),
            Ok(Some(3_000_000))
        );
        assert_eq!(quota_over(None, from, until), Ok(None));
        assert_eq!(quota_over(Some(3_000_000), None, until), Ok(None));
        assert_eq!(attainment(1_500_000, Some(3_000_000)), Some(0.5));
        assert_eq!(attainment(1_500_000, Some(0)), None);
        assert_eq!(attainment(1_500_000, None), None);
    }

    #[test]
    fn kpi_lines_add_up_to_the_team() {
        let ann = KpiTotals {
            revenue: 30_000,
            won_count: 2,
            lost_count: 6,
            cycle_seconds: 3 * 86_400,
            activities: [("call".to_string(), 3)].into_iter().collect(),
            satisfaction_sum: 9,
            satisfaction_count: 2,
            quota: Some(60_000),
            ..KpiTotals::default()
        };
        let bob = KpiTotals {
            new_pipeline_count: 1,
            new_pipeline_amount: 5_000,
            ..KpiTotals::default()
        };
        let f = ann.figures();
        assert_eq!(f.win_rate, Some(0.25));
        assert_eq!(f.avg_deal, Some(15_000));
        assert_eq!(f.avg_cycle_days, Some(1.5));
        assert_eq!(f.activities_total, 3);
        assert_eq!(f.avg_satisfaction, Some(4.5));
        assert_eq!(f.quota_attainment, Some(0.5));
        assert_eq!(bob.figures(), KpiFigures::default());
        assert!(bob.has_figures());
        assert!(KpiTotals::default().is_blank());
        let mut team = KpiTotals::default();
        team.add(&ann).unwrap();
        team.add(&bob).unwrap();
        assert_eq!(team.quota, Some(60_000));
        assert_eq!(team.new_pipeline_amount, 5_000);
        assert_eq!(team.figures().win_rate, Some(0.25));
    }
}
