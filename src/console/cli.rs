//! The terminal's two ways in: the interactive read loop of `salesbot console`, and
//! `salesbot report`, which asks the engine for one report as the server's operator and prints
//! it as text or JSON; and `salesbot export`, which writes a workspace's records as CSV or xlsx.

use super::{render_text, Console, Output, Target, CONSOLE_CHANNEL};
use crate::domain::locale::Locale;
use crate::engine::export::{self, ExportError, ExportKind, ExportOptions};
use crate::engine::reports;
use crate::engine::{Action, Engine, Invocation, Request, RoleSource};
use crate::i18n::Msg;
use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Reads commands from stdin until end of input, ctrl-c or `:quit`, printing each answer.
pub async fn run_stdin(mut console: Console, json: bool) -> anyhow::Result<()> {
    // Bytes, not `lines()`: a line that is not UTF-8 is answered and skipped, not fatal.
    let mut input = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    let mut stdout = tokio::io::stdout();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive && !json {
        stdout.write_all(b"salesbot console: type /help for commands, :help for console controls, ctrl-d to quit\n").await?;
    }
    loop {
        if interactive && !json {
            stdout.write_all(b"> ").await?;
            stdout.flush().await?;
        }
        buf.clear();
        let read = tokio::select! {
            read = input.read_until(b'\n', &mut buf) => read.context("failed to read stdin")?,
            _ = tokio::signal::ctrl_c() => 0,
        };
        if read == 0 {
            break;
        }
        let outputs = match decode_line(&buf) {
            Some(line) if matches!(line.trim(), ":quit" | ":q" | ":exit") => break,
            Some(line) => console.handle_line(line).await,
            None => console.not_utf8(),
        };
        for out in outputs {
            stdout.write_all(console.render(&out).as_bytes()).await?;
            stdout.write_all(b"\n").await?;
        }
        stdout.flush().await?;
    }
    Ok(())
}

/// One line of input without its line ending, or `None` when it is not UTF-8.
fn decode_line(buf: &[u8]) -> Option<&str> {
    let line = buf.strip_suffix(b"\n").unwrap_or(buf);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).ok()
}

pub use crate::engine::reports::ReportKind;

/// What `salesbot report` was asked for (its command-line arguments, parsed by clap).
#[derive(Clone, Debug, clap::Args)]
pub struct ReportQuery {
    /// pipeline, kpi, trends, products, customers or forecast.
    #[arg(value_enum)]
    pub kind: ReportKind,
    /// Workspace (Discord guild) id.
    #[arg(long)]
    pub workspace: i64,
    /// this-week, last-week, this-month, last-month, this-quarter, last-quarter,
    /// this-year, last-year or all-time.
    #[arg(long)]
    pub period: Option<String>,
    /// First day of a custom period, e.g. 2026-01-01.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of a custom period.
    #[arg(long)]
    pub to: Option<String>,
    /// Only this member's deals (user id); kpi shows them alone.
    #[arg(long)]
    pub member: Option<u64>,
    /// Trend buckets: week or month.
    #[arg(long)]
    pub by: Option<String>,
}

impl ReportQuery {
    /// The slash command this report is, as the engine validates any other.
    pub fn invocation(&self) -> Invocation {
        let params = reports::ReportParams {
            period: self.period.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            member: self.member,
            by: self.by.clone(),
        };
        reports::invocation(self.kind, &params)
    }
}

/// Runs one report as the server's operator (whole workspace, no member row, an unknown
/// workspace refused) and prints it. Returns the process's exit code: 0, or 1 when the report
/// was refused (the reason is on stderr).
pub async fn report(engine: &Engine, query: &ReportQuery, json: bool) -> anyhow::Result<i32> {
    let request = Request {
        workspace_id: query.workspace,
        user_id: 0,
        display_name: None,
        role: RoleSource::Operator,
        locale: None,
        channel_id: Some(CONSOLE_CHANNEL),
        interaction_id: None,
        idempotency: None,
        now: chrono::Utc::now(),
        action: Action::Command(query.invocation()),
        in_dm: false,
        guild_members: Vec::new(),
    };
    let Some(reply) = engine.handle(request).await else {
        anyhow::bail!("the report gave no answer");
    };
    // In Discord a member option is someone in the server, and one who never used the bot has
    // no figures yet; here it is a typed number, and one the workspace never saw is a mistake.
    if let (Some(member), false) = (query.member, reply.ephemeral) {
        let known = match i64::try_from(member) {
            Ok(id) => {
                let mut tx = engine.store().begin().await?;
                tx.member(query.workspace, id).await?.is_some()
            }
            Err(_) => false,
        };
        if !known {
            let msg = Msg::new("error.invalid_option")
                .arg("option", "--member")
                .arg_msg(
                    "problem",
                    Msg::new("problem.unknown_member").arg("given", member),
                )
                .arg_msg("accepted", Msg::new("accepted.member"));
            eprintln!("⚠️ {}", msg.render(Locale::En));
            return Ok(1);
        }
    }
    let out = Output {
        to: Target::Reply,
        user: 0,
        channel: Some(CONSOLE_CHANNEL),
        reply,
    };
    if out.reply.ephemeral && out.reply.data.is_none() {
        // An error: what was wrong, in the console's words.
        eprintln!("{}", render_text(&out));
        return Ok(1);
    }
    if json {
        let data = out.reply.data.clone().unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&data)?);
    } else {
        println!("{}", render_text(&out));
    }
    Ok(0)
}

/// The kinds `salesbot export --kind` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportChoice {
    Deals,
    Contacts,
    Companies,
    Activities,
    /// All four, one file each, into the `--out` directory.
    All,
}

/// File formats `salesbot export --format` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV in UTF-8.
    #[default]
    Csv,
    /// An Excel workbook, one sheet; `--kind all` writes one workbook per kind.
    Xlsx,
}

impl From<ExportFormat> for export::ExportFormat {
    fn from(f: ExportFormat) -> export::ExportFormat {
        match f {
            ExportFormat::Csv => export::ExportFormat::Csv,
            ExportFormat::Xlsx => export::ExportFormat::Xlsx,
        }
    }
}

/// What `salesbot export` was asked for (its command-line arguments, parsed by clap).
#[derive(Clone, Debug, clap::Args)]
pub struct ExportQuery {
    /// Workspace (Discord guild) id.
    #[arg(long)]
    pub workspace: i64,
    /// deals, contacts, companies, activities, or all (needs --out DIRECTORY).
    #[arg(long, value_enum)]
    pub kind: ExportChoice,
    /// The file format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Start the file with a UTF-8 byte order mark, so Excel reads non-ASCII text right.
    #[arg(long)]
    pub bom: bool,
    /// Write here instead of stdout (a directory for --kind all).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// Exports as the server's operator (every record of the workspace). Returns the exit code:
/// 0 when every row was written, 1 when nothing was (unknown workspace, a bad option, a write
/// that failed; a file is only put in place once complete). Messages go to stderr.
pub async fn export(engine: &Engine, query: &ExportQuery) -> anyhow::Result<i32> {
    let format = export::ExportFormat::from(query.format);
    let store = engine.store();
    let options = ExportOptions {
        bom: query.bom,
        owner: None,
        // From the replica when there is one, once it has what the primary has now.
        after: store.read_after().await?,
    };
    let kinds: Vec<ExportKind> = match query.kind {
        ExportChoice::Deals => vec![ExportKind::Deals],
        ExportChoice::Contacts => vec![ExportKind::Contacts],
        ExportChoice::Companies => vec![ExportKind::Companies],
        ExportChoice::Activities => vec![ExportKind::Activities],
        ExportChoice::All => ExportKind::ALL.to_vec(),
    };
    let result = match (&query.out, query.kind) {
        (None, ExportChoice::All) => {
            eprintln!(
                "⚠️ {}",
                Msg::new("console.export_all_needs_dir").render(Locale::En)
            );
            return Ok(1);
        }
        (None, _) => {
            let kind = kinds[0];
            let written = match format {
                export::ExportFormat::Csv => {
                    let stdout = std::io::stdout().lock();
                    export::export(
                        store,
                        query.workspace,
                        kind,
                        options,
                        std::io::BufWriter::new(stdout),
                    )
                    .await
                }
                export::ExportFormat::Xlsx => {
                    match export::export_xlsx(store, query.workspace, kind, options).await {
                        Ok((bytes, done)) => {
                            use std::io::Write as _;
                            let mut stdout = std::io::stdout().lock();
                            stdout
                                .write_all(&bytes)
                                .and_then(|()| stdout.flush())
                                .map(|()| done)
                                .map_err(ExportError::from)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            written.map(|done| vec![(kind, done, "stdout".to_string())])
        }
        (Some(out), ExportChoice::All) => {
            if let Err(e) = std::fs::create_dir_all(out) {
                Err(e.into())
            } else {
                let mut done = Vec::new();
                let mut failed = None;
                for kind in kinds {
                    let path = out.join(format!("{}.{}", kind.name(), format.extension()));
                    match export_file(store, query.workspace, kind, format, options, &path).await {
                        Ok(n) => done.push((kind, n, path.display().to_string())),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                failed.map_or(Ok(done), Err)
            }
        }
        (Some(path), _) => {
            let kind = kinds[0];
            export_file(store, query.workspace, kind, format, options, path)
                .await
                .map(|n| vec![(kind, n, path.display().to_string())])
        }
    };
    match result {
        Ok(done) => {
            for (kind, done, to) in done {
                eprintln!(
                    "{}",
                    Msg::new("console.export_done")
                        .arg("count", done.rows)
                        .arg("kind", kind.name())
                        .arg("to", to)
                        .render(Locale::En)
                );
                if let Some(at) = done.as_of {
                    let behind = (chrono::Utc::now() - at).num_seconds().max(0);
                    let note = Msg::new("report.as_of")
                        .arg("time", at.to_rfc3339())
                        .arg("seconds", behind);
                    eprintln!("{}", note.render(Locale::En));
                }
            }
            Ok(0)
        }
        Err(ExportError::UnknownWorkspace(ws)) => {
            eprintln!(
                "⚠️ {}",
                Msg::new("console.export_unknown_workspace")
                    .arg("given", ws)
                    .render(Locale::En)
            );
            Ok(1)
        }
        Err(e) => {
            eprintln!(
                "⚠️ {}",
                Msg::new("console.export_failed")
                    .arg("reason", e)
                    .render(Locale::En)
            );
            Ok(1)
        }
    }
}

/// Exports into `path` through a `.partial` file renamed once complete, so a failed export
/// never leaves a file that looks whole.
async fn export_file(
    store: &crate::store::Store,
    ws: i64,
    kind: ExportKind,
    format: export::ExportFormat,
    options: ExportOptions,
    path: &std::path::Path,
) -> Result<export::Exported, ExportError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let file = std::fs::File::create(&partial)?;
    let result = match format {
        export::ExportFormat::Csv => {
            export::export(store, ws, kind, options, std::io::BufWriter::new(file)).await
        }
        export::ExportFormat::Xlsx => {
            drop(file);
            match export::export_xlsx(store, ws, kind, options).await {
                Ok((bytes, done)) => std::fs::write(&partial, bytes)
                    .map(|()| done)
                    .map_err(Into::into),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(n) => {
            std::fs::rename(&partial, path)?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
