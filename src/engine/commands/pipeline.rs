//! `/pipeline stats`: the funnel with conversion and days in stage, win rate and weighted
//! forecast, with a funnel chart; and the period-and-owner scope every report shares.

use super::date_in;
use crate::charts;
use crate::domain::period::Period;
use crate::domain::pipeline::{compute, PipelineInput, PipelineStats};
use crate::domain::role::Role;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::{Attachment, Embed};
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::Tx;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

/// What a report covers: a period and, optionally, one member's deals.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The period, in the workspace's time zone.
    pub period: Period,
    /// The member asked for, if any (visibility is applied by [`Scope::owner`]).
    pub asked: Option<i64>,
}

impl Scope {
    /// Reads `period`, `from`, `to` and the member option (`owner_option`).
    pub(super) fn parse(
        args: &Args,
        ctx: &Ctx,
        owner_option: &str,
        default: Period,
    ) -> EngineResult<Scope> {
        Ok(Scope {
            period: period(args, ctx, default)?,
            asked: args.user(owner_option),
        })
    }

    /// Whose deals the report counts: a rep limited to their own deals always gets their
    /// own, and naming someone else is refused; everyone else gets whom they asked for, or
    /// the team.
    pub(crate) fn owner(&self, ctx: &Ctx) -> EngineResult<Option<i64>> {
        match (ctx.owner_filter(), self.asked) {
            (Some(me), Some(asked)) if me != asked => {
                Err(EngineError::Forbidden(Msg::new("error.visibility_own")))
            }
            (Some(me), _) => Ok(Some(me)),
            (None, asked) => Ok(asked),
        }
    }

    /// The UTC range `[from, to)`.
    pub(crate) fn range(&self, ctx: &Ctx) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
        self.period.range(ctx.now, ctx.ws_tz)
    }

    /// The local days `[from, until)`.
    pub(crate) fn days(&self, ctx: &Ctx) -> (Option<NaiveDate>, Option<NaiveDate>) {
        self.period.days(ctx.now, ctx.ws_tz)
    }

    /// The period as data: its key and UTC bounds.
    pub(crate) fn json(&self, ctx: &Ctx) -> Value {
        let (from, to) = self.range(ctx);
        json!({
            "key": self.period.key(),
            "from": from.map(|t| t.to_rfc3339()),
            "to": to.to_rfc3339(),
        })
    }

    /// The period's name in the reader's language.
    pub(crate) fn label(&self, ctx: &Ctx) -> String {
        match self.period {
            Period::Custom { from, to } => ctx.m(Msg::new("period.custom_span")
                .arg("from", ctx.date(from))
                .arg("to", ctx.date(to))),
            p => ctx.t(&format!("period.{}", p.key())),
        }
    }
}

/// A named period or a custom `from`/`to` span (not both).
pub(super) fn period(args: &Args, ctx: &Ctx, default: Period) -> EngineResult<Period> {
    let from = date_in(args, "from", ctx, ctx.ws_tz)?;
    let to = date_in(args, "to", ctx, ctx.ws_tz)?;
    match (args.str("period"), from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(errors::option(
            "period",
            Msg::new("problem.period_and_dates"),
            Msg::new("accepted.period"),
        )),
        (Some(p), None, None) => Period::parse(p).map_err(|e| errors::period("period", e)),
        (None, None, None) => Ok(default),
        (None, from, to) => {
            let today = ctx.now.with_timezone(&ctx.ws_tz).date_naive();
            let from = from.ok_or_else(|| {
                errors::option(
                    "from",
                    Msg::new("problem.needed_with").arg("other", "to"),
                    Msg::new("accepted.date"),
                )
            })?;
            Period::custom(from, to.unwrap_or(today)).map_err(|e| errors::period("from", e))
        }
    }
}

/// The display name of a member, or "the team".
pub(crate) async fn who(tx: &mut Tx, ctx: &Ctx, owner: Option<i64>) -> EngineResult<String> {
    Ok(match owner {
        Some(id) => tx
            .member(ctx.ws_id(), id)
            .await?
            .map(|m| m.display_name)
            .unwrap_or_else(|| format!("user {id}")),
        None => ctx.t("pipeline.team"),
    })
}

/// Reads and computes the pipeline figures for an owner (already resolved).
pub(crate) async fn figures(
    tx: &mut Tx,
    ctx: &Ctx,
    owner: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) -> EngineResult<PipelineStats> {
    let (raw, stays) = tx.pipeline_inputs(ctx.ws_id(), owner, from, to).await?;
    let mut input: PipelineInput<'_> = raw.input();
    input.stays = &stays;
    Ok(compute(&ctx.stages, &input)?)
}

/// The figures as data (`salesbot report pipeline --json`).
pub(crate) fn pipeline_json(
    s: &PipelineStats,
    scope: &Scope,
    ctx: &Ctx,
    owner: Option<i64>,
) -> Value {
    json!({
        "report": "pipeline",
        "period": scope.json(ctx),
        "owner": owner,
        "currency": ctx.currency.code(),
        "stages": s.stages.iter().map(|st| json!({
            "name": st.name,
            "probability": st.probability,
            "open_count": st.open_count,
            "open_amount_minor": st.open_amount,
            "weighted_amount_minor": st.weighted_amount,
            "reached": st.reached,
            "conversion_to_next": st.conversion_to_next,
            "stays": st.stays,
            "avg_days_in_stage": st.avg_days_in_stage,
        })).collect::<Vec<_>>(),
        "open_count": s.open_count,
        "open_amount_minor": s.open_amount,
        "weighted_amount_minor": s.weighted_amount,
        "won_count": s.won_count,
        "won_amount_minor": s.won_amount,
        "lost_count": s.lost_count,
        "lost_amount_minor": s.lost_amount,
        "win_rate": s.win_rate,
        "avg_deal_minor": s.avg_won_amount,
        "avg_cycle_days": s.avg_cycle_days,
    })
}

/// "3.5 days", or a dash.
pub(crate) fn days_text(ctx: &Ctx, days: Option<f64>) -> String {
    days.map(|d| ctx.m(Msg::new("pipeline.days").count("days", format!("{d:.1}"))))
        .unwrap_or_else(|| "—".to_string())
}

/// A percentage, or a dash.
pub(crate) fn rate_text(ctx: &Ctx, rate: Option<f64>) -> String {
    rate.map(|r| ctx.percent(r))
        .unwrap_or_else(|| "—".to_string())
}

/// Attaches a PNG; a chart that fails to draw is logged and left out, the text has the
/// same numbers.
pub(crate) fn attach(reply: &mut Reply, name: &str, png: Result<Vec<u8>, charts::ChartError>) {
    match png {
        Ok(data) => reply.attachments.push(Attachment {
            filename: name.into(),
            content_type: "image/png".into(),
            data,
        }),
        Err(e) => tracing::warn!(error = %e, chart = name, "chart not drawn"),
    }
}

pub(super) async fn stats(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    let s = figures(tx, ctx, owner, from, to).await?;
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let lines = s
        .stages
        .iter()
        .map(|st| {
            ctx.m(Msg::new("pipeline.stage_line")
                .arg("stage", ctx.esc(&st.name))
                .arg("count", st.open_count)
                .arg("amount", ctx.money(st.open_amount))
                .arg("weighted", ctx.money(st.weighted_amount))
                .arg("reached", st.reached)
                .arg("conversion", rate_text(ctx, st.conversion_to_next))
                .arg("days", days_text(ctx, st.avg_days_in_stage)))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let count_amount = |count: i64, amount: i64| {
        ctx.m(Msg::new("pipeline.count_amount")
            .arg("count", count)
            .arg("amount", ctx.money(amount)))
    };
    let embed = Embed::new(
        ctx.m(Msg::new("pipeline.title")
            .arg("who", ctx.esc(&who))
            .arg("period", &period_name)),
    )
    .description(lines)
    .inline(
        ctx.t("field.open_pipeline"),
        count_amount(s.open_count, s.open_amount),
    )
    .inline(
        ctx.t("field.weighted_forecast"),
        ctx.money(s.weighted_amount),
    )
    .inline(ctx.t("field.won"), count_amount(s.won_count, s.won_amount))
    .inline(
        ctx.t("field.lost"),
        count_amount(s.lost_count, s.lost_amount),
    )
    .inline(ctx.t("field.win_rate"), rate_text(ctx, s.win_rate))
    .inline(
        ctx.t("field.avg_deal"),
        s.avg_won_amount
            .map(|a| ctx.money(a))
            .unwrap_or_else(|| "—".into()),
    )
    .inline(ctx.t("field.avg_cycle"), days_text(ctx, s.avg_cycle_days))
    .footer(ctx.t("pipeline.footer"));
    let mut reply = Reply::default().with_embed(embed);
    let empty = s.open_count == 0
        && s.won_count == 0
        && s.lost_count == 0
        && s.stages.iter().all(|st| st.reached == 0 && st.stays == 0);
    if empty {
        reply.content = ctx.t("pipeline.empty");
    } else {
        let bars = charts::funnel_bars(&s, &|c| ctx.percent(c));
        let title = ctx.m(Msg::new("pipeline.chart_title")
            .arg("who", &who)
            .arg("period", &period_name));
        attach(&mut reply, "funnel.png", charts::funnel(&title, &bars));
    }
    reply.data = Some(pipeline_json(&s, &scope, ctx, owner));
    Ok(reply)
}

/// Whether the caller may see the whole team's figures by default.
pub(crate) fn sees_team(ctx: &Ctx) -> bool {
    ctx.role != Role::Rep
}
