//! `/report products`: what sells, with each product's win rate and discount off list.

use super::axis_money;
use crate::charts;
use crate::domain::analytics::discount;
use crate::domain::figures::win_rate;
use crate::engine::commands::pipeline::{attach, rate_text, who, Scope};
use crate::engine::ctx::Ctx;
use crate::engine::reply::Embed;
use crate::engine::{EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{ProductRow, Tx};
use serde_json::{json, Value};

/// Products the chart draws; more would not fit its bars.
const CHART_PRODUCTS: usize = 12;

/// A product's row with the figures derived from it.
struct ProductLine<'a> {
    row: &'a ProductRow,
    /// Won over closed deals with the product.
    win_rate: Option<f64>,
    /// Average discount off list over its won lines.
    avg_discount: Option<f64>,
}

impl ProductLine<'_> {
    fn json(&self) -> Value {
        let p = self.row;
        json!({
            "product_id": p.product_id,
            "name": p.name,
            "revenue_minor": p.revenue,
            "units": p.units,
            "won_deals": p.won_deals,
            "lost_deals": p.lost_deals,
            "win_rate": self.win_rate,
            "avg_discount": self.avg_discount,
            "open_deals": p.open_deals,
        })
    }
}

/// `/report products`: what sells.
pub(crate) async fn products(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    let rows = tx.product_rows(ctx.ws_id(), owner, from, to).await?;
    let lines: Vec<ProductLine<'_>> = rows
        .iter()
        .map(|p| ProductLine {
            row: p,
            win_rate: win_rate(p.won_deals, p.lost_deals),
            avg_discount: discount(p.list_value, p.revenue),
        })
        .collect();
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let title = ctx.m(Msg::new("products.title")
        .arg("who", &who)
        .arg("period", &period_name));
    let text = lines
        .iter()
        .map(|l| {
            let p = l.row;
            ctx.m(Msg::new("products.line")
                .arg("name", ctx.esc(&p.name))
                .arg("revenue", ctx.money(p.revenue))
                .count("units", p.units)
                .arg("won", p.won_deals)
                .arg("win_rate", rate_text(ctx, l.win_rate))
                .arg("discount", rate_text(ctx, l.avg_discount))
                .arg("open", p.open_deals))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut reply = Reply::default().with_embed(Embed::new(ctx.esc(&title)).description(text));
    if rows.is_empty() {
        reply.content = ctx.t("products.none");
    } else if rows.iter().all(|p| p.won_deals == 0 && p.lost_deals == 0) {
        reply.content = ctx.t("report.empty");
    } else {
        let items: Vec<(String, f64)> = rows
            .iter()
            .take(CHART_PRODUCTS)
            .map(|p| (p.name.clone(), p.revenue as f64))
            .collect();
        let money = |v: f64| axis_money(ctx, v);
        attach(
            &mut reply,
            "products-chart.png",
            charts::bars(&title, &items, &money),
        );
    }
    reply.data = Some(json!({
        "report": "products",
        "period": scope.json(ctx),
        "currency": ctx.currency.code(),
        "owner": owner,
        "products": lines.iter().map(ProductLine::json).collect::<Vec<_>>(),
    }));
    Ok(reply)
}
