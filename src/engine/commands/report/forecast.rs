//! `/forecast show` (won, open, weighted, expected and best case against quota) and
//! `/forecast what-if` (the same with a stage converting better or deals of another size).

use super::{quota_for, signed_percent};
use crate::domain::analytics::{
    attainment, current_conversion, forecast_stages, outlook, ForecastStage, Outlook, WhatIf,
};
use crate::domain::money::{sum_minor, TotalOverflow};
use crate::domain::period::Period;
use crate::domain::pipeline::compute;
use crate::domain::stage::{Stage, StageKind};
use crate::engine::commands::pipeline::{rate_text, who, Scope};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{DealTotal, Tx};
use chrono::Duration;
use serde_json::{json, Value};

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
    let stages = forecast_stages(&ctx.stages, &raw.by_stage)?;
    let quotas: Vec<i64> = tx
        .members(ctx.ws_id())
        .await?
        .into_iter()
        .filter(|m| owner.is_none_or(|o| o == m.user_id))
        .filter_map(|m| quota_for(scope, ctx, m.quota_minor).transpose())
        .collect::<Result<_, TotalOverflow>>()?;
    Ok(Forecast {
        owner,
        won_count: closed.won_count,
        won: closed.won_amount,
        open_count: raw.by_stage.iter().map(|t| t.deals).sum(),
        open: sum_minor(raw.by_stage.iter().map(|t| t.amount))?,
        stages,
        no_date: raw.no_date,
        overdue: raw.overdue,
        // No quota at all when nobody in scope has one, rather than a quota of 0.
        quota: if quotas.is_empty() {
            None
        } else {
            Some(sum_minor(quotas)?)
        },
    })
}

fn outlook_json(o: &Outlook, quota: Option<i64>) -> Value {
    json!({
        "weighted_minor": o.weighted,
        "expected_minor": o.expected,
        "best_case_minor": o.best_case,
        "attainment_expected": attainment(o.expected, quota),
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
    pub(crate) fn parse(args: &Args, ctx: &Ctx, what_if: bool) -> EngineResult<ForecastInput> {
        let scope = Scope::parse(args, ctx, "member", Period::ThisMonth)?;
        if !what_if {
            return Ok(ForecastInput {
                scope,
                conversion: None,
                deal_size: 0.0,
                what_if,
            });
        }
        let stage = crate::engine::commands::stage(args, "stage", ctx)?;
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
                        Msg::new("problem.stage_not_open").arg("stage", ctx.esc(&s.name)),
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
pub(crate) async fn forecast(
    tx: &mut Tx,
    ctx: &mut Ctx,
    input: ForecastInput,
) -> EngineResult<Reply> {
    let f = forecast_figures(tx, ctx, &input.scope).await?;
    let now = outlook(f.won, &f.stages, &WhatIf::default())?;
    let who = who(tx, ctx, f.owner).await?;
    let period_name = input.scope.label(ctx);
    if input.what_if {
        what_if(tx, ctx, &input, &f, now, &who, &period_name).await
    } else {
        Ok(show(ctx, &input, &f, now, &who, &period_name))
    }
}

/// `/forecast show`: the outlook against the quota, and what it leaves out.
fn show(
    ctx: &Ctx,
    input: &ForecastInput,
    f: &Forecast,
    now: Outlook,
    who: &str,
    period_name: &str,
) -> Reply {
    let attain = |v: i64| attainment(v, f.quota);
    let embed = Embed::new(
        ctx.m(Msg::new("forecast.title")
            .arg("who", ctx.esc(who))
            .arg("period", period_name)),
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
            .count("no_date", f.no_date.deals)
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
    reply
}

/// `/forecast what-if`: the outlook now and with the change asked for, side by side.
async fn what_if(
    tx: &mut Tx,
    ctx: &Ctx,
    input: &ForecastInput,
    f: &Forecast,
    now: Outlook,
    who: &str,
    period_name: &str,
) -> EngineResult<Reply> {
    let attain = |v: i64| attainment(v, f.quota);
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
        let history = compute(&ctx.stages, &raw.input())?;
        let current = current_conversion(&history, stage).ok_or_else(|| {
            errors::option(
                "stage",
                Msg::new("problem.no_conversion").arg("stage", ctx.esc(&stage.name)),
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
    )?;
    let mut changes = Vec::new();
    if let (Some((stage, new_rate)), Some(current)) = (&input.conversion, current_rate) {
        changes.push(
            ctx.m(Msg::new("what_if.conversion")
                .arg("stage", ctx.esc(&stage.name))
                .arg("current", ctx.percent(current))
                .arg("new", ctx.percent(*new_rate))),
        );
    }
    if input.deal_size != 0.0 {
        changes.push(ctx.m(
            Msg::new("what_if.deal_size").arg("change", signed_percent(ctx, input.deal_size)),
        ));
    }
    let side = |o: &Outlook| {
        ctx.m(Msg::new("what_if.side")
            .arg("weighted", ctx.money(o.weighted))
            .arg("expected", ctx.money(o.expected))
            .arg("best", ctx.money(o.best_case))
            .arg("attainment", rate_text(ctx, attain(o.expected))))
    };
    let delta = sim
        .expected
        .checked_sub(now.expected)
        .ok_or(TotalOverflow)?;
    let embed = Embed::new(
        ctx.m(Msg::new("what_if.title")
            .arg("who", ctx.esc(who))
            .arg("period", period_name)),
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
