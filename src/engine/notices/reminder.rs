//! A reminder's direct message: the task, its deal or contact, and buttons to finish it,
//! put it off or open what it is about.

use crate::engine::clicks::{ButtonId, Click, Snooze};
use crate::engine::format::Format;
use crate::engine::reply::{Embed, Reply};
use crate::i18n::Msg;
use crate::store::DueTask;

/// The DM for a task that came due, in the assignee's language and zone.
pub fn reminder(t: &DueTask) -> Reply {
    // A reminder shows no amounts, so the currency does not matter.
    let f = Format::stored(&t.locale, &t.timezone, "USD");
    // A DM has no server: its buttons carry the workspace.
    let button = |click| ButtonId::in_dm(t.workspace_id, click).to_string();
    let mut embed = Embed::new(format!("T-{} · {}", t.id, f.esc(&t.title)))
        .inline(f.t("field.due"), f.time(t.due_at));
    if let (Some(n), Some(title)) = (t.deal_number, &t.deal_title) {
        embed = embed.inline(f.t("field.deal"), format!("D-{n} {}", f.esc(title)));
    }
    if let Some(name) = &t.contact_name {
        embed = embed.inline(f.t("field.contact"), f.esc(name));
    }
    let mut reply = Reply::text(f.m(Msg::new("reminder.due").arg("title", f.esc(&t.title))))
        .with_embed(embed)
        .with_button(button(Click::TaskDone(t.id)), f.t("button.done"))
        .with_button(
            button(Click::TaskSnooze(t.id, Snooze::Hour)),
            f.t("button.snooze_1h"),
        )
        .with_button(
            button(Click::TaskSnooze(t.id, Snooze::Day)),
            f.t("button.snooze_1d"),
        );
    let open = match (t.deal_number, t.contact_id) {
        (Some(n), _) => Some(Click::DealShow(n)),
        (None, Some(c)) => Some(Click::ContactShow(c)),
        (None, None) => None,
    };
    if let Some(click) = open {
        reply = reply.with_button(button(click), f.t("button.open"));
    }
    reply
}
