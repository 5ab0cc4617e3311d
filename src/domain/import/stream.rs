//! The incremental pieces a file is read with, one record at a time, so that a reader can
//! stream a file of any size in two passes: a [`ColumnScan`] fed every record of the file once
//! decides what the whole of each column says (the day/month order of its dates, whether its
//! amounts write decimal commas), then a [`RowReader`] given those decisions turns each record
//! into a row or its refusals. [`super::read_csv`] and the engine's file reader both use them.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::cells::{self, CommaScan, DateScan, OrderMiss};
use super::{
    Cell, CellDate, CellError, DateOrder, Field, FileError, Mapping, ReadOptions, Row, RowError,
    Source,
};
use crate::domain::money::{check_minor, Currency, MoneyError};

/// One cell as the file holds it: text from a delimited file or a workbook, or a workbook's own
/// number or date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawCell<'a> {
    Text(&'a str),
    Number(f64),
    /// A workbook cell formatted as a date (its serial already turned into a date and time).
    Date(NaiveDateTime),
}

impl RawCell<'_> {
    fn is_blank(&self) -> bool {
        matches!(self, RawCell::Text(t) if t.trim().is_empty())
    }
}

/// A record with nothing in any cell says nothing and is skipped, not refused.
pub fn is_blank(cells: &[RawCell<'_>]) -> bool {
    cells.iter().all(RawCell::is_blank)
}

/// Pass one: sees every record and decides each date column's day/month order and each amount
/// column's decimal commas.
#[derive(Debug, Clone)]
pub struct ColumnScan {
    dates: Vec<(usize, DateScan)>,
    amounts: Vec<(usize, CommaScan)>,
}

impl ColumnScan {
    /// `delimiter` is the text file's (`None` for a workbook): in a `;` file any comma in an
    /// amount is a decimal comma.
    pub fn new(mapping: &Mapping, delimiter: Option<u8>) -> ColumnScan {
        ColumnScan {
            dates: mapping
                .columns
                .iter()
                .filter(|(_, f)| f.is_date())
                .map(|(i, _)| (*i, DateScan::default()))
                .collect(),
            amounts: mapping
                .columns
                .iter()
                .filter(|(_, f)| matches!(f, Field::Amount | Field::Price))
                .map(|(i, _)| (*i, CommaScan::new(delimiter == Some(b';'))))
                .collect(),
        }
    }

    /// Takes one record (the header aside). Only text cells say anything about order or
    /// commas; a workbook's own numbers and dates are already what they are.
    pub fn feed(&mut self, line: u64, record: &[RawCell<'_>]) {
        if is_blank(record) {
            return;
        }
        for (i, scan) in &mut self.dates {
            if let Some(RawCell::Text(v)) = record.get(*i) {
                scan.feed(line, v);
            }
        }
        for (i, scan) in &mut self.amounts {
            if let Some(RawCell::Text(v)) = record.get(*i) {
                scan.feed(v);
            }
        }
    }

    /// What the whole file says. A column that contradicts itself is an error; a column that
    /// never decides takes the order another date column of the file shows (or the caller
    /// named), and with neither it is an error too: never guessed.
    pub fn finish(self, headers: &[String], options: &ReadOptions) -> Result<Decided, FileError> {
        let header = |i: usize| headers.get(i).cloned().unwrap_or_default();
        let mut orders = Vec::new();
        let mut ambiguous = None;
        let mut decided = options.date_order;
        for (i, scan) in self.dates {
            match scan.finish() {
                Ok(order) => {
                    decided = decided.or(order);
                    orders.push((i, order));
                }
                Err(OrderMiss::Conflict { day, month }) => {
                    return Err(FileError::DateOrderConflict {
                        column: header(i),
                        day_first_line: day,
                        month_first_line: month,
                    })
                }
                Err(OrderMiss::Ambiguous { example }) => {
                    ambiguous.get_or_insert((i, example));
                    orders.push((i, None));
                }
            }
        }
        if let Some((i, example)) = ambiguous {
            if decided.is_none() {
                return Err(FileError::AmbiguousDates {
                    column: header(i),
                    example,
                });
            }
        }
        let orders = orders
            .into_iter()
            .map(|(i, o)| (i, o.or(decided)))
            .collect();
        let commas = self
            .amounts
            .into_iter()
            .map(|(i, scan)| (i, scan.finish()))
            .collect();
        Ok(Decided {
            orders,
            commas,
            date_order: decided,
        })
    }
}

/// What pass one decided for the file's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    orders: Vec<(usize, Option<DateOrder>)>,
    commas: Vec<(usize, cells::Decimals)>,
    /// The day/month order of the file's `a/b/yyyy` dates, if it has any.
    pub date_order: Option<DateOrder>,
}

/// Pass two: one record in, one row or its refusals out.
#[derive(Debug, Clone)]
pub struct RowReader {
    headers: Vec<String>,
    columns: Vec<(usize, Field)>,
    source: Source,
    currency: Currency,
    decided: Decided,
}

impl RowReader {
    pub fn new(
        headers: Vec<String>,
        mapping: &Mapping,
        decided: Decided,
        currency: Currency,
    ) -> RowReader {
        RowReader {
            headers,
            columns: mapping.columns.clone(),
            source: mapping.source,
            currency,
            decided,
        }
    }

    /// Reads the record that starts on `line`: `None` for a blank record, else the row, or
    /// every refused cell of it (a record of the wrong width is refused as a whole).
    pub fn read(&self, line: u64, record: &[RawCell<'_>]) -> Option<Result<Row, Vec<RowError>>> {
        if is_blank(record) {
            return None;
        }
        if record.len() != self.headers.len() {
            return Some(Err(vec![RowError {
                line,
                column: String::new(),
                reason: CellError::Width {
                    expected: self.headers.len(),
                    found: record.len(),
                },
            }]));
        }
        let mut row = Row {
            line,
            cells: BTreeMap::new(),
            outcome: None,
        };
        let mut refused = Vec::new();
        for (i, field) in &self.columns {
            let cell = match record[*i] {
                RawCell::Text(value) => {
                    let value = super::unneutralise(value.trim(), self.source);
                    if value.is_empty() {
                        continue;
                    }
                    if matches!(field, Field::Stage | Field::Status) {
                        row.outcome = row.outcome.or(cells::outcome(value));
                    }
                    self.text(*i, *field, value)
                }
                RawCell::Number(n) => self.number(*field, n),
                RawCell::Date(at) => self.date(*field, at),
            };
            match cell {
                Ok(cell) => {
                    row.cells.insert(*field, cell);
                }
                Err(reason) => refused.push(RowError {
                    line,
                    column: self.headers[*i].clone(),
                    reason,
                }),
            }
        }
        if refused.is_empty() {
            Some(Ok(row))
        } else {
            row.outcome = None;
            Some(Err(refused))
        }
    }

    fn text(&self, i: usize, field: Field, value: &str) -> Result<Cell, CellError> {
        match field {
            Field::Amount | Field::Price => {
                let decimals = self
                    .decided
                    .commas
                    .iter()
                    .find(|(c, _)| *c == i)
                    .map_or(cells::Decimals::Dot, |(_, d)| *d);
                cells::amount(value, decimals, self.currency).map(Cell::Money)
            }
            f if f.is_date() => {
                let order = self
                    .decided
                    .orders
                    .iter()
                    .find(|(c, _)| *c == i)
                    .and_then(|(_, o)| *o);
                cells::date(value, order).map(Cell::Date)
            }
            _ => Ok(Cell::Text(value.to_string())),
        }
    }

    /// A workbook's number: an amount exactly, a date column's Excel serial, else its text.
    fn number(&self, field: Field, n: f64) -> Result<Cell, CellError> {
        match field {
            Field::Amount | Field::Price => amount_number(n, self.currency).map(Cell::Money),
            f if f.is_date() => cells::serial(n)
                .map(Cell::Date)
                .ok_or_else(|| CellError::Date(number_text(n))),
            _ => Ok(Cell::Text(number_text(n))),
        }
    }

    /// A workbook's date: a day when it has no time of day, else a time in the workspace zone.
    fn date(&self, field: Field, at: NaiveDateTime) -> Result<Cell, CellError> {
        let cell = if at.time() == chrono::NaiveTime::MIN {
            CellDate::Day(at.date())
        } else {
            CellDate::Local(at)
        };
        match field {
            Field::Amount | Field::Price => {
                Err(CellError::Amount(MoneyError::Unrecognized(date_text(cell))))
            }
            f if f.is_date() => Ok(Cell::Date(cell)),
            _ => Ok(Cell::Text(date_text(cell))),
        }
    }
}

/// Decimals a workbook's number is read to: past the ninth a binary float only carries the
/// noise of its own arithmetic (`0.1 + 0.2` is `0.30000000000000004`), never a cent.
const NUMBER_DECIMALS: usize = 9;

/// A workbook's number in integer minor units, by digits rather than float multiplication so
/// that `1234.5` is exactly 123450 cents. Digits the currency's minor unit cannot hold are
/// refused, as a typed amount's are.
pub(super) fn amount_number(n: f64, currency: Currency) -> Result<i64, CellError> {
    if !n.is_finite() {
        return Err(CellError::Amount(MoneyError::Unrecognized(n.to_string())));
    }
    if n < 0.0 {
        return Err(CellError::Amount(MoneyError::Negative));
    }
    // Far past the cap already; also keeps the digits below in i128.
    if n >= 1e30 {
        return check_minor(i128::MAX, currency).map_err(CellError::Amount);
    }
    let text = format!("{n:.NUMBER_DECIMALS$}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let exponent = currency.exponent() as usize;
    let (kept, rest) = fraction.split_at(exponent.min(fraction.len()));
    if rest.bytes().any(|b| b != b'0') {
        return Err(CellError::Amount(MoneyError::TooPrecise {
            max_decimals: currency.exponent(),
        }));
    }
    let digits = format!("{whole}{kept:0<exponent$}");
    let minor: i128 = digits
        .parse()
        .map_err(|_| CellError::Amount(MoneyError::Unrecognized(text.clone())))?;
    check_minor(minor, currency).map_err(CellError::Amount)
}

/// A number as a spreadsheet shows it in a text column: `42` for a whole number, else its
/// shortest form with the float noise past nine decimals taken off.
pub(super) fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{n:.0}");
    }
    let short = n.to_string();
    match short.split_once('.') {
        Some((_, fraction)) if fraction.len() > NUMBER_DECIMALS => {
            let rounded = format!("{n:.NUMBER_DECIMALS$}");
            rounded
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
        _ => short,
    }
}

fn date_text(cell: CellDate) -> String {
    match cell {
        CellDate::Day(d) => d.format("%Y-%m-%d").to_string(),
        CellDate::Local(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
        CellDate::Instant(at) => at.to_rfc3339(),
    }
}
