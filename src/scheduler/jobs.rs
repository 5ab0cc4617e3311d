//! The scheduled work, as plain async functions given `now`: the scheduler calls them every
//! minute, the console and the tests call them directly. Each decision to send is written to
//! the outbox in the same transaction as the bookkeeping that says it was made, under a key
//! for its logical slot, so two schedulers, a restart or a missed tick never double or drop it.

use crate::charts;
use crate::domain::locale::Locale;
use crate::domain::money::{format_amount, Currency};
use crate::domain::period::Period;
use crate::domain::pipeline::compute;
use crate::domain::stage::Stage;
use crate::domain::when::{format_date, format_datetime, resolve_local};
use crate::engine::{Attachment, Embed, Reply};
use crate::i18n::Msg;
use crate::outbox::payload;
use crate::store::{
    AgendaData, AgendaMember, DigestWorkspace, DueTask, NewOutbox, StageRow, Store, Tx, WeekFigures,
};
use anyhow::Context as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;

/// How many reminders one transaction claims.
const REMINDER_BATCH: i64 = 200;

/// Language, zone and currency to render one message in.
struct Fmt {
    locale: Locale,
    tz: Tz,
    currency: Currency,
}

impl Fmt {
    fn new(locale: &str, tz: &str, currency: &str) -> Fmt {
        Fmt {
            locale: Locale::from_tag(locale).unwrap_or_default(),
            // Stored settings were validated when written; fall back rather than go silent.
            tz: tz.parse().unwrap_or(Tz::UTC),
            currency: Currency::parse(currency)
                .unwrap_or_else(|_| Currency::parse("USD").expect("USD is ISO 4217")),
        }
    }
    fn t(&self, key: &'static str) -> String {
        Msg::new(key).render(self.locale)
    }
    fn m(&self, msg: Msg) -> String {
        msg.render(self.locale)
    }
    fn money(&self, minor: i64) -> String {
        format_amount(minor, self.currency, self.locale)
    }
    fn time(&self, t: DateTime<Utc>) -> String {
        format_datetime(t, self.tz, self.locale)
    }
    fn date(&self, d: NaiveDate) -> String {
        format_date(d, self.locale)
    }
}

/// What one run of the scheduled work enqueued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Reminders.
    pub reminders: usize,
    /// Agendas (not counting members with nothing to say).
    pub agendas: usize,
    /// Digests.
    pub digests: usize,
}

/// Runs everything that is due at `now`.
pub async fn run_due(store: &Store, now: DateTime<Utc>) -> anyhow::Result<Enqueued> {
    Ok(Enqueued {
        reminders: reminders(store, now).await?,
        agendas: agendas(store, now).await?,
        digests: digests(store, now).await?,
    })
}

/// Buttons in a DM carry their workspace: a DM has no server to take it from.
fn dm_button(ws: i64, action: &str) -> String {
    format!("w{ws}:{action}")
}

fn reminder(t: &DueTask) -> Reply {
    let f = Fmt::new(&t.locale, &t.timezone, "USD");
    let mut embed =
        Embed::new(format!("T-{} · {}", t.id, t.title)).inline(f.t("field.due"), f.time(t.due_at));
    if let (Some(n), Some(title)) = (t.deal_number, &t.deal_title) {
        embed = embed.inline(f.t("field.deal"), format!("D-{n} {title}"));
    }
    if let Some(name) = &t.contact_name {
        embed = embed.inline(f.t("field.contact"), name.clone());
    }
    let mut reply = Reply::text(f.m(Msg::new("reminder.due").arg("title", &t.title)))
        .with_embed(embed)
        .with_button(
            dm_button(t.workspace_id, &format!("task:done:{}", t.id)),
            f.t("button.done"),
        )
        .with_button(
            dm_button(t.workspace_id, &format!("task:snooze:{}:1h", t.id)),
            f.t("button.snooze_1h"),
        )
        .with_button(
            dm_button(t.workspace_id, &format!("task:snooze:{}:1d", t.id)),
            f.t("button.snooze_1d"),
        );
    let open = match (t.deal_number, t.contact_id) {
        (Some(n), _) => Some(format!("deal:show:{n}")),
        (None, Some(c)) => Some(format!("contact:show:{c}")),
        (None, None) => None,
    };
    if let Some(action) = open {
        reply = reply.with_button(dm_button(t.workspace_id, &action), f.t("button.open"));
    }
    reply
}

/// Enqueues a DM for every reminder that has come due (once per due time: a snooze re-arms it).
pub async fn reminders(store: &Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = store.begin().await?;
        let due = tx.due_tasks(now, REMINDER_BATCH).await?;
        for t in &due {
            let reply = reminder(t);
            let (json, files) = payload(&reply);
            let message = NewOutbox {
                dedupe_key: format!("task:{}:{}:{}", t.workspace_id, t.id, t.due_at.timestamp()),
                kind: "task",
                target: "dm",
                user_id: Some(t.assignee_id),
                channel_id: None,
                payload: json,
                files,
                due_at: t.due_at,
                // Still recorded, so the decision is visible; never sent.
                status: if t.dm_closed { "skipped" } else { "pending" },
                note: t
                    .dm_closed
                    .then(|| "the member does not accept direct messages".to_string()),
            };
            if tx.enqueue(t.workspace_id, &message).await? && !t.dm_closed {
                total += 1;
            }
            tx.mark_reminded(t.workspace_id, t.id, t.due_at).await?;
        }
        tx.commit().await?;
        if (due.len() as i64) < REMINDER_BATCH {
            return Ok(total);
        }
    }
}

/// The local day of `now` in `tz`, as UTC bounds.
fn local_day(now: DateTime<Utc>, tz: Tz) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&tz).date_naive();
    let start = resolve_local(today.and_time(chrono::NaiveTime::MIN), tz);
    let end = resolve_local(
        (today + Duration::days(1)).and_time(chrono::NaiveTime::MIN),
        tz,
    );
    (today, start, end)
}

fn agenda_reply(f: &Fmt, today: NaiveDate, a: &AgendaData) -> Option<Reply> {
    if a.tasks.is_empty()
        && a.stale.is_empty()
        && a.overdue_close.is_empty()
        && a.birthdays.is_empty()
        && a.contracts.is_empty()
    {
        return None;
    }
    let mut embed = Embed::new(f.m(Msg::new("agenda.title").arg("date", f.date(today))));
    if !a.tasks.is_empty() {
        let lines = a
            .tasks
            .iter()
            .map(|(id, title, due, overdue)| {
                let mark = if *overdue {
                    format!(" · {}", f.t("task.overdue"))
                } else {
                    String::new()
                };
                format!("T-{id} · {} · {title}{mark}", f.time(*due))
            })
            .collect::<Vec<_>>();
        embed = embed.field(f.t("agenda.tasks"), lines.join("\n"));
    }
    if !a.stale.is_empty() {
        let lines = a.stale.iter().map(|(n, title, stage, days)| {
            format!(
                "D-{n} {title} · {stage} · {}",
                f.m(Msg::new("deal.idle_days").arg("days", days))
            )
        });
        embed = embed.field(f.t("agenda.stale"), lines.collect::<Vec<_>>().join("\n"));
    }
    if !a.overdue_close.is_empty() {
        let lines = a
            .overdue_close
            .iter()
            .map(|(n, title, close)| format!("D-{n} {title} · {}", f.date(*close)));
        embed = embed.field(
            f.t("agenda.past_close"),
            lines.collect::<Vec<_>>().join("\n"),
        );
    }
    if !a.birthdays.is_empty() {
        let lines = a
            .birthdays
            .iter()
            .map(|(id, name)| format!("🎂 C-{id} {name}"));
        embed = embed.field(
            f.t("agenda.birthdays"),
            lines.collect::<Vec<_>>().join("\n"),
        );
    }
    if !a.contracts.is_empty() {
        let lines = a.contracts.iter().map(|(name, end, days)| {
            format!(
                "{name} · {} · {}",
                f.date(*end),
                f.m(if *days == 1 {
                    Msg::new("agenda.tomorrow")
                } else {
                    Msg::new("agenda.in_days").arg("days", days)
                })
            )
        });
        embed = embed.field(
            f.t("agenda.contracts"),
            lines.collect::<Vec<_>>().join("\n"),
        );
    }
    Some(Reply::default().with_embed(embed))
}

fn is_workday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Enqueues the morning agenda of every member whose agenda time has come today (their zone,
/// workdays). A member with nothing to say gets no DM; the slot is recorded as skipped.
pub async fn agendas(store: &Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let members = store.agenda_members().await?;
    let mut total = 0;
    for m in members {
        total += agenda_for(store, &m, now)
            .await
            .with_context(|| format!("agenda of {} in {}", m.user_id, m.workspace_id))?;
    }
    Ok(total)
}

async fn agenda_for(store: &Store, m: &AgendaMember, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let f = Fmt::new(&m.locale, &m.timezone, &m.currency);
    let (today, _, day_end) = local_day(now, f.tz);
    let at = resolve_local(today.and_time(m.agenda_time), f.tz);
    if !is_workday(today) || now < at {
        return Ok(0);
    }
    let key = format!("agenda:{}:{}:{}", m.workspace_id, m.user_id, today);
    let mut tx = store.begin().await?;
    if !tx
        .taken_slots(m.workspace_id, std::slice::from_ref(&key))
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let data = tx
        .agenda(m.workspace_id, m.user_id, now, day_end, today, m.stale_days)
        .await?;
    let reply = agenda_reply(&f, today, &data);
    let (json, files) = reply.as_ref().map(payload).unwrap_or_default();
    let sent = reply.is_some();
    let message = NewOutbox {
        dedupe_key: key,
        kind: "agenda",
        target: "dm",
        user_id: Some(m.user_id),
        channel_id: None,
        payload: json,
        files,
        due_at: at,
        status: if sent { "pending" } else { "skipped" },
        note: (!sent).then(|| "nothing to say".to_string()),
    };
    let wrote = tx.enqueue(m.workspace_id, &message).await?;
    tx.commit().await?;
    Ok(usize::from(wrote && sent))
}

/// The instant of this ISO week's digest in the workspace's zone, and the week's label.
pub fn digest_slot(
    now: DateTime<Utc>,
    tz: Tz,
    weekday: i16,
    time: chrono::NaiveTime,
) -> (NaiveDate, DateTime<Utc>, String) {
    let today = now.with_timezone(&tz).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let date = monday + Duration::days(i64::from(weekday.clamp(1, 7) - 1));
    let week = date.iso_week();
    (
        date,
        resolve_local(date.and_time(time), tz),
        format!("{}-W{:02}", week.year(), week.week()),
    )
}

fn change(f: &Fmt, now: i64, before: i64, show: &dyn Fn(i64) -> String) -> String {
    let delta = if before == 0 {
        if now == 0 {
            "±0".to_string()
        } else {
            f.t("digest.new")
        }
    } else {
        let pct = (now - before) as f64 * 100.0 / before as f64;
        // The arrow carries the sign.
        format!("{}{:.0}%", if pct >= 0.0 { "▲" } else { "▼" }, pct.abs())
    };
    f.m(Msg::new("digest.change")
        .arg("value", show(now))
        .arg("delta", delta)
        .arg("before", show(before)))
}

/// "this week (week before: that)" for figures that may be undefined (no deals closed).
fn versus(f: &Fmt, now: Option<f64>, before: Option<f64>, show: impl Fn(f64) -> String) -> String {
    let text = |v: Option<f64>| v.map(&show).unwrap_or_else(|| "—".into());
    f.m(Msg::new("digest.versus")
        .arg("value", text(now))
        .arg("before", text(before)))
}

fn win_rate(w: &WeekFigures) -> Option<f64> {
    let closed = w.won_count + w.lost_count;
    (closed > 0).then(|| w.won_count as f64 / closed as f64)
}

/// Builds one workspace's digest for the week before `slot_date` (Monday to Sunday, local).
pub async fn digest_reply(
    tx: &mut Tx,
    w: &DigestWorkspace,
    now: DateTime<Utc>,
    slot_date: NaiveDate,
) -> anyhow::Result<Reply> {
    let f = Fmt::new(&w.locale, &w.timezone, &w.currency);
    let this_monday =
        slot_date - Duration::days(i64::from(slot_date.weekday().num_days_from_monday()));
    let week_start = this_monday - Duration::days(7);
    let bound = |d: NaiveDate| resolve_local(d.and_time(chrono::NaiveTime::MIN), f.tz);
    let (from, to) = (bound(week_start), bound(this_monday));
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
    let funnel = compute(&stages, &raw.input());
    let (m_from, m_to) = Period::ThisMonth.range(now, f.tz);
    let month = tx.pipeline_raw(w.id, None, m_from, m_to).await?;
    let month_stats = compute(&stages, &month.input());
    // The forecast is /forecast show's: open deals expected to close this month, weighted.
    let (d_from, d_until) = Period::ThisMonth.days(now, f.tz);
    let closing = tx.forecast_raw(w.id, None, d_from, d_until).await?;
    let month_weighted = crate::domain::analytics::outlook(
        0,
        &crate::domain::analytics::forecast_stages(&stages, &closing.by_stage),
        &Default::default(),
    )
    .weighted;
    let quota = tx.team_quota(w.id).await?;
    let today = now.with_timezone(&f.tz).date_naive();
    let risky = tx.at_risk(w.id, now, today, w.stale_days).await?;

    let money = |v: i64| f.money(v);
    let count = |v: i64| v.to_string();
    let label = format!(
        "{}-W{:02}",
        week_start.iso_week().year(),
        week_start.iso_week().week()
    );
    let mut embed = Embed::new(
        f.m(Msg::new("digest.title")
            .arg("week", &label)
            .arg("from", f.date(week_start))
            .arg("to", f.date(this_monday - Duration::days(1)))),
    );
    embed = embed
        .inline(
            f.t("field.won_revenue"),
            change(&f, week.won_amount, prev.won_amount, &money),
        )
        .inline(
            f.t("digest.deals_won"),
            change(&f, week.won_count, prev.won_count, &count),
        )
        .inline(
            f.t("digest.deals_lost"),
            change(&f, week.lost_count, prev.lost_count, &count),
        )
        .inline(
            f.t("field.win_rate"),
            versus(&f, win_rate(&week), win_rate(&prev), |r| {
                format!("{:.1}%", r * 100.0)
            }),
        )
        .inline(
            f.t("digest.new_pipeline"),
            change(&f, week.new_amount, prev.new_amount, &money),
        )
        .inline(
            f.t("digest.activities"),
            change(&f, week.activities, prev.activities, &count),
        )
        .inline(
            f.t("digest.satisfaction"),
            versus(&f, week.avg_satisfaction, prev.avg_satisfaction, |s| {
                format!("{s:.1}")
            }),
        );
    let board_text = if board.is_empty() {
        f.t("digest.no_activity")
    } else {
        board
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{}. {} · {} · {} · {}",
                    i + 1,
                    r.name,
                    money(r.won_amount),
                    f.m(Msg::new("digest.won_n").arg("count", r.won_count)),
                    f.m(Msg::new("digest.activities_n").arg("count", r.activities))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    embed = embed.field(f.t("digest.leaderboard"), board_text);
    let funnel_text = funnel
        .stages
        .iter()
        .map(|s| {
            let conv = s
                .conversion_to_next
                .map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or_else(|| "—".into());
            format!("{} · {} · → {conv}", s.name, s.reached)
        })
        .collect::<Vec<_>>()
        .join("\n");
    embed = embed.field(f.t("digest.funnel"), funnel_text);
    let expected = month_stats.won_amount + month_weighted;
    let attainment = if quota > 0 {
        format!("{:.0}%", expected as f64 * 100.0 / quota as f64)
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
    let risk_text = if risky.is_empty() {
        f.t("common.none")
    } else {
        risky
            .iter()
            .map(|(n, title, amount, owner)| {
                format!("D-{n} {title} · {} · {owner}", money(*amount))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    embed = embed.field(f.t("digest.at_risk"), risk_text);
    let bars = charts::funnel_bars(&funnel, &|c| format!("{:.0}%", c * 100.0));
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

/// Enqueues every workspace's weekly digest whose time has come. A digest missed while the
/// bot was down is sent on start-up if still within its day; an older one is recorded as
/// skipped, never sent late and never twice.
pub async fn digests(store: &Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut total = 0;
    for w in store.digest_workspaces().await? {
        total += digest_for(store, &w, now)
            .await
            .with_context(|| format!("digest of workspace {}", w.id))?;
    }
    Ok(total)
}

/// Last week's digest, if it never went out (the bot was down past its day), is recorded as
/// skipped, so the record shows every week and none is sent late.
async fn record_missed_last_week(
    store: &Store,
    w: &DigestWorkspace,
    now: DateTime<Utc>,
    tz: Tz,
) -> anyhow::Result<()> {
    let (date, at, week) =
        digest_slot(now - Duration::days(7), tz, w.digest_weekday, w.digest_time);
    let key = format!("digest:{}:{week}", w.id);
    let mut tx = store.begin().await?;
    if !tx
        .taken_slots(w.id, std::slice::from_ref(&key))
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let message = NewOutbox {
        dedupe_key: key,
        kind: "digest",
        target: "channel",
        user_id: None,
        channel_id: Some(w.digest_channel_id),
        payload: serde_json::Value::Null,
        files: Vec::new(),
        due_at: at,
        status: "skipped",
        note: Some(format!("missed: the bot was not running on {date}")),
    };
    tx.enqueue(w.id, &message).await?;
    tx.commit().await?;
    Ok(())
}

async fn digest_for(
    store: &Store,
    w: &DigestWorkspace,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let tz: Tz = w.timezone.parse().unwrap_or(Tz::UTC);
    record_missed_last_week(store, w, now, tz).await?;
    let (date, at, week) = digest_slot(now, tz, w.digest_weekday, w.digest_time);
    if now < at {
        return Ok(0);
    }
    let key = format!("digest:{}:{week}", w.id);
    let mut tx = store.begin().await?;
    if !tx
        .taken_slots(w.id, std::slice::from_ref(&key))
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let still_today = now.with_timezone(&tz).date_naive() == date;
    let (reply, status, note) = if still_today {
        (
            Some(digest_reply(&mut tx, w, now, date).await?),
            "pending",
            None,
        )
    } else {
        (
            None,
            "skipped",
            Some(format!("missed: the bot was not running on {date}")),
        )
    };
    let (json, files) = reply.as_ref().map(payload).unwrap_or_default();
    let message = NewOutbox {
        dedupe_key: key,
        kind: "digest",
        target: "channel",
        user_id: None,
        channel_id: Some(w.digest_channel_id),
        payload: json,
        files,
        due_at: at,
        status,
        note,
    };
    let wrote = tx.enqueue(w.id, &message).await?;
    tx.commit().await?;
    Ok(usize::from(wrote && status == "pending"))
}
