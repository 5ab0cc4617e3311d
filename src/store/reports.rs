//! The queries behind trends, products, customers and the forecast. Aggregated in SQL on
//! index-only scans (migration 6 added the covering columns); the engine gets one row per
//! bucket, product, customer or stage. The catalogue itself is in `products.rs`.

use super::stats::{with_edges, PeriodSql, PERIOD};
use super::{StoreResult, Tx};
use crate::domain::money::{add_minor, TotalOverflow};
use crate::domain::pipeline::StageTotal;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::LazyLock;

/// One trend bucket, by its first local day.
#[derive(Clone, Debug, Default, PartialEq, sqlx::FromRow)]
pub struct TrendRow {
    /// First local day of the bucket (`date_trunc` of week or month).
    pub bucket: NaiveDate,
    /// Deals won.
    pub won_count: i64,
    /// Their amount.
    pub won_amount: i64,
    /// Deals created.
    pub created_count: i64,
    /// Their amount.
    pub created_amount: i64,
}

/// A product's figures over deals closed in a period.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ProductRow {
    /// Product id.
    pub product_id: i64,
    /// Name.
    pub name: String,
    /// List price, minor units.
    pub list_price_minor: i64,
    /// Σ quantity × unit price over lines of won deals.
    pub revenue: i64,
    /// Σ quantity over those lines.
    pub units: i64,
    /// Σ quantity × list price over those lines.
    pub list_value: i64,
    /// Won deals with the product.
    pub won_deals: i64,
    /// Lost deals with the product.
    pub lost_deals: i64,
    /// Open deals with the product now.
    pub open_deals: i64,
}

/// A customer (company) with won deals, as of a moment.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct CustomerRow {
    /// Company id.
    pub company_id: i64,
    /// Name.
    pub name: String,
    /// Industry, if recorded.
    pub industry: Option<String>,
    /// Tier, if recorded.
    pub tier: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// First won deal.
    pub first_won: DateTime<Utc>,
    /// Last won deal.
    pub last_won: DateTime<Utc>,
    /// Won deals.
    pub won_deals: i64,
    /// Their amount.
    pub revenue: i64,
    /// Won deals closed inside the report's period.
    pub period_won_deals: i64,
    /// Their amount.
    pub period_revenue: i64,
}

/// A number of deals and their amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DealTotal {
    /// Deals.
    pub deals: i64,
    /// Their amount, minor units.
    pub amount: i64,
}

impl DealTotal {
    fn add(&mut self, deals: i64, amount: i64) -> Result<(), TotalOverflow> {
        self.deals += deals;
        self.amount = add_minor(self.amount, amount)?;
        Ok(())
    }
}

/// Open deals the forecast counts, and those it leaves out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ForecastRaw {
    /// Open deals expected to close in the period, per stage.
    pub by_stage: Vec<StageTotal>,
    /// Open deals without an expected close date.
    pub no_date: DealTotal,
    /// Open deals expected before the period started.
    pub overdue: DealTotal,
}

/// Where an open deal's expected close puts it for the forecast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseGroup {
    /// Expected to close in the period.
    InPeriod,
    /// No expected close date.
    NoDate,
    /// Expected before the period started.
    Overdue,
}

impl From<i16> for CloseGroup {
    /// The query's codes: 0 in period, 1 no date, 2 overdue (it yields nothing else).
    fn from(code: i16) -> CloseGroup {
        match code {
            0 => CloseGroup::InPeriod,
            1 => CloseGroup::NoDate,
            _ => CloseGroup::Overdue,
        }
    }
}

/// One group of open deals in one stage, as `forecast_raw` reads it.
#[derive(sqlx::FromRow)]
struct ForecastGroupRow {
    /// In the period, without a date or overdue.
    #[sqlx(try_from = "i16")]
    grp: CloseGroup,
    /// The deals' stage.
    stage_id: i64,
    /// Deals.
    deals: i64,
    /// Their amount, minor units.
    amount: i64,
}

impl Tx {
    /// Deals won and created in each bucket `(key, from, to)`, keyed by `key` (the first
    /// local day of the whole week or month). Whole UTC days come from `deal_daily_totals`
    /// (kind 1 created, kind 2 won), the partial days at each bucket's edges from the deals,
    /// as the pipeline report does: a year by month reads a few thousand total rows and a
    /// day or two of deals per month instead of every deal of the year. One round trip.
    pub async fn trend_rows(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        buckets: &[(NaiveDate, DateTime<Utc>, DateTime<Utc>)],
    ) -> StoreResult<Vec<TrendRow>> {
        let (mut day_key, mut day_from, mut day_to) = (Vec::new(), Vec::new(), Vec::new());
        let (mut edge_key, mut edge_from, mut edge_to) = (Vec::new(), Vec::new(), Vec::new());
        for (key, from, to) in buckets {
            if from >= to {
                continue;
            }
            let split = super::stats::split(Some(*from), *to);
            if let Some(first) = split.first_day.filter(|f| *f < split.end_day) {
                day_key.push(*key);
                day_from.push(first);
                day_to.push(split.end_day);
            }
            for (f, t) in split.edges {
                edge_key.push(*key);
                edge_from.push(f);
                edge_to.push(t);
            }
        }
        Ok(sqlx::query_as(
            "SELECT bucket, COALESCE(sum(won_count), 0)::bigint AS won_count,
                    COALESCE(sum(won_amount), 0)::bigint AS won_amount,
                    COALESCE(sum(created_count), 0)::bigint AS created_count,
                    COALESCE(sum(created_amount), 0)::bigint AS created_amount
             FROM (
                 SELECT r.k AS bucket,
                        sum(t.deals) FILTER (WHERE t.kind = 2) AS won_count,
                        sum(t.amount_minor) FILTER (WHERE t.kind = 2) AS won_amount,
                        sum(t.deals) FILTER (WHERE t.kind = 1) AS created_count,
                        sum(t.amount_minor) FILTER (WHERE t.kind = 1) AS created_amount
                 FROM unnest($3::date[], $4::date[], $5::date[]) AS r(k, d0, d1)
                 JOIN deal_daily_totals t
                   ON t.workspace_id = $1 AND t.day >= r.d0 AND t.day < r.d1 AND t.kind IN (1, 2)
                  AND ($2::bigint IS NULL OR t.owner_id = $2)
                 GROUP BY r.k
                 UNION ALL
                 SELECT e.k, count(*), sum(d.amount_minor), 0, 0
                 FROM unnest($6::date[], $7::timestamptz[], $8::timestamptz[]) AS e(k, s, u)
                 JOIN deals d
                   ON d.workspace_id = $1 AND d.status = 'won' AND d.closed_at >= e.s AND d.closed_at < e.u
                  AND ($2::bigint IS NULL OR d.owner_id = $2)
                 GROUP BY e.k
                 UNION ALL
                 SELECT e.k, 0, 0, count(*), sum(d.amount_minor)
                 FROM unnest($6::date[], $7::timestamptz[], $8::timestamptz[]) AS e(k, s, u)
                 JOIN deals d
                   ON d.workspace_id = $1 AND d.created_at >= e.s AND d.created_at < e.u
                  AND ($2::bigint IS NULL OR d.owner_id = $2)
                 GROUP BY e.k
             ) t GROUP BY bucket ORDER BY bucket",
        )
        .bind(ws)
        .bind(owner)
        .bind(&day_key)
        .bind(&day_from)
        .bind(&day_to)
        .bind(&edge_key)
        .bind(&edge_from)
        .bind(&edge_to)
        .fetch_all(self.conn())
        .await?)
    }

    /// When the workspace's (or owner's) first deal was created: where "all time" starts.
    pub async fn first_deal_at(
        &mut self,
        ws: i64,
        owner: Option<i64>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(
            "SELECT min(created_at) FROM deals WHERE workspace_id = $1 AND ($2::bigint IS NULL OR owner_id = $2)",
        )
        .bind(ws)
        .bind(owner)
        .fetch_one(self.conn())
        .await?)
    }

    /// Every product with its figures over deals closed in `[from, to)`.
    pub async fn product_rows(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ProductRow>> {
        self.period_rows(&PRODUCT_ROWS_SQL, ws, owner, from, to)
            .await
    }

    /// Every company with a deal won before `as_of`, with its history and its figures inside
    /// `[from, as_of)`.
    pub async fn customer_rows(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<DateTime<Utc>>,
        as_of: DateTime<Utc>,
    ) -> StoreResult<Vec<CustomerRow>> {
        Ok(sqlx::query_as(
            "SELECT c.id AS company_id, c.name, c.industry, c.tier, c.tags, w.first_won, w.last_won,
                    w.won_deals, w.revenue, w.period_won_deals, w.period_revenue
             FROM (
                 SELECT company_id, min(closed_at) AS first_won, max(closed_at) AS last_won,
                        count(*) AS won_deals, sum(amount_minor)::bigint AS revenue,
                        count(*) FILTER (WHERE $3::timestamptz IS NULL OR closed_at >= $3) AS period_won_deals,
                        COALESCE(sum(amount_minor) FILTER (WHERE $3::timestamptz IS NULL OR closed_at >= $3), 0)::bigint
                            AS period_revenue
                 FROM deals
                 WHERE workspace_id = $1 AND closed_at IS NOT NULL AND closed_at < $4 AND status = 'won'
                   AND company_id IS NOT NULL AND ($2::bigint IS NULL OR owner_id = $2)
                 GROUP BY company_id
             ) w
             JOIN companies c ON c.workspace_id = $1 AND c.id = w.company_id",
        )
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(as_of)
        .fetch_all(self.conn())
        .await?)
    }

    /// Open deals by expected close: those in the local days `[from, until)` per stage, those
    /// without a date and those due before `from`.
    pub async fn forecast_raw(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<NaiveDate>,
        until: Option<NaiveDate>,
    ) -> StoreResult<ForecastRaw> {
        let rows: Vec<ForecastGroupRow> = sqlx::query_as(
            "SELECT CASE WHEN expected_close IS NULL THEN 1::smallint
                         WHEN $3::date IS NOT NULL AND expected_close < $3 THEN 2::smallint
                         ELSE 0::smallint END AS grp,
                    stage_id, count(*) AS deals, sum(amount_minor)::bigint AS amount
             FROM deals
             WHERE workspace_id = $1 AND status = 'open' AND ($2::bigint IS NULL OR owner_id = $2)
               AND (expected_close IS NULL OR $4::date IS NULL OR expected_close < $4)
             GROUP BY 1, 2",
        )
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(until)
        .fetch_all(self.conn())
        .await?;
        let mut raw = ForecastRaw::default();
        for r in rows {
            match r.grp {
                CloseGroup::InPeriod => raw.by_stage.push(StageTotal {
                    stage_id: r.stage_id,
                    deals: r.deals,
                    amount: r.amount,
                }),
                CloseGroup::NoDate => raw.no_date.add(r.deals, r.amount)?,
                CloseGroup::Overdue => raw.overdue.add(r.deals, r.amount)?,
            }
        }
        Ok(raw)
    }
}

/// [`Tx::product_rows`]' statement: whole UTC days from the rollups, the partial days at the
/// edges from the lines, the period from `p` as every period read takes it
/// (`store/stats.rs`, `PERIOD`).
static PRODUCT_ROWS_SQL: LazyLock<PeriodSql> = LazyLock::new(|| {
    PeriodSql::new(|edges| {
        let rows = with_edges(
            "SELECT t.product_id, t.kind, t.deals, t.units, t.revenue, t.list_value
                 FROM p JOIN product_daily_totals t
                   ON t.workspace_id = p.ws AND t.day >= p.first_day AND t.day < p.end_day
                 WHERE p.who IS NULL OR t.owner_id = p.who",
            "SELECT l.product_id, CASE d.status WHEN 'won' THEN 2::smallint ELSE 3::smallint END, 1,
                        l.quantity, l.quantity::bigint * l.unit_price_minor, l.quantity::bigint * l.list_price_minor
                 FROM p CROSS JOIN LATERAL (VALUES (p.a0, p.a1), (p.b0, p.b1)) e (s, u)
                 JOIN deals d ON d.workspace_id = p.ws AND d.closed_at >= e.s AND d.closed_at < e.u
                  AND d.status IN ('won', 'lost')
                 JOIN deal_products l ON l.workspace_id = d.workspace_id AND l.deal_id = d.id
                 WHERE p.who IS NULL OR d.owner_id = p.who",
            edges,
        );
        format!(
        "WITH {PERIOD}, closed AS (
             SELECT product_id, kind, sum(deals) AS deals, sum(units) AS units, sum(revenue) AS revenue,
                    sum(list_value) AS list_value
             FROM (
                 {rows}
             ) t
             GROUP BY product_id, kind
         ), open AS (
             SELECT t.product_id, sum(t.deals) AS deals
             FROM p JOIN product_open_totals t ON t.workspace_id = p.ws
             WHERE p.who IS NULL OR t.owner_id = p.who
             GROUP BY t.product_id
         )
         SELECT pr.id AS product_id, pr.name, pr.list_price_minor,
                COALESCE(sum(c.revenue) FILTER (WHERE c.kind = 2), 0)::bigint AS revenue,
                COALESCE(sum(c.units) FILTER (WHERE c.kind = 2), 0)::bigint AS units,
                COALESCE(sum(c.list_value) FILTER (WHERE c.kind = 2), 0)::bigint AS list_value,
                COALESCE(sum(c.deals) FILTER (WHERE c.kind = 2), 0)::bigint AS won_deals,
                COALESCE(sum(c.deals) FILTER (WHERE c.kind = 3), 0)::bigint AS lost_deals,
                COALESCE(max(o.deals), 0)::bigint AS open_deals
         FROM p JOIN products pr ON pr.workspace_id = p.ws
         LEFT JOIN closed c ON c.product_id = pr.id
         LEFT JOIN open o ON o.product_id = pr.id
         GROUP BY pr.id, pr.name, pr.list_price_minor
         ORDER BY revenue DESC, lower(pr.name)"
        )
    })
});
