//! `/kpi`, `/report trends|products|customers` and `/forecast show|what-if`, one file per
//! report. Each reply carries its figures three ways: formatted text, a chart where one helps,
//! and `data` as plain numbers (what `salesbot report --json` prints). The arithmetic is the
//! domain's (`domain::analytics`, `domain::figures`); these files read, word and draw.

mod customers;
mod forecast;
mod kpi;
mod products;
mod trends;

pub(super) use customers::customers;
pub(super) use forecast::forecast;
pub use forecast::ForecastInput;
pub(super) use kpi::kpi;
pub(super) use products::products;
pub(super) use trends::trends;
pub use trends::TrendsInput;

use super::pipeline::Scope;
use crate::domain::analytics::quota_over;
use crate::domain::money::TotalOverflow;
use crate::engine::ctx::Ctx;

/// The monthly quota over the scope's period; `None` for all time.
fn quota_for(scope: &Scope, ctx: &Ctx, monthly: Option<i64>) -> Result<Option<i64>, TotalOverflow> {
    let (from, until) = scope.days(ctx);
    quota_over(monthly, from, until)
}

/// A change as "+12%" or "-5%", so a rise and a fall read apart at a glance.
fn signed_percent(ctx: &Ctx, change: f64) -> String {
    format!(
        "{}{}",
        if change >= 0.0 { "+" } else { "" },
        ctx.percent(change)
    )
}

/// A chart axis value (minor units as f64) as money.
fn axis_money(ctx: &Ctx, value: f64) -> String {
    ctx.money(value.round() as i64)
}
