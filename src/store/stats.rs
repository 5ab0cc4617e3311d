//! The raw numbers behind `/pipeline stats` and `/kpi`. Whole UTC days inside the period come
//! from the running totals the `deal_totals` trigger keeps (migration 3); the partial days at
//! the period's edges (a workspace in another time zone) come from the deals themselves.
//! Either way it is aggregated in SQL, so a large workspace never crosses the wire row by row.

use super::{StoreResult, Tx};
use crate::domain::figures::days;
use crate::domain::money::add_minor;
use crate::domain::pipeline::{FurthestCount, PipelineInput, StageStays, StageTotal};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

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
    /// Open deals per stage, for stages with open deals.
    pub open_by_stage: Vec<StageTotal>,
    /// Deals opened in the period by the furthest position they reached.
    pub furthest_histogram: Vec<FurthestCount>,
    /// Closed in the period.
    pub closed: ClosedStats,
}

impl PipelineRaw {
    /// The funnel arithmetic's input, without days in stage (callers that show them add the
    /// stays they read).
    pub fn input(&self) -> PipelineInput<'_> {
        PipelineInput {
            open_by_stage: &self.open_by_stage,
            furthest_histogram: &self.furthest_histogram,
            won: (self.closed.won_count, self.closed.won_amount),
            lost: (self.closed.lost_count, self.closed.lost_amount),
            won_cycle_days_sum: self.closed.won_cycle_days_sum,
            stays: &[],
        }
    }
}

/// What happened to deals in a period, as [`DealFlowRow`] counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DealFlow {
    /// Created in the period.
    Opened,
    /// Won in the period.
    Won,
    /// Lost in the period.
    Lost,
}

impl From<i16> for DealFlow {
    /// The rollup's codes: 1 opened, 2 won, 3 lost (its CHECK allows nothing else).
    fn from(code: i16) -> DealFlow {
        match code {
            1 => DealFlow::Opened,
            2 => DealFlow::Won,
            _ => DealFlow::Lost,
        }
    }
}

/// Deals of one owner opened, won or lost in a period. One owner and flow may come in
/// several rows (whole days and each edge apart), which callers add up.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DealFlowRow {
    /// The deals' owner.
    pub owner_id: i64,
    /// Opened, won or lost.
    #[sqlx(try_from = "i16")]
    pub flow: DealFlow,
    /// For opened deals, the furthest stage position they reached (the funnel's cohort);
    /// 0 for won and lost.
    pub furthest_position: i32,
    /// Deals.
    pub deals: i64,
    /// Their amount, minor units.
    pub amount: i64,
    /// For won and lost deals, seconds from open to close summed; 0 for opened.
    pub cycle_seconds: i64,
}

/// Activities of one member and kind in a period.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityRow {
    /// Who logged them.
    pub member_id: i64,
    /// `call`, `email`, `meeting`, `visit`, `message` or `note`.
    pub kind: String,
    /// Activities logged.
    pub activities: i64,
    /// Satisfaction scores given, summed.
    pub satisfaction_sum: i64,
    /// Scores given.
    pub satisfaction_count: i64,
}

/// How a period `[from, to)` splits into whole UTC days (read from the totals) and at most two
/// partial edges (read from the deals).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Split {
    /// First whole day, `None` for "since the beginning".
    pub(super) first_day: Option<NaiveDate>,
    /// Day after the last whole day.
    pub(super) end_day: NaiveDate,
    /// Instants not covered by whole days, each range non-empty.
    pub(super) edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

pub(super) fn split(from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> Split {
    let end_day = to.date_naive();
    let first_day = from.map(|f| {
        if f == midnight(f.date_naive()) {
            f.date_naive()
        } else {
            f.date_naive() + Duration::days(1)
        }
    });
    let mut s = match (from, first_day) {
        // The whole period lies within one or two partial days: read it all from the deals.
        (Some(f), Some(first)) if first >= end_day => Split {
            first_day: Some(end_day),
            end_day,
            edges: vec![(f, to)],
        },
        (Some(f), Some(first)) => Split {
            first_day,
            end_day,
            edges: vec![(f, midnight(first)), (midnight(end_day), to)],
        },
        _ => Split {
            first_day: None,
            end_day,
            edges: vec![(midnight(end_day), to)],
        },
    };
    // An empty edge is left out: a period with none reads the rollups alone ([`PeriodSql`]).
    s.edges.retain(|(f, t)| f < t);
    s
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
        let open_by_stage: Vec<(i64, i64, i64)> = self
            .period_rows(&OPEN_BY_STAGE_SQL, ws, owner, from, to)
            .await?;
        let rows = self.deal_rows(ws, owner, from, to).await?;
        raw_from(open_by_stage, rows)
    }

    /// [`Tx::pipeline_raw`] and the stays in each stage that ended in `[from, to)` (for deals
    /// of `owner`, their current owner, or all) in one round trip, for `/pipeline stats`: the
    /// three reads as one statement, each one's rows as a JSON array.
    pub async fn pipeline_inputs(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<(PipelineRaw, Vec<StageStays>)> {
        let found: Vec<(Value, Value, Value)> = self
            .period_rows(&PIPELINE_INPUTS_SQL, ws, owner, from, to)
            .await?;
        let (open, rows, stays) = found
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("the pipeline's reads returned no row"))?;
        let read = |what: &str, v: Value| -> StoreResult<Vec<(i64, i64, i64)>> {
            serde_json::from_value(v).map_err(|e| {
                anyhow::anyhow!("unexpected {what} in the pipeline's reads: {e}").into()
            })
        };
        let rows: Vec<(i64, i16, i32, i64, i64, i64)> = serde_json::from_value(rows)
            .map_err(|e| anyhow::anyhow!("unexpected deal rows in the pipeline's reads: {e}"))?;
        let rows = rows
            .into_iter()
            .map(
                |(owner_id, flow, furthest_position, deals, amount, cycle_seconds)| DealFlowRow {
                    owner_id,
                    flow: DealFlow::from(flow),
                    furthest_position,
                    deals,
                    amount,
                    cycle_seconds,
                },
            )
            .collect();
        let raw = raw_from(read("open totals", open)?, rows)?;
        Ok((raw, stays_from(read("stays", stays)?)))
    }
}

/// The parameters every period read shares ([`Tx::period_rows`]), as the one-row CTE `p`:
/// `ws`, `who` (owner or member, NULL for all), the whole UTC days `[first_day, end_day)` and
/// the partial edges `[a0, a1)` and `[b0, b1)`. The reads take them from `p`, not from `$n`,
/// so that a custom plan cannot see their values and costs what the generic plan costs: the
/// plan cache then keeps the generic plan after its first five runs. Written with `$n`, a
/// period whose edges are empty (`[to, to)`) made every custom plan look a hundred times
/// cheaper than the generic one, and `/pipeline stats` was planned on every call, 0.4 ms of
/// planning for 0.2 ms of execution. `first_day` is `-infinity` for "since the beginning",
/// so that the days stay an index range in that plan. (Why a period of whole days leaves the
/// edges out altogether: [`PeriodSql`].)
pub(super) const PERIOD: &str = "p AS MATERIALIZED (
         SELECT $1::bigint AS ws, $2::bigint AS who, COALESCE($3::date, '-infinity') AS first_day,
                $4::date AS end_day, $5::timestamptz AS a0, $6::timestamptz AS a1,
                $7::timestamptz AS b0, $8::timestamptz AS b1)";

/// The open deals and their amounts by stage, from the running totals (reads `p`).
const OPEN_BY_STAGE: &str =
    "SELECT t.stage_id, sum(t.deals)::bigint AS deals, sum(t.amount_minor)::bigint AS amount
     FROM p JOIN deal_open_totals t ON t.workspace_id = p.ws
     WHERE p.who IS NULL OR t.owner_id = p.who
     GROUP BY t.stage_id HAVING sum(t.deals) <> 0";

/// Deals opened, won and lost in the period's whole days, per owner, from the rollup (reads
/// `p`).
const DEAL_DAYS: &str =
    "SELECT t.owner_id, t.kind AS flow, t.key AS furthest_position, sum(t.deals)::bigint AS deals,
            sum(t.amount_minor)::bigint AS amount, sum(t.cycle_seconds)::bigint AS cycle_seconds
     FROM p JOIN deal_daily_totals t
       ON t.workspace_id = p.ws AND t.day >= p.first_day AND t.day < p.end_day
     WHERE p.who IS NULL OR t.owner_id = p.who
     GROUP BY t.owner_id, t.kind, t.key";

/// The same rows for the partial days at the edges, from the deals (reads `p`).
const DEAL_EDGES: &str = "SELECT d.owner_id, 1::smallint, d.furthest_position, count(*), sum(d.amount_minor)::bigint, 0::bigint
     FROM p CROSS JOIN LATERAL (VALUES (p.a0, p.a1), (p.b0, p.b1)) e (s, u)
     JOIN deals d ON d.workspace_id = p.ws AND d.created_at >= e.s AND d.created_at < e.u
     WHERE p.who IS NULL OR d.owner_id = p.who
     GROUP BY d.owner_id, d.furthest_position
     UNION ALL
     SELECT d.owner_id, CASE d.status WHEN 'won' THEN 2::smallint ELSE 3::smallint END, 0, count(*),
            sum(d.amount_minor)::bigint, sum(floor(extract(epoch FROM d.closed_at - d.created_at)))::bigint
     FROM p CROSS JOIN LATERAL (VALUES (p.a0, p.a1), (p.b0, p.b1)) e (s, u)
     JOIN deals d ON d.workspace_id = p.ws AND d.closed_at >= e.s AND d.closed_at < e.u
      AND d.status IN ('won', 'lost')
     WHERE p.who IS NULL OR d.owner_id = p.who
     GROUP BY d.owner_id, d.status";

/// Deals opened (by furthest position), won and lost in the period, per owner (reads `p`).
fn deal_rows(edges: bool) -> String {
    with_edges(DEAL_DAYS, DEAL_EDGES, edges)
}

/// The stays that ended in the period's whole days, from the rollup (reads `p`).
const STAY_DAYS: &str = "SELECT t.stage_id, t.stays, t.seconds
         FROM p JOIN stage_stay_totals t
           ON t.workspace_id = p.ws AND t.day >= p.first_day AND t.day < p.end_day
         WHERE p.who IS NULL OR t.owner_id = p.who";

/// The stays that ended in the partial days at the edges, from the stage changes (reads `p`).
const STAY_EDGES: &str = "SELECT sc.ended_stage_id, 1, floor(extract(epoch FROM sc.changed_at - sc.ended_entered_at))::bigint
         FROM p CROSS JOIN LATERAL (VALUES (p.a0, p.a1), (p.b0, p.b1)) e (s, u)
         JOIN stage_changes sc ON sc.workspace_id = p.ws AND sc.changed_at >= e.s AND sc.changed_at < e.u
          AND sc.ended_entered_at IS NOT NULL
         -- Only a member's report looks at the owner: one key lookup per edge stay.
         WHERE p.who IS NULL
            OR (SELECT d.owner_id FROM deals d WHERE d.workspace_id = p.ws AND d.id = sc.deal_id) = p.who";

/// The stays that ended in the period, by stage (reads `p`).
fn stays(edges: bool) -> String {
    format!(
        "SELECT stage_id, sum(stays)::bigint AS stays, sum(seconds)::bigint AS seconds FROM (
         {}
     ) t GROUP BY stage_id HAVING sum(stays) <> 0",
        with_edges(STAY_DAYS, STAY_EDGES, edges)
    )
}

/// `days`, and `edges` after it when the period has them.
pub(super) fn with_edges(days: &str, edges: &str, on: bool) -> String {
    if on {
        format!("{days}\n     UNION ALL\n     {edges}")
    } else {
        days.to_string()
    }
}

/// A period read's statement in two texts, [`Tx::period_rows`] taking the one the period
/// needs. The partial days at a period's edges are read from tables that only grow (deals,
/// stage changes, activities), and with their branches in the statement its generic plan
/// costs more each time it is rebuilt, while the plan cache compares it with the average of
/// every custom plan since the connection opened, costed when those tables were smaller.
/// After each rebuild (autovacuum invalidates it whenever it visits one of the tables) the
/// generic plan lost that comparison until the average caught up: under load 38% of
/// `/pipeline stats`' calls were planned afresh (1,141 of 3,008), 1.2 ms each. A period of
/// whole UTC days (a month or a quarter in a UTC workspace) has no edges; its text reads the
/// rollups alone, whose cost does not drift, and keeps its generic plan.
pub(super) struct PeriodSql {
    whole_days: String,
    with_edges: String,
}

impl PeriodSql {
    /// Both texts from one builder: `text(true)` with the edges' branches, `text(false)`
    /// without.
    pub(super) fn new(text: impl Fn(bool) -> String) -> PeriodSql {
        PeriodSql {
            whole_days: text(false),
            with_edges: text(true),
        }
    }
}

/// [`Tx::pipeline_raw`]'s open deals by stage.
static OPEN_BY_STAGE_SQL: LazyLock<PeriodSql> =
    LazyLock::new(|| PeriodSql::new(|_| format!("WITH {PERIOD} {OPEN_BY_STAGE}")));

/// [`Tx::deal_rows`]' statement.
static DEAL_ROWS_SQL: LazyLock<PeriodSql> =
    LazyLock::new(|| PeriodSql::new(|edges| format!("WITH {PERIOD} {}", deal_rows(edges))));

/// [`Tx::activity_rows`]' statement: activities per member and kind (reads `p`).
static ACTIVITY_ROWS_SQL: LazyLock<PeriodSql> = LazyLock::new(|| {
    PeriodSql::new(|edges| {
        let rows = with_edges(
            "SELECT t.member_id, t.kind, t.activities AS n, t.satisfaction_sum AS score,
                    t.satisfaction_count AS scored
             FROM p JOIN activity_daily_totals t
               ON t.workspace_id = p.ws AND t.day >= p.first_day AND t.day < p.end_day
             WHERE p.who IS NULL OR t.member_id = p.who",
            "SELECT a.member_id, a.kind, 1, COALESCE(a.satisfaction, 0), (a.satisfaction IS NOT NULL)::int
             FROM p CROSS JOIN LATERAL (VALUES (p.a0, p.a1), (p.b0, p.b1)) e (s, u)
             JOIN activities a ON a.workspace_id = p.ws AND a.happened_at >= e.s AND a.happened_at < e.u
             WHERE p.who IS NULL OR a.member_id = p.who",
            edges,
        );
        format!(
            "WITH {PERIOD}
             SELECT member_id, kind, sum(n)::bigint AS activities, sum(score)::bigint AS satisfaction_sum,
                    sum(scored)::bigint AS satisfaction_count FROM (
                 {rows}
             ) t GROUP BY member_id, kind HAVING sum(n) <> 0"
        )
    })
});

/// The three reads of [`Tx::pipeline_inputs`] as one statement: each a subquery whose rows
/// come back as one JSON array of arrays (a few dozen rows at most: stages, owners by flow).
static PIPELINE_INPUTS_SQL: LazyLock<PeriodSql> = LazyLock::new(|| {
    PeriodSql::new(|edges| {
        format!(
            "WITH {PERIOD}
             SELECT (SELECT COALESCE(jsonb_agg(jsonb_build_array(o.stage_id, o.deals, o.amount)), '[]'::jsonb)
                     FROM ({OPEN_BY_STAGE}) o),
                    (SELECT COALESCE(jsonb_agg(jsonb_build_array(r.owner_id, r.flow, r.furthest_position,
                                                                 r.deals, r.amount, r.cycle_seconds)), '[]'::jsonb)
                     FROM ({}) r),
                    (SELECT COALESCE(jsonb_agg(jsonb_build_array(s.stage_id, s.stays, s.seconds)), '[]'::jsonb)
                     FROM ({}) s)",
            deal_rows(edges),
            stays(edges)
        )
    })
});

/// The pipeline's figures from the open totals by stage and the period's deal flows.
fn raw_from(
    open_by_stage: Vec<(i64, i64, i64)>,
    rows: Vec<DealFlowRow>,
) -> StoreResult<PipelineRaw> {
    let mut histogram: BTreeMap<i32, i64> = BTreeMap::new();
    let mut closed = ClosedStats::default();
    let mut won_seconds = 0i64;
    for r in rows {
        match r.flow {
            DealFlow::Opened => *histogram.entry(r.furthest_position).or_default() += r.deals,
            DealFlow::Won => {
                closed.won_count += r.deals;
                closed.won_amount = add_minor(closed.won_amount, r.amount)?;
                won_seconds += r.cycle_seconds;
            }
            DealFlow::Lost => {
                closed.lost_count += r.deals;
                closed.lost_amount = add_minor(closed.lost_amount, r.amount)?;
            }
        }
    }
    closed.won_cycle_days_sum = days(won_seconds);
    Ok(PipelineRaw {
        open_by_stage: open_by_stage
            .into_iter()
            .map(|(stage_id, deals, amount)| StageTotal {
                stage_id,
                deals,
                amount,
            })
            .collect(),
        furthest_histogram: histogram
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(position, deals)| FurthestCount { position, deals })
            .collect(),
        closed,
    })
}

fn stays_from(rows: Vec<(i64, i64, i64)>) -> Vec<StageStays> {
    rows.into_iter()
        .map(|(stage_id, stays, seconds)| StageStays {
            stage_id,
            stays,
            seconds,
        })
        .collect()
}

impl Tx {
    /// Deals opened (by furthest position), won and lost in `[from, to)`, per owner. Whole UTC
    /// days come from the running totals, the partial days at the edges from the deals.
    pub async fn deal_rows(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<DealFlowRow>> {
        self.period_rows(&DEAL_ROWS_SQL, ws, owner, from, to).await
    }

    /// Activities in `[from, to)` per member and kind.
    pub async fn activity_rows(
        &mut self,
        ws: i64,
        member: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ActivityRow>> {
        self.period_rows(&ACTIVITY_ROWS_SQL, ws, member, from, to)
            .await
    }
}

impl Tx {
    /// Runs a rollup-plus-edges query. Its parameters are shared: `$1` workspace, `$2` owner
    /// (or member), `$3`/`$4` the whole UTC days and `$5`..`$8` the two partial edges, which
    /// every such statement reads through [`PERIOD`] (why is said there). A period without
    /// partial days runs the text without their branches ([`PeriodSql`]).
    pub(super) async fn period_rows<T>(
        &mut self,
        sql: &'static PeriodSql,
        ws: i64,
        who: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let s = split(from, to);
        // A missing edge is the empty range `[to, to)`.
        let edge = |i: usize| s.edges.get(i).copied().unwrap_or((to, to));
        let ((a0, a1), (b0, b1)) = (edge(0), edge(1));
        let sql = if s.edges.is_empty() {
            &sql.whole_days
        } else {
            &sql.with_edges
        };
        Ok(sqlx::query_as(sql.as_str())
            .bind(ws)
            .bind(who)
            .bind(s.first_day)
            .bind(s.end_day)
            .bind(a0)
            .bind(a1)
            .bind(b0)
            .bind(b1)
            .fetch_all(self.conn())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn periods_split_into_whole_days_and_edges() {
        // A UTC month: whole days only, no edges.
        let s = split(Some(t("2026-11-01T00:00:00Z")), t("2026-12-01T00:00:00Z"));
        assert_eq!(s.first_day, Some(d("2026-11-01")));
        assert_eq!(s.end_day, d("2026-12-01"));
        assert!(s.edges.is_empty());
        // A New York month: partial first and last UTC days.
        let s = split(Some(t("2026-11-01T04:00:00Z")), t("2026-12-01T05:00:00Z"));
        assert_eq!(s.first_day, Some(d("2026-11-02")));
        assert_eq!(s.end_day, d("2026-12-01"));
        assert_eq!(
            s.edges,
            vec![
                (t("2026-11-01T04:00:00Z"), t("2026-11-02T00:00:00Z")),
                (t("2026-12-01T00:00:00Z"), t("2026-12-01T05:00:00Z")),
            ]
        );
        // Within one day: all from the deals, no whole days.
        let s = split(Some(t("2026-11-01T04:00:00Z")), t("2026-11-02T04:00:00Z"));
        assert_eq!(s.first_day, Some(s.end_day));
        assert_eq!(
            s.edges,
            vec![(t("2026-11-01T04:00:00Z"), t("2026-11-02T04:00:00Z"))]
        );
        // All time.
        let s = split(None, t("2026-12-01T05:00:00Z"));
        assert_eq!(s.first_day, None);
        assert_eq!(
            s.edges,
            vec![(t("2026-12-01T00:00:00Z"), t("2026-12-01T05:00:00Z"))]
        );
    }

    /// Every split counts each instant of its period once and nothing else: checked on a grid
    /// of half hours over three days, from every start (and from the beginning) to every end.
    #[test]
    fn every_split_counts_its_period_exactly_once() {
        let base = t("2026-11-01T00:00:00Z");
        let steps = 3 * 48;
        let at = |q: i64| base + Duration::minutes(30 * q);
        for from in (0..steps).map(Some).chain([None]) {
            for to in 0..steps {
                let s = split(from.map(at), at(to));
                for q in -48..steps + 48 {
                    let i = at(q);
                    let day = i.date_naive();
                    let in_days = s.first_day.is_none_or(|f| day >= f) && day < s.end_day;
                    let in_edges = s.edges.iter().filter(|(a, b)| *a <= i && i < *b).count();
                    let want = from.is_none_or(|f| q >= f) && q < to;
                    assert_eq!(
                        usize::from(in_days) + in_edges,
                        usize::from(want),
                        "{from:?}..{to} at {q}: {s:?}"
                    );
                }
            }
        }
    }
}
