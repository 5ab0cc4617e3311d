//! Buttons: a click's custom id becomes the same typed command a slash command would, so it
//! passes the same permission checks. Ids name workspace-scoped numbers only; the workspace
//! always comes from the request, never from the button.

use super::commands::Command;
use super::ctx::Ctx;
use super::{EngineError, EngineResult};
use crate::domain::refs::{ContactRef, DealRef, TaskRef};
use crate::i18n::Msg;
use chrono::Duration;

fn stale_button() -> EngineError {
    EngineError::Invalid(Msg::new("error.unknown_button"))
}

/// Buttons in DMs carry `w{workspace}:` (a DM has no server); it must name the request's
/// workspace, which the Discord adapter took from it and the engine checked membership of.
fn strip_workspace<'a>(custom_id: &'a str, ctx: &Ctx) -> EngineResult<&'a str> {
    match workspace_of(custom_id) {
        Some((ws, rest)) if ws == ctx.ws_id() => Ok(rest),
        Some(_) => Err(stale_button()),
        None => Ok(custom_id),
    }
}

/// The workspace a DM button names, and the rest of its custom id.
pub fn workspace_of(custom_id: &str) -> Option<(i64, &str)> {
    let (head, rest) = custom_id.split_once(':')?;
    let ws = head.strip_prefix('w')?.parse::<i64>().ok()?;
    Some((ws, rest))
}

/// Parses a custom id such as `deal:next:42`, `deal:won:42`, `task:done:7`, `task:snooze:7:1h`.
pub(crate) fn parse(custom_id: &str, ctx: &Ctx) -> EngineResult<Command> {
    let custom_id = strip_workspace(custom_id, ctx)?;
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
        ["contact", "show", id] => Ok(Command::ContactShow(ContactRef::Id(number(id)?))),
        // Losing a deal and logging an interaction need text: the click opens a form.
        ["deal", "lost", n] => Ok(Command::DealLostForm(DealRef::Number(number(n)?))),
        ["deal", "log", n] => Ok(Command::DealLogForm(DealRef::Number(number(n)?))),
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

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

/// Checks a form field like a text option: required, bounded, no control characters or markup.
fn text_field(fields: &[(String, String)], name: &'static str, max: usize) -> EngineResult<String> {
    let value = field(fields, name);
    let problem = if value.is_empty() {
        Some(Msg::new("problem.empty"))
    } else if value.chars().count() > max {
        Some(
            Msg::new("problem.too_long")
                .arg("given", value.chars().count())
                .arg("max", max),
        )
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        Some(Msg::new("problem.control_chars"))
    } else if ["@everyone", "@here", "<@", "<#", "</"]
        .iter()
        .any(|m| value.to_lowercase().contains(m))
    {
        Some(Msg::new("problem.mention"))
    } else {
        None
    };
    match problem {
        Some(p) => Err(super::errors::option(
            name,
            p,
            Msg::new("accepted.text").arg("max", max),
        )),
        None => Ok(value.to_string()),
    }
}

/// Parses a submitted form: `deal:lost:42` with a reason, `deal:log:42` with kind and summary.
pub(crate) fn parse_submit(
    custom_id: &str,
    fields: &[(String, String)],
    _ctx: &Ctx,
) -> EngineResult<Command> {
    let parts: Vec<&str> = custom_id.split(':').collect();
    let number = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(stale_button)
    };
    match parts.as_slice() {
        ["deal", "lost", n] => Ok(Command::DealLost {
            deal: DealRef::Number(number(n)?),
            reason: text_field(fields, "reason", 300)?,
        }),
        ["deal", "log", n] => {
            let kind = field(fields, "kind").to_lowercase();
            const KINDS: [&str; 6] = ["call", "email", "meeting", "visit", "message", "note"];
            if !KINDS.contains(&kind.as_str()) {
                return Err(super::errors::option(
                    "kind",
                    Msg::new("problem.unrecognized").arg("given", &kind),
                    Msg::new("accepted.stages").arg("stages", KINDS.join(", ")),
                ));
            }
            Ok(Command::DealLogSubmit {
                deal: DealRef::Number(number(n)?),
                kind,
                summary: text_field(fields, "summary", 1000)?,
            })
        }
        _ => Err(stale_button()),
    }
}
