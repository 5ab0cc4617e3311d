//! The weekly KPI digest a workspace's channel gets: last week against the week before, the
//! leaderboard, the quarter's funnel with its chart, the month's forecast against quota and
//! the deals at risk. Posted to a channel, so it names only what the whole team sees: under
//! `/settings visibility own` that is team totals, and the named leaderboard and at-risk deals
//! go to each manager by DM ([`digest_detail`]).

use crate::charts;
use crate::domain::analytics::{forecast_stages, outlook};
use crate::domain::figures::win_rate;
use crate::domain::money::add_minor;
use crate::domain::period::Period;
use crate::domain::pipeline::compute;
use crate::domain::role::Visibility;
use crate::domain::stage::Stage;
use crate::domain::when::resolve_local;
use crate::engine::format::Format;
use crate::engine::reply::{Attachment, Embed, Reply};
use crate::i18n::Msg;
use crate::store::{DigestWorkspace, RepLine, RiskyDeal, StageRow, Tx, WeekFigures};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

fn week_win_rate(w: &WeekFigures) -> Option<f64> {
    win_rate(w.won_count, w.lost_count)
}

/// The week a digest on `slot_date` covers: its first day, the Monday after, and their UTC
/// bounds in the workspace's zone.
fn last_week(
    f: &Format,
    slot_date: NaiveDate,
) -> (NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let this_monday =
        slot_date - Duration::days(i64::from(slot_date.weekday().num_days_from_monday()));
    let week_start = this_monday - Duration::days(7);
    let bound = |d: NaiveDate| resolve_local(d.and_time(chrono::NaiveTime::MIN), f.tz);
    (
        week_start,
        this_monday,
        bound(week_start),
        bound(this_monday),
    )
}

/// The ISO week label, `2026-W48`.
fn week_label(week_start: NaiveDate) -> String {
    format!(
        "{}-W{:02}",
        week_start.iso_week().year(),
        week_start.iso_week().week()
    )
}

/// The leaderboard, one named line per rep.
fn board_text(f: &Format, board: &[RepLine]) -> String {
    if board.is_empty() {
        return f.t("digest.no_activity");
    }
    board
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "{}. {} · {} · {} · {}",
                i + 1,
                f.esc(&r.name),
                f.money(r.won_amount),
                f.m(Msg::new("digest.won_n").arg("count", r.won_count)),
                f.m(Msg::new("digest.activities_n").count("count", r.activities))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The deals at risk, named with their owners.
fn risk_text(f: &Format, risky: &[RiskyDeal]) -> String {
    if risky.is_empty() {
        return f.t("common.none");
    }
    risky
        .iter()
        .map(|d| {
            format!(
                "D-{} {} · {} · {}",
                d.number,
                f.esc(&d.title),
                f.money(d.amount_minor),
                f.esc(&d.owner)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The named part of the week's digest (leaderboard, deals at risk) for one manager, in
/// their language, sent by DM when the channel may show team totals only.
pub async fn digest_detail(
    tx: &mut Tx,
    w: &DigestWorkspace,
    locale: &str,
    now: DateTime<Utc>,
    slot_date: NaiveDate,
) -> anyhow::Result<Reply> {
    let f = Format::stored(locale, &w.timezone, &w.currency);
    let (week_start, _, from, to) = last_week(&f, slot_date);
    let board = tx.leaderboard(w.id, from, to).await?;
    let today = now.with_timezone(&f.tz).date_naive();
    let risky = tx.at_risk(w.id, now, today, w.stale_days).await?;
    let embed =
        Embed::new(f.m(Msg::new("digest.detail_title").arg("week", week_label(week_start))))
            .field(f.t("digest.leaderboard"), board_text(&f, &board))
            .field(f.t("digest.at_risk"), risk_text(&f, &risky))
            .footer(f.t("digest.detail_footer"));
    Ok(Reply::default().with_embed(embed))
}

/// One workspace's digest for the week before `slot_date` (Monday to Sunday, local), read in
/// the digest's own transaction so every figure is of one moment.
pub async fn digest(
    tx: &mut Tx,
    w: &DigestWorkspace,
    now: DateTime<Utc>,
    slot_date: NaiveDate,
) -> anyhow::Result<Reply> {
    let f = Format::stored(&w.locale, &w.timezone, &w.currency);
    // Under "own" a rep reading the channel must not learn other reps' deals or figures.
    let team_only = Visibility::stored(&w.visibility) == Visibility::Own;
    let (week_start, this_monday, from, to) = last_week(&f, slot_date);
    let bound = |d: NaiveDate| resolve_local(d.and_time(chrono::NaiveTime::MIN), f.tz);
    let (prev_from, prev_to) = (bound(week_start - Duration::days(7)), from);
    let week = tx.week_figures(w.id, from, to).await?;
    let prev = tx.week_figures(w.id, prev_from, prev_to).await?;
    let board = tx.leaderboard(w.id, from, to).await?;
    let stages: Vec<Stage> = tx
        .stages(w.id)
        .await?
        .into_iter()
        .map(StageRow::into_stage)
        .collect();
    let (q_from, q_to) = Period::ThisQuarter.range(now, f.tz);
    let raw = tx.pipeline_raw(w.id, None, q_from, q_to).await?;
    let funnel = compute(&stages, &raw.input())?;
    let (m_from, m_to) = Period::ThisMonth.range(now, f.tz);
    let month = tx.pipeline_raw(w.id, None, m_from, m_to).await?;
    let month_stats = compute(&stages, &month.input())?;
    // The forecast is /forecast show's: open deals expected to close this month, weighted.
    let (d_from, d_until) = Period::ThisMonth.days(now, f.tz);
    let closing = tx.forecast_raw(w.id, None, d_from, d_until).await?;
    let month_weighted = outlook(
        0,
        &forecast_stages(&stages, &closing.by_stage)?,
        &Default::default(),
    )?
    .weighted;
    let quota = tx.team_quota(w.id).await?;
    let today = now.with_timezone(&f.tz).date_naive();
    let risky = tx.at_risk(w.id, now, today, w.stale_days).await?;

    let money = |v: i64| f.money(v);
    let count = |v: i64| v.to_string();
    let label = week_label(week_start);
    let mut embed = Embed::new(
        f.m(Msg::new("digest.title")
            .arg("week", &label)
            .arg("from", f.date(week_start))
            .arg("to", f.date(this_monday - Duration::days(1)))),
    );
    // Last week against the week before, one inline field each, in this order.
    let money_change = |now: i64, before: i64| f.change(now, before, &money);
    let count_change = |now: i64, before: i64| f.change(now, before, &count);
    let week_lines = [
        (
            "field.won_revenue",
            money_change(week.won_amount, prev.won_amount),
        ),
        (
            "digest.deals_won",
            count_change(week.won_count, prev.won_count),
        ),
        (
            "digest.deals_lost",
            count_change(week.lost_count, prev.lost_count),
        ),
        (
            "field.win_rate",
            f.versus(week_win_rate(&week), week_win_rate(&prev), |r| f.percent(r)),
        ),
        (
            "digest.new_pipeline",
            money_change(week.new_amount, prev.new_amount),
        ),
        (
            "digest.activities",
            count_change(week.activities, prev.activities),
        ),
        (
            "digest.satisfaction",
            f.versus(week.avg_satisfaction, prev.avg_satisfaction, |s| {
                format!("{s:.1}")
            }),
        ),
    ];
    for (key, value) in week_lines {
        embed = embed.inline(f.t(key), value);
    }
    let board_text = if team_only {
        f.t("digest.leaderboard_private")
    } else {
        board_text(&f, &board)
    };
    embed = embed.field(f.t("digest.leaderboard"), board_text);
    let funnel_text = funnel
        .stages
        .iter()
        .map(|s| {
            let conv = f.percent_or_dash(s.conversion_to_next);
            format!("{} · {} · → {conv}", f.esc(&s.name), s.reached)
        })
        .collect::<Vec<_>>()
        .join("\n");
    embed = embed.field(f.t("digest.funnel"), funnel_text);
    let expected = add_minor(month_stats.won_amount, month_weighted)?;
    let attainment = if quota > 0 {
        f.percent_whole(expected as f64 / quota as f64)
    } else {
        "—".into()
    };
    embed = embed.field(
        f.t("digest.forecast"),
        f.m(Msg::new("digest.forecast_line")
            .arg("won", money(month_stats.won_amount))
            .arg("weighted", money(month_weighted))
            .arg(
                "quota",
                if quota > 0 {
                    money(quota)
                } else {
                    "—".into()
                },
            )
            .arg("attainment", attainment)),
    );
    let risk_text = match risky.first() {
        Some(first) if team_only => f.m(Msg::new("digest.at_risk_total")
            .count("count", first.total_count)
            .arg("amount", money(first.total_amount))),
        _ => risk_text(&f, &risky),
    };
    embed = embed.field(f.t("digest.at_risk"), risk_text);
    let bars = charts::funnel_bars(&funnel, &|c| f.percent_whole(c));
    let png = charts::funnel(
        &f.m(Msg::new("digest.chart_title").arg("period", f.t("period.this-quarter"))),
        &bars,
    )?;
    embed = embed.footer(f.t("digest.footer"));
    let mut reply = Reply::default().with_embed(embed);
    reply.attachments.push(Attachment {
        filename: "funnel.png".into(),
        content_type: "image/png".into(),
        data: png,
    });
    Ok(reply)
}
