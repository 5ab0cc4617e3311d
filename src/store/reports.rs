//! The queries behind trends, products, customers and the forecast, and the product catalogue.
//! Aggregated in SQL on index-only scans (migration 6 added the covering columns); the
//! engine gets one row per bucket, product, customer or stage.

use super::stats::BindPeriod;
use super::{StoreResult, Tx};
use chrono::{DateTime, NaiveDate, Utc};

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

/// Open deals the forecast counts, and those it leaves out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ForecastRaw {
    /// (stage id, deals, amount) of open deals expected to close in the period.
    pub by_stage: Vec<(i64, i64, i64)>,
    /// Open deals without an expected close date: (deals, amount).
    pub no_date: (i64, i64),
    /// Open deals expected before the period started: (deals, amount).
    pub overdue: (i64, i64),
}

/// A product in the catalogue.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ProductInfo {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// List price, minor units.
    pub list_price_minor: i64,
}

/// One line of a deal.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct DealLine {
    /// Product id.
    pub product_id: i64,
    /// Product name.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Price per unit, minor units.
    pub unit_price_minor: i64,
    /// List price when sold, minor units.
    pub list_price_minor: i64,
}

impl Tx {
    /// Deals won and created per local bucket (`week` or `month`) in `tz` over `[from, to)`.
    pub async fn trend_rows(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        tz: &str,
        by: &str,
    ) -> StoreResult<Vec<TrendRow>> {
        Ok(sqlx::query_as(
            "SELECT bucket, sum(won_count)::bigint AS won_count, sum(won_amount)::bigint AS won_amount,
                    sum(created_count)::bigint AS created_count, sum(created_amount)::bigint AS created_amount
             FROM (
                 SELECT date_trunc($6, closed_at AT TIME ZONE $5)::date AS bucket, count(*) AS won_count,
                        sum(amount_minor) AS won_amount, 0 AS created_count, 0 AS created_amount
                 FROM deals
                 WHERE workspace_id = $1 AND closed_at IS NOT NULL AND status = 'won'
                   AND ($2::bigint IS NULL OR owner_id = $2)
                   AND ($3::timestamptz IS NULL OR closed_at >= $3) AND closed_at < $4
                 GROUP BY 1
                 UNION ALL
                 SELECT date_trunc($6, created_at AT TIME ZONE $5)::date, 0, 0, count(*), sum(amount_minor)
                 FROM deals
                 WHERE workspace_id = $1 AND ($2::bigint IS NULL OR owner_id = $2)
                   AND ($3::timestamptz IS NULL OR created_at >= $3) AND created_at < $4
                 GROUP BY 1
             ) t GROUP BY bucket ORDER BY bucket",
        )
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(to)
        .bind(tz)
        .bind(by)
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
        // Whole UTC days from the rollups, the partial days at the edges from the lines.
        Ok(sqlx::query_as(
            "WITH closed AS (
                 SELECT product_id, kind, sum(deals) AS deals, sum(units) AS units, sum(revenue) AS revenue,
                        sum(list_value) AS list_value
                 FROM (
                     SELECT product_id, kind, deals, units, revenue, list_value FROM product_daily_totals
                     WHERE workspace_id = $1 AND ($2::bigint IS NULL OR owner_id = $2)
                       AND ($3::date IS NULL OR day >= $3) AND day < $4
                     UNION ALL
                     SELECT l.product_id, CASE d.status WHEN 'won' THEN 2::smallint ELSE 3::smallint END, 1,
                            l.quantity, l.quantity::bigint * l.unit_price_minor, l.quantity::bigint * l.list_price_minor
                     FROM deals d JOIN deal_products l ON l.workspace_id = d.workspace_id AND l.deal_id = d.id
                     WHERE d.workspace_id = $1 AND d.status IN ('won', 'lost') AND ($2::bigint IS NULL OR d.owner_id = $2)
                       AND ((d.closed_at >= $5 AND d.closed_at < $6) OR (d.closed_at >= $7 AND d.closed_at < $8))
                 ) t
                 GROUP BY product_id, kind
             ), open AS (
                 SELECT product_id, sum(deals) AS deals FROM product_open_totals
                 WHERE workspace_id = $1 AND ($2::bigint IS NULL OR owner_id = $2)
                 GROUP BY product_id
             )
             SELECT p.id AS product_id, p.name, p.list_price_minor,
                    COALESCE(sum(c.revenue) FILTER (WHERE c.kind = 2), 0)::bigint AS revenue,
                    COALESCE(sum(c.units) FILTER (WHERE c.kind = 2), 0)::bigint AS units,
                    COALESCE(sum(c.list_value) FILTER (WHERE c.kind = 2), 0)::bigint AS list_value,
                    COALESCE(sum(c.deals) FILTER (WHERE c.kind = 2), 0)::bigint AS won_deals,
                    COALESCE(sum(c.deals) FILTER (WHERE c.kind = 3), 0)::bigint AS lost_deals,
                    COALESCE(max(o.deals), 0)::bigint AS open_deals
             FROM products p
             LEFT JOIN closed c ON c.product_id = p.id
             LEFT JOIN open o ON o.product_id = p.id
             WHERE p.workspace_id = $1
             GROUP BY p.id, p.name, p.list_price_minor
             ORDER BY revenue DESC, lower(p.name)",
        )
        .bind_period(ws, owner, from, to)
        .fetch_all(self.conn())
        .await?)
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
        // (group: 0 in period, 1 no date, 2 overdue; stage; deals; amount)
        let rows: Vec<(i16, i64, i64, i64)> = sqlx::query_as(
            "SELECT CASE WHEN expected_close IS NULL THEN 1::smallint
                         WHEN $3::date IS NOT NULL AND expected_close < $3 THEN 2::smallint
                         ELSE 0::smallint END AS grp,
                    stage_id, count(*), sum(amount_minor)::bigint
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
        for (group, stage, deals, amount) in rows {
            match group {
                0 => raw.by_stage.push((stage, deals, amount)),
                1 => raw.no_date = (raw.no_date.0 + deals, raw.no_date.1 + amount),
                _ => raw.overdue = (raw.overdue.0 + deals, raw.overdue.1 + amount),
            }
        }
        Ok(raw)
    }

    /// The catalogue, by name.
    pub async fn products(&mut self, ws: i64) -> StoreResult<Vec<ProductInfo>> {
        Ok(sqlx::query_as(
            "SELECT id, name, list_price_minor FROM products WHERE workspace_id = $1 ORDER BY lower(name)",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// A product by name, ignoring case.
    pub async fn product_named(&mut self, ws: i64, name: &str) -> StoreResult<Option<ProductInfo>> {
        Ok(sqlx::query_as(
            "SELECT id, name, list_price_minor FROM products WHERE workspace_id = $1 AND lower(name) = lower($2)",
        )
        .bind(ws)
        .bind(name)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Adds a product; `Duplicate` when the name is taken.
    pub async fn insert_product(&mut self, ws: i64, name: &str, price: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO products (workspace_id, name, list_price_minor) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(ws)
        .bind(name)
        .bind(price)
        .fetch_one(self.conn())
        .await?)
    }

    /// A deal's lines, by product name.
    pub async fn deal_lines(&mut self, ws: i64, deal: i64) -> StoreResult<Vec<DealLine>> {
        Ok(sqlx::query_as(
            "SELECT l.product_id, p.name, l.quantity, l.unit_price_minor, l.list_price_minor
             FROM deal_products l JOIN products p ON p.workspace_id = l.workspace_id AND p.id = l.product_id
             WHERE l.workspace_id = $1 AND l.deal_id = $2 ORDER BY lower(p.name)",
        )
        .bind(ws)
        .bind(deal)
        .fetch_all(self.conn())
        .await?)
    }

    /// The id of a deal's line for a product, if it has one.
    pub async fn deal_line_id(
        &mut self,
        ws: i64,
        deal: i64,
        product: i64,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM deal_products WHERE workspace_id = $1 AND deal_id = $2 AND product_id = $3",
        )
        .bind(ws)
        .bind(deal)
        .bind(product)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Writes one line (insert or replace); returns its id.
    pub async fn upsert_deal_line(
        &mut self,
        ws: i64,
        deal: i64,
        product: i64,
        quantity: i32,
        unit_price: i64,
        list_price: i64,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO deal_products (workspace_id, deal_id, product_id, quantity, unit_price_minor, list_price_minor)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace_id, deal_id, product_id) DO UPDATE
                 SET quantity = excluded.quantity, unit_price_minor = excluded.unit_price_minor,
                     list_price_minor = excluded.list_price_minor
             RETURNING id",
        )
        .bind(ws)
        .bind(deal)
        .bind(product)
        .bind(quantity)
        .bind(unit_price)
        .bind(list_price)
        .fetch_one(self.conn())
        .await?)
    }

    /// Removes one line by id.
    pub async fn delete_deal_line(&mut self, ws: i64, line: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM deal_products WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(line)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets a deal's amount to its lines' total; returns the total.
    pub async fn amount_from_lines(
        &mut self,
        ws: i64,
        deal: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE deals SET amount_minor = (SELECT COALESCE(sum(quantity::bigint * unit_price_minor), 0)
                                               FROM deal_products WHERE workspace_id = $1 AND deal_id = $2),
                              updated_at = $3
             WHERE workspace_id = $1 AND id = $2 RETURNING amount_minor",
        )
        .bind(ws)
        .bind(deal)
        .bind(now)
        .fetch_one(self.conn())
        .await?)
    }
}
