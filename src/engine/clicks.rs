//! Buttons: a click's custom id becomes the same typed command a slash command would, so it
//! passes the same permission checks. Ids name workspace-scoped numbers only; the workspace
//! always comes from the request, never from the button.

use super::commands::Command;
use super::ctx::Ctx;
use super::format::escape;
use super::{EngineError, EngineResult};
use crate::domain::refs::{ContactRef, DealRef, TaskRef};
use crate::i18n::Msg;
use chrono::Duration;
use std::fmt;
use std::str::FromStr;

fn stale_button() -> EngineError {
    EngineError::Invalid(Msg::new("error.unknown_button"))
}

/// How long a reminder's snooze button puts it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snooze {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Snooze {
    fn span(self) -> Duration {
        match self {
            Snooze::Hour => Duration::hours(1),
            Snooze::Day => Duration::days(1),
        }
    }
}

/// What a button (or the form it opens) does. The one place button ids are built
/// ([`fmt::Display`]) and read ([`FromStr`]): `deal:next:42`, `task:snooze:7:1h`. Ids name
/// workspace-scoped numbers only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Click {
    /// Move the deal to the stage after the one it is in when clicked. A card's button names
    /// the stage the card showed the deal in (`deal:next:42:7`): clicked again, or on an old
    /// card, it finds the deal moved on and changes nothing, never carrying it further (past the
    /// last open stage, to won). Without the stage, the next stage from wherever the deal is.
    DealNext(i64, Option<i64>),
    /// Mark the deal won.
    DealWon(i64),
    /// Mark the deal lost: opens a form asking for the reason (the form has the same id).
    DealLost(i64),
    /// Log an interaction on the deal: opens a form (the form has the same id).
    DealLog(i64),
    /// Show the deal.
    DealShow(i64),
    /// Show the contact.
    ContactShow(i64),
    /// Mark the task done.
    TaskDone(i64),
    /// Put the task's reminder off.
    TaskSnooze(i64, Snooze),
    /// Run the previewed import of upload `id`.
    ImportRun(i64),
    /// Forget upload `id` without importing it.
    ImportCancel(i64),
}

impl fmt::Display for Click {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Click::DealNext(n, None) => write!(f, "deal:next:{n}"),
            Click::DealNext(n, Some(from)) => write!(f, "deal:next:{n}:{from}"),
            Click::DealWon(n) => write!(f, "deal:won:{n}"),
            Click::DealLost(n) => write!(f, "deal:lost:{n}"),
            Click::DealLog(n) => write!(f, "deal:log:{n}"),
            Click::DealShow(n) => write!(f, "deal:show:{n}"),
            Click::ContactShow(id) => write!(f, "contact:show:{id}"),
            Click::TaskDone(id) => write!(f, "task:done:{id}"),
            Click::TaskSnooze(id, Snooze::Hour) => write!(f, "task:snooze:{id}:1h"),
            Click::TaskSnooze(id, Snooze::Day) => write!(f, "task:snooze:{id}:1d"),
            Click::ImportRun(id) => write!(f, "import:run:{id}"),
            Click::ImportCancel(id) => write!(f, "import:cancel:{id}"),
        }
    }
}

/// A button id that is not one of ours (or names nothing): old messages, tampering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownButton;

impl FromStr for Click {
    type Err = UnknownButton;

    fn from_str(s: &str) -> Result<Click, UnknownButton> {
        let parts: Vec<&str> = s.split(':').collect();
        let number = |s: &str| {
            s.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(UnknownButton)
        };
        Ok(match parts.as_slice() {
            ["deal", "next", n] => Click::DealNext(number(n)?, None),
            ["deal", "next", n, from] => Click::DealNext(number(n)?, Some(number(from)?)),
            ["deal", "won", n] => Click::DealWon(number(n)?),
            ["deal", "lost", n] => Click::DealLost(number(n)?),
            ["deal", "log", n] => Click::DealLog(number(n)?),
            ["deal", "show", n] => Click::DealShow(number(n)?),
            ["contact", "show", id] => Click::ContactShow(number(id)?),
            ["task", "done", id] => Click::TaskDone(number(id)?),
            ["task", "snooze", id, "1h"] => Click::TaskSnooze(number(id)?, Snooze::Hour),
            ["task", "snooze", id, "1d"] => Click::TaskSnooze(number(id)?, Snooze::Day),
            ["import", "run", id] => Click::ImportRun(number(id)?),
            ["import", "cancel", id] => Click::ImportCancel(number(id)?),
            _ => return Err(UnknownButton),
        })
    }
}

/// A button as sent: in a DM it carries its workspace (`w{workspace}:`), since a DM has no
/// server to take it from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ButtonId {
    /// The workspace, for buttons in direct messages.
    pub workspace: Option<i64>,
    /// What it does.
    pub click: Click,
}

impl ButtonId {
    /// A button in a direct message, naming its workspace.
    pub fn in_dm(workspace: i64, click: Click) -> ButtonId {
        ButtonId {
            workspace: Some(workspace),
            click,
        }
    }
}

impl fmt::Display for ButtonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.workspace {
            Some(ws) => write!(f, "w{ws}:{}", self.click),
            None => write!(f, "{}", self.click),
        }
    }
}

impl FromStr for ButtonId {
    type Err = UnknownButton;

    fn from_str(s: &str) -> Result<ButtonId, UnknownButton> {
        let (workspace, rest) = match workspace_of(s) {
            Some((ws, rest)) => (Some(ws), rest),
            None => (None, s),
        };
        Ok(ButtonId {
            workspace,
            click: rest.parse()?,
        })
    }
}

/// The workspace a DM button names, and the rest of its custom id.
pub fn workspace_of(custom_id: &str) -> Option<(i64, &str)> {
    let (head, rest) = custom_id.split_once(':')?;
    let ws = head.strip_prefix('w')?.parse::<i64>().ok()?;
    Some((ws, rest))
}

/// Turns a click into the command it stands for. A DM button's workspace must be the
/// request's, which the Discord adapter took from it and the engine checked membership of.
pub(crate) fn parse(custom_id: &str, ctx: &Ctx) -> EngineResult<Command> {
    let button: ButtonId = custom_id.parse().map_err(|_| stale_button())?;
    if button.workspace.is_some_and(|ws| ws != ctx.ws_id()) {
        return Err(stale_button());
    }
    Ok(match button.click {
        // The next stage is decided when clicked, from the deal's stage at that moment.
        Click::DealNext(n, from) => Command::DealNext(DealRef::Number(n), from),
        Click::DealWon(n) => Command::DealWon {
            deal: DealRef::Number(n),
            amount: None,
            note: None,
        },
        Click::DealShow(n) => Command::DealShow(DealRef::Number(n)),
        Click::ContactShow(id) => Command::ContactShow(ContactRef::Id(id)),
        // Losing a deal and logging an interaction need text: the click opens a form.
        Click::DealLost(n) => Command::DealLostForm(DealRef::Number(n)),
        Click::DealLog(n) => Command::DealLogForm(DealRef::Number(n)),
        Click::TaskDone(id) => Command::TaskDone(TaskRef::Id(id)),
        Click::TaskSnooze(id, by) => Command::TaskSnooze {
            task: TaskRef::Id(id),
            until: ctx.now + by.span(),
        },
        Click::ImportRun(id) => Command::ImportRun(id),
        Click::ImportCancel(id) => Command::ImportCancel(id),
    })
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
    if let Err(e) = crate::domain::text::block(value) {
        return Err(super::errors::text(name, e));
    }
    let problem = if value.chars().count() > max {
        Some(
            Msg::new("problem.too_long")
                .arg("given", value.chars().count())
                .arg("max", max),
        )
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
    match custom_id.parse::<Click>().map_err(|_| stale_button())? {
        Click::DealLost(n) => Ok(Command::DealLost {
            deal: DealRef::Number(n),
            reason: text_field(fields, "reason", 300)?,
        }),
        Click::DealLog(n) => {
            let kind = field(fields, "kind").to_lowercase();
            const KINDS: [&str; 6] = ["call", "email", "meeting", "visit", "message", "note"];
            if !KINDS.contains(&kind.as_str()) {
                return Err(super::errors::option(
                    "kind",
                    Msg::new("problem.unrecognized").arg("given", escape(&kind)),
                    Msg::new("accepted.stages").arg("stages", KINDS.join(", ")),
                ));
            }
            Ok(Command::DealLogSubmit {
                deal: DealRef::Number(n),
                kind,
                summary: text_field(fields, "summary", 1000)?,
            })
        }
        _ => Err(stale_button()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_click_round_trips() {
        let clicks = [
            Click::DealNext(42, None),
            Click::DealNext(42, Some(7)),
            Click::DealWon(42),
            Click::DealLost(42),
            Click::DealLog(42),
            Click::DealShow(42),
            Click::ContactShow(7),
            Click::TaskDone(7),
            Click::TaskSnooze(7, Snooze::Hour),
            Click::TaskSnooze(7, Snooze::Day),
            Click::ImportRun(3),
            Click::ImportCancel(3),
        ];
        for click in clicks {
            assert_eq!(click.to_string().parse::<Click>(), Ok(click), "{click}");
            for workspace in [None, Some(123456789012345678)] {
                let button = ButtonId { workspace, click };
                assert_eq!(
                    button.to_string().parse::<ButtonId>(),
                    Ok(button),
                    "{button}"
                );
            }
        }
        // The ids as they stand in messages already sent must keep working.
        assert_eq!("deal:next:42".parse(), Ok(Click::DealNext(42, None)));
        assert_eq!(
            "w9:task:snooze:7:1d".parse(),
            Ok(ButtonId::in_dm(9, Click::TaskSnooze(7, Snooze::Day)))
        );
        for bad in [
            "",
            "deal",
            "deal:next",
            "deal:next:0",
            "deal:next:-1",
            "deal:fly:1",
            "task:snooze:7:2h",
            "w:deal:next:1",
            "deal:next:1:0",
            "deal:next:1:2:3",
        ] {
            assert_eq!(bad.parse::<ButtonId>(), Err(UnknownButton), "{bad}");
        }
    }
}
