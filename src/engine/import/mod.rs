//! Importing files from other CRMs and spreadsheets, front-end independent: the CLI, the
//! console and `/import` all call [`run`] and render its [`Summary`].
//!
//! Every file is opened and checked first (encoding, columns, dates); a file-wide problem
//! refuses the whole import before anything is written. Files are then written in the order
//! their records refer to each other (products, companies, contacts, deals, activities), in
//! batches: each batch is one transaction that also records what it wrote on the import, so a
//! crash leaves whole rows and whole counts, and running the same files again matches what is
//! there and writes the rest. A row the database refuses takes only itself out: its batch is
//! written again row by row. A dry run writes everything in one transaction and rolls it back,
//! so its counts are exactly what the import would do.

pub mod read;
pub mod render;
mod world;
mod write;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::import::{CellError, DateOrder, FileError, Kind, Override, ReadOptions, Source};
use crate::domain::locale::Locale;
use crate::domain::money::Currency;
use crate::domain::money::MAX_MINOR;
use crate::domain::webhook::ImportEvent;
use crate::i18n::Msg;
use crate::store::{ImportEntity, Store, StoreError, Tx, UndoRefusal, UndoReport};
pub use read::{Batch, FileInfo, FileReader, Input, ReadSettings};
use world::World;
pub use world::{domain_key, email_key, name_key, product_key, source_name};

/// Rows per transaction: large enough that a statement per table carries the cost, small
/// enough that a refused batch retried row by row stays quick.
const BATCH: usize = 2_000;
/// The share of a deals batch's new deals written with its records when an import starts,
/// before [`Session::rebalance`] has timed a batch: where it settled on the 100,000-deal
/// benchmark.
const DEAL_SHARE: f64 = 0.25;
/// Refusals a summary lists one by one; the counts always cover all.
const REFUSALS_LISTED: usize = 200;

/// One `Their Stage=Our Stage` mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMapping {
    pub theirs: String,
    pub ours: String,
}

impl std::str::FromStr for StageMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<StageMapping, String> {
        match s.rsplit_once('=') {
            Some((theirs, ours)) if !theirs.trim().is_empty() && !ours.trim().is_empty() => {
                Ok(StageMapping {
                    theirs: theirs.trim().to_string(),
                    ours: ours.trim().to_string(),
                })
            }
            _ => Err(format!(
                "'{s}' is not a stage mapping; write \"Their Stage=Our Stage\""
            )),
        }
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub workspace: i64,
    /// Who runs it (recorded on the import); the CLI's operator is 0.
    pub actor: i64,
    /// The owner of rows whose owner is not a member; without one such rows are refused.
    pub default_owner: Option<i64>,
    pub inputs: Vec<Input>,
    pub source: Option<Source>,
    pub kind: Option<Kind>,
    pub overrides: Vec<Override>,
    pub stage_map: Vec<StageMapping>,
    pub date_order: Option<DateOrder>,
    pub sheet: Option<String>,
    pub dry_run: bool,
}

/// Why an import wrote nothing at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {error}")]
    File { file: String, error: FileError },
    #[error("no workspace {0}")]
    UnknownWorkspace(i64),
    #[error("the default owner {0} is not a member of the workspace")]
    UnknownOwner(i64),
    #[error("stage mapping '{theirs}={ours}': this workspace has no stage '{ours}'")]
    UnknownStage { theirs: String, ours: String },
    #[error("give at least one file")]
    NoFiles,
    /// Files of two systems given together: each system's ids (an opportunity's `AccountId`)
    /// only name that system's records, so the files cannot be read as one import.
    #[error("{first_file} is a {first} export and {second_file} a {second} one: import each system's files on their own")]
    MixedSources {
        first_file: String,
        first: &'static str,
        second_file: String,
        second: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Why nothing was imported, for any reader's language; names from the file or the
    /// options pass through `esc`.
    pub fn message(&self, esc: &dyn Fn(&str) -> String) -> Msg {
        let reason = match self {
            ImportError::File { file, error } => Msg::new("import.file_error")
                .arg("file", esc(file))
                .arg_msg("reason", file_problem(error, esc)),
            ImportError::UnknownWorkspace(ws) => Msg::new("import.no_workspace").arg("given", ws),
            ImportError::UnknownOwner(user) => {
                Msg::new("import.no_owner_member").arg("given", user)
            }
            ImportError::UnknownStage { theirs, ours } => Msg::new("import.no_such_stage")
                .arg("theirs", esc(theirs))
                .arg("ours", esc(ours)),
            ImportError::NoFiles => Msg::new("import.no_files"),
            ImportError::MixedSources {
                first_file,
                first,
                second_file,
                second,
            } => Msg::new("import.mixed_sources")
                .arg("first_file", esc(first_file))
                .arg("first", *first)
                .arg("second_file", esc(second_file))
                .arg("second", *second),
            ImportError::Store(e) => Msg::new("import.why.database").arg("reason", e),
        };
        Msg::new("import.failed").arg_msg("reason", reason)
    }
}

/// What is wrong with a whole file, in words.
fn file_problem(e: &FileError, esc: &dyn Fn(&str) -> String) -> Msg {
    match e {
        FileError::Empty => Msg::new("import.file.empty"),
        FileError::Unreadable(why) => Msg::new("import.file.unreadable").arg("reason", esc(why)),
        FileError::Workbook(why) => Msg::new("import.file.workbook").arg("reason", esc(why)),
        FileError::UnknownSheet { sheet, sheets } => Msg::new("import.file.unknown_sheet")
            .arg("given", esc(sheet))
            .arg("sheets", esc(&sheets.join(", "))),
        FileError::Undecodable { encoding } => {
            Msg::new("import.file.undecodable").arg("encoding", encoding.label())
        }
        FileError::Csv { line, reason } => Msg::new("import.file.csv")
            .arg("line", line)
            .arg("reason", esc(reason)),
        FileError::BadOverride(given) => {
            Msg::new("import.file.bad_override").arg("given", esc(given))
        }
        FileError::UnknownField(given) => Msg::new("import.file.unknown_field")
            .arg("given", esc(given))
            .arg(
                "fields",
                crate::domain::import::FIELD_NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        FileError::UnknownColumn(given) => {
            Msg::new("import.file.unknown_column").arg("given", esc(given))
        }
        FileError::UnknownKind => Msg::new("import.file.unknown_kind"),
        FileError::DateOrderConflict {
            column,
            day_first_line,
            month_first_line,
        } => Msg::new("import.file.date_conflict")
            .arg("column", esc(column))
            .arg("day", day_first_line)
            .arg("month", month_first_line),
        FileError::AmbiguousDates { column, example } => Msg::new("import.file.ambiguous_dates")
            .arg("column", esc(column))
            .arg("example", esc(example)),
    }
}

/// A refused row, by file, line and column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Refusal {
    pub line: u64,
    /// The column's header; empty for the row as a whole.
    pub column: String,
    /// The reason in English (the JSON summary's).
    pub reason: String,
    /// The reason, for any reader's language.
    #[serde(skip)]
    pub message: Msg,
}

/// What happened to one file's rows. `rows` = created + updated + matched + refused.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FileSummary {
    pub name: String,
    pub format: String,
    pub source: String,
    pub kind: String,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// `(their column, our field)`.
    pub mapping: Vec<(String, String)>,
    pub unmapped_columns: Vec<String>,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows that matched a record as it already is (a second run of the same file), or
    /// repeated an earlier row of the import.
    pub matched: u64,
    pub refused: u64,
    /// The first refusals, by line.
    pub refusals: Vec<Refusal>,
    /// Stages no workspace stage or mapping covered, with their row counts.
    pub unmapped_stages: BTreeMap<String, u64>,
    /// Owners who are not members, with their row counts.
    pub unmapped_owners: BTreeMap<String, u64>,
}

impl FileSummary {
    fn refuse(&mut self, line: u64, column: &str, reason: Msg) {
        self.refused += 1;
        self.note(line, column, reason);
    }

    /// Lists one more reason for a row already refused.
    fn note(&mut self, line: u64, column: &str, reason: Msg) {
        if self.refusals.len() < REFUSALS_LISTED {
            self.refusals.push(Refusal {
                line,
                column: column.to_string(),
                reason: reason.render(Locale::En),
                message: reason,
            });
        }
    }
}

/// The whole import.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// The import's id, for `--undo`; `None` for a dry run.
    pub import_id: Option<i64>,
    pub dry_run: bool,
    pub files: Vec<FileSummary>,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub matched: u64,
    pub refused: u64,
}

impl Summary {
    /// Whether some rows were refused (the CLI's exit code 2).
    pub fn partial(&self) -> bool {
        self.refused > 0
    }
}

/// How far an import is, for a progress bar or an edited reply.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    /// Index of the file being read.
    pub file: usize,
    pub files: usize,
    /// Rows done in all files so far.
    pub rows: u64,
    /// The reader's own measure within this file: `(done, total)`.
    pub position: (u64, u64),
}

/// The entity a file's kind writes.
fn entity(kind: Kind) -> ImportEntity {
    match kind {
        Kind::Products => ImportEntity::Product,
        Kind::Companies => ImportEntity::Company,
        Kind::Contacts => ImportEntity::Contact,
        Kind::Deals => ImportEntity::Deal,
        Kind::Activities => ImportEntity::Activity,
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Products => "products",
        Kind::Companies => "companies",
        Kind::Contacts => "contacts",
        Kind::Deals => "deals",
        Kind::Activities => "activities",
    }
}

/// Runs an import (or a dry run of one). `progress` is called after every batch.
pub async fn run(
    store: &Store,
    req: ImportRequest,
    now: DateTime<Utc>,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Summary, ImportError> {
    if req.inputs.is_empty() {
        return Err(ImportError::NoFiles);
    }
    let ws = {
        let mut tx = store.begin().await?;
        tx.workspace(req.workspace)
            .await?
            .ok_or(ImportError::UnknownWorkspace(req.workspace))?
    };
    let currency = Currency::parse(&ws.currency).map_err(|_| {
        StoreError::Unexpected(anyhow::anyhow!("workspace currency {}", ws.currency))
    })?;
    let tz: chrono_tz::Tz = ws.timezone.parse().unwrap_or(chrono_tz::UTC);
    let settings = ReadSettings {
        options: ReadOptions {
            currency,
            source: req.source,
            kind: req.kind,
            overrides: req.overrides.clone(),
            date_order: req.date_order,
        },
        sheet: req.sheet.clone(),
    };
    // Every file is opened and checked before anything is written.
    let mut readers = Vec::new();
    for input in req.inputs.iter().cloned() {
        let name = input.name();
        let settings = settings.clone();
        let reader = tokio::task::spawn_blocking(move || FileReader::open(input, &settings))
            .await
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("reader stopped: {e}")))?
            .map_err(|error| ImportError::File { file: name, error })?;
        readers.push(reader);
    }
    readers.sort_by_key(|r| entity(r.info.mapping.kind));
    // A plain file given with a system's export keeps its ids under that system's name, so
    // the two can point at each other; two systems' exports cannot.
    // (The readers are not `Sync`: no borrow of them may live across an await.)
    let source = {
        let mut known = readers
            .iter()
            .map(|r| &r.info)
            .filter(|i| i.mapping.source != Source::Other);
        match known.next() {
            Some(first) => {
                if let Some(second) = known.find(|i| i.mapping.source != first.mapping.source) {
                    return Err(ImportError::MixedSources {
                        first_file: first.name.clone(),
                        first: source_name(first.mapping.source),
                        second_file: second.name.clone(),
                        second: source_name(second.mapping.source),
                    });
                }
                first.mapping.source
            }
            None => req.source.unwrap_or(Source::Other),
        }
    };

    let mut tx = store.begin().await?;
    let mut world = World::load(&mut tx, req.workspace, tz, ws.currency.clone(), source).await?;
    // Rows would otherwise be owned by someone the workspace does not know: no report, no
    // reminder and no `visibility own` view would ever show them to anyone but admins.
    if let Some(owner) = req.default_owner {
        if !world.members.iter().any(|m| m.user_id == owner) {
            return Err(ImportError::UnknownOwner(owner));
        }
    }
    for m in &req.stage_map {
        if world.stage_named(&m.ours).is_none() {
            return Err(ImportError::UnknownStage {
                theirs: m.theirs.clone(),
                ours: m.ours.clone(),
            });
        }
    }
    let files: Vec<String> = readers.iter().map(|r| r.info.name.clone()).collect();
    let import_id = tx
        .begin_import(req.workspace, req.actor, &files, now)
        .await?;
    let dry = if req.dry_run {
        Some(tx)
    } else {
        tx.commit().await?;
        None
    };
    let mut session = Session {
        store,
        dry,
        import_id,
        currency: ws.currency.clone(),
        before: Flight::default(),
        deal_share: DEAL_SHARE,
        handed_off: None,
    };
    let mut summary = Summary {
        import_id: (!req.dry_run).then_some(import_id),
        dry_run: req.dry_run,
        ..Summary::default()
    };
    let total_files = readers.len();
    let mut next_analyze = BATCH as u64;
    let mut analyzed = false;
    for (index, reader) in readers.into_iter().enumerate() {
        let mut file = describe(&reader.info);
        let kind = reader.info.mapping.kind;
        // The next batch is read on a blocking thread while this one is written: reading
        // (decoding, parsing, checking cells; 2 to 6 ms of a batch's 90 on the 100,000-deal
        // benchmark) was otherwise on the path of every batch, its transaction not begun.
        let read_next = |mut r: FileReader| {
            tokio::task::spawn_blocking(move || {
                let batch = r.next_batch(BATCH);
                (r, batch)
            })
        };
        let mut next = Some(read_next(reader));
        while let Some(reading) = next.take() {
            let (r, batch) = reading
                .await
                .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("reader stopped: {e}")))?;
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    // What was read before the bad part goes in whole, as it did one batch
                    // at a time, before the import stops.
                    Box::pin(session.settle(&mut world, &req, &mut file, now, &mut progress))
                        .await?;
                    return Err(ImportError::File {
                        file: file.name.clone(),
                        error,
                    });
                }
            };
            let position = r.progress();
            let Some(batch) = batch else { break };
            next = Some(read_next(r));
            let read = batch.rows.len() as u64 + refused_rows(&batch);
            file.rows += read;
            summary.rows += read;
            let done = Progress {
                file: index,
                files: total_files,
                rows: summary.rows,
                position,
            };
            Box::pin(session.write(
                &mut world,
                &req,
                (kind, batch, done),
                &mut file,
                now,
                &mut progress,
            ))
            .await?;
            // Statistics are taken after the first batch that wrote (not in a dry run, which
            // writes nothing that stays), then each time the tables grew 64-fold: plans made
            // for an empty table must go, while growth alone changes no plan the import uses
            // (the planner scales its row estimates by the table's size), and a sample costs
            // more the larger the table, with the pipeline stopped while it is taken. On the
            // 100,000-deal benchmark: 1.76 s when every table was sampled at each doubling,
            // 0.83 s at each fourfold growth (0.25 s sampling and 0.19 s of stopped pipeline
            // after the first batch), and the same CPU per row with the first sample only.
            // The sample must see the batch still committing: planned against tables without
            // it (the first time, empty), the next batches cost PostgreSQL a third to a half
            // more CPU on the benchmark. The first batch is not made shorter: with statistics
            // from a few hundred rows (companies in one page), plans made then, and the
            // foreign-key checks' plans each connection keeps until the next statistics, can
            // stay sequential scans as the tables grow (a first and second batch of 500 rows
            // made the check of a deal's company a scan of every company: 14.4 s instead of
            // 5.2 s on the benchmark).
            if !req.dry_run && written(&summary, &file) > 0 && summary.rows >= next_analyze {
                Box::pin(session.settle(&mut world, &req, &mut file, now, &mut progress)).await?;
                store.analyze_import_tables(false).await;
                next_analyze = summary.rows * 64;
            }
        }
        let last = index + 1 == total_files && !req.dry_run && written(&summary, &file) > 0;
        let settle = Box::pin(session.settle(&mut world, &req, &mut file, now, &mut progress));
        if last {
            // The final statistics are taken while the last batch's second part commits:
            // that part keeps one connection busy and leaves a core idle, and statistics
            // without its rows (a fiftieth of a large import) plan the same. On the
            // 100,000-deal benchmark, on a slow host, about 0.3 s sooner of 17 s (noisy).
            let (settled, ()) = tokio::join!(settle, store.analyze_import_tables(true));
            settled?;
            analyzed = true;
        } else {
            settle.await?;
        }
        file.refusals.sort_by_key(|r| r.line);
        summary.created += file.created;
        summary.updated += file.updated;
        summary.matched += file.matched;
        summary.refused += file.refused;
        summary.files.push(file);
    }
    match session.dry.take() {
        // The dry run's transaction goes away unwritten.
        Some(tx) => drop(tx),
        None => {
            let mut tx = store.begin().await?;
            tx.finish_import(req.workspace, import_id, now).await?;
            let event = ImportEvent {
                workspace_id: req.workspace,
                import_id,
                files: summary.files.iter().map(|f| f.name.clone()).collect(),
                created: summary.created as i64,
                updated: summary.updated as i64,
                matched: summary.matched as i64,
                refused: summary.refused as i64,
                changed_by: req.actor,
            };
            super::webhooks::import_finished(&mut tx, event, now).await?;
            tx.commit().await?;
            if summary.created + summary.updated > 0 && !analyzed {
                store.analyze_import_tables(true).await;
            }
            for (result, n) in [
                ("created", summary.created),
                ("updated", summary.updated),
                ("matched", summary.matched),
                ("refused", summary.refused),
            ] {
                metrics::counter!("salesbot_import_rows_total", "result" => result).increment(n);
            }
        }
    }
    Ok(summary)
}

fn describe(info: &FileInfo) -> FileSummary {
    FileSummary {
        name: info.name.clone(),
        format: info.format.to_string(),
        source: source_name(info.mapping.source).to_string(),
        kind: kind_name(info.mapping.kind).to_string(),
        encoding: info.encoding.map(|e| e.label().to_string()),
        delimiter: info.delimiter.map(|d| match d {
            b'\t' => "tab".to_string(),
            d => (d as char).to_string(),
        }),
        mapping: info
            .mapping
            .columns
            .iter()
            .map(|(i, f)| (info.headers[*i].clone(), f.name().to_string()))
            .collect(),
        unmapped_columns: info.mapping.unmapped.clone(),
        ..FileSummary::default()
    }
}

/// Rows of a batch the reader refused; a row with several bad cells is one refused row.
fn refused_rows(batch: &Batch) -> u64 {
    let mut rows = 0;
    let mut last_line = None;
    for refused in &batch.refused {
        if last_line != Some(refused.line) {
            rows += 1;
        }
        last_line = Some(refused.line);
    }
    rows
}

/// A batch whose records are in and whose later writes and commit run on a task of their own
/// while the next batch's records go in on another connection. One backend writing batch
/// after batch was the import's limit (the importer itself used a fifteenth of the CPU);
/// two keep both of a small server's cores busy.
struct Running {
    /// How long its later writes and commit took.
    task: tokio::task::JoinHandle<Result<std::time::Duration, StoreError>>,
    /// The world after this batch: kept once it commits.
    mark: world::Mark,
    /// Taken when the batch is settled (the type aborts its task on drop, so its fields
    /// cannot move out).
    replay: Option<Replay>,
    /// The records it created, which the next batch may refer to only once it committed.
    created: HashSet<(ImportEntity, i64)>,
}

/// An import dropped midway (its task aborted, its caller gone) does not leave a batch
/// committing behind its back; one whose COMMIT was already sent may still land whole.
impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What it takes to write a batch again, one transaction after another, should its commit
/// fail after the next batch was started: its rows and the file's summary before them.
struct Replay {
    kind: Kind,
    batch: Batch,
    file: FileSummary,
    /// Reported once it committed.
    done: Progress,
}

/// The batch before the one being written, while it commits.
#[derive(Default)]
pub(super) struct Flight {
    running: Option<Running>,
    /// It committed: the progress to report.
    committed: Option<Progress>,
    /// It did not commit: it and the batch after it are written again.
    failed: Option<Replay>,
    /// How long the last batch that committed took over its later writes and commit.
    later_took: Option<std::time::Duration>,
}

impl Flight {
    /// Whether the batch still committing created any of these records.
    pub(super) fn brought(&self, entity: ImportEntity, ids: &[i64]) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| ids.iter().any(|id| r.created.contains(&(entity, *id))))
    }

    /// Waits for the batch before to commit (keeping what it added to the world, and its
    /// progress to report); an error if it did not, which stops the batch being written (it
    /// is written again after it). The database gone is not that: the COMMIT may have landed
    /// with its answer lost, so the import stops there, as one batch at a time did, and
    /// running it again matches what landed.
    pub(super) async fn settle(&mut self, world: &mut World) -> Result<(), StoreError> {
        if let Some(mut r) = self.running.take() {
            let result = (&mut r.task).await.unwrap_or_else(|e| {
                Err(StoreError::Unexpected(anyhow::anyhow!(
                    "import batch writer stopped: {e}"
                )))
            });
            match result {
                Ok(took) => {
                    self.later_took = Some(took);
                    world.keep_to(r.mark);
                    self.committed = r.replay.take().map(|r| r.done);
                }
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "an import batch did not commit; writing it again");
                    self.failed = r.replay.take();
                }
            }
        }
        match self.failed {
            Some(_) => Err(StoreError::Unexpected(anyhow::anyhow!(
                "the batch before did not commit"
            ))),
            None => Ok(()),
        }
    }
}

/// Where batches are written: their own transactions, or the dry run's one.
struct Session<'a> {
    store: &'a Store,
    dry: Option<Tx>,
    import_id: i64,
    /// The workspace's currency, named in refusals of amounts.
    currency: String,
    before: Flight,
    /// The share of a deals batch's new deals written with its records (see
    /// [`Session::rebalance`]).
    deal_share: f64,
    /// When the last batch's later writes were handed to their task.
    handed_off: Option<std::time::Instant>,
}

impl Session<'_> {
    /// Adds the reader's refusals of a batch to the file's summary; how many rows they were.
    fn reader_refusals(&self, batch: &Batch, file: &mut FileSummary) -> u64 {
        let mut last_line = None;
        for refused in &batch.refused {
            let reason = cell_problem(&refused.reason, &self.currency);
            if last_line == Some(refused.line) {
                file.note(refused.line, &refused.column, reason);
            } else {
                file.refuse(refused.line, &refused.column, reason);
            }
            last_line = Some(refused.line);
        }
        refused_rows(batch)
    }

    /// Writes one batch and adds its counts and refusals to `file`. Its records go in on a
    /// transaction of its own while the batch before commits; its later writes and commit
    /// then run on their own while the next batch goes in. Batches commit in order, so a
    /// crash leaves whole batches of a prefix of the file, as one after another did.
    async fn write(
        &mut self,
        world: &mut World,
        req: &ImportRequest,
        (kind, batch, done): (Kind, Batch, Progress),
        file: &mut FileSummary,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), StoreError> {
        if self.dry.is_some() {
            self.one_by_one(world, req, kind, &batch, file, now).await?;
            progress(done);
            return Ok(());
        }
        let before = file.clone();
        let reader_refused = self.reader_refusals(&batch, file);
        let mut tx = self.store.begin().await?;
        let mut later = write::Later::default();
        let mut scratch = file.clone();
        let head = async {
            let target = write::Target {
                tx: &mut tx,
                later: &mut later,
                before: &mut self.before,
                numbers: Some(self.store),
                deal_share: self.deal_share,
            };
            // Boxed, as every batch write: the writer's state is large, and a debug build
            // runs out of a test thread's stack with it inline.
            Box::pin(write::rows(
                target,
                world,
                req,
                self.import_id,
                kind,
                &batch.rows,
                &mut scratch,
                now,
            ))
            .await
        }
        .await;
        // This batch was read and its records written while the batch before wrote the rest.
        let ours = self.handed_off.map(|t| t.elapsed());
        // Progress is reported for batches that committed, before this one may commit: an
        // import that stops there (the process dies) leaves exactly what was reported.
        let settled = self.settle_before(world, progress).await?;
        if let (Some(ours), Some(theirs), Kind::Deals) = (ours, self.before.later_took.take(), kind)
        {
            self.rebalance(ours, theirs);
        }
        if let Some(failed) = settled {
            // The batch before did not commit: this one's transaction goes, and both are
            // written again one after the other.
            drop(tx);
            self.replay(world, req, failed, file, now, progress).await?;
            self.one_by_one(world, req, kind, &batch, file, now).await?;
            progress(done);
            return Ok(());
        }
        let counts = match head {
            Ok(counts) => counts,
            // The database is gone (perhaps while the batch before committed): the import
            // stops, as one batch at a time did.
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(_) => {
                // Written again on its own, where a row the database refuses takes only
                // itself out.
                drop(tx);
                let this = Replay {
                    kind,
                    batch,
                    file: before,
                    done,
                };
                return self.replay(world, req, this, file, now, progress).await;
            }
        };
        let refused = scratch.refused - file.refused + reader_refused;
        add_counts(&mut scratch, counts);
        *file = scratch;
        let created = later.created_records();
        let (ws, import) = (req.workspace, self.import_id);
        let task = tokio::spawn(async move {
            let start = std::time::Instant::now();
            later.write(&mut tx, ws, import, true).await?;
            tx.count_import(
                ws,
                import,
                [counts[0], counts[1], counts[2], refused].map(|n| n as i64),
            )
            .await?;
            tx.commit().await?;
            Ok(start.elapsed())
        });
        self.handed_off = Some(std::time::Instant::now());
        self.before.running = Some(Running {
            task,
            created,
            mark: world.mark(),
            replay: Some(Replay {
                kind,
                batch,
                file: before,
                done,
            }),
        });
        Ok(())
    }

    /// Moves the share of new deals a batch writes with its records towards the point where
    /// reading and writing the records of a batch (`ours`) takes as long as the later writes
    /// and commit of the batch before (`theirs`), which run at the same time on the other
    /// connection: the slower of the two sets the import's pace, and the other's core idles.
    /// Where the balance lies depends on the file (lines, source ids, matched records) and
    /// the tables' indexes, so it is found as the import runs rather than fixed. On the
    /// 100,000-deal benchmark the later writes (deals, history, rollups) were the slower
    /// half by about a third with no deal written early.
    fn rebalance(&mut self, ours: std::time::Duration, theirs: std::time::Duration) {
        let (ours, theirs) = (ours.as_secs_f64(), theirs.as_secs_f64());
        if ours + theirs > 0.0 {
            // Half of the relative difference a batch: steady within a few batches, and a
            // slow batch (a checkpoint, another client) moves it only a little.
            let step = 0.5 * (theirs - ours) / (ours + theirs);
            self.deal_share = (self.deal_share + step).clamp(0.0, 0.9);
        }
    }

    /// Waits for the last batch to commit, writing it again if it did not.
    async fn settle(
        &mut self,
        world: &mut World,
        req: &ImportRequest,
        file: &mut FileSummary,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), StoreError> {
        // Nothing runs beside the next batch's first part: it has no batch before to balance
        // against.
        self.handed_off = None;
        match self.settle_before(world, progress).await? {
            Some(failed) => self.replay(world, req, failed, file, now, progress).await,
            None => Ok(()),
        }
    }

    /// Waits for the batch in flight and reports its progress if it committed; the batch to
    /// write again if it did not (the database gone is an error: the import stops).
    async fn settle_before(
        &mut self,
        world: &mut World,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Option<Replay>, StoreError> {
        let settled = self.before.settle(world).await;
        if let Some(done) = self.before.committed.take() {
            progress(done);
        }
        match settled {
            Ok(()) => Ok(None),
            Err(e) => self.before.failed.take().map(Some).ok_or(e),
        }
    }

    /// Writes a batch again on its own, from the file's summary before it, after taking out
    /// of the world what every unwritten batch added.
    async fn replay(
        &mut self,
        world: &mut World,
        req: &ImportRequest,
        r: Replay,
        file: &mut FileSummary,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), StoreError> {
        world.forget();
        restore(file, r.file);
        self.one_by_one(world, req, r.kind, &r.batch, file, now)
            .await?;
        progress(r.done);
        Ok(())
    }

    /// Writes one batch in one transaction, with nothing else in flight.
    async fn one_by_one(
        &mut self,
        world: &mut World,
        req: &ImportRequest,
        kind: Kind,
        batch: &Batch,
        file: &mut FileSummary,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let reader_refused = self.reader_refusals(batch, file);
        let counts = self
            .batch(world, req, kind, &batch.rows, file, reader_refused, now)
            .await?;
        add_counts(file, counts);
        Ok(())
    }

    /// Writes one batch; returns `[created, updated, matched]` and adds refusals to `file`.
    /// The import record's counts move in the same transaction, with `reader_refused` rows
    /// the reader already refused.
    #[allow(clippy::too_many_arguments)]
    async fn batch(
        &mut self,
        world: &mut World,
        req: &ImportRequest,
        kind: Kind,
        rows: &[crate::domain::import::Row],
        file: &mut FileSummary,
        reader_refused: u64,
        now: DateTime<Utc>,
    ) -> Result<[u64; 3], StoreError> {
        let mut attempt = 0;
        loop {
            let mut scratch = file.clone();
            match self
                .unit(world, req, kind, rows, &mut scratch, reader_refused, now)
                .await
            {
                Ok(counts) => {
                    *file = scratch;
                    return Ok(counts);
                }
                Err(StoreError::Contention(_)) if attempt < 3 => attempt += 1,
                Err(e @ StoreError::Unavailable(_)) => return Err(e),
                Err(e) if rows.len() == 1 => {
                    let row = &rows[0];
                    file.refuse(row.line, "", refusal_text(&e));
                    self.count(req.workspace, [0, 0, 0, 1 + reader_refused])
                        .await?;
                    return Ok([0; 3]);
                }
                // One row the database refuses takes only itself out.
                Err(_) => {
                    let mut total = [0u64; 3];
                    for (i, row) in rows.iter().enumerate() {
                        let counts = Box::pin(self.batch(
                            world,
                            req,
                            kind,
                            std::slice::from_ref(row),
                            file,
                            if i == 0 { reader_refused } else { 0 },
                            now,
                        ))
                        .await?;
                        for (t, c) in total.iter_mut().zip(counts) {
                            *t += c;
                        }
                    }
                    return Ok(total);
                }
            }
        }
    }

    /// Adds counts to the import record in a transaction of their own.
    async fn count(&mut self, ws: i64, counts: [u64; 4]) -> Result<(), StoreError> {
        if self.dry.is_some() {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        tx.count_import(ws, self.import_id, counts.map(|n| n as i64))
            .await?;
        tx.commit().await
    }

    /// One transaction (or savepoint in a dry run) around one write and the counts it adds
    /// to the import record.
    #[allow(clippy::too_many_arguments)]
    async fn unit(
        &mut self,
        world: &mut World,
        req: &ImportRequest,
        kind: Kind,
        rows: &[crate::domain::import::Row],
        file: &mut FileSummary,
        reader_refused: u64,
        now: DateTime<Utc>,
    ) -> Result<[u64; 3], StoreError> {
        let refused_before = file.refused;
        let import = self.import_id;
        // A dry run numbers its deals inside its transaction, past the counter: it must not
        // use any up, nor hold the counter's row while it runs.
        let numbers = self.dry.is_none().then_some(self.store);
        let write = async |tx: &mut Tx, world: &mut World, file: &mut FileSummary| {
            let mut later = write::Later::default();
            let target = write::Target {
                tx: &mut *tx,
                later: &mut later,
                before: &mut Flight::default(),
                numbers,
                deal_share: 0.0,
            };
            let counts = Box::pin(write::rows(
                target, world, req, import, kind, rows, file, now,
            ))
            .await?;
            later.write(tx, req.workspace, import, !req.dry_run).await?;
            let refused = file.refused - refused_before + reader_refused;
            tx.count_import(
                req.workspace,
                import,
                [counts[0], counts[1], counts[2], refused].map(|n| n as i64),
            )
            .await?;
            Ok::<_, StoreError>(counts)
        };
        if let Some(tx) = self.dry.as_mut() {
            tx.mark().await?;
            let result = write(tx, world, file).await;
            match result {
                Ok(_) => tx.release_mark().await?,
                Err(_) => tx.rollback_to_mark().await?,
            }
            return settle(world, result);
        }
        let mut tx = self.store.begin().await?;
        let result = write(&mut tx, world, file).await;
        if result.is_ok() {
            if let Err(e) = tx.commit().await {
                world.forget();
                return Err(e);
            }
        }
        settle(world, result)
    }
}

/// Puts a file's summary back to what it was before a batch that is written again, keeping
/// the rows read since (they are counted as read, not as written).
fn restore(file: &mut FileSummary, before: FileSummary) {
    let rows = file.rows;
    *file = before;
    file.rows = rows;
}

/// The records written so far: the files before this one and this one's batches.
fn written(summary: &Summary, file: &FileSummary) -> u64 {
    summary.created + summary.updated + file.created + file.updated
}

fn add_counts(file: &mut FileSummary, [created, updated, matched]: [u64; 3]) {
    file.created += created;
    file.updated += updated;
    file.matched += matched;
}

/// Keeps what a written batch added to the world, or takes out what a failed one added.
fn settle(world: &mut World, result: Result<[u64; 3], StoreError>) -> Result<[u64; 3], StoreError> {
    match &result {
        Ok(_) => world.keep(),
        Err(_) => world.forget(),
    }
    result
}

/// A database refusal of one row, in words.
fn refusal_text(e: &StoreError) -> Msg {
    match e {
        StoreError::Duplicate(_) => Msg::new("import.why.duplicate"),
        StoreError::OutOfRange(_) => Msg::new("import.why.out_of_range"),
        other => Msg::new("import.why.database").arg("reason", other),
    }
}

/// A cell the reader refused, in words.
fn cell_problem(e: &CellError, currency: &str) -> Msg {
    match e {
        CellError::Amount(m) => {
            let limit = Currency::parse(currency)
                .map(|c| crate::domain::money::format_major(MAX_MINOR, c))
                .unwrap_or_default();
            Msg::new("import.why.amount")
                .arg_msg("problem", super::errors::money_problem(m.clone(), &limit))
                .arg_msg(
                    "accepted",
                    Msg::new("accepted.amount").arg("currency", currency),
                )
        }
        CellError::Date(given) => Msg::new("import.why.date").arg("given", given),
        CellError::Width { expected, found } => Msg::new("import.why.width")
            .arg("expected", expected)
            .arg("found", found),
        CellError::CommaGrouping(given) => {
            Msg::new("import.why.comma_grouping").arg("given", given)
        }
    }
}

/// Takes an import back; see [`Tx::undo_import`].
pub async fn undo(
    store: &Store,
    workspace: i64,
    import: i64,
    now: DateTime<Utc>,
) -> Result<Result<UndoReport, UndoRefusal>, StoreError> {
    let mut tx = store.begin().await?;
    let report = tx.undo_import(workspace, import, now).await?;
    if report.is_ok() {
        tx.commit().await?;
    }
    Ok(report)
}
