//! Export: a workspace's deals, contacts, companies or activities as salesbot's own CSV (or the
//! same cells in an Excel workbook), streamed page by page from the store, whatever the
//! front-end that asked for it.
//!
//! The file is made to survive a spreadsheet: RFC 4180 quoting and CRLF records (the `csv`
//! crate), an optional UTF-8 BOM so Excel reads non-ASCII text as UTF-8, and text cells that a
//! spreadsheet would run as a formula neutralised with a leading `'` (OWASP's advice). Amounts
//! are plain decimals in major units next to a currency column; times are ISO 8601 in UTC and
//! in the workspace's zone.

use crate::domain::money::{format_major, Currency};
use crate::store::{
    ExportActivityRow, ExportCompanyRow, ExportContactRow, ExportDealRow, Store, StoreError,
    WalPosition,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use std::borrow::Cow;
use std::io::Write;

/// Rows fetched per round trip: enough to keep the database busy, small enough that memory
/// stays flat however large the workspace is.
pub const PAGE_SIZE: i64 = 1_000;

/// What to export; each kind is one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Deals,
    Contacts,
    Companies,
    Activities,
}

impl ExportKind {
    /// Every kind, in the order `--kind all` writes them (records others point at first).
    pub const ALL: [ExportKind; 4] = [
        ExportKind::Companies,
        ExportKind::Contacts,
        ExportKind::Deals,
        ExportKind::Activities,
    ];

    /// The kind's name, also its file name stem (`deals.csv`).
    pub fn name(self) -> &'static str {
        match self {
            ExportKind::Deals => "deals",
            ExportKind::Contacts => "contacts",
            ExportKind::Companies => "companies",
            ExportKind::Activities => "activities",
        }
    }

    /// The header row: salesbot's export format, by which an import recognises its own files.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            ExportKind::Deals => &[
                "number",
                "title",
                "stage",
                "status",
                "amount",
                "currency",
                "company",
                "contact",
                "contact_email",
                "owner_id",
                "expected_close",
                "created_at_utc",
                "created_at_local",
                "closed_at_utc",
                "closed_at_local",
                "lost_reason",
                "workspace_id",
            ],
            ExportKind::Contacts => &[
                "contact_id",
                "name",
                "email",
                "phone",
                "title",
                "company",
                "owner_id",
                "birthday",
                "contract_end",
                "tags",
                "created_at_utc",
                "created_at_local",
                "workspace_id",
            ],
            ExportKind::Companies => &[
                "company_id",
                "name",
                "industry",
                "tier",
                "website",
                "owner_id",
                "contract_end",
                "tags",
                "created_at_utc",
                "created_at_local",
                "workspace_id",
            ],
            ExportKind::Activities => &[
                "activity_id",
                "happened_at_utc",
                "happened_at_local",
                "kind",
                "contact",
                "contact_email",
                "contact_company",
                "deal_number",
                "member_id",
                "summary",
                "satisfaction",
                "workspace_id",
            ],
        }
    }
}

/// How to write the file and whose records go in it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions {
    /// Start with a UTF-8 byte order mark, which Excel needs to read the file as UTF-8.
    pub bom: bool,
    /// Only this member's records (a rep under `visibility own`); `None` is the whole
    /// workspace, what the server's operator gets.
    pub owner: Option<i64>,
    /// Read from the replica once it has replayed this position of the primary (the
    /// request's); `None` reads whatever the replica has.
    pub after: Option<WalPosition>,
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exported {
    /// Records written (the header aside).
    pub rows: u64,
    /// When the records were read from a replica that lagged: the time they are from.
    pub as_of: Option<DateTime<Utc>>,
}

/// Why an export stopped. What was already written is incomplete; callers that write a file
/// discard it.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("there is no workspace {0}")]
    UnknownWorkspace(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the file: {0}")]
    Write(#[from] csv::Error),
    #[error("cannot write the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("more than {0} rows do not fit in a worksheet; export as CSV")]
    TooManyRows(u64),
}

/// Writes every `kind` record of workspace `ws` to `out` as CSV and returns how many rows it
/// wrote (the header aside). Reads in pages keyed by id inside one transaction, so memory
/// holds one page and no row is skipped or repeated.
pub async fn export<W: Write>(
    store: &Store,
    ws: i64,
    kind: ExportKind,
    options: ExportOptions,
    out: W,
) -> Result<Exported, ExportError> {
    // Nothing is written before the workspace is known to exist.
    let mut out = Some(out);
    let mut writer = None;
    let written = pages(store, ws, kind, options, |records| {
        if let Some(mut out) = out.take() {
            if options.bom {
                out.write_all("\u{feff}".as_bytes())?;
            }
            // RFC 4180 ends records with CRLF (the csv crate's default is LF).
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out);
            w.write_record(kind.header())?;
            writer = Some(w);
        }
        let Some(writer) = writer.as_mut() else {
            return Ok(());
        };
        for record in records {
            writer.write_record(record)?;
        }
        Ok(())
    })
    .await?;
    if let Some(mut writer) = writer {
        writer.flush()?;
    }
    Ok(written)
}

/// The file formats an export is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExportFormat {
    #[default]
    Csv,
    Xlsx,
}

impl ExportFormat {
    /// The file name extension (`deals.xlsx`).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// The most rows a worksheet holds (the header is the 1,048,576th).
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

/// Every `kind` record of workspace `ws` as an Excel workbook: one sheet named after the kind,
/// a bold header row, the same columns and cell texts as the CSV, amounts as numbers (exact:
/// every amount under the cap has at most 15 significant digits, which a double and Excel
/// both hold). Ids stay text, since a Discord id is past what a spreadsheet's number keeps.
/// Rows stream to a temporary file (rust_xlsxwriter's constant memory mode), not memory.
/// Returns the workbook and what it holds. More rows than a sheet holds is an error.
pub async fn export_xlsx(
    store: &Store,
    ws: i64,
    kind: ExportKind,
    options: ExportOptions,
) -> Result<(Vec<u8>, Exported), ExportError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet_with_constant_memory();
    sheet.set_name(kind.name())?;
    for (c, h) in kind.header().iter().enumerate() {
        sheet.write_string_with_format(0, col(c)?, *h, &bold)?;
    }
    let amount = kind.header().iter().position(|h| *h == "amount");
    let quoted = Format::new().set_quote_prefix();
    let mut row = 0u32;
    let written = pages(store, ws, kind, options, |records| {
        for record in records {
            row += 1;
            if u64::from(row) > XLSX_MAX_ROWS {
                return Err(ExportError::TooManyRows(XLSX_MAX_ROWS));
            }
            for (c, cell) in record.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                match amount_number(amount, c, cell) {
                    Some((n, decimals)) => {
                        let format = Format::new().set_num_format(match decimals {
                            0 => "0",
                            1 => "0.0",
                            2 => "0.00",
                            _ => "0.000",
                        });
                        sheet.write_number_with_format(row, col(c)?, n, &format)?;
                    }
                    // A workbook's text cell never runs as a formula, and the `'` the CSV
                    // needs would show there as part of the text: Excel's own quote prefix
                    // marks it as text instead.
                    None => {
                        match unneutralised(cell) {
                            Some(text) => {
                                sheet.write_string_with_format(row, col(c)?, text, &quoted)?
                            }
                            None => sheet.write_string(row, col(c)?, cell)?,
                        };
                    }
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok((book.save_to_buffer()?, written))
}

/// A column index as the writer's.
fn col(c: usize) -> Result<u16, ExportError> {
    u16::try_from(c).map_err(|_| ExportError::TooManyRows(XLSX_MAX_ROWS))
}

/// The amount column's cell as the number it is and its decimals; `format_major` wrote it,
/// so it is `digits[.digits]` and parses to the nearest double, which prints back the same.
fn amount_number(amount: Option<usize>, c: usize, cell: &str) -> Option<(f64, usize)> {
    if amount != Some(c) {
        return None;
    }
    let decimals = cell.split_once('.').map_or(0, |(_, f)| f.len());
    cell.parse().ok().map(|n| (n, decimals))
}

/// An export in `format`, whole, as bytes: what a front-end sends as a file. Returns the bytes
/// and what they hold.
pub async fn export_bytes(
    store: &Store,
    ws: i64,
    kind: ExportKind,
    format: ExportFormat,
    options: ExportOptions,
) -> Result<(Vec<u8>, Exported), ExportError> {
    match format {
        ExportFormat::Csv => {
            let mut out = Vec::new();
            let done = export(store, ws, kind, options, &mut out).await?;
            Ok((out, done))
        }
        ExportFormat::Xlsx => export_xlsx(store, ws, kind, options).await,
    }
}

/// Reads every `kind` record of workspace `ws` page by page, keyed by id inside one
/// transaction (on the replica when there is one), and hands each page's records (cell
/// texts in header order) to `sink`.
async fn pages(
    store: &Store,
    ws: i64,
    kind: ExportKind,
    options: ExportOptions,
    mut sink: impl FnMut(&[Vec<String>]) -> Result<(), ExportError>,
) -> Result<Exported, ExportError> {
    let (mut tx, as_of) = store.begin_read(options.after).await?;
    let workspace = tx
        .workspace(ws)
        .await?
        .ok_or(ExportError::UnknownWorkspace(ws))?;
    let zone = Zone(workspace.timezone.parse().unwrap_or(Tz::UTC));
    let (mut after, mut written) = (0i64, 0u64);
    loop {
        let (last, records) = match kind {
            ExportKind::Deals => {
                let rows = tx
                    .export_deals_page(ws, options.owner, after, PAGE_SIZE)
                    .await?;
                let records = rows
                    .iter()
                    .map(|r| deal_record(r, zone))
                    .collect::<Result<Vec<_>, _>>()?;
                (rows.last().map(|r| r.id), records)
            }
            ExportKind::Contacts => {
                let rows = tx
                    .export_contacts_page(ws, options.owner, after, PAGE_SIZE)
                    .await?;
                let records = rows.iter().map(|r| contact_record(r, zone)).collect();
                (rows.last().map(|r| r.id), records)
            }
            ExportKind::Companies => {
                let rows = tx
                    .export_companies_page(ws, options.owner, after, PAGE_SIZE)
                    .await?;
                let records = rows.iter().map(|r| company_record(r, zone)).collect();
                (rows.last().map(|r| r.id), records)
            }
            ExportKind::Activities => {
                let rows = tx
                    .export_activities_page(ws, options.owner, after, PAGE_SIZE)
                    .await?;
                let records = rows.iter().map(|r| activity_record(r, zone)).collect();
                (rows.last().map(|r| r.id), records)
            }
        };
        // Whose ids the file's are: imported back into this workspace, its rows are these
        // records again, not new ones; anywhere else they are another system's ids.
        let mut records: Vec<Vec<String>> = records;
        for r in &mut records {
            r.push(ws.to_string());
        }
        sink(&records)?;
        written += records.len() as u64;
        match last {
            Some(id) if records.len() as i64 == PAGE_SIZE => after = id,
            _ => break,
        }
    }
    tx.commit().await?;
    Ok(Exported {
        rows: written,
        as_of,
    })
}

/// A text cell a spreadsheet would not run as a formula.
///
/// A cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, which
/// spreadsheets show as text and hide. One exception: a cell that is a plain number (`-12.5`,
/// `+8613800000000`) is left alone, because a spreadsheet reads it as that number and nothing
/// runs. Only text cells pass through here, and a birthday without its year (`--04-12`); the
/// amounts, ids and dates the export formats itself are numbers and ISO dates by construction.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = matches!(
        cell.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    );
    if risky && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The text [`neutralise`] put a `'` before, without it.
fn unneutralised(cell: &str) -> Option<&str> {
    cell.strip_prefix('\'')
        .filter(|rest| rest.starts_with(['=', '+', '-', '@', '\t', '\r']))
}

/// `[+-]digits[.digits]`, nothing else.
fn is_plain_number(cell: &str) -> bool {
    let body = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (whole, fraction) = body.split_once('.').unwrap_or((body, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// The workspace's zone, for the `_local` columns.
#[derive(Clone, Copy)]
struct Zone(Tz);

impl Zone {
    /// `2026-12-01T09:00:00Z`, with the fraction of a second when there is one, so that a
    /// file read back gives the same instant.
    fn utc(self, t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// `2026-12-01T10:00:00+01:00`.
    fn local(self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.0)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    fn utc_opt(self, t: Option<DateTime<Utc>>) -> String {
        t.map(|t| self.utc(t)).unwrap_or_default()
    }

    fn local_opt(self, t: Option<DateTime<Utc>>) -> String {
        t.map(|t| self.local(t)).unwrap_or_default()
    }
}

fn text(cell: &str) -> String {
    neutralise(cell).into_owned()
}

fn text_opt(cell: Option<&String>) -> String {
    cell.map(|c| text(c)).unwrap_or_default()
}

fn date_opt(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn deal_record(r: &ExportDealRow, zone: Zone) -> Result<Vec<String>, ExportError> {
    let currency = Currency::parse(&r.currency).map_err(|e| {
        StoreError::Unexpected(anyhow::anyhow!("deal {} has currency {e:?}", r.number))
    })?;
    Ok(vec![
        r.number.to_string(),
        text(&r.title),
        text(&r.stage),
        r.status.clone(),
        format_major(r.amount_minor, currency),
        currency.code().to_string(),
        text_opt(r.company.as_ref()),
        text_opt(r.contact.as_ref()),
        text_opt(r.contact_email.as_ref()),
        r.owner_id.to_string(),
        date_opt(r.expected_close),
        zone.utc(r.created_at),
        zone.local(r.created_at),
        zone.utc_opt(r.closed_at),
        zone.local_opt(r.closed_at),
        text_opt(r.lost_reason.as_ref()),
    ])
}

fn contact_record(r: &ExportContactRow, zone: Zone) -> Vec<String> {
    // `1985-04-12`, or `--04-12` (ISO 8601's form without a year) when the year is unknown,
    // which a spreadsheet would run as the formula `--04-12` (-8): neutralised like text.
    let birthday = match (r.birthday_year, r.birthday_month, r.birthday_day) {
        (Some(y), Some(m), Some(d)) => format!("{y:04}-{m:02}-{d:02}"),
        (None, Some(m), Some(d)) => text(&format!("--{m:02}-{d:02}")),
        _ => String::new(),
    };
    vec![
        r.id.to_string(),
        text(&r.name),
        text_opt(r.email.as_ref()),
        text_opt(r.phone.as_ref()),
        text_opt(r.title.as_ref()),
        text_opt(r.company.as_ref()),
        r.owner_id.to_string(),
        birthday,
        date_opt(r.contract_end),
        text(&r.tags.join("; ")),
        zone.utc(r.created_at),
        zone.local(r.created_at),
    ]
}

fn company_record(r: &ExportCompanyRow, zone: Zone) -> Vec<String> {
    vec![
        r.id.to_string(),
        text(&r.name),
        text_opt(r.industry.as_ref()),
        text_opt(r.tier.as_ref()),
        text_opt(r.website.as_ref()),
        r.owner_id.to_string(),
        date_opt(r.contract_end),
        text(&r.tags.join("; ")),
        zone.utc(r.created_at),
        zone.local(r.created_at),
    ]
}

fn activity_record(r: &ExportActivityRow, zone: Zone) -> Vec<String> {
    vec![
        r.id.to_string(),
        zone.utc(r.happened_at),
        zone.local(r.happened_at),
        r.kind.clone(),
        text_opt(r.contact.as_ref()),
        text_opt(r.contact_email.as_ref()),
        text_opt(r.contact_company.as_ref()),
        r.deal_number.map(|n| n.to_string()).unwrap_or_default(),
        r.member_id.to_string(),
        text(&r.summary),
        r.satisfaction.map(|s| s.to_string()).unwrap_or_default(),
    ]
}

// The Discord front-end runs an export inside a spawned task.
#[allow(dead_code)]
fn exports_are_send(store: &Store) {
    fn send<T: Send>(_: T) {}
    send(export_xlsx(
        store,
        1,
        ExportKind::Deals,
        ExportOptions::default(),
    ));
    send(export(
        store,
        1,
        ExportKind::Deals,
        ExportOptions::default(),
        Vec::new(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        for risky in [
            "=1+1",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "-",
        ] {
            assert_eq!(neutralise(risky), format!("'{risky}"), "{risky:?}");
        }
        for safe in ["-12.5", "+8613800000000", "-5", "Acme", "a=b", "", "1-2"] {
            assert_eq!(neutralise(safe), safe, "{safe:?}");
        }
    }
}
