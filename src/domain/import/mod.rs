//! Reading an import file: bytes in, a table of typed rows out, each with its line number, and
//! every refused cell with its line, column and reason. No I/O and no database: the import
//! command reads the file and writes the rows; this decides what the file says.
//!
//! The steps, in order: the encoding ([`decode`]: BOM, strict UTF-8, then GB18030), the
//! delimiter (`,` `;` tab `|`, sniffed outside quotes), the records (the csv crate), the column
//! mapping ([`headers`]: each system's own export by its exact header set, else aliases in
//! English and Chinese, with overrides), then each cell ([`cells`]): dates with the day/month
//! order decided once per column, amounts in minor units, closed stages as won or lost.

mod cells;
mod decode;
pub mod headers;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::domain::money::{Currency, MoneyError};
pub use cells::tier;
pub use decode::{bom, csv_builder, csv_error, record_cells, record_header, sniff, EncodingCheck};
pub use headers::{Mapping, Override, Signature, SIGNATURES};
pub use stream::{is_blank, ColumnScan, Decided, RawCell, RowReader};

/// How the file's bytes were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Gb18030,
}

impl FileEncoding {
    /// The name a preview shows.
    pub fn label(self) -> &'static str {
        match self {
            FileEncoding::Utf8 => "UTF-8",
            FileEncoding::Utf8Bom => "UTF-8 (BOM)",
            FileEncoding::Utf16Le => "UTF-16 LE",
            FileEncoding::Utf16Be => "UTF-16 BE",
            FileEncoding::Gb18030 => "GB18030",
        }
    }
}

/// The system that wrote the file; `Other` is any spreadsheet mapped by its column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Salesforce,
    Pipedrive,
    Hubspot,
    Zoho,
    Salesbot,
    Other,
}

/// What one file's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deals,
    Contacts,
    Companies,
    Activities,
    /// A product catalogue: names and list prices.
    Products,
}

/// What a column can mean to us; the snake-case names are what `Their Column=our_field`
/// overrides are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    ExternalId,
    Title,
    Company,
    CompanyId,
    Amount,
    Currency,
    Stage,
    Status,
    Probability,
    CloseDate,
    CreatedDate,
    Owner,
    Contact,
    FirstName,
    LastName,
    Email,
    Phone,
    Domain,
    Product,
    Pipeline,
    Sector,
    Notes,
    ActivityType,
    Subject,
    DueDate,
    /// A product's list price (a deal's value is `Amount`).
    Price,
    /// When a closed deal was actually closed (an open deal's `CloseDate` is its expected
    /// close).
    ClosedAt,
    LostReason,
    Tags,
    /// The deal an activity belongs to, by the source's deal id or number.
    Deal,
    /// An activity's 1-5 rating.
    Satisfaction,
    /// A contact's job title (a deal's title is `Title`).
    JobTitle,
    /// A contact's birthday, with or without the year.
    Birthday,
    /// The last day of a company's or contact's contract.
    ContractEnd,
    /// A company's tier: enterprise, mid-market or SMB.
    Tier,
    /// The workspace a salesbot export came from: its ids are that workspace's records.
    Workspace,
}

/// Every field with its override name.
pub const FIELD_NAMES: &[(&str, Field)] = &[
    ("external_id", Field::ExternalId),
    ("title", Field::Title),
    ("company", Field::Company),
    ("company_id", Field::CompanyId),
    ("amount", Field::Amount),
    ("currency", Field::Currency),
    ("stage", Field::Stage),
    ("status", Field::Status),
    ("probability", Field::Probability),
    ("close_date", Field::CloseDate),
    ("created_date", Field::CreatedDate),
    ("owner", Field::Owner),
    ("contact", Field::Contact),
    ("first_name", Field::FirstName),
    ("last_name", Field::LastName),
    ("email", Field::Email),
    ("phone", Field::Phone),
    ("domain", Field::Domain),
    ("product", Field::Product),
    ("pipeline", Field::Pipeline),
    ("sector", Field::Sector),
    ("notes", Field::Notes),
    ("activity_type", Field::ActivityType),
    ("subject", Field::Subject),
    ("due_date", Field::DueDate),
    ("price", Field::Price),
    ("closed_at", Field::ClosedAt),
    ("lost_reason", Field::LostReason),
    ("tags", Field::Tags),
    ("deal", Field::Deal),
    ("satisfaction", Field::Satisfaction),
    ("job_title", Field::JobTitle),
    ("birthday", Field::Birthday),
    ("contract_end", Field::ContractEnd),
    ("tier", Field::Tier),
    ("workspace_id", Field::Workspace),
];

impl Field {
    /// The field an override names, case-insensitively.
    pub fn from_name(name: &str) -> Option<Field> {
        let name = name.trim().to_lowercase();
        FIELD_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// The override name.
    pub fn name(self) -> &'static str {
        FIELD_NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether a file of `kind` has a use for the field: a contact's job title and birthday,
    /// a company's tier and either's contract end only in their own files.
    fn applies_to(self, kind: Kind) -> bool {
        match self {
            Field::JobTitle | Field::Birthday => kind == Kind::Contacts,
            Field::Tier => kind == Kind::Companies,
            Field::ContractEnd => matches!(kind, Kind::Contacts | Kind::Companies),
            _ => true,
        }
    }

    fn is_date(self) -> bool {
        matches!(
            self,
            Field::CloseDate
                | Field::CreatedDate
                | Field::DueDate
                | Field::ClosedAt
                | Field::ContractEnd
        )
    }
}

/// The order of a `a/b/yyyy` date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    DayFirst,
    MonthFirst,
}

/// A closed deal's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Won,
    Lost,
}

/// A date cell: a calendar day, an instant (ISO with offset), or a time written without a zone
/// (the writer places it in the workspace's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellDate {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
    Local(NaiveDateTime),
}

/// One read cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    /// Integer minor units of the workspace currency, within the amount cap.
    Money(i64),
    Date(CellDate),
}

/// One accepted row: only the cells that had something in them (a blank cell never
/// overwrites a value).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The 1-based line the record starts on.
    pub line: u64,
    pub cells: BTreeMap<Field, Cell>,
    /// Won or lost, from a closed stage or a status column.
    pub outcome: Option<Outcome>,
}

impl Row {
    /// The text of a field, if the row has it as text.
    pub fn text(&self, field: Field) -> Option<&str> {
        match self.cells.get(&field) {
            Some(Cell::Text(t)) => Some(t),
            _ => None,
        }
    }
}

/// Why one cell or row was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum CellError {
    #[error("{0}")]
    Amount(MoneyError),
    #[error("'{0}' is not a date; write 2024-03-31, 2024-03-31T09:00:00+08:00, 31/03/2024 or an Excel date")]
    Date(String),
    #[error("the row has {found} columns where the header has {expected}")]
    Width { expected: usize, found: usize },
    /// An amount in a decimal-comma column whose dots are not thousands groups (`1234.56`):
    /// read the column's way it would be a hundred times too large.
    #[error("'{0}' is not written as this column's amounts are: a decimal comma, dots only between thousands (1.234,56)")]
    CommaGrouping(String),
}

/// A refused row: where, which column (empty for the row as a whole) and why.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[error("line {line}, column '{column}': {reason}")]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub reason: CellError,
}

/// Why a whole file cannot be read; nothing from it is written.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("cannot read the workbook: {0}")]
    Workbook(String),
    #[error("the workbook has no sheet '{sheet}'; its sheets are {}", .sheets.join(", "))]
    UnknownSheet { sheet: String, sheets: Vec<String> },
    #[error("the file is not valid {}", .encoding.label())]
    Undecodable { encoding: FileEncoding },
    #[error("line {line}: {reason}")]
    Csv { line: u64, reason: String },
    #[error("'{0}' is not an override; write Their Column=our_field")]
    BadOverride(String),
    #[error("'{}' is not a field; the fields are {}", .0, field_list())]
    UnknownField(String),
    #[error("the file has no column '{0}'")]
    UnknownColumn(String),
    #[error("no column names deals, contacts, companies or activities; name the kind or map the columns")]
    UnknownKind,
    #[error("column '{column}' has day first on line {day_first_line} and month first on line {month_first_line}; dates in one column must be written one way")]
    DateOrderConflict {
        column: String,
        day_first_line: u64,
        month_first_line: u64,
    },
    #[error("column '{column}' never shows whether {example} is day/month or month/day; write the dates as 2024-03-31 or name the order")]
    AmbiguousDates { column: String, example: String },
}

fn field_list() -> String {
    FIELD_NAMES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the caller says about a file; everything optional but the currency.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The workspace currency amounts are read in.
    pub currency: Currency,
    pub source: Option<Source>,
    pub kind: Option<Kind>,
    pub overrides: Vec<Override>,
    /// The day/month order for columns that never decide it themselves.
    pub date_order: Option<DateOrder>,
}

impl ReadOptions {
    /// Detect everything, amounts in `currency`.
    pub fn new(currency: Currency) -> ReadOptions {
        ReadOptions {
            currency,
            source: None,
            kind: None,
            overrides: Vec::new(),
            date_order: None,
        }
    }
}

/// A read file: how it was written, what its columns mean, its rows and its refusals.
#[derive(Debug, Clone)]
pub struct Table {
    pub encoding: FileEncoding,
    pub delimiter: u8,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    /// The day/month order decided for the file's `a/b/yyyy` dates, if it has any.
    pub date_order: Option<DateOrder>,
    pub rows: Vec<Row>,
    pub refused: Vec<RowError>,
}

/// Reads a delimited text file's bytes into a [`Table`]. A file-wide problem (encoding, no
/// header, a column whose dates cannot be ordered) is an error; a bad row is a refusal in the
/// table and the other rows go on. The same two passes the engine's streaming reader makes,
/// over a file already in memory.
pub fn read_csv(bytes: &[u8], options: &ReadOptions) -> Result<Table, FileError> {
    let (text, encoding) = decode::decode(bytes)?;
    let delimiter = decode::sniff(&text);
    let records = || {
        decode::csv_builder(delimiter, &text)
            .from_reader(text.as_bytes())
            .into_records()
            .map(|r| {
                let record = r.map_err(|e| decode::csv_error(&e))?;
                let line = record.position().map_or(0, csv::Position::line);
                Ok::<_, FileError>((line, record))
            })
    };

    let mut pass = records();
    let headers: Vec<String> = match pass.next() {
        Some(header) => record_header(&header?.1),
        None => return Err(FileError::Empty),
    };
    let mapping = map_headers(&headers, options)?;
    let mut scan = ColumnScan::new(&mapping, Some(delimiter));
    for record in pass {
        let (line, record) = record?;
        scan.feed(line, &record_cells(&record));
    }
    let decided = scan.finish(&headers, options)?;
    let date_order = decided.date_order;

    let reader = RowReader::new(headers.clone(), &mapping, decided, options.currency);
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for record in records().skip(1) {
        let (line, record) = record?;
        match reader.read(line, &record_cells(&record)) {
            Some(Ok(row)) => rows.push(row),
            Some(Err(errors)) => refused.extend(errors),
            None => {}
        }
    }
    Ok(Table {
        encoding,
        delimiter,
        headers,
        mapping,
        date_order,
        rows,
        refused,
    })
}

/// What each column of a file with these headers means, by the caller's source, kind and
/// overrides, else by each system's header set and the aliases.
pub fn map_headers(headers: &[String], options: &ReadOptions) -> Result<Mapping, FileError> {
    headers::map(headers, options.source, options.kind, &options.overrides)
}

/// salesbot's export writes `'` before a cell that would start a formula (`engine/export.rs`
/// `neutralise`); reading its own file back takes it off again.
fn unneutralise(value: &str, source: Source) -> &str {
    match value.strip_prefix('\'') {
        Some(rest)
            if source == Source::Salesbot
                && matches!(
                    rest.chars().next(),
                    Some('=' | '+' | '-' | '@' | '\t' | '\r')
                ) =>
        {
            rest
        }
        _ => value,
    }
}
