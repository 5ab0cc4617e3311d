//! `/report trends`: revenue won and pipeline created per week or month, each against the
//! bucket before.

use super::{axis_money, signed_percent};
use crate::charts::{self, Series};
use crate::domain::analytics::{buckets, trend, BucketTotals, Bucketing, TrendPoint};
use crate::domain::period::Period;
use crate::domain::when::resolve_local;
use crate::engine::commands::pipeline::{attach, who, Scope};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::Tx;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// The most buckets a trend draws; more would be unreadable in one chart.
const MAX_BUCKETS: usize = 60;

/// One bucket of `/report trends`, as the reply's data carries it.
#[derive(Clone, Debug, Serialize)]
struct TrendBucket {
    /// First local day.
    start: NaiveDate,
    /// Day after the last one.
    end: NaiveDate,
    /// Deals won.
    won_count: i64,
    /// Their amount.
    revenue_minor: i64,
    /// Deals created.
    created_count: i64,
    /// Their amount.
    pipeline_created_minor: i64,
    /// Against the previous bucket; `None` for the first or after zero.
    revenue_change: Option<f64>,
    /// Against the previous bucket.
    pipeline_change: Option<f64>,
}

impl From<&TrendPoint> for TrendBucket {
    fn from(p: &TrendPoint) -> TrendBucket {
        TrendBucket {
            start: p.start,
            end: p.end,
            won_count: p.totals.won_count,
            revenue_minor: p.totals.won_amount,
            created_count: p.totals.created_count,
            pipeline_created_minor: p.totals.created_amount,
            revenue_change: p.revenue_change,
            pipeline_change: p.pipeline_change,
        }
    }
}

/// Input of `/report trends`.
#[derive(Clone, Debug)]
pub struct TrendsInput {
    scope: Scope,
    by: Bucketing,
}

impl TrendsInput {
    pub(crate) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<TrendsInput> {
        Ok(TrendsInput {
            scope: Scope::parse(args, ctx, "member", Period::ThisQuarter)?,
            by: args
                .str("by")
                .and_then(Bucketing::parse)
                .unwrap_or(Bucketing::Week),
        })
    }
}

/// `/report trends`: revenue won and pipeline created per week or month.
pub(crate) async fn trends(tx: &mut Tx, ctx: &mut Ctx, input: TrendsInput) -> EngineResult<Reply> {
    let TrendsInput { scope, by } = input;
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    let (day_from, day_until) = scope.days(ctx);
    let today = ctx.now.with_timezone(&ctx.ws_tz).date_naive();
    let first = match day_from {
        Some(d) => Some(d),
        None => tx
            .first_deal_at(ctx.ws_id(), owner)
            .await?
            .map(|t| t.with_timezone(&ctx.ws_tz).date_naive()),
    };
    // Buckets stop at today: a bucket still to come would read as a 100% drop.
    let tomorrow = today + Days::new(1);
    let until = day_until.map_or(tomorrow, |u| u.min(tomorrow));
    let spans = match first {
        Some(first) => buckets(first, until, by, MAX_BUCKETS).ok_or_else(|| {
            errors::option(
                "by",
                Msg::new("problem.too_many_buckets").arg("max", MAX_BUCKETS),
                Msg::new("accepted.trend_by"),
            )
        })?,
        None => Vec::new(),
    };
    // Each span as instants: its local midnights in the workspace's zone, clipped to the
    // period (the first starts at the period's start, or at the first deal's day for all
    // time; the last ends at the period's end or now).
    let midnight = |d: NaiveDate| resolve_local(d.and_time(NaiveTime::MIN), ctx.ws_tz);
    let instants: Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> = spans
        .iter()
        .map(|(start, end)| {
            let s = from.map_or(midnight(*start), |f| f.max(midnight(*start)));
            (by.start_of(*start), s, to.min(midnight(*end)))
        })
        .collect();
    let rows = tx.trend_rows(ctx.ws_id(), owner, &instants).await?;
    let totals: BTreeMap<NaiveDate, BucketTotals> = rows
        .iter()
        .map(|r| {
            let t = BucketTotals {
                won_count: r.won_count,
                won_amount: r.won_amount,
                created_count: r.created_count,
                created_amount: r.created_amount,
            };
            (r.bucket, t)
        })
        .collect();
    let out: Vec<TrendBucket> = trend(&spans, by, &totals)
        .iter()
        .map(TrendBucket::from)
        .collect();
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let title = ctx.m(Msg::new("trends.title")
        .arg("who", &who)
        .arg("period", &period_name)
        .arg("by", ctx.t(&format!("trends.by_{}", by.key()))));
    let change_text = |c: Option<f64>| match c {
        Some(c) => signed_percent(ctx, c),
        None => "—".into(),
    };
    let lines = out
        .iter()
        .map(|b| {
            ctx.m(Msg::new("trends.line")
                .arg("start", b.start)
                .arg("revenue", ctx.money(b.revenue_minor))
                .arg("revenue_change", change_text(b.revenue_change))
                .count("won", b.won_count)
                .arg("created", ctx.money(b.pipeline_created_minor))
                .arg("created_change", change_text(b.pipeline_change)))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut reply = Reply::default().with_embed(Embed::new(ctx.esc(&title)).description(lines));
    let blank = out.iter().all(|b| b.won_count == 0 && b.created_count == 0);
    if blank {
        reply.content = ctx.t("report.empty");
    } else {
        let labels: Vec<String> = spans
            .iter()
            .map(|(s, _)| s.format("%m-%d").to_string())
            .collect();
        let series = [
            Series {
                name: ctx.t("trends.revenue"),
                values: out.iter().map(|b| b.revenue_minor as f64).collect(),
            },
            Series {
                name: ctx.t("trends.created"),
                values: out
                    .iter()
                    .map(|b| b.pipeline_created_minor as f64)
                    .collect(),
            },
        ];
        let money = |v: f64| axis_money(ctx, v);
        attach(
            &mut reply,
            "trends-chart.png",
            charts::trend(&title, &labels, &series, &money),
        );
    }
    reply.data = Some(json!({
        "report": "trends",
        "period": scope.json(ctx),
        "by": by.key(),
        "currency": ctx.currency.code(),
        "owner": owner,
        "buckets": out,
    }));
    Ok(reply)
}
