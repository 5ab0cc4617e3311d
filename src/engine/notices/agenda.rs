//! A member's morning agenda: tasks due today, stale deals, deals past their close date,
//! birthdays and contracts ending soon.

use crate::engine::format::Format;
use crate::engine::reply::{Embed, Reply};
use crate::i18n::Msg;
use crate::store::AgendaData;
use chrono::NaiveDate;

/// Room for one list, in characters. Six lists of this, their names and the title stay
/// within the 6,000 characters Discord allows a message's embeds in all (a message past it is
/// refused whole, and the agenda lost), and each under a field's 1,024.
const LIST_ROOM: usize = 900;

/// A list's lines, whole, while they fit its room; then how many more the list holds (`more`,
/// given the count), so a long list never reads as complete. `total` counts the whole list,
/// of which `lines` are the first.
fn fit(f: &Format, lines: impl Iterator<Item = String>, total: i64, more: Msg) -> String {
    let tail = |n: i64| f.m(more.clone().arg("count", n));
    let mut out = String::new();
    let (mut used, mut shown) = (0usize, 0i64);
    // The tail of the longest count there can be: room kept for it after every line but a
    // list's very last.
    let tail_room = tail(total).chars().count() + 1;
    let mut lines = lines.peekable();
    while let Some(line) = lines.next() {
        let len = line.chars().count() + usize::from(shown > 0);
        let last = lines.peek().is_none() && shown + 1 >= total;
        let reserve = if last { 0 } else { tail_room };
        if used + len + reserve > LIST_ROOM {
            break;
        }
        if shown > 0 {
            out.push('\n');
        }
        out.push_str(&line);
        used += len;
        shown += 1;
    }
    if total > shown {
        if shown > 0 {
            out.push('\n');
        }
        out.push_str(&tail(total - shown));
    }
    out
}

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
        let more = Msg::new("agenda.more_tasks");
        embed = embed.field(f.t("agenda.tasks"), fit(f, items, a.tasks[0].total, more));
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
        let more = Msg::new("agenda.more_stale");
        embed = embed.field(f.t("agenda.stale"), fit(f, items, a.stale[0].total, more));
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
        let total = a.overdue_close[0].total;
        let more = Msg::new("agenda.more");
        embed = embed.field(f.t("agenda.past_close"), fit(f, items, total, more));
    }
    // Birthdays before the next workday (Friday's agenda covers the weekend's) get their
    // own field, each with its day.
    let (today_s, coming): (Vec<_>, Vec<_>) = a.birthdays.iter().partition(|b| b.day == today);
    if !today_s.is_empty() {
        let items = today_s
            .iter()
            .map(|b| format!("🎂 C-{} {}", b.id, f.esc(&b.name)));
        let more = Msg::new("agenda.more");
        embed = embed.field(
            f.t("agenda.birthdays"),
            fit(f, items, today_s[0].total, more),
        );
    }
    if !coming.is_empty() {
        let items = coming
            .iter()
            .map(|b| format!("🎂 C-{} {} · {}", b.id, f.esc(&b.name), f.date(b.day)));
        let more = Msg::new("agenda.more");
        embed = embed.field(
            f.t("agenda.birthdays_coming"),
            fit(f, items, coming[0].total, more),
        );
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
        let more = Msg::new("agenda.more");
        embed = embed.field(
            f.t("agenda.contracts"),
            fit(f, items, a.contracts[0].total, more),
        );
    }
    Some(Reply::default().with_embed(embed))
}
