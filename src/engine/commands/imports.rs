//! `/import`: a file becomes a dry-run preview with Import and Cancel buttons; the upload waits
//! in the database for the same member's click; Import runs the real import with progress,
//! `undo` takes one back, `list` shows the latest. Only managers and admins import.
//!
//! The importer (`engine::import`) runs its own transactions (batches, so a crash leaves whole
//! rows), so these commands check permissions and touch the pending upload in the request's
//! transaction, commit it, and only then read or write through the store.

use chrono::Duration;
use serde_json::json;

use super::{present, Command};
use crate::domain::import::{Kind, ReadOptions, Source};
use crate::engine::clicks::Click;
use crate::engine::ctx::Ctx;
use crate::engine::format::escape;
use crate::engine::import::{
    self, FileReader, ImportError, ImportRequest, Input, Progress, ReadSettings,
};
use crate::engine::manifest::{Args, FileValue};
use crate::engine::{Embed, EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{Store, Tx, UndoRefusal};

/// How long an upload waits for its Import button.
pub const PENDING_FOR: Duration = Duration::hours(1);
/// Imports `/import list` shows.
const LISTED: i64 = 10;

/// `/import file`, parsed.
#[derive(Clone, Debug)]
pub struct ImportFile {
    file: FileValue,
    source: Option<Source>,
    kind: Option<Kind>,
}

fn source_of(s: &str) -> Option<Source> {
    Some(match s {
        "hubspot" => Source::Hubspot,
        "salesforce" => Source::Salesforce,
        "pipedrive" => Source::Pipedrive,
        "zoho" => Source::Zoho,
        "salesbot" => Source::Salesbot,
        _ => return None,
    })
}

fn kind_of(s: &str) -> Option<Kind> {
    Some(match s {
        "deals" => Kind::Deals,
        "contacts" => Kind::Contacts,
        "companies" => Kind::Companies,
        "activities" => Kind::Activities,
        "products" => Kind::Products,
        _ => return None,
    })
}

/// Parses an `/import` subcommand.
pub(super) fn parse(sub: &str, args: &Args) -> EngineResult<Command> {
    Ok(match sub {
        "file" => {
            // The manifest makes both choices; "auto" (or nothing) leaves it to the headers.
            let source = args.str("source").and_then(source_of);
            let kind = args.str("kind").and_then(kind_of);
            Command::ImportFile(ImportFile {
                file: present(args.file("file").cloned(), "file")?,
                source,
                kind,
            })
        }
        "undo" => Command::ImportUndo(args.int("id")),
        "list" => Command::ImportList,
        other => {
            return Err(EngineError::Unexpected(anyhow::anyhow!(
                "/import {other} has no parser"
            )))
        }
    })
}

/// What a progress report says, for the reply a long import edits.
fn progress_reply(ctx_locale: crate::domain::locale::Locale, p: Progress) -> Reply {
    let (done, total) = p.position;
    let percent = (done.min(total) * 100)
        .checked_div(total)
        .unwrap_or(0)
        .to_string();
    Reply::private(
        Msg::new("import.progress")
            .count("rows", p.rows)
            .arg("percent", percent)
            .arg("file", p.file + 1)
            .arg("files", p.files)
            .render(ctx_locale),
    )
}

/// An error that stops an import before it writes anything, in words; file names escaped.
fn refused(e: ImportError) -> EngineError {
    match e {
        ImportError::Store(e) => e.into(),
        other => EngineError::Invalid(other.message(&escape)),
    }
}

/// Opens the file as the importer will (encoding, columns, dates), without the database.
async fn check_file(ctx: &Ctx, f: &ImportFile) -> EngineResult<()> {
    let settings = ReadSettings {
        options: ReadOptions {
            source: f.source,
            kind: f.kind,
            ..ReadOptions::new(ctx.currency)
        },
        sheet: None,
    };
    let input = Input::Bytes {
        name: f.file.filename.clone(),
        bytes: f.file.bytes.to_vec(),
    };
    let name = f.file.filename.clone();
    let opened =
        tokio::task::spawn_blocking(move || FileReader::open(input, &settings).map(|_| ()))
            .await
            .map_err(|e| EngineError::Unexpected(anyhow::anyhow!("file check stopped: {e}")))?;
    opened.map_err(|error| refused(ImportError::File { file: name, error }))
}

/// `/import file`: a dry run, then the upload kept for its Import button.
pub(crate) async fn preview(
    tx: Tx,
    ctx: &Ctx,
    store: &Store,
    f: ImportFile,
) -> EngineResult<Reply> {
    ctx.require_manager()?;
    // A file that cannot be read is refused before the request's transaction commits, so a
    // refusal leaves the database as it was.
    check_file(ctx, &f).await?;
    tx.commit().await?;
    let request = ImportRequest {
        workspace: ctx.ws_id(),
        actor: ctx.actor,
        // Rows whose owner is not a member of the team become the caller's.
        default_owner: Some(ctx.actor),
        inputs: vec![Input::Bytes {
            name: f.file.filename.clone(),
            bytes: f.file.bytes.to_vec(),
        }],
        source: f.source,
        kind: f.kind,
        overrides: Vec::new(),
        stage_map: Vec::new(),
        date_order: None,
        sheet: None,
        dry_run: true,
    };
    let summary = import::run(store, request, ctx.now, |_| {})
        .await
        .map_err(refused)?;
    let options = json!({
        "source": f.source.map(import::source_name),
        "kind": f.kind.map(import::kind_name),
    });
    let mut tx = store.begin().await?;
    tx.clear_expired_pending_imports(ctx.ws_id(), ctx.now - PENDING_FOR)
        .await?;
    let id = tx
        .insert_pending_import(
            ctx.ws_id(),
            ctx.actor,
            &f.file.filename,
            &f.file.bytes,
            &options,
            ctx.now,
        )
        .await?;
    tx.commit().await?;
    // The summary goes in a card: its description holds twice what a message's text does,
    // and the question stays in view above it.
    let text = import::render::summary_with(&summary, ctx.locale, &escape);
    Ok(
        Reply::private(ctx.m(Msg::new("import.confirm").arg("minutes", PENDING_FOR.num_minutes())))
            .with_embed(Embed::new(ctx.t("import.preview_title")).description(text))
            .with_button(Click::ImportRun(id).to_string(), ctx.t("import.button_run"))
            .with_button(
                Click::ImportCancel(id).to_string(),
                ctx.t("import.button_cancel"),
            ),
    )
}

/// The Import button: takes the caller's upload and runs the real import, reporting progress.
pub(crate) async fn run(
    mut tx: Tx,
    ctx: &Ctx,
    store: &Store,
    id: i64,
    progress: &(dyn Fn(Reply) + Send + Sync),
) -> EngineResult<Reply> {
    ctx.require_manager()?;
    let pending = tx
        .take_pending_import(ctx.ws_id(), id, ctx.actor, ctx.now - PENDING_FOR)
        .await?
        .ok_or_else(|| EngineError::NotFound(Msg::new("import.pending_gone")))?;
    tx.commit().await?;
    let options = &pending.options;
    let request = ImportRequest {
        workspace: ctx.ws_id(),
        actor: ctx.actor,
        default_owner: Some(ctx.actor),
        inputs: vec![Input::Bytes {
            name: pending.file_name.clone(),
            bytes: pending.bytes,
        }],
        source: options["source"].as_str().and_then(source_of),
        kind: options["kind"].as_str().and_then(kind_of),
        overrides: Vec::new(),
        stage_map: Vec::new(),
        date_order: None,
        sheet: None,
        dry_run: false,
    };
    let locale = ctx.locale;
    let summary = import::run(store, request, ctx.now, |p| {
        progress(progress_reply(locale, p))
    })
    .await
    .map_err(refused)?;
    let text = import::render::summary_with(&summary, ctx.locale, &escape);
    Ok(Reply::private(
        ctx.m(Msg::new("import.done").arg("id", summary.import_id.unwrap_or_default())),
    )
    .with_embed(Embed::new(ctx.t("import.result_title")).description(text)))
}

/// The Cancel button: forgets the caller's upload.
pub(crate) async fn cancel(tx: &mut Tx, ctx: &Ctx, id: i64) -> EngineResult<Reply> {
    ctx.require_manager()?;
    // An expired upload is as good as cancelled: no age limit on forgetting it.
    let far_back = ctx.now - Duration::days(36_500);
    match tx
        .take_pending_import(ctx.ws_id(), id, ctx.actor, far_back)
        .await?
    {
        Some(p) => Ok(Reply::private(
            ctx.m(Msg::new("import.cancelled").arg("file", escape(&p.file_name))),
        )),
        None => Err(EngineError::NotFound(Msg::new("import.pending_gone"))),
    }
}

/// `/import undo [id]`: the given import, or the caller's latest one still standing.
pub(crate) async fn undo(
    mut tx: Tx,
    ctx: &Ctx,
    store: &Store,
    id: Option<i64>,
) -> EngineResult<Reply> {
    ctx.require_manager()?;
    let id = match id {
        Some(id) => id,
        None => tx
            .imports(ctx.ws_id(), 100)
            .await?
            .into_iter()
            .find(|i| i.actor_id == ctx.actor && i.undoable(ctx.now))
            .map(|i| i.id)
            .ok_or_else(|| EngineError::NotFound(Msg::new("import.nothing_to_undo")))?,
    };
    // What the undo itself would refuse is refused here, before the request commits.
    let refusal = match tx.import_record(ctx.ws_id(), id).await? {
        None => Some(UndoRefusal::Unknown(id)),
        Some(r) if r.status == "undone" => Some(UndoRefusal::AlreadyUndone(id)),
        // One still running cannot go; one that stopped midway can.
        Some(r) if !r.undoable(ctx.now) => Some(UndoRefusal::Running(id)),
        Some(_) => None,
    };
    if let Some(refusal) = refusal {
        return Err(undo_refused(refusal));
    }
    tx.commit().await?;
    match import::undo(store, ctx.ws_id(), id, ctx.now).await? {
        Ok(report) => Ok(Reply::private(import::render::undo_with(
            id, &report, ctx.locale, &escape,
        ))),
        Err(refusal) => Err(undo_refused(refusal)),
    }
}

fn undo_refused(refusal: UndoRefusal) -> EngineError {
    let key = match refusal {
        UndoRefusal::Unknown(_) => "import.undo_unknown",
        UndoRefusal::AlreadyUndone(_) => "import.undo_already",
        UndoRefusal::Running(_) => "import.undo_running",
    };
    let id = match refusal {
        UndoRefusal::Unknown(id) | UndoRefusal::AlreadyUndone(id) | UndoRefusal::Running(id) => id,
    };
    EngineError::NotFound(Msg::new(key).arg("id", id))
}

/// `/import list`: the workspace's latest imports.
pub(crate) async fn list(tx: &mut Tx, ctx: &Ctx) -> EngineResult<Reply> {
    ctx.require_manager()?;
    let rows = tx.imports(ctx.ws_id(), LISTED).await?;
    if rows.is_empty() {
        return Ok(Reply::private(ctx.t("import.none")));
    }
    let mut lines = vec![ctx.t("import.list_head")];
    for r in rows {
        let status = ctx.t(match r.status.as_str() {
            "running" => "import.status_running",
            "undone" => "import.status_undone",
            _ => "import.status_done",
        });
        lines.push(
            ctx.m(Msg::new("import.list_row")
                .arg("id", r.id)
                .arg("when", ctx.time(r.started_at))
                .arg("who", format!("<@{}>", r.actor_id))
                .arg("files", escape(&r.files.join(", ")))
                .arg("status", status)
                .arg("created", r.created)
                .arg("updated", r.updated)
                .arg("matched", r.matched)
                .arg("refused", r.refused)),
        );
    }
    Ok(Reply::private(lines.join("\n")))
}
