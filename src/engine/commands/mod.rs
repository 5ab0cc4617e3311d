//! The typed commands. `parse` turns validated options into domain values (parse, don't
//! validate); `execute` runs one command inside the caller's transaction.

mod company;
mod contact;
#[cfg(test)]
mod coverage;
mod deal;
pub(crate) use deal::CARD_HISTORY;
pub(crate) mod exports;
mod help;
pub(crate) mod imports;
pub(crate) mod lookup;
pub(crate) mod pipeline;
mod product;
mod report;
mod settings;
mod tasks;
mod undo;

use super::ctx::Ctx;
use super::errors;
use super::manifest::{Args, Invocation, Manifests};
use super::{EngineResult, Reply};
use crate::domain::money::{parse_amount, Amount, MAX_MINOR};
use crate::domain::period::Period;
use crate::domain::refs::{CompanyRef, ContactRef, DealRef, RefError, TaskRef};
use crate::domain::stage::{match_stage, Stage};
use crate::domain::text::{block as text_block, line as text_line, TextError};
use crate::domain::when::{parse_date, parse_when};
use crate::store::Tx;
use chrono::{DateTime, NaiveDate, Utc};

pub use company::CompanyAdd;
pub use contact::{ContactAdd, ContactLog};
pub use deal::{DealList, DealNew};
pub use settings::SettingsCommand;

/// Every command the engine understands, with its input already parsed.
#[derive(Clone, Debug)]
pub enum Command {
    /// `/contact add`
    ContactAdd(ContactAdd),
    /// `/contact log`
    ContactLog(ContactLog),
    /// `/contact show`
    ContactShow(ContactRef),
    /// `/contact find`
    ContactFind(String),
    /// `/contact tag`
    ContactTag {
        contact: ContactRef,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// `/company add`
    CompanyAdd(CompanyAdd),
    /// `/company show`
    CompanyShow(CompanyRef),
    /// `/deal new`
    DealNew(DealNew),
    /// `/deal move`
    DealMove {
        deal: DealRef,
        stage: Stage,
        note: Option<String>,
    },
    /// The "next stage" button, with the stage its card showed the deal in.
    DealNext(DealRef, Option<i64>),
    /// The "lost" button: asks for the reason with a form.
    DealLostForm(DealRef),
    /// The "log activity" button: asks what happened with a form.
    DealLogForm(DealRef),
    /// The submitted "log activity" form: logs with the deal's contact.
    DealLogSubmit {
        deal: DealRef,
        kind: String,
        summary: String,
    },
    /// `/deal won`
    DealWon {
        deal: DealRef,
        amount: Option<Amount>,
        note: Option<String>,
    },
    /// `/deal lost`
    DealLost { deal: DealRef, reason: String },
    /// `/deal assign`
    DealAssign { deal: DealRef, owner: i64 },
    /// `/deal show`
    DealShow(DealRef),
    /// `/deal list`
    DealList(DealList),
    /// `/pipeline stats`
    PipelineStats(pipeline::Scope),
    /// `/kpi`
    Kpi(pipeline::Scope),
    /// `/report trends`
    Trends(report::TrendsInput),
    /// `/report products`
    ProductReport(pipeline::Scope),
    /// `/report customers`
    CustomerReport(pipeline::Scope),
    /// `/forecast show` and `/forecast what-if`
    Forecast(report::ForecastInput),
    /// `/product add`
    ProductAdd(product::ProductAdd),
    /// `/product list`
    ProductList,
    /// `/deal product`
    DealProduct(product::DealProduct),
    /// `/remind`
    Remind {
        what: String,
        due: DateTime<Utc>,
        deal: Option<DealRef>,
        contact: Option<ContactRef>,
        assignee: Option<i64>,
    },
    /// `/tasks list`
    TasksList {
        status: Option<String>,
        member: Option<i64>,
    },
    /// `/tasks done`
    TaskDone(TaskRef),
    /// `/tasks snooze`
    TaskSnooze { task: TaskRef, until: DateTime<Utc> },
    /// `/settings ...`
    Settings(SettingsCommand),
    /// `/undo`
    Undo,
    /// `/import file`: a dry-run preview and the upload kept for its button.
    ImportFile(imports::ImportFile),
    /// The Import button of a preview.
    ImportRun(i64),
    /// The Cancel button of a preview.
    ImportCancel(i64),
    /// `/import undo`
    ImportUndo(Option<i64>),
    /// `/import list`
    ImportList,
    /// `/export`
    Export(exports::ExportInput),
    /// `/help`
    Help(Option<String>),
}

/// Trimmed text of an optional option; blank counts as absent.
/// A tags option (`vip, enterprise`), empty when not given.
pub(crate) fn tags(args: &Args, name: &str) -> EngineResult<Vec<String>> {
    match args.str(name) {
        None => Ok(Vec::new()),
        Some(s) => crate::domain::refs::parse_tags(s)
            .map_err(|e| errors::reference(name, e, "accepted.tags")),
    }
}

pub(crate) fn text(args: &Args, name: &str) -> Option<String> {
    args.str(name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Text of a required option (presence was checked against the manifest).
pub(crate) fn required(args: &Args, name: &str) -> String {
    text(args, name).unwrap_or_default()
}

/// A required name or title, held to the one rule for names (`domain::text::line`): something
/// visible, no tab, line break, direction or zero-width character.
pub(crate) fn name(args: &Args, option: &str) -> EngineResult<String> {
    checked(option, args.str(option).unwrap_or_default(), text_line)
}

/// An optional one-line text (a job title, an industry, a next step); blank counts as absent.
pub(crate) fn name_opt(args: &Args, option: &str) -> EngineResult<Option<String>> {
    optional(args, option, text_line)
}

/// A required note or summary: several lines allowed, otherwise the rule for names.
pub(crate) fn note(args: &Args, option: &str) -> EngineResult<String> {
    checked(option, args.str(option).unwrap_or_default(), text_block)
}

/// An optional note; blank counts as absent.
pub(crate) fn note_opt(args: &Args, option: &str) -> EngineResult<Option<String>> {
    optional(args, option, text_block)
}

fn optional(
    args: &Args,
    option: &str,
    rule: fn(&str) -> Result<&str, TextError>,
) -> EngineResult<Option<String>> {
    text(args, option)
        .map(|s| checked(option, &s, rule))
        .transpose()
}

/// Checks typed text with one of the domain's rules, naming the option when it is refused.
pub(crate) fn checked(
    option: &str,
    s: &str,
    rule: fn(&str) -> Result<&str, TextError>,
) -> EngineResult<String> {
    rule(s)
        .map(str::to_string)
        .map_err(|e| errors::text(option, e))
}

pub(crate) fn amount(args: &Args, name: &str, ctx: &Ctx) -> EngineResult<Option<Amount>> {
    match args.str(name) {
        None => Ok(None),
        Some(s) => parse_amount(s, ctx.currency)
            .map(Some)
            .map_err(|e| errors::money(name, e, ctx.currency.code(), &ctx.money(MAX_MINOR))),
    }
}

pub(crate) fn when(args: &Args, name: &str, ctx: &Ctx) -> EngineResult<Option<DateTime<Utc>>> {
    match args.str(name) {
        None => Ok(None),
        Some(s) => parse_when(s, ctx.now, ctx.tz)
            .map(Some)
            .map_err(|e| errors::when(name, e, "accepted.when")),
    }
}

pub(crate) fn date(args: &Args, name: &str, ctx: &Ctx) -> EngineResult<Option<NaiveDate>> {
    date_in(args, name, ctx, ctx.tz)
}

/// A date option whose "today" is `tz`'s: a report's `from`/`to` are the workspace's days,
/// like the period they make, whatever the caller's own zone.
pub(crate) fn date_in(
    args: &Args,
    name: &str,
    ctx: &Ctx,
    tz: chrono_tz::Tz,
) -> EngineResult<Option<NaiveDate>> {
    match args.str(name) {
        None => Ok(None),
        Some(s) => parse_date(s, ctx.now, tz)
            .map(Some)
            .map_err(|e| errors::when(name, e, "accepted.date")),
    }
}

pub(crate) fn stage(args: &Args, name: &str, ctx: &Ctx) -> EngineResult<Option<Stage>> {
    match args.str(name) {
        None => Ok(None),
        Some(s) => match_stage(s, &ctx.stages)
            .cloned()
            .map(Some)
            .map_err(|e| errors::stage(name, e)),
    }
}

/// A list's count: "12 deals", or "15 of 302 contacts; narrow with …" when it shows only part.
pub(super) fn list_count(
    all: &'static str,
    partial: &'static str,
    shown: usize,
    total: i64,
) -> crate::i18n::Msg {
    let shown = i64::try_from(shown).unwrap_or(i64::MAX);
    if shown < total {
        crate::i18n::Msg::new(partial)
            .arg("shown", shown)
            .count("count", total)
    } else {
        crate::i18n::Msg::new(all).count("count", shown)
    }
}

fn reference<T>(
    args: &Args,
    name: &str,
    parse: fn(&str) -> Result<T, RefError>,
    accepted: &'static str,
) -> EngineResult<Option<T>> {
    match args.str(name) {
        None => Ok(None),
        Some(s) => parse(s)
            .map(Some)
            .map_err(|e| errors::reference(name, e, accepted)),
    }
}

pub(crate) fn deal_ref(args: &Args, name: &str) -> EngineResult<Option<DealRef>> {
    reference(args, name, DealRef::parse, "accepted.deal_ref")
}

pub(crate) fn contact_ref(args: &Args, name: &str) -> EngineResult<Option<ContactRef>> {
    reference(args, name, ContactRef::parse, "accepted.contact_ref")
}

pub(crate) fn company_ref(args: &Args, name: &str) -> EngineResult<Option<CompanyRef>> {
    reference(args, name, CompanyRef::parse, "accepted.company_ref")
}

pub(crate) fn task_ref(args: &Args, name: &str) -> EngineResult<Option<TaskRef>> {
    reference(args, name, TaskRef::parse, "accepted.task_ref")
}

/// Unwraps a required reference (presence was checked against the manifest).
pub(crate) fn present<T>(value: Option<T>, name: &str) -> EngineResult<T> {
    value.ok_or_else(|| {
        super::EngineError::Unexpected(anyhow::anyhow!(
            "required option {name} missing after validation"
        ))
    })
}

/// [`Command::only_reads`] from a slash command's name and subcommand, for the engine to know
/// before the prelude (parsing needs the settings the prelude reads) whether to mark the
/// interaction. Unknown names write, so they keep their marker.
pub(crate) fn path_only_reads(command: &str, sub: Option<&str>) -> bool {
    matches!(
        (command, sub.unwrap_or("")),
        ("contact", "show" | "find")
            | ("company", "show")
            | ("deal", "show" | "list")
            | ("pipeline", "stats")
            | ("kpi", _)
            | ("report", "trends" | "products" | "customers")
            | ("forecast", "show" | "what-if")
            | ("product", "list")
            | ("tasks", "list")
            | ("settings", "show")
            | ("import", "list")
            | ("help", _)
    )
}

/// The slash commands whose usual run writes a single statement ([`Command::one_write`]),
/// for the engine to know before the prelude whether BEGIN can wait: `/deal move` and
/// `/contact log`, 70% of what a team's reps send. Anything else starts its transaction first.
pub(crate) fn path_one_write(command: &str, sub: Option<&str>) -> bool {
    matches!(
        (command, sub.unwrap_or("")),
        ("deal", "move") | ("contact", "log")
    )
}

/// What a command that reads or writes through the store on its own (the importer's batches,
/// the export's pages) needs from the engine besides the request.
pub(crate) struct Outside<'a> {
    pub store: &'a crate::store::Store,
    /// Called with a reply to show while a long import runs.
    pub progress: &'a (dyn Fn(Reply) + Send + Sync),
    /// The largest file a reply may carry.
    pub upload_limit: usize,
}

impl Command {
    /// Whether the command only reads figures a few moments' lag cannot mislead, so that it
    /// may read from the replica (`DATABASE_READ_URL`): the reports. Lookups of single records
    /// stay on the primary, where a rep finds what they wrote a moment ago.
    pub(crate) fn reads_reports(&self) -> bool {
        matches!(
            self,
            Command::PipelineStats(_)
                | Command::Kpi(_)
                | Command::Trends(_)
                | Command::ProductReport(_)
                | Command::CustomerReport(_)
                | Command::Forecast(_)
        )
    }

    /// Whether the command only reads, so that a repeated delivery may simply be answered
    /// again: such a command writes no interaction marker (a row, its index entry and a WAL
    /// flush at commit, for commands that only look: 30% of the benchmark's mix). The match
    /// names every command, so a new one must be placed here; [`path_only_reads`] says the
    /// same from the command's name before it is parsed (test `coverage`).
    pub(crate) fn only_reads(&self) -> bool {
        match self {
            Command::ContactShow(_)
            | Command::ContactFind(_)
            | Command::CompanyShow(_)
            | Command::DealShow(_)
            | Command::DealList(_)
            | Command::PipelineStats(_)
            | Command::Kpi(_)
            | Command::Trends(_)
            | Command::ProductReport(_)
            | Command::CustomerReport(_)
            | Command::Forecast(_)
            | Command::ProductList
            | Command::TasksList { .. }
            | Command::Settings(SettingsCommand::Show)
            | Command::ImportList
            | Command::Help(_)
            // The buttons that open a form read, but the engine marks every click.
            | Command::DealLostForm(_)
            | Command::DealLogForm(_) => true,
            Command::ContactAdd(_)
            | Command::ContactLog(_)
            | Command::ContactTag { .. }
            | Command::CompanyAdd(_)
            | Command::DealNew(_)
            | Command::DealMove { .. }
            | Command::DealNext(..)
            | Command::DealLogSubmit { .. }
            | Command::DealWon { .. }
            | Command::DealLost { .. }
            | Command::DealAssign { .. }
            | Command::ProductAdd(_)
            | Command::DealProduct(_)
            | Command::Remind { .. }
            | Command::TaskDone(_)
            | Command::TaskSnooze { .. }
            | Command::Settings(_)
            | Command::Undo
            | Command::ImportFile(_)
            | Command::ImportRun(_)
            | Command::ImportCancel(_)
            | Command::ImportUndo(_)
            // An export only reads, but it is long and sends files: a repeat is not run again.
            | Command::Export(_) => false,
        }
    }

    /// Whether the command, as parsed, writes exactly one statement (`Tx::one_write`): a move
    /// to an open stage (a won deal has its amount and more to write) and a logged interaction
    /// with no deal to touch, no follow-up task and no other member to name. Such a command
    /// runs without a transaction; any other opens one before it writes.
    pub(crate) fn one_write(&self, ctx: &Ctx) -> bool {
        match self {
            Command::DealMove { stage, .. } => stage.kind == crate::domain::stage::StageKind::Open,
            Command::ContactLog(c) => c.one_write(ctx.actor),
            _ => false,
        }
    }

    /// Whether the command checks permissions in the request's transaction, commits it, and
    /// then works through the store in transactions of its own ([`Command::run_outside`]).
    pub(crate) fn works_outside(&self) -> bool {
        matches!(
            self,
            Command::ImportFile(_)
                | Command::ImportRun(_)
                | Command::ImportUndo(_)
                | Command::Export(_)
        )
    }

    /// Runs a command that [`works_outside`](Command::works_outside) the request's transaction:
    /// its checks use `tx`, which it commits before the long part.
    pub(crate) async fn run_outside(
        self,
        tx: Tx,
        ctx: &Ctx,
        outside: Outside<'_>,
    ) -> EngineResult<Reply> {
        match self {
            Command::ImportFile(f) => imports::preview(tx, ctx, outside.store, f).await,
            Command::ImportRun(id) => {
                imports::run(tx, ctx, outside.store, id, outside.progress).await
            }
            Command::ImportUndo(id) => imports::undo(tx, ctx, outside.store, id).await,
            Command::Export(e) => {
                exports::run(tx, ctx, outside.store, e, outside.upload_limit).await
            }
            other => Err(super::EngineError::Unexpected(anyhow::anyhow!(
                "{other:?} runs in the request's transaction"
            ))),
        }
    }

    /// Parses a validated invocation into a typed command.
    pub(crate) fn parse(inv: &Invocation, args: &Args, ctx: &Ctx) -> EngineResult<Command> {
        let sub = inv.subcommand.as_deref().unwrap_or("");
        Ok(match (inv.command.as_str(), sub) {
            ("contact", "add") => Command::ContactAdd(ContactAdd::parse(args, ctx)?),
            ("contact", "log") => Command::ContactLog(ContactLog::parse(args, ctx)?),
            ("contact", "show") => {
                Command::ContactShow(present(contact_ref(args, "contact")?, "contact")?)
            }
            ("contact", "find") => Command::ContactFind(required(args, "query")),
            ("contact", "tag") => contact::parse_tag(args)?,
            ("company", "add") => Command::CompanyAdd(CompanyAdd::parse(args, ctx)?),
            ("company", "show") => {
                Command::CompanyShow(present(company_ref(args, "company")?, "company")?)
            }
            ("deal", "new") => Command::DealNew(DealNew::parse(args, ctx)?),
            ("deal", "move") => Command::DealMove {
                deal: present(deal_ref(args, "deal")?, "deal")?,
                stage: present(stage(args, "stage", ctx)?, "stage")?,
                note: note_opt(args, "note")?,
            },
            ("deal", "won") => Command::DealWon {
                deal: present(deal_ref(args, "deal")?, "deal")?,
                amount: amount(args, "amount", ctx)?,
                note: note_opt(args, "note")?,
            },
            ("deal", "lost") => Command::DealLost {
                deal: present(deal_ref(args, "deal")?, "deal")?,
                reason: note(args, "reason")?,
            },
            ("deal", "assign") => Command::DealAssign {
                deal: present(deal_ref(args, "deal")?, "deal")?,
                owner: present(args.user("owner"), "owner")?,
            },
            ("deal", "show") => Command::DealShow(present(deal_ref(args, "deal")?, "deal")?),
            ("deal", "list") => Command::DealList(DealList::parse(args, ctx)?),
            ("pipeline", "stats") => Command::PipelineStats(pipeline::Scope::parse(
                args,
                ctx,
                "owner",
                Period::ThisQuarter,
            )?),
            ("kpi", _) => Command::Kpi(pipeline::Scope::parse(
                args,
                ctx,
                "member",
                Period::ThisQuarter,
            )?),
            ("report", "trends") => Command::Trends(report::TrendsInput::parse(args, ctx)?),
            ("report", "products") => Command::ProductReport(pipeline::Scope::parse(
                args,
                ctx,
                "member",
                Period::ThisQuarter,
            )?),
            ("report", "customers") => Command::CustomerReport(pipeline::Scope::parse(
                args,
                ctx,
                "member",
                Period::ThisQuarter,
            )?),
            ("forecast", "show") => {
                Command::Forecast(report::ForecastInput::parse(args, ctx, false)?)
            }
            ("forecast", "what-if") => {
                Command::Forecast(report::ForecastInput::parse(args, ctx, true)?)
            }
            ("product", "add") => Command::ProductAdd(product::ProductAdd::parse(args, ctx)?),
            ("product", "list") => Command::ProductList,
            ("deal", "product") => Command::DealProduct(product::DealProduct::parse(args, ctx)?),
            ("remind", _) => Command::Remind {
                what: name(args, "what")?,
                due: present(when(args, "when", ctx)?, "when")?,
                deal: deal_ref(args, "deal")?,
                contact: contact_ref(args, "contact")?,
                assignee: args.user("for"),
            },
            ("tasks", "list") => Command::TasksList {
                status: text(args, "status"),
                member: args.user("member"),
            },
            ("tasks", "done") => Command::TaskDone(present(task_ref(args, "task")?, "task")?),
            ("tasks", "snooze") => Command::TaskSnooze {
                task: present(task_ref(args, "task")?, "task")?,
                until: present(when(args, "until", ctx)?, "until")?,
            },
            ("settings", _) => Command::Settings(SettingsCommand::parse(sub, args, ctx)?),
            ("undo", _) => Command::Undo,
            ("import", sub) => imports::parse(sub, args)?,
            ("export", _) => exports::parse(args)?,
            ("help", _) => Command::Help(text(args, "command")),
            (other, _) => {
                return Err(super::EngineError::Unexpected(anyhow::anyhow!(
                    "manifest command /{other} has no parser"
                )))
            }
        })
    }

    /// `/help` answered without the database (it reads only the manifests), for when the
    /// database is away; `None` for any other command.
    pub(crate) fn help_without_store(
        inv: &Invocation,
        args: &Args,
        locale: crate::domain::locale::Locale,
        manifests: &Manifests,
    ) -> Option<Reply> {
        (inv.command == "help").then(|| help::help(locale, manifests, args.str("command")))
    }

    /// Runs the command in the caller's transaction.
    pub(crate) async fn execute(
        self,
        tx: &mut Tx,
        ctx: &mut Ctx,
        manifests: &Manifests,
    ) -> EngineResult<Reply> {
        match self {
            Command::ContactAdd(c) => contact::add(tx, ctx, c).await,
            Command::ContactLog(c) => contact::log(tx, ctx, c).await,
            Command::ContactShow(r) => contact::show(tx, ctx, r).await,
            Command::ContactFind(q) => contact::find(tx, ctx, q).await,
            Command::ContactTag {
                contact,
                add,
                remove,
            } => contact::tag(tx, ctx, contact, add, remove).await,
            Command::CompanyAdd(c) => company::add(tx, ctx, c).await,
            Command::CompanyShow(r) => company::show(tx, ctx, r).await,
            Command::DealNew(d) => deal::new(tx, ctx, d).await,
            Command::DealMove { deal, stage, note } => {
                deal::move_to(tx, ctx, deal, stage, note).await
            }
            Command::DealNext(r, from) => deal::next(tx, ctx, r, from).await,
            Command::DealLostForm(r) => deal::lost_form(tx, ctx, r).await,
            Command::DealLogForm(r) => deal::log_form(tx, ctx, r).await,
            Command::DealLogSubmit {
                deal,
                kind,
                summary,
            } => deal::log_submit(tx, ctx, deal, kind, summary).await,
            Command::DealWon { deal, amount, note } => deal::won(tx, ctx, deal, amount, note).await,
            Command::DealLost { deal, reason } => deal::lost(tx, ctx, deal, reason).await,
            Command::DealAssign { deal, owner } => deal::assign(tx, ctx, deal, owner).await,
            Command::DealShow(r) => deal::show(tx, ctx, r).await,
            Command::DealList(l) => deal::list(tx, ctx, l).await,
            Command::PipelineStats(s) => pipeline::stats(tx, ctx, s).await,
            Command::Kpi(s) => report::kpi(tx, ctx, s).await,
            Command::Trends(t) => report::trends(tx, ctx, t).await,
            Command::ProductReport(s) => report::products(tx, ctx, s).await,
            Command::CustomerReport(s) => report::customers(tx, ctx, s).await,
            Command::Forecast(f) => report::forecast(tx, ctx, f).await,
            Command::ProductAdd(p) => product::add(tx, ctx, p).await,
            Command::ProductList => product::list(tx, ctx).await,
            Command::DealProduct(d) => product::set_line(tx, ctx, d).await,
            Command::Remind {
                what,
                due,
                deal,
                contact,
                assignee,
            } => tasks::remind(tx, ctx, what, due, deal, contact, assignee).await,
            Command::TasksList { status, member } => tasks::list(tx, ctx, status, member).await,
            Command::TaskDone(t) => tasks::done(tx, ctx, t).await,
            Command::TaskSnooze { task, until } => tasks::snooze(tx, ctx, task, until).await,
            Command::Settings(s) => settings::run(tx, ctx, s).await,
            Command::Undo => undo::undo(tx, ctx).await,
            Command::ImportCancel(id) => imports::cancel(tx, ctx, id).await,
            Command::ImportList => imports::list(tx, ctx).await,
            Command::ImportFile(_)
            | Command::ImportRun(_)
            | Command::ImportUndo(_)
            | Command::Export(_) => Err(super::EngineError::Unexpected(anyhow::anyhow!(
                "a command that works outside the transaction reached execute"
            ))),
            Command::Help(c) => Ok(help::help(ctx.locale, manifests, c.as_deref())),
        }
    }
}
