//! `/forecast show` and `what-if` (and the digest's month forecast): open amounts weighted by
//! stage probability, and what changes when a stage converts better or deals get bigger.

use crate::domain::figures::ratio;
use crate::domain::money::{sum_minor, TotalOverflow};
use crate::domain::pipeline::{PipelineStats, StageTotal};
use crate::domain::stage::{Stage, StageKind};

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
    stages: &[Stage],
    by_stage: &[StageTotal],
) -> Result<Vec<ForecastStage>, TotalOverflow> {
    stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .map(|s| {
            Ok(ForecastStage {
                position: s.position,
                probability: s.probability,
                amount: sum_minor(
                    by_stage
                        .iter()
                        .filter(|t| t.stage_id == s.id)
                        .map(|t| t.amount),
                )?,
            })
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
/// this is the plain weighted forecast (half up per stage). A conversion change scales the
/// probability of that stage and every stage before it (their deals must pass through it) by
/// new/current, capped at 100%. Money is computed in `i128` (a deal size of +500% on a
/// workspace at its limits goes past `i64`), rounded half up per stage, and a figure that does
/// not fit `i64` is [`TotalOverflow`], never a wrapped or saturated number.
pub fn outlook(
    won: i64,
    stages: &[ForecastStage],
    what_if: &WhatIf,
) -> Result<Outlook, TotalOverflow> {
    // The probability in millionths of a percent: the rates are floats, the money is not.
    const SCALE: i128 = 1_000_000;
    let half_up = |n: i128, d: i128| (n + d / 2).div_euclid(d);
    // The what-if's deal size arrives as a fraction of a whole percent (0.1 for +10%).
    let size_percent = 100 + (what_if.deal_size * 100.0).round() as i128;
    let (mut weighted_sum, mut open) = (0i128, 0i128);
    for s in stages {
        let amount = half_up(i128::from(s.amount) * size_percent, 100);
        let mut p = f64::from(s.probability.clamp(0, 100));
        if let Some((position, current, new)) = what_if.conversion {
            if s.position <= position && current > 0.0 {
                p = (p * new / current).clamp(0.0, 100.0);
            }
        }
        let p = (p * SCALE as f64).round() as i128;
        weighted_sum += half_up(amount * p, 100 * SCALE);
        open += amount;
    }
    let fit = |v: i128| i64::try_from(v).map_err(|_| TotalOverflow);
    let won = i128::from(won);
    Ok(Outlook {
        weighted: fit(weighted_sum)?,
        expected: fit(won + weighted_sum)?,
        best_case: fit(won + open)?,
    })
}

/// A stage's conversion to the next as the what-if starts from: what `history` (a past
/// cohort's funnel) observed, else what the stage probabilities imply (next / this). `None`
/// when neither gives a rate above zero, since a change relative to zero means nothing.
pub fn current_conversion(history: &PipelineStats, stage: &Stage) -> Option<f64> {
    let line = history.stages.iter().position(|s| s.name == stage.name);
    let observed = line
        .and_then(|i| history.stages.get(i))
        .and_then(|s| s.conversion_to_next);
    let implied = line
        .and_then(|i| history.stages.get(i + 1))
        .and_then(|next| ratio(next.probability, stage.probability));
    observed.or(implied).filter(|c| *c > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::{compute, FurthestCount, PipelineInput};

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
        let now = outlook(50_000, &stages, &WhatIf::default()).unwrap();
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
        )
        .unwrap();
        assert_eq!(sim.weighted, 15_000 + 150_000 + 80_000);
        // Deals 10% larger.
        let sim = outlook(
            50_000,
            &stages,
            &WhatIf {
                conversion: None,
                deal_size: 0.1,
            },
        )
        .unwrap();
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
        )
        .unwrap();
        assert_eq!(sim.weighted, 50_000 + 200_000 + 100_000);
    }

    #[test]
    fn outlook_at_the_bounds_is_checked() {
        let at = |amount| ForecastStage {
            position: 1,
            probability: 100,
            amount,
        };
        // Ten million deals at the cap, half won and half open at 100%: it fits.
        let limit = 10_000_000 * crate::domain::money::MAX_MINOR;
        let o = outlook(limit / 2, &[at(limit / 2)], &WhatIf::default()).unwrap();
        assert_eq!(o.weighted, limit / 2);
        assert_eq!((o.expected, o.best_case), (limit, limit));
        // +500% on the same pipeline goes past i64: refused, not wrapped or saturated.
        let bigger = WhatIf {
            conversion: None,
            deal_size: 5.0,
        };
        assert_eq!(outlook(0, &[at(limit)], &bigger), Err(TotalOverflow));
        assert_eq!(
            outlook(i64::MAX, &[at(1)], &WhatIf::default()),
            Err(TotalOverflow)
        );
        let by_stage = [
            StageTotal {
                stage_id: 1,
                deals: 1,
                amount: i64::MAX,
            },
            StageTotal {
                stage_id: 1,
                deals: 1,
                amount: 1,
            },
        ];
        let stages = [Stage::new(1, "Lead", 1, 10, StageKind::Open)];
        assert_eq!(forecast_stages(&stages, &by_stage), Err(TotalOverflow));
    }

    #[test]
    fn forecast_stages_are_the_open_ones() {
        let stages = [
            Stage::new(1, "Lead", 1, 10, StageKind::Open),
            Stage::new(2, "Won", 2, 100, StageKind::Won),
        ];
        let by_stage = [
            StageTotal {
                stage_id: 1,
                deals: 2,
                amount: 300,
            },
            StageTotal {
                stage_id: 2,
                deals: 1,
                amount: 900,
            },
        ];
        assert_eq!(
            forecast_stages(&stages, &by_stage).unwrap(),
            vec![ForecastStage {
                position: 1,
                probability: 10,
                amount: 300,
            }]
        );
    }

    #[test]
    fn conversion_observed_else_implied() {
        let stages = [
            Stage::new(1, "Lead", 1, 10, StageKind::Open),
            Stage::new(2, "Qualified", 2, 25, StageKind::Open),
            Stage::new(3, "Won", 3, 100, StageKind::Won),
        ];
        let furthest = [
            FurthestCount {
                position: 1,
                deals: 3,
            },
            FurthestCount {
                position: 2,
                deals: 1,
            },
        ];
        let seen = compute(
            &stages,
            &PipelineInput {
                furthest_histogram: &furthest,
                ..PipelineInput::default()
            },
        )
        .unwrap();
        assert_eq!(current_conversion(&seen, &stages[0]), Some(0.25));
        // Nobody went on to Won: an observed 0 stands (the probabilities do not replace it),
        // and there is nothing to scale.
        assert_eq!(current_conversion(&seen, &stages[1]), None);
        let empty = compute(&stages, &PipelineInput::default()).unwrap();
        assert_eq!(current_conversion(&empty, &stages[0]), Some(2.5));
        assert_eq!(current_conversion(&empty, &stages[2]), None);
    }
}
