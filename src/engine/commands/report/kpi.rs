//! `/kpi`: one member's card, or the leaderboard with the team's card for those who see the
//! team.

use super::{axis_money, quota_for};
use crate::charts;
use crate::domain::analytics::KpiTotals;
use crate::domain::money::{add_minor, TotalOverflow};
use crate::engine::commands::pipeline::{attach, days_text, rate_text, sees_team, Scope};
use crate::engine::ctx::Ctx;
use crate::engine::reply::Embed;
use crate::engine::{EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{DealFlow, Tx};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Activity kinds, in the order reports list them.
const KINDS: [&str; 6] = ["call", "email", "meeting", "visit", "message", "note"];

/// Members the leaderboard chart draws; more would not fit its bars.
const CHART_MEMBERS: usize = 12;

/// One member's (or the team's) KPIs, as the reply's data carries them.
#[derive(Clone, Debug, Serialize)]
struct KpiLine {
    /// The member; `None` for the team line.
    user_id: Option<i64>,
    /// Display name.
    name: String,
    /// Won amount.
    revenue_minor: i64,
    /// Deals won.
    won_count: i64,
    /// Deals lost.
    lost_count: i64,
    /// won / (won + lost).
    win_rate: Option<f64>,
    /// Average won deal.
    avg_deal_minor: Option<i64>,
    /// Average days from open to won.
    avg_cycle_days: Option<f64>,
    /// Activities logged, per kind.
    activities: BTreeMap<String, i64>,
    /// All activities.
    activities_total: i64,
    /// Mean satisfaction score given.
    avg_satisfaction: Option<f64>,
    /// Scores given.
    satisfaction_count: i64,
    /// Deals created.
    new_pipeline_count: i64,
    /// Their amount.
    new_pipeline_minor: i64,
    /// Quota for the period (monthly quota pro rata).
    quota_minor: Option<i64>,
    /// revenue / quota.
    quota_attainment: Option<f64>,
}

impl KpiLine {
    fn new(user_id: Option<i64>, name: String, t: &KpiTotals) -> KpiLine {
        let f = t.figures();
        KpiLine {
            user_id,
            name,
            revenue_minor: t.revenue,
            won_count: t.won_count,
            lost_count: t.lost_count,
            win_rate: f.win_rate,
            avg_deal_minor: f.avg_deal,
            avg_cycle_days: f.avg_cycle_days,
            activities: t.activities.clone(),
            activities_total: f.activities_total,
            avg_satisfaction: f.avg_satisfaction,
            satisfaction_count: t.satisfaction_count,
            new_pipeline_count: t.new_pipeline_count,
            new_pipeline_minor: t.new_pipeline_amount,
            quota_minor: t.quota,
            quota_attainment: f.quota_attainment,
        }
    }
}

/// Empty totals listing every kind, so the data shows a 0 rather than leaving a kind out.
fn no_totals() -> KpiTotals {
    KpiTotals {
        activities: KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
        ..KpiTotals::default()
    }
}

/// `/kpi`: one member, or the leaderboard for managers.
pub(crate) async fn kpi(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let mut owner = scope.owner(ctx)?;
    if owner.is_none() && !sees_team(ctx) {
        owner = Some(ctx.actor);
    }
    let (from, to) = scope.range(ctx);
    let deals = tx.deal_rows(ctx.ws_id(), owner, from, to).await?;
    let acts = tx.activity_rows(ctx.ws_id(), owner, from, to).await?;
    // Members by id; someone who left still has figures, under a stand-in name.
    let mut lines: BTreeMap<i64, (String, KpiTotals)> = tx
        .members(ctx.ws_id())
        .await?
        .into_iter()
        .filter(|m| owner.is_none_or(|o| o == m.user_id))
        .map(|m| {
            let mut t = no_totals();
            t.quota = quota_for(&scope, ctx, m.quota_minor)?;
            Ok((m.user_id, (m.display_name, t)))
        })
        .collect::<Result<_, TotalOverflow>>()?;
    fn totals(lines: &mut BTreeMap<i64, (String, KpiTotals)>, id: i64) -> &mut KpiTotals {
        &mut lines
            .entry(id)
            .or_insert_with(|| (format!("user {id}"), no_totals()))
            .1
    }
    for r in deals {
        let t = totals(&mut lines, r.owner_id);
        match r.flow {
            DealFlow::Opened => {
                t.new_pipeline_count += r.deals;
                t.new_pipeline_amount = add_minor(t.new_pipeline_amount, r.amount)?;
            }
            DealFlow::Won => {
                t.won_count += r.deals;
                t.revenue = add_minor(t.revenue, r.amount)?;
                t.cycle_seconds += r.cycle_seconds;
            }
            DealFlow::Lost => t.lost_count += r.deals,
        }
    }
    for a in acts {
        let t = totals(&mut lines, a.member_id);
        *t.activities.entry(a.kind).or_default() += a.activities;
        t.satisfaction_sum += a.satisfaction_sum;
        t.satisfaction_count += a.satisfaction_count;
    }
    let kept: Vec<(i64, (String, KpiTotals))> = lines
        .into_iter()
        .filter(|(_, (_, t))| owner.is_some() || !t.is_blank())
        .collect();
    let mut team_totals = no_totals();
    for (_, (_, t)) in &kept {
        team_totals.add(t)?;
    }
    let any_figures = kept.iter().any(|(_, (_, t))| t.has_figures());
    let team = KpiLine::new(None, ctx.t("pipeline.team"), &team_totals);
    let mut rows: Vec<KpiLine> = kept
        .into_iter()
        .map(|(id, (name, t))| KpiLine::new(Some(id), name, &t))
        .collect();
    // Someone asked for by name who never used the bot still gets their own (empty) card,
    // never the team's under their question.
    if let (Some(id), true) = (owner, rows.is_empty()) {
        let name = crate::engine::commands::pipeline::who(tx, ctx, owner).await?;
        let mut t = no_totals();
        t.quota = quota_for(&scope, ctx, None)?;
        rows.push(KpiLine::new(Some(id), name, &t));
    }
    rows.sort_by(|a, b| {
        b.revenue_minor
            .cmp(&a.revenue_minor)
            .then(b.won_count.cmp(&a.won_count))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    let period_name = scope.label(ctx);
    let mut empty = Msg::new("report.empty");
    let mut reply = if owner.is_some() {
        let l = rows.first().cloned().unwrap_or(team.clone());
        empty = Msg::new("report.empty_member").arg("name", ctx.esc(&l.name));
        let title = ctx.m(Msg::new("kpi.title")
            .arg("who", ctx.esc(&l.name))
            .arg("period", &period_name));
        Reply::default().with_embed(kpi_card(ctx, Embed::new(title), &l))
    } else {
        let board = rows
            .iter()
            .enumerate()
            .map(|(i, l)| {
                ctx.m(Msg::new("kpi.board_line")
                    .arg("rank", i + 1)
                    .arg("name", ctx.esc(&l.name))
                    .arg("revenue", ctx.money(l.revenue_minor))
                    .arg("won", l.won_count)
                    .arg("win_rate", rate_text(ctx, l.win_rate))
                    .count("activities", l.activities_total)
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
                .take(CHART_MEMBERS)
                .map(|l| (l.name.clone(), l.revenue_minor as f64))
                .collect();
            let money = |v: f64| axis_money(ctx, v);
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
    if !any_figures {
        reply.content = ctx.m(empty);
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
