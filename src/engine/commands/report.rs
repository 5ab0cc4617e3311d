//! `/kpi`, `/report trends|products|customers` and `/forecast show|what-if`. Each reply carries
//! its figures three ways: formatted text, a chart where one helps, and `data` as plain numbers.

use super::pipeline::{attach, days_text, rate_text, sees_team, who, Scope};
use crate::charts::{self, Series};
use crate::domain::analytics::{
    buckets, change, forecast_stages, outlook, p75, period_quota, ratio, segment, top_values,
    Bucketing, ForecastStage, Outlook, Rfm, Segment, WhatIf,
};
use crate::domain::figures::{average_days, average_deal, days, win_rate};
use crate::domain::period::Period;
use crate::domain::stage::{Stage, StageKind};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{DealFlow, DealTotal, MemberRow, Tx};
use chrono::{Days, Duration};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Activity kinds, in the order reports list them.
const KINDS: [&str; 6] = ["call", "email", "meeting", "visit", "message", "note"];

/// The most buckets a trend draws; more would be unreadable in one chart.
const MAX_BUCKETS: usize = 60;

/// One member's (or the team's) KPIs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KpiLine {
    /// The member; `None` for the team line.
    pub user_id: Option<i64>,
    /// Display name.
    pub name: String,
    /// Won amount.
    pub revenue_minor: i64,
    /// Deals won.
    pub won_count: i64,
    /// Deals lost.
    pub lost_count: i64,
    /// won / (won + lost).
    pub win_rate: Option<f64>,
    /// Average won deal.
    pub avg_deal_minor: Option<i64>,
    /// Average days from open to won.
    pub avg_cycle_days: Option<f64>,
    /// Activities logged, per kind.
    pub activities: BTreeMap<String, i64>,
    /// All activities.
    pub activities_total: i64,
    /// Mean satisfaction score given.
    pub avg_satisfaction: Option<f64>,
    /// Scores given.
    pub satisfaction_count: i64,
    /// Deals created.
    pub new_pipeline_count: i64,
    /// Their amount.
    pub new_pipeline_minor: i64,
    /// Quota for the period (monthly quota pro rata).
    pub quota_minor: Option<i64>,
    /// revenue / quota.
    pub quota_attainment: Option<f64>,
    #[serde(skip)]
    cycle_seconds: i64,
    #[serde(skip)]
    satisfaction_sum: i64,
}

impl KpiLine {
    fn new(user_id: Option<i64>, name: String) -> KpiLine {
        KpiLine {
            user_id,
            name,
            activities: KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
            ..KpiLine::default()
        }
    }

    fn add(&mut self, other: &KpiLine) {
        self.revenue_minor += other.revenue_minor;
        self.won_count += other.won_count;
        self.lost_count += other.lost_count;
        self.cycle_seconds += other.cycle_seconds;
        for (k, n) in &other.activities {
            *self.activities.entry(k.clone()).or_default() += n;
        }
        self.satisfaction_sum += other.satisfaction_sum;
        self.satisfaction_count += other.satisfaction_count;
        self.new_pipeline_count += other.new_pipeline_count;
        self.new_pipeline_minor += other.new_pipeline_minor;
        if let Some(q) = other.quota_minor {
            self.quota_minor = Some(self.quota_minor.unwrap_or(0) + q);
        }
    }

    fn finish(&mut self) {
        self.win_rate = win_rate(self.won_count, self.lost_count);
        self.avg_deal_minor = average_deal(self.revenue_minor, self.won_count);
        self.avg_cycle_days = average_days(days(self.cycle_seconds), self.won_count);
        self.activities_total = self.activities.values().sum();
        self.avg_satisfaction = ratio(self.satisfaction_sum, self.satisfaction_count);
        self.quota_attainment = self.quota_minor.and_then(|q| ratio(self.revenue_minor, q));
    }

    fn has_figures(&self) -> bool {
        self.won_count != 0
            || self.lost_count != 0
            || self.activities.values().any(|n| *n != 0)
            || self.new_pipeline_count != 0
    }

    fn is_blank(&self) -> bool {
        self.quota_minor.is_none() && !self.has_figures()
    }
}

/// The monthly quota over the scope's period; `None` for all time.
fn quota_for(scope: &Scope, ctx: &Ctx, monthly: Option<i64>) -> Option<i64> {
    let (from, until) = scope.days(ctx);
    match (monthly, from, until) {
        (Some(q), Some(from), Some(until)) => Some(period_quota(q, from, until)),
        _ => None,
    }
}

/// `/kpi`: one member, or the leaderboard for managers.
pub(super) async fn kpi(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let mut owner = scope.owner(ctx)?;
    if owner.is_none() && !sees_team(ctx) {
        owner = Some(ctx.actor);
    }
    let (from, to) = scope.range(ctx);
    let deals = tx.deal_rows(ctx.ws_id(), owner, from, to).await?;
    let acts = tx.activity_rows(ctx.ws_id(), owner, from, to).await?;
    let members: Vec<MemberRow> = tx
        .members(ctx.ws_id())
        .await?
        .into_iter()
        .filter(|m| owner.is_none_or(|o| o == m.user_id))
        .collect();
    let mut lines: BTreeMap<i64, KpiLine> = members
        .iter()
        .map(|m| {
            let mut l = KpiLine::new(Some(m.user_id), m.display_name.clone());
            l.quota_minor = quota_for(&scope, ctx, m.quota_minor);
            (m.user_id, l)
        })
        .collect();
    fn line(lines: &mut BTreeMap<i64, KpiLine>, id: i64) -> &mut KpiLine {
        lines
            .entry(id)
            .or_insert_with(|| KpiLine::new(Some(id), format!("user {id}")))
    }
    for r in deals {
        let l = line(&mut lines, r.owner_id);
        match r.flow {
            DealFlow::Opened => {
                l.new_pipeline_count += r.deals;
                l.new_pipeline_minor += r.amount;
            }
            DealFlow::Won => {
                l.won_count += r.deals;
                l.revenue_minor += r.amount;
                l.cycle_seconds += r.cycle_seconds;
            }
            DealFlow::Lost => l.lost_count += r.deals,
        }
    }
    for a in acts {
        let l = line(&mut lines, a.member_id);
        *l.activities.entry(a.kind).or_default() += a.activities;
        l.satisfaction_sum += a.satisfaction_sum;
        l.satisfaction_count += a.satisfaction_count;
    }
    let mut rows: Vec<KpiLine> = lines
        .into_values()
        .filter(|l| owner.is_some() || !l.is_blank())
        .collect();
    let mut team = KpiLine::new(None, ctx.t("pipeline.team"));
    for l in rows.iter_mut() {
        l.finish();
        team.add(l);
    }
    team.finish();
    rows.sort_by(|a, b| {
        b.revenue_minor
            .cmp(&a.revenue_minor)
            .then(b.won_count.cmp(&a.won_count))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    let period_name = scope.label(ctx);
    let mut reply = if owner.is_some() {
        let l = rows.first().cloned().unwrap_or(team.clone());
        let title = ctx.m(Msg::new("kpi.title")
            .arg("who", &l.name)
            .arg("period", &period_name));
        Reply::default().with_embed(kpi_card(ctx, Embed::new(title), &l))
    } else {
        let board = rows
            .iter()
            .enumerate()
            .map(|(i, l)| {
                ctx.m(Msg::new("kpi.board_line")
                    .arg("rank", i + 1)
                    .arg("name", &l.name)
                    .arg("revenue", ctx.money(l.revenue_minor))
                    .arg("won", l.won_count)
                    .arg("win_rate", rate_text(ctx, l.win_rate))
                    .arg("activities", l.activities_total)
                    .arg("quota", rate_text(ctx, l.quota_attainment)))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let title = ctx.m(Msg::new("kpi.board_title").arg("period", &period_name));
        let embed = kpi_card(ctx, Embed::new(title).description(board), &team);
        let mut reply = Reply::default().with_embed(embed);
        if !rows.is_empty() {
            let items: Vec<(String, f64)> = rows
                .iter()
                .take(12)
                .map(|l| (l.name.clone(), l.revenue_minor as f64))
                .collect();
            let money = |v: f64| ctx.money(v.round() as i64);
            attach(
                &mut reply,
                "kpi-leaderboard.png",
                charts::bars(
                    &ctx.m(Msg::new("kpi.chart_title").arg("period", &period_name)),
                    &items,
                    &money,
                ),
            );
        }
        reply
    };
    if !rows.iter().any(KpiLine::has_figures) {
        reply.content = ctx.t("report.empty");
    }
    reply.data = Some(json!({
        "report": "kpi",
        "period": scope.json(ctx),
        "currency": ctx.currency.code(),
        "members": rows,
        "team": team,
    }));
    Ok(reply)
}

fn kpi_card(ctx: &Ctx, embed: Embed, l: &KpiLine) -> Embed {
    let activities = KINDS
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                ctx.t(&format!("activity.{k}")),
                l.activities.get(*k).copied().unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    embed
        .inline(ctx.t("field.revenue"), ctx.money(l.revenue_minor))
        .inline(
            ctx.t("field.won_lost"),
            format!("{} / {}", l.won_count, l.lost_count),
        )
        .inline(ctx.t("field.win_rate"), rate_text(ctx, l.win_rate))
        .inline(
            ctx.t("field.avg_deal"),
            l.avg_deal_minor
                .map(|a| ctx.money(a))
                .unwrap_or_else(|| "—".into()),
        )
        .inline(ctx.t("field.avg_cycle"), days_text(ctx, l.avg_cycle_days))
        .inline(
            ctx.t("field.satisfaction"),
            l.avg_satisfaction
                .map(|s| format!("{s:.2} / 5 ({})", l.satisfaction_count))
                .unwrap_or_else(|| "—".into()),
        )
        .inline(
            ctx.t("field.new_pipeline"),
            ctx.m(Msg::new("pipeline.count_amount")
                .arg("count", l.new_pipeline_count)
                .arg("amount", ctx.money(l.new_pipeline_minor))),
        )
        .inline(
            ctx.t("field.quota"),
            match l.quota_minor {
                Some(q) => format!(
                    "{} / {} ({})",
                    ctx.money(l.revenue_minor),
                    ctx.money(q),
                    rate_text(ctx, l.quota_attainment)
                ),
                None => "—".into(),
            },
        )
        .field(
            ctx.m(Msg::new("field.activities").arg("count", l.activities_total)),
            activities,
        )
}

/// One bucket of `/report trends`.
#[derive(Clone, Debug, Serialize)]
struct TrendBucket {
    /// First local day.
    start: chrono::NaiveDate,
    /// Day after the last one.
    end: chrono::NaiveDate,
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

/// Input of `/report trends`.
#[derive(Clone, Debug)]
pub struct TrendsInput {
    scope: Scope,
    by: Bucketing,
}

impl TrendsInput {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<TrendsInput> {
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
pub(super) async fn trends(tx: &mut Tx, ctx: &mut Ctx, input: TrendsInput) -> EngineResult<Reply> {
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
    let rows = tx
        .trend_rows(ctx.ws_id(), owner, from, to, &ctx.ws.timezone, by.key())
        .await?;
    let by_start: BTreeMap<_, _> = rows.iter().map(|r| (r.bucket, r)).collect();
    let mut out: Vec<TrendBucket> = Vec::with_capacity(spans.len());
    for (start, end) in &spans {
        let r = by_start.get(&by.start_of(*start));
        let revenue = r.map_or(0, |r| r.won_amount);
        let created = r.map_or(0, |r| r.created_amount);
        let prev = out.last();
        out.push(TrendBucket {
            start: *start,
            end: *end,
            won_count: r.map_or(0, |r| r.won_count),
            revenue_minor: revenue,
            created_count: r.map_or(0, |r| r.created_count),
            pipeline_created_minor: created,
            revenue_change: prev.and_then(|p| change(p.revenue_minor, revenue)),
            pipeline_change: prev.and_then(|p| change(p.pipeline_created_minor, created)),
        });
    }
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let title = ctx.m(Msg::new("trends.title")
        .arg("who", &who)
        .arg("period", &period_name)
        .arg("by", ctx.t(&format!("trends.by_{}", by.key()))));
    let change_text = |c: Option<f64>| match c {
        Some(c) => format!("{}{}", if c >= 0.0 { "+" } else { "" }, ctx.percent(c)),
        None => "—".into(),
    };
    let lines = out
        .iter()
        .map(|b| {
            ctx.m(Msg::new("trends.line")
                .arg("start", b.start)
                .arg("revenue", ctx.money(b.revenue_minor))
                .arg("revenue_change", change_text(b.revenue_change))
                .arg("won", b.won_count)
                .arg("created", ctx.money(b.pipeline_created_minor))
                .arg("created_change", change_text(b.pipeline_change)))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut reply = Reply::default().with_embed(Embed::new(title.clone()).description(lines));
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
        let money = |v: f64| ctx.money(v.round() as i64);
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

/// `/report products`: what sells.
pub(super) async fn products(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    let rows = tx.product_rows(ctx.ws_id(), owner, from, to).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|p| {
            json!({
                "product_id": p.product_id,
                "name": p.name,
                "revenue_minor": p.revenue,
                "units": p.units,
                "won_deals": p.won_deals,
                "lost_deals": p.lost_deals,
                "win_rate": win_rate(p.won_deals, p.lost_deals),
                "avg_discount": ratio(p.list_value - p.revenue, p.list_value),
                "open_deals": p.open_deals,
            })
        })
        .collect();
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let title = ctx.m(Msg::new("products.title")
        .arg("who", &who)
        .arg("period", &period_name));
    let lines = rows
        .iter()
        .zip(&data)
        .map(|(p, d)| {
            ctx.m(Msg::new("products.line")
                .arg("name", &p.name)
                .arg("revenue", ctx.money(p.revenue))
                .arg("units", p.units)
                .arg("won", p.won_deals)
                .arg("win_rate", rate_text(ctx, d["win_rate"].as_f64()))
                .arg("discount", rate_text(ctx, d["avg_discount"].as_f64()))
                .arg("open", p.open_deals))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut reply = Reply::default().with_embed(Embed::new(title.clone()).description(lines));
    if rows.is_empty() {
        reply.content = ctx.t("products.none");
    } else if rows.iter().all(|p| p.won_deals == 0 && p.lost_deals == 0) {
        reply.content = ctx.t("report.empty");
    } else {
        let items: Vec<(String, f64)> = rows
            .iter()
            .take(12)
            .map(|p| (p.name.clone(), p.revenue as f64))
            .collect();
        let money = |v: f64| ctx.money(v.round() as i64);
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
        "products": data,
    }));
    Ok(reply)
}

/// `/report customers`: top customers and RFM segments with what they have in common.
pub(super) async fn customers(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    let as_of = to.min(ctx.now);
    let rows = tx.customer_rows(ctx.ws_id(), owner, from, as_of).await?;
    let mut top: Vec<_> = rows.iter().filter(|c| c.period_won_deals > 0).collect();
    top.sort_by(|a, b| {
        b.period_revenue
            .cmp(&a.period_revenue)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    top.truncate(10);
    let monetary: Vec<i64> = rows.iter().map(|c| c.revenue).collect();
    let threshold = p75(&monetary);
    let days = |t: chrono::DateTime<chrono::Utc>| (as_of - t).num_days();
    let mut members: BTreeMap<Segment, Vec<&crate::store::CustomerRow>> = BTreeMap::new();
    for c in &rows {
        let s = segment(
            &Rfm {
                recency_days: days(c.last_won),
                first_days: days(c.first_won),
                frequency: c.won_deals,
                monetary: c.revenue,
            },
            threshold,
        );
        members.entry(s).or_default().push(c);
    }
    let traits = |values: Vec<&str>| -> Vec<Trait> {
        top_values(values.into_iter(), 3)
            .into_iter()
            .map(|(value, count)| Trait { value, count })
            .collect()
    };
    let segments: Vec<SegmentLine> = Segment::ALL
        .iter()
        .map(|s| {
            let list = members.get(s).map(Vec::as_slice).unwrap_or(&[]);
            SegmentLine {
                segment: s.key(),
                customers: list.len(),
                revenue_minor: list.iter().map(|c| c.revenue).sum(),
                industries: traits(list.iter().filter_map(|c| c.industry.as_deref()).collect()),
                tiers: traits(list.iter().filter_map(|c| c.tier.as_deref()).collect()),
                tags: traits(
                    list.iter()
                        .flat_map(|c| c.tags.iter().map(String::as_str))
                        .collect(),
                ),
            }
        })
        .collect();
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let title = ctx.m(Msg::new("customers.title")
        .arg("who", &who)
        .arg("period", &period_name));
    let top_text = top
        .iter()
        .enumerate()
        .map(|(i, c)| {
            ctx.m(Msg::new("customers.top_line")
                .arg("rank", i + 1)
                .arg("name", &c.name)
                .arg("revenue", ctx.money(c.period_revenue))
                .arg("deals", c.period_won_deals))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut embed = Embed::new(title).description(if top_text.is_empty() {
        ctx.t("customers.no_top")
    } else {
        top_text
    });
    for s in &segments {
        let list = |traits: &[Trait]| {
            if traits.is_empty() {
                return "—".to_string();
            }
            traits
                .iter()
                .map(|t| format!("{} ({})", t.value, t.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        embed = embed.field(
            ctx.m(Msg::new("customers.segment_title")
                .arg("segment", ctx.t(&format!("segment.{}", s.segment)))
                .arg("count", s.customers)
                .arg("revenue", ctx.money(s.revenue_minor))),
            ctx.m(Msg::new("customers.traits")
                .arg("industries", list(&s.industries))
                .arg("tiers", list(&s.tiers))
                .arg("tags", list(&s.tags))),
        );
    }
    let mut reply = Reply::default().with_embed(embed.footer(ctx.t("customers.footer")));
    if rows.is_empty() {
        reply.content = ctx.t("report.empty");
    }
    reply.data = Some(json!({
        "report": "customers",
        "period": scope.json(ctx),
        "currency": ctx.currency.code(),
        "owner": owner,
        "as_of": as_of.to_rfc3339(),
        "top": top.iter().map(|c| json!({
            "company_id": c.company_id,
            "name": c.name,
            "revenue_minor": c.period_revenue,
            "won_deals": c.period_won_deals,
        })).collect::<Vec<_>>(),
        "segments": segments,
    }));
    Ok(reply)
}

/// A value customers of a segment share, and how many share it.
#[derive(Clone, Debug, Serialize)]
struct Trait {
    value: String,
    count: i64,
}

/// One segment of `/report customers`.
#[derive(Clone, Debug, Serialize)]
struct SegmentLine {
    /// The segment's key (`champions`, ...).
    segment: &'static str,
    /// Customers in it.
    customers: usize,
    /// Their revenue up to the report's end.
    revenue_minor: i64,
    /// Most common industries, tiers and tags.
    industries: Vec<Trait>,
    tiers: Vec<Trait>,
    tags: Vec<Trait>,
}

/// The forecast's raw figures for a scope.
struct Forecast {
    owner: Option<i64>,
    won_count: i64,
    won: i64,
    open_count: i64,
    open: i64,
    stages: Vec<ForecastStage>,
    no_date: DealTotal,
    overdue: DealTotal,
    quota: Option<i64>,
}

async fn forecast_figures(tx: &mut Tx, ctx: &Ctx, scope: &Scope) -> EngineResult<Forecast> {
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    let (day_from, day_until) = scope.days(ctx);
    let closed = tx.pipeline_raw(ctx.ws_id(), owner, from, to).await?.closed;
    let raw = tx
        .forecast_raw(ctx.ws_id(), owner, day_from, day_until)
        .await?;
    let stages = forecast_stages(&ctx.stages, &raw.by_stage);
    let quotas: Vec<i64> = tx
        .members(ctx.ws_id())
        .await?
        .into_iter()
        .filter(|m| owner.is_none_or(|o| o == m.user_id))
        .filter_map(|m| quota_for(scope, ctx, m.quota_minor))
        .collect();
    Ok(Forecast {
        owner,
        won_count: closed.won_count,
        won: closed.won_amount,
        open_count: raw.by_stage.iter().map(|t| t.deals).sum(),
        open: raw.by_stage.iter().map(|t| t.amount).sum(),
        stages,
        no_date: raw.no_date,
        overdue: raw.overdue,
        quota: (!quotas.is_empty()).then(|| quotas.iter().sum()),
    })
}

fn outlook_json(o: &Outlook, quota: Option<i64>) -> Value {
    json!({
        "weighted_minor": o.weighted,
        "expected_minor": o.expected,
        "best_case_minor": o.best_case,
        "attainment_expected": quota.and_then(|q| ratio(o.expected, q)),
    })
}

/// Input of `/forecast show` and `/forecast what-if`.
#[derive(Clone, Debug)]
pub struct ForecastInput {
    scope: Scope,
    /// Stage and its new conversion to the next stage (0..=1).
    conversion: Option<(Stage, f64)>,
    /// Relative deal size change.
    deal_size: f64,
    what_if: bool,
}

impl ForecastInput {
    pub(super) fn parse(args: &Args, ctx: &Ctx, what_if: bool) -> EngineResult<ForecastInput> {
        let scope = Scope::parse(args, ctx, "member", Period::ThisMonth)?;
        if !what_if {
            return Ok(ForecastInput {
                scope,
                conversion: None,
                deal_size: 0.0,
                what_if,
            });
        }
        let stage = super::stage(args, "stage", ctx)?;
        let conversion = args.int("conversion");
        let deal_size = args.int("deal_size");
        let conversion = match (stage, conversion) {
            (Some(s), Some(c)) => {
                let last_open = ctx
                    .stages
                    .iter()
                    .filter(|s| s.kind == StageKind::Open)
                    .map(|s| s.position)
                    .max();
                if s.kind != StageKind::Open || Some(s.position) > last_open {
                    return Err(errors::option(
                        "stage",
                        Msg::new("problem.stage_not_open").arg("stage", &s.name),
                        Msg::new("accepted.open_stage"),
                    ));
                }
                Some((s, c as f64 / 100.0))
            }
            (Some(_), None) => {
                return Err(errors::option(
                    "conversion",
                    Msg::new("problem.needed_with").arg("other", "stage"),
                    Msg::new("accepted.conversion"),
                ))
            }
            (None, Some(_)) => {
                return Err(errors::option(
                    "stage",
                    Msg::new("problem.needed_with").arg("other", "conversion"),
                    Msg::new("accepted.open_stage"),
                ))
            }
            (None, None) => None,
        };
        if conversion.is_none() && deal_size.is_none() {
            return Err(errors::option(
                "conversion",
                Msg::new("problem.what_if_nothing"),
                Msg::new("accepted.what_if"),
            ));
        }
        Ok(ForecastInput {
            scope,
            conversion,
            deal_size: deal_size.unwrap_or(0) as f64 / 100.0,
            what_if,
        })
    }
}

/// `/forecast show` and `/forecast what-if`.
pub(super) async fn forecast(
    tx: &mut Tx,
    ctx: &mut Ctx,
    input: ForecastInput,
) -> EngineResult<Reply> {
    let f = forecast_figures(tx, ctx, &input.scope).await?;
    let now = outlook(f.won, &f.stages, &WhatIf::default());
    let who = who(tx, ctx, f.owner).await?;
    let period_name = input.scope.label(ctx);
    let attain = |v: i64| f.quota.and_then(|q| ratio(v, q));
    if !input.what_if {
        let embed = Embed::new(
            ctx.m(Msg::new("forecast.title")
                .arg("who", &who)
                .arg("period", &period_name)),
        )
        .inline(
            ctx.t("field.won"),
            ctx.m(Msg::new("pipeline.count_amount")
                .arg("count", f.won_count)
                .arg("amount", ctx.money(f.won))),
        )
        .inline(
            ctx.t("forecast.open"),
            ctx.m(Msg::new("pipeline.count_amount")
                .arg("count", f.open_count)
                .arg("amount", ctx.money(f.open))),
        )
        .inline(ctx.t("field.weighted_forecast"), ctx.money(now.weighted))
        .inline(ctx.t("forecast.expected"), ctx.money(now.expected))
        .inline(ctx.t("forecast.best_case"), ctx.money(now.best_case))
        .inline(
            ctx.t("field.quota"),
            match f.quota {
                Some(q) => ctx.m(Msg::new("forecast.quota_line")
                    .arg("quota", ctx.money(q))
                    .arg("won", rate_text(ctx, attain(f.won)))
                    .arg("expected", rate_text(ctx, attain(now.expected)))
                    .arg("best", rate_text(ctx, attain(now.best_case)))),
                None => "—".into(),
            },
        )
        .field(
            ctx.t("forecast.left_out"),
            ctx.m(Msg::new("forecast.left_out_line")
                .arg("no_date", f.no_date.deals)
                .arg("no_date_amount", ctx.money(f.no_date.amount))
                .arg("overdue", f.overdue.deals)
                .arg("overdue_amount", ctx.money(f.overdue.amount))),
        )
        .footer(ctx.t("forecast.footer"));
        let mut reply = Reply::default().with_embed(embed);
        if f.won_count == 0 && f.open_count == 0 {
            reply.content = ctx.t("report.empty");
        }
        reply.data = Some(json!({
            "report": "forecast",
            "period": input.scope.json(ctx),
            "currency": ctx.currency.code(),
            "owner": f.owner,
            "won_count": f.won_count,
            "won_minor": f.won,
            "open_count": f.open_count,
            "open_minor": f.open,
            "weighted_minor": now.weighted,
            "expected_minor": now.expected,
            "best_case_minor": now.best_case,
            "quota_minor": f.quota,
            "attainment_won": attain(f.won),
            "attainment_expected": attain(now.expected),
            "attainment_best": attain(now.best_case),
            "no_close_date": {"count": f.no_date.deals, "amount_minor": f.no_date.amount},
            "overdue": {"count": f.overdue.deals, "amount_minor": f.overdue.amount},
        }));
        return Ok(reply);
    }

    // What-if: the stage's conversion over the last year's cohort, else the one its
    // probabilities imply.
    let mut conversion = None;
    let mut current_rate = None;
    if let Some((stage, new_rate)) = &input.conversion {
        let year_ago = ctx.now - Duration::days(365);
        // Only the conversions are needed: the funnel without the days-in-stage query.
        let raw = tx
            .pipeline_raw(ctx.ws_id(), f.owner, Some(year_ago), ctx.now)
            .await?;
        let history = crate::domain::pipeline::compute(&ctx.stages, &raw.input());
        let line = history.stages.iter().position(|s| s.name == stage.name);
        let observed = line.and_then(|i| history.stages[i].conversion_to_next);
        let implied = line
            .and_then(|i| history.stages.get(i + 1))
            .and_then(|next| ratio(next.probability.into(), stage.probability.into()));
        let current = observed.or(implied).filter(|c| *c > 0.0).ok_or_else(|| {
            errors::option(
                "stage",
                Msg::new("problem.no_conversion").arg("stage", &stage.name),
                Msg::new("accepted.open_stage"),
            )
        })?;
        current_rate = Some(current);
        conversion = Some((stage.position, current, *new_rate));
    }
    let sim = outlook(
        f.won,
        &f.stages,
        &WhatIf {
            conversion,
            deal_size: input.deal_size,
        },
    );
    let mut changes = Vec::new();
    if let (Some((stage, new_rate)), Some(current)) = (&input.conversion, current_rate) {
        changes.push(
            ctx.m(Msg::new("what_if.conversion")
                .arg("stage", &stage.name)
                .arg("current", ctx.percent(current))
                .arg("new", ctx.percent(*new_rate))),
        );
    }
    if input.deal_size != 0.0 {
        changes.push(ctx.m(Msg::new("what_if.deal_size").arg(
            "change",
            format!(
                "{}{}",
                if input.deal_size > 0.0 { "+" } else { "" },
                ctx.percent(input.deal_size)
            ),
        )));
    }
    let side = |o: &Outlook| {
        ctx.m(Msg::new("what_if.side")
            .arg("weighted", ctx.money(o.weighted))
            .arg("expected", ctx.money(o.expected))
            .arg("best", ctx.money(o.best_case))
            .arg("attainment", rate_text(ctx, attain(o.expected))))
    };
    let delta = sim.expected - now.expected;
    let embed = Embed::new(
        ctx.m(Msg::new("what_if.title")
            .arg("who", &who)
            .arg("period", &period_name)),
    )
    .description(changes.join("\n"))
    .inline(ctx.t("what_if.current"), side(&now))
    .inline(ctx.t("what_if.simulated"), side(&sim))
    .field(
        ctx.t("what_if.difference"),
        format!("{}{}", if delta >= 0 { "+" } else { "" }, ctx.money(delta)),
    )
    .footer(ctx.t("what_if.footer"));
    let mut reply = Reply::default().with_embed(embed);
    reply.data = Some(json!({
        "report": "what_if",
        "period": input.scope.json(ctx),
        "currency": ctx.currency.code(),
        "owner": f.owner,
        "stage": input.conversion.as_ref().map(|(s, _)| s.name.clone()),
        "conversion_current": current_rate,
        "conversion_new": input.conversion.as_ref().map(|(_, c)| *c),
        "deal_size_change": input.deal_size,
        "current": outlook_json(&now, f.quota),
        "simulated": outlook_json(&sim, f.quota),
    }));
    Ok(reply)
}
