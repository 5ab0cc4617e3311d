//! The pipeline figures, computed from aggregates the store reads. Pure, so the arithmetic
//! is tested without a database and the same code serves every report.

use crate::domain::figures::{average_days, average_deal, days, win_rate};
use crate::domain::money::{sum_minor, TotalOverflow};
use crate::domain::stage::{Stage, StageKind};

/// Deals in one stage and their amount: the open deals per stage for the funnel, or those
/// expected to close in a period for the forecast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTotal {
    /// The stage's id.
    pub stage_id: i64,
    /// Deals.
    pub deals: i64,
    /// Their amount, minor units.
    pub amount: i64,
}

/// How many deals of a cohort got no further than one stage position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FurthestCount {
    /// The furthest stage position reached.
    pub position: i32,
    /// Deals.
    pub deals: i64,
}

/// Stays in one stage that ended in a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStays {
    /// The stage's id.
    pub stage_id: i64,
    /// Stays (a deal moved back and forth stays twice).
    pub stays: i64,
    /// Their total length in seconds.
    pub seconds: i64,
}

/// One stage's line in the funnel.
#[derive(Clone, Debug, PartialEq)]
pub struct StageStats {
    /// Stage name.
    pub name: String,
    /// Win probability in percent.
    pub probability: i16,
    /// Open deals now in this stage.
    pub open_count: i64,
    /// Their amount, minor units.
    pub open_amount: i64,
    /// Amount times probability, minor units, rounded half up.
    pub weighted_amount: i64,
    /// Deals of the period's cohort that reached this stage or a later one.
    pub reached: i64,
    /// Share of those that reached the next stage; `None` when none reached this one.
    pub conversion_to_next: Option<f64>,
    /// Stays in this stage that ended in the period (a deal moved back and forth stays twice).
    pub stays: i64,
    /// Their average length in days; `None` without any.
    pub avg_days_in_stage: Option<f64>,
}

/// The whole pipeline report.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineStats {
    /// Open stages and the won stage, in order.
    pub stages: Vec<StageStats>,
    /// Open deals in all stages.
    pub open_count: i64,
    /// Their amount.
    pub open_amount: i64,
    /// Weighted forecast: the sum of the stages' weighted amounts.
    pub weighted_amount: i64,
    /// Won in the period.
    pub won_count: i64,
    /// Won amount.
    pub won_amount: i64,
    /// Lost in the period.
    pub lost_count: i64,
    /// Lost amount.
    pub lost_amount: i64,
    /// won / (won + lost); `None` when nothing closed.
    pub win_rate: Option<f64>,
    /// Average won deal, minor units; `None` when nothing was won.
    pub avg_won_amount: Option<i64>,
    /// Average days from open to won; `None` when nothing was won.
    pub avg_cycle_days: Option<f64>,
}

/// Aggregates the report is computed from.
#[derive(Clone, Debug, Default)]
pub struct PipelineInput<'a> {
    /// Open deals per stage.
    pub open_by_stage: &'a [StageTotal],
    /// The period's cohort by furthest position reached.
    pub furthest_histogram: &'a [FurthestCount],
    /// Won in the period: count, amount.
    pub won: (i64, i64),
    /// Lost in the period: count, amount.
    pub lost: (i64, i64),
    /// Sum of open-to-won days over the won deals.
    pub won_cycle_days_sum: f64,
    /// Stays ended in the period, per stage.
    pub stays: &'a [StageStays],
}

/// `amount * percent / 100`, rounded half up, without floats. The product is taken in `i128`,
/// and `percent` is a probability held to 0..=100, so the result is never larger than
/// `amount` and always fits.
pub fn weighted(amount: i64, percent: i16) -> i64 {
    let product = i128::from(amount) * i128::from(percent.clamp(0, 100));
    ((product + 50).div_euclid(100)) as i64
}

/// Computes the report. Lost stages are left out of the funnel: nobody progresses through them.
/// Money totals are checked: a total past `i64` is [`TotalOverflow`], never a wrapped figure.
pub fn compute(
    stages: &[Stage],
    input: &PipelineInput<'_>,
) -> Result<PipelineStats, TotalOverflow> {
    let funnel: Vec<&Stage> = stages
        .iter()
        .filter(|s| s.kind != StageKind::Lost)
        .collect();
    let reached_at = |position: i32| -> i64 {
        input
            .furthest_histogram
            .iter()
            .filter(|f| f.position >= position)
            .map(|f| f.deals)
            .sum()
    };
    let mut lines: Vec<StageStats> = funnel
        .iter()
        .map(|s| {
            let open = input
                .open_by_stage
                .iter()
                .find(|t| t.stage_id == s.id)
                .copied()
                .unwrap_or_default();
            let (count, amount) = (open.deals, open.amount);
            let stays = input
                .stays
                .iter()
                .find(|t| t.stage_id == s.id)
                .copied()
                .unwrap_or_default();
            StageStats {
                name: s.name.clone(),
                probability: s.probability,
                open_count: count,
                open_amount: amount,
                weighted_amount: if s.kind == StageKind::Open {
                    weighted(amount, s.probability)
                } else {
                    0
                },
                reached: reached_at(s.position),
                conversion_to_next: None,
                stays: stays.stays,
                avg_days_in_stage: average_days(days(stays.seconds), stays.stays),
            }
        })
        .collect();
    for i in 0..lines.len().saturating_sub(1) {
        let here = lines[i].reached;
        if here > 0 {
            lines[i].conversion_to_next = Some(lines[i + 1].reached as f64 / here as f64);
        }
    }
    let (won_count, won_amount) = input.won;
    let (lost_count, lost_amount) = input.lost;
    Ok(PipelineStats {
        open_count: lines.iter().map(|l| l.open_count).sum(),
        open_amount: sum_minor(lines.iter().map(|l| l.open_amount))?,
        weighted_amount: sum_minor(lines.iter().map(|l| l.weighted_amount))?,
        stages: lines,
        won_count,
        won_amount,
        lost_count,
        lost_amount,
        win_rate: win_rate(won_count, lost_count),
        avg_won_amount: average_deal(won_amount, won_count),
        avg_cycle_days: average_days(input.won_cycle_days_sum, won_count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_rounds_half_up() {
        let cases = [
            (100, 10, 10),
            (15, 10, 2),
            (14, 10, 1),
            (0, 50, 0),
            (1_000_000_000_000, 75, 750_000_000_000),
            // At the bounds: the product is taken in i128 and the result fits.
            (i64::MAX, 100, i64::MAX),
            (i64::MAX, 50, i64::MAX / 2 + 1),
            (i64::MAX, 1_000, i64::MAX),
        ];
        for (amount, pct, want) in cases {
            assert_eq!(weighted(amount, pct), want, "{amount} {pct}");
        }
    }

    #[test]
    fn funnel_by_hand() {
        let stages = vec![
            Stage::new(1, "Lead", 1, 10, StageKind::Open),
            Stage::new(2, "Qualified", 2, 25, StageKind::Open),
            Stage::new(3, "Won", 3, 100, StageKind::Won),
            Stage::new(4, "Lost", 4, 0, StageKind::Lost),
        ];
        // 10 deals: 4 stopped at Lead, 4 reached Qualified, 2 won.
        let open = |stage_id, deals, amount| StageTotal {
            stage_id,
            deals,
            amount,
        };
        let furthest = |position, deals| FurthestCount { position, deals };
        let stays = |stage_id, stays, seconds| StageStays {
            stage_id,
            stays,
            seconds,
        };
        let input = PipelineInput {
            open_by_stage: &[open(1, 3, 30_000), open(2, 2, 50_000)],
            furthest_histogram: &[furthest(1, 4), furthest(2, 4), furthest(3, 2)],
            won: (2, 40_000),
            lost: (6, 1),
            won_cycle_days_sum: 30.0,
            stays: &[stays(1, 4, 4 * 86_400 + 43_200), stays(2, 0, 0)],
        };
        let s = compute(&stages, &input).unwrap();
        assert_eq!(s.stages.len(), 3);
        assert_eq!(s.stages[0].reached, 10);
        assert_eq!(s.stages[1].reached, 6);
        assert_eq!(s.stages[2].reached, 2);
        assert_eq!(s.stages[0].conversion_to_next, Some(0.6));
        assert_eq!(s.stages[1].conversion_to_next, Some(2.0 / 6.0));
        assert_eq!(s.stages[2].conversion_to_next, None);
        assert_eq!(s.weighted_amount, 3_000 + 12_500);
        assert_eq!(s.win_rate, Some(0.25));
        assert_eq!(s.avg_won_amount, Some(20_000));
        assert_eq!(s.avg_cycle_days, Some(15.0));
        assert_eq!(s.stages[0].stays, 4);
        assert_eq!(s.stages[0].avg_days_in_stage, Some(1.125));
        assert_eq!(s.stages[1].avg_days_in_stage, None);
    }

    #[test]
    fn totals_past_i64_are_refused_not_wrapped() {
        let stages = vec![
            Stage::new(1, "Lead", 1, 10, StageKind::Open),
            Stage::new(2, "Qualified", 2, 25, StageKind::Open),
        ];
        let open = |stage_id, amount| StageTotal {
            stage_id,
            deals: 1,
            amount,
        };
        let input = PipelineInput {
            open_by_stage: &[open(1, i64::MAX), open(2, 1)],
            ..PipelineInput::default()
        };
        assert_eq!(compute(&stages, &input), Err(TotalOverflow));
    }

    #[test]
    fn empty_period_has_no_rates() {
        let stages = vec![Stage::new(1, "Lead", 1, 10, StageKind::Open)];
        let s = compute(&stages, &PipelineInput::default()).unwrap();
        assert_eq!(s.win_rate, None);
        assert_eq!(s.avg_cycle_days, None);
        assert_eq!(s.stages[0].conversion_to_next, None);
    }
}
