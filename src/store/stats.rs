//! The raw numbers behind `/pipeline stats`, aggregated in SQL so a large workspace never
//! crosses the wire row by row.

use super::{StoreResult, Tx};
use chrono::{DateTime, Utc};

/// Deals closed in a period, per outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClosedStats {
    /// Deals won.
    pub won_count: i64,
    /// Their amount, minor units.
    pub won_amount: i64,
    /// Deals lost.
    pub lost_count: i64,
    /// Their amount, minor units.
    pub lost_amount: i64,
    /// Sum of days from open to won, over won deals, for the average cycle.
    pub won_cycle_days_sum: f64,
}

/// Everything the pipeline report is computed from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineRaw {
    /// (stage id, open deal count, open amount) for stages with open deals.
    pub open_by_stage: Vec<(i64, i64, i64)>,
    /// (furthest position, deal count) among deals opened in the period.
    pub furthest_histogram: Vec<(i32, i64)>,
    /// Closed in the period.
    pub closed: ClosedStats,
}

impl Tx {
    /// Reads the pipeline aggregates for one workspace, optionally one owner, over
    /// `[from, to)` (`from = None` for all time).
    pub async fn pipeline_raw(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<PipelineRaw> {
        let open_by_stage = sqlx::query_as(
            "SELECT stage_id, count(*), COALESCE(sum(amount_minor), 0)::bigint FROM deals
             WHERE workspace_id = $1 AND status = 'open' AND ($2::bigint IS NULL OR owner_id = $2)
             GROUP BY stage_id",
        )
        .bind(ws)
        .bind(owner)
        .fetch_all(self.conn())
        .await?;
        let furthest_histogram = sqlx::query_as(
            "SELECT furthest_position, count(*) FROM deals
             WHERE workspace_id = $1 AND ($2::bigint IS NULL OR owner_id = $2)
               AND ($3::timestamptz IS NULL OR created_at >= $3) AND created_at < $4
             GROUP BY furthest_position",
        )
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(self.conn())
        .await?;
        let rows: Vec<(String, i64, i64, f64)> = sqlx::query_as(
            "SELECT status, count(*), COALESCE(sum(amount_minor), 0)::bigint,
                    COALESCE(sum(extract(epoch FROM closed_at - created_at) / 86400.0), 0)::float8
             FROM deals
             WHERE workspace_id = $1 AND status IN ('won', 'lost') AND ($2::bigint IS NULL OR owner_id = $2)
               AND ($3::timestamptz IS NULL OR closed_at >= $3) AND closed_at < $4
             GROUP BY status",
        )
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(self.conn())
        .await?;
        let mut closed = ClosedStats::default();
        for (status, count, amount, days) in rows {
            if status == "won" {
                closed.won_count = count;
                closed.won_amount = amount;
                closed.won_cycle_days_sum = days;
            } else {
                closed.lost_count = count;
                closed.lost_amount = amount;
            }
        }
        Ok(PipelineRaw {
            open_by_stage,
            furthest_histogram,
            closed,
        })
    }
}
