//! `salesbot import`: files from other CRMs and spreadsheets into a workspace, as the server's
//! operator, with a progress bar on a terminal and a JSON summary with `--json`; and
//! `--undo ID` to take an import back.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use crate::domain::import::{DateOrder, Kind, Override, Source};
use crate::domain::locale::Locale;
use crate::engine::import::{self, ImportError, ImportRequest, Input, StageMapping};
use crate::engine::Engine;

/// Sources `--source` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceChoice {
    Auto,
    Hubspot,
    Salesforce,
    Pipedrive,
    Zoho,
    Salesbot,
}

/// Kinds `--kind` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KindChoice {
    Auto,
    Deals,
    Contacts,
    Companies,
    Activities,
    Products,
}

/// `--date-order` for files whose `a/b/yyyy` dates never show their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DateOrderChoice {
    /// 31/03/2024.
    DayFirst,
    /// 03/31/2024.
    MonthFirst,
}

/// What `salesbot import` was asked for.
#[derive(Clone, Debug, clap::Args)]
pub struct ImportQuery {
    /// Workspace (Discord guild) id.
    #[arg(long)]
    pub workspace: i64,
    /// The system that wrote the files; detected from their headers by default.
    #[arg(long, value_enum, default_value = "auto")]
    pub source: SourceChoice,
    /// What the files hold; detected from their columns by default.
    #[arg(long, value_enum, default_value = "auto")]
    pub kind: KindChoice,
    /// Read and check everything and print what would happen, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// "Their Column=our_field", for a column the headers do not explain (repeatable).
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub map: Vec<String>,
    /// "Their Stage=Our Stage" (repeatable).
    #[arg(long = "stage-map", value_name = "STAGE=STAGE")]
    pub stage_map: Vec<String>,
    /// Member (user id) who owns rows whose owner is not a member; without it such rows are
    /// refused.
    #[arg(long)]
    pub owner: Option<i64>,
    /// The order of a/b/yyyy dates when no value in the file shows it.
    #[arg(long, value_enum)]
    pub date_order: Option<DateOrderChoice>,
    /// The workbook sheet to read (the first by default).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Take back the import with this id instead.
    #[arg(long, value_name = "ID", conflicts_with_all = ["files", "dry_run"])]
    pub undo: Option<i64>,
    /// The files, read together (an opportunities file with its accounts file).
    #[arg(required_unless_present = "undo")]
    pub files: Vec<PathBuf>,
}

impl ImportQuery {
    /// The engine's request, or what is wrong with an option.
    pub fn request(&self) -> Result<ImportRequest, String> {
        let overrides = self
            .map
            .iter()
            .map(|m| m.parse::<Override>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let stage_map = self
            .stage_map
            .iter()
            .map(|m| m.parse::<StageMapping>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ImportRequest {
            workspace: self.workspace,
            actor: 0,
            default_owner: self.owner,
            inputs: self.files.iter().cloned().map(Input::Path).collect(),
            source: match self.source {
                SourceChoice::Auto => None,
                SourceChoice::Hubspot => Some(Source::Hubspot),
                SourceChoice::Salesforce => Some(Source::Salesforce),
                SourceChoice::Pipedrive => Some(Source::Pipedrive),
                SourceChoice::Zoho => Some(Source::Zoho),
                SourceChoice::Salesbot => Some(Source::Salesbot),
            },
            kind: match self.kind {
                KindChoice::Auto => None,
                KindChoice::Deals => Some(Kind::Deals),
                KindChoice::Contacts => Some(Kind::Contacts),
                KindChoice::Companies => Some(Kind::Companies),
                KindChoice::Activities => Some(Kind::Activities),
                KindChoice::Products => Some(Kind::Products),
            },
            overrides,
            stage_map,
            date_order: self.date_order.map(|o| match o {
                DateOrderChoice::DayFirst => DateOrder::DayFirst,
                DateOrderChoice::MonthFirst => DateOrder::MonthFirst,
            }),
            sheet: self.sheet.clone(),
            dry_run: self.dry_run,
        })
    }
}

/// Runs `salesbot import`. Returns the exit code: 0 when every row is in (created, updated
/// or already there), 1 when nothing was written (a bad file or option, an unknown
/// workspace), 2 when some rows were refused (the summary lists them).
pub async fn import(engine: &Engine, query: &ImportQuery) -> anyhow::Result<i32> {
    let now = chrono::Utc::now();
    if let Some(id) = query.undo {
        return undo(engine, query, id, now).await;
    }
    let request = match query.request() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("⚠️ {e}");
            return Ok(1);
        }
    };
    let bar = (!query.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let progress_bar = bar.clone();
    let result = import::run(engine.store(), request, now, move |p| {
        if let Some(bar) = &progress_bar {
            bar.set_length(p.position.1);
            bar.set_position(p.position.0);
            bar.set_message(format!("file {}/{}, {} rows", p.file + 1, p.files, p.rows));
        }
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            if query.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", import::render::summary(&summary, Locale::En));
            }
            Ok(if summary.partial() { 2 } else { 0 })
        }
        // Batches commit one by one, so some may be in: 3, not 1 ("nothing was written"),
        // except for a dry run, which writes nothing. The same import again completes it (rows
        // already in are matched, not added twice).
        Err(ImportError::Store(e)) => {
            let e = anyhow::Error::new(e).context("the import stopped");
            if query.json {
                println!(
                    "{}",
                    serde_json::json!({ "error": format!("{e:#}"), "stopped": true })
                );
            }
            if query.dry_run {
                eprintln!("salesbot: {e:#}; nothing was written");
                return Ok(1);
            }
            eprintln!(
                "salesbot: {e:#}; the batches before it, if any, are in, and running the same import again completes it"
            );
            Ok(3)
        }
        Err(e) => {
            if query.json {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            }
            eprintln!("⚠️ {}", import::render::error(&e, Locale::En));
            Ok(1)
        }
    }
}

async fn undo(
    engine: &Engine,
    query: &ImportQuery,
    id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<i32> {
    match import::undo(engine.store(), query.workspace, id, now).await? {
        Ok(report) => {
            if query.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&import::render::undo_json(id, &report))?
                );
            } else {
                print!("{}", import::render::undo(id, &report, Locale::En));
            }
            Ok(if report.left.is_empty() { 0 } else { 2 })
        }
        Err(refusal) => {
            eprintln!("⚠️ {refusal}");
            Ok(1)
        }
    }
}
