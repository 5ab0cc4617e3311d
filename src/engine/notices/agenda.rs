//! A member's morning agenda: tasks due today, stale deals, deals past their close date,
//! birthdays and contracts ending soon.

use crate::engine::format::Format;
use crate::engine::reply::{Embed, Reply};
use crate::i18n::Msg;
use crate::store::AgendaData;
use chrono::NaiveDate;

/// The agenda DM for `today`, or `None` when there is nothing to say (no DM is sent then).
pub fn agenda(f: &Format, today: NaiveDate, a: &AgendaData) -> Option<Reply> {
    if a.tasks.is_empty()
        && a.stale.is_empty()
        && a.overdue_close.is_empty()
        && a.birthdays.is_empty()
        && a.contracts.is_empty()
    {
        return None;
    }
    let lines = |items: Vec<String>| items.join("\n");
    let mut embed = Embed::new(f.m(Msg::new("agenda.title").arg("date", f.date(today))));
    if !a.tasks.is_empty() {
        let items = a.tasks.iter().map(|t| {
            let mark = if t.overdue {
                format!(" · {}", f.t("task.overdue"))
            } else {
                String::new()
            };
            format!(
                "T-{} · {} · {}{mark}",
                t.id,
                f.time(t.due_at),
                f.esc(&t.title)
            )
        });
        embed = embed.field(f.t("agenda.tasks"), lines(items.collect()));
    }
    if !a.stale.is_empty() {
        let items = a.stale.iter().map(|d| {
            format!(
                "D-{} {} · {} · {}",
                d.number,
                f.esc(&d.title),
                f.esc(&d.stage),
                f.m(Msg::new("deal.idle_days").count("days", d.idle_days))
            )
        });
        embed = embed.field(f.t("agenda.stale"), lines(items.collect()));
    }
    if !a.overdue_close.is_empty() {
        let items = a.overdue_close.iter().map(|d| {
            format!(
                "D-{} {} · {}",
                d.number,
                f.esc(&d.title),
                f.date(d.expected_close)
            )
        });
        embed = embed.field(f.t("agenda.past_close"), lines(items.collect()));
    }
    // Birthdays before the next workday (Friday's agenda covers the weekend's) get their
    // own field, each with its day.
    let (today_s, coming): (Vec<_>, Vec<_>) = a.birthdays.iter().partition(|b| b.day == today);
    if !today_s.is_empty() {
        let items = today_s
            .iter()
            .map(|b| format!("🎂 C-{} {}", b.id, f.esc(&b.name)));
        embed = embed.field(f.t("agenda.birthdays"), lines(items.collect()));
    }
    if !coming.is_empty() {
        let items = coming
            .iter()
            .map(|b| format!("🎂 C-{} {} · {}", b.id, f.esc(&b.name), f.date(b.day)));
        embed = embed.field(f.t("agenda.birthdays_coming"), lines(items.collect()));
    }
    if !a.contracts.is_empty() {
        let items = a.contracts.iter().map(|c| {
            format!(
                "{} · {} · {}",
                f.esc(&c.name),
                f.date(c.contract_end),
                f.m(if c.days_left == 1 {
                    Msg::new("agenda.tomorrow")
                } else {
                    Msg::new("agenda.in_days").count("days", c.days_left)
                })
            )
        });
        embed = embed.field(f.t("agenda.contracts"), lines(items.collect()));
    }
    Some(Reply::default().with_embed(embed))
}
