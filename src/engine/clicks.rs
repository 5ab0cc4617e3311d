//! Buttons: a click's custom id becomes the same typed command a slash command would, so it
//! passes the same permission checks. Ids name workspace-scoped numbers only; the workspace
//! always comes from the request, never from the button.

use super::commands::Command;
use super::ctx::Ctx;
use super::{EngineError, EngineResult};
use crate::domain::refs::{DealRef, TaskRef};
use crate::i18n::Msg;
use chrono::Duration;

fn stale_button() -> EngineError {
    EngineError::Invalid(Msg::new("error.unknown_button"))
}

/// Parses a custom id such as `deal:next:42`, `deal:won:42`, `task:done:7`, `task:snooze:7:1h`.
pub(crate) fn parse(custom_id: &str, ctx: &Ctx) -> EngineResult<Command> {
    let parts: Vec<&str> = custom_id.split(':').collect();
    let number = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(stale_button)
    };
    match parts.as_slice() {
        // The next stage is decided when clicked, from the deal's stage at that moment.
        ["deal", "next", n] => Ok(Command::DealNext(DealRef::Number(number(n)?))),
        ["deal", "won", n] => Ok(Command::DealWon {
            deal: DealRef::Number(number(n)?),
            amount: None,
            note: None,
        }),
        ["deal", "show", n] => Ok(Command::DealShow(DealRef::Number(number(n)?))),
        ["task", "done", id] => Ok(Command::TaskDone(TaskRef::Id(number(id)?))),
        ["task", "snooze", id, span] => {
            let by = match *span {
                "1h" => Duration::hours(1),
                "1d" => Duration::days(1),
                _ => return Err(stale_button()),
            };
            Ok(Command::TaskSnooze {
                task: TaskRef::Id(number(id)?),
                until: ctx.now + by,
            })
        }
        _ => Err(stale_button()),
    }
}
