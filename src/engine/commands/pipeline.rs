//! `/pipeline stats`: the funnel, win rate and weighted forecast.

use super::date;
use crate::domain::period::Period;
use crate::domain::pipeline::{compute, PipelineInput, PipelineStats};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::Tx;

/// Input of `/pipeline stats`.
#[derive(Clone, Debug)]
pub struct StatsInput {
    period: Period,
    owner: Option<i64>,
}

impl StatsInput {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<StatsInput> {
        let from = date(args, "from", ctx)?;
        let to = date(args, "to", ctx)?;
        let named = args.str("period");
        let period = match (named, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(errors::option(
                    "period",
                    Msg::new("problem.period_and_dates"),
                    Msg::new("accepted.period"),
                ));
            }
            (Some(p), None, None) => Period::parse(p).map_err(|e| errors::period("period", e))?,
            (None, None, None) => Period::ThisQuarter,
            (None, from, to) => {
                let today = ctx.now.with_timezone(&ctx.ws_tz).date_naive();
                let from = from.ok_or_else(|| {
                    errors::option(
                        "from",
                        Msg::new("problem.needed_with").arg("other", "to"),
                        Msg::new("accepted.date"),
                    )
                })?;
                Period::custom(from, to.unwrap_or(today)).map_err(|e| errors::period("from", e))?
            }
        };
        Ok(StatsInput {
            period,
            owner: args.user("owner"),
        })
    }
}

/// Reads and computes the pipeline figures for the caller, applying visibility.
pub(crate) async fn figures(
    tx: &mut Tx,
    ctx: &Ctx,
    input: &StatsInput,
) -> EngineResult<(PipelineStats, Option<i64>)> {
    let owner = match (ctx.owner_filter(), input.owner) {
        (Some(me), Some(asked)) if me != asked => {
            return Err(EngineError::Forbidden(Msg::new("error.visibility_own")))
        }
        (Some(me), _) => Some(me),
        (None, asked) => asked,
    };
    let (from, to) = input.period.range(ctx.now, ctx.ws_tz);
    let raw = tx.pipeline_raw(ctx.ws_id(), owner, from, to).await?;
    let stats = compute(
        &ctx.stages,
        &PipelineInput {
            open_by_stage: &raw.open_by_stage,
            furthest_histogram: &raw.furthest_histogram,
            won: (raw.closed.won_count, raw.closed.won_amount),
            lost: (raw.closed.lost_count, raw.closed.lost_amount),
            won_cycle_days_sum: raw.closed.won_cycle_days_sum,
        },
    );
    Ok((stats, owner))
}

pub(super) async fn stats(tx: &mut Tx, ctx: &mut Ctx, input: StatsInput) -> EngineResult<Reply> {
    let (s, owner) = figures(tx, ctx, &input).await?;
    let who = match owner {
        Some(id) => tx
            .member(ctx.ws_id(), id)
            .await?
            .map(|m| m.display_name)
            .unwrap_or_else(|| format!("user {id}")),
        None => ctx.t("pipeline.team"),
    };
    let period_name = ctx.t(&format!("period.{}", input.period.key()));
    let dash = "—".to_string();
    let lines = s
        .stages
        .iter()
        .map(|st| {
            let conv = st
                .conversion_to_next
                .map(|c| ctx.percent(c))
                .unwrap_or_else(|| dash.clone());
            ctx.m(Msg::new("pipeline.stage_line")
                .arg("stage", &st.name)
                .arg("count", st.open_count)
                .arg("amount", ctx.money(st.open_amount))
                .arg("weighted", ctx.money(st.weighted_amount))
                .arg("reached", st.reached)
                .arg("conversion", conv))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut embed = Embed::new(
        ctx.m(Msg::new("pipeline.title")
            .arg("who", who)
            .arg("period", period_name)),
    )
    .description(lines);
    embed = embed
        .inline(
            ctx.t("field.open_pipeline"),
            ctx.m(Msg::new("pipeline.count_amount")
                .arg("count", s.open_count)
                .arg("amount", ctx.money(s.open_amount))),
        )
        .inline(
            ctx.t("field.weighted_forecast"),
            ctx.money(s.weighted_amount),
        )
        .inline(
            ctx.t("field.won"),
            ctx.m(Msg::new("pipeline.count_amount")
                .arg("count", s.won_count)
                .arg("amount", ctx.money(s.won_amount))),
        )
        .inline(
            ctx.t("field.lost"),
            ctx.m(Msg::new("pipeline.count_amount")
                .arg("count", s.lost_count)
                .arg("amount", ctx.money(s.lost_amount))),
        )
        .inline(
            ctx.t("field.win_rate"),
            s.win_rate
                .map(|w| ctx.percent(w))
                .unwrap_or_else(|| dash.clone()),
        )
        .inline(
            ctx.t("field.avg_deal"),
            s.avg_won_amount
                .map(|a| ctx.money(a))
                .unwrap_or_else(|| dash.clone()),
        )
        .inline(
            ctx.t("field.avg_cycle"),
            s.avg_cycle_days
                .map(|d| ctx.m(Msg::new("pipeline.days").arg("days", format!("{d:.1}"))))
                .unwrap_or_else(|| dash.clone()),
        )
        .footer(ctx.t("pipeline.footer"));
    let mut reply = Reply::default().with_embed(embed);
    if s.open_count == 0
        && s.won_count == 0
        && s.lost_count == 0
        && s.stages.iter().all(|st| st.reached == 0)
    {
        reply.content = ctx.t("pipeline.empty");
    }
    Ok(reply)
}
