//! The product catalogue and deal lines: the `products` and `deal_products` rows `/product`
//! and `/deal product` read and write. The products report's aggregate lives with the other
//! reports in `reports.rs`.

use super::{StoreResult, Tx};
use chrono::{DateTime, Utc};

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
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Deserialize)]
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

/// A deal's lines by product name as one JSON array of [`DealLine`]s, for statements that
/// return them beside something else (a move, the full card) and so spare a round trip. The
/// workspace is `$1` and the deal `$2`.
pub(super) static LINES_JSON: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| lines_json("$1", "$2"));

/// [`LINES_JSON`] for the workspace and deal given as SQL expressions (the command prelude
/// names the deal by number, not id).
pub(super) fn lines_json(ws: &str, deal: &str) -> String {
    format!(
        "(SELECT COALESCE(jsonb_agg(jsonb_build_object('product_id', l.product_id, 'name', p.name,
                                                   'quantity', l.quantity, 'unit_price_minor', l.unit_price_minor,
                                                   'list_price_minor', l.list_price_minor)
                                ORDER BY lower(p.name)), '[]'::jsonb)
      FROM deal_products l JOIN products p ON p.workspace_id = l.workspace_id AND p.id = l.product_id
      WHERE l.workspace_id = {ws} AND l.deal_id = {deal})"
    )
}

/// Reads a [`LINES_JSON`] column.
pub(super) fn lines_from_json(v: serde_json::Value) -> super::StoreResult<Vec<DealLine>> {
    serde_json::from_value(v)
        .map_err(|e| super::StoreError::Unexpected(anyhow::anyhow!("unexpected deal lines: {e}")))
}

impl Tx {
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
            "UPDATE deals SET amount_minor = (SELECT COALESCE(sum(quantity::numeric * unit_price_minor), 0)
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
