//! Reading one cell: dates (ISO, ISO with offset, Excel serials, day/month order decided for a
//! whole column), amounts (decimal commas when the file says so) and closed stages.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::{CellDate, CellError, DateOrder, Outcome};
use crate::domain::money::{check_minor, parse_amount, Currency};

/// `a/b/yyyy` (or with `.` or `-`), an optional time after a space ignored: the two small parts
/// before the year, when the shape is that.
fn slashed(value: &str) -> Option<(u32, u32, i32)> {
    let date = value.split_whitespace().next()?;
    let mut parts = date.split(['/', '.', '-']);
    let a = parts.next()?;
    let b = parts.next()?;
    let y = parts.next()?;
    if parts.next().is_some() || a.len() > 2 || b.len() > 2 || y.len() != 4 {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?, y.parse().ok()?))
}

/// What a whole column says about day/month order, fed one value at a time: a value with a
/// part over 12 before the year says which part is the day.
#[derive(Debug, Clone, Default)]
pub(super) struct DateScan {
    example: Option<String>,
    day_first: Option<u64>,
    month_first: Option<u64>,
}

impl DateScan {
    pub(super) fn feed(&mut self, line: u64, value: &str) {
        let Some((a, b, _)) = slashed(value) else {
            return;
        };
        self.example.get_or_insert_with(|| value.trim().to_string());
        if a > 12 {
            self.day_first.get_or_insert(line);
        }
        if b > 12 {
            self.month_first.get_or_insert(line);
        }
    }

    /// `Ok(None)` when no value is written that way, an error naming the evidence when the
    /// column contradicts itself or never decides.
    pub(super) fn finish(self) -> Result<Option<DateOrder>, OrderMiss> {
        match (self.example, self.day_first, self.month_first) {
            (None, _, _) => Ok(None),
            (Some(_), Some(day), Some(month)) => Err(OrderMiss::Conflict { day, month }),
            (Some(_), Some(_), None) => Ok(Some(DateOrder::DayFirst)),
            (Some(_), None, Some(_)) => Ok(Some(DateOrder::MonthFirst)),
            (Some(example), None, None) => Err(OrderMiss::Ambiguous { example }),
        }
    }
}

/// Why a column's day/month order could not be decided.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum OrderMiss {
    Conflict { day: u64, month: u64 },
    Ambiguous { example: String },
}

/// Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in); 2958465 is 9999-12-31.
const EXCEL_MAX: f64 = 2_958_465.0;

/// Reads one date cell; `order` is the column's decided day/month order.
pub(super) fn date(value: &str, order: Option<DateOrder>) -> Result<CellDate, CellError> {
    let v = value.trim();
    let bad = || CellError::Date(v.to_string());
    if let Ok(at) = DateTime::parse_from_rfc3339(v) {
        return Ok(CellDate::Instant(at.with_timezone(&Utc)));
    }
    if let Ok(day) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(CellDate::Day(day));
    }
    if let Ok(day) = NaiveDate::parse_from_str(v, "%Y/%m/%d") {
        return Ok(CellDate::Day(day));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(v, format) {
            return Ok(CellDate::Local(at));
        }
    }
    if let Some((a, b, y)) = slashed(v) {
        let (day, month) = match order {
            Some(DateOrder::DayFirst) => (a, b),
            Some(DateOrder::MonthFirst) => (b, a),
            None => return Err(bad()),
        };
        return NaiveDate::from_ymd_opt(y, month, day)
            .map(CellDate::Day)
            .ok_or_else(bad);
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if let Ok(n) = v.parse::<f64>() {
            return serial(n).ok_or_else(bad);
        }
    }
    Err(bad())
}

/// An Excel serial day number as its day (the time of day, the fraction, is dropped).
pub(super) fn serial(n: f64) -> Option<CellDate> {
    if !(1.0..=EXCEL_MAX).contains(&n) {
        return None;
    }
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    // Within 1..=EXCEL_MAX, so the whole days fit.
    let days = n.trunc() as u64;
    epoch
        .checked_add_days(chrono::Days::new(days))
        .map(CellDate::Day)
}

/// The number in an amount cell: a currency sign or code around it (`€ 1.234,56`,
/// `Bs. 1.234,56`, `1.234,56 EUR`) is no part of its shape.
fn number_part(value: &str) -> &str {
    value.trim_matches(|c: char| !c.is_ascii_digit())
}

/// `1.234,56` or `12,5`: the shape of a decimal-comma amount, with or without dot grouping,
/// with at most `decimals` digits after the comma.
fn comma_shaped(value: &str, decimals: usize) -> bool {
    let v = number_part(value);
    let Some((int, frac)) = v.rsplit_once(',') else {
        return false;
    };
    if frac.is_empty() || frac.len() > decimals || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let groups: Vec<&str> = int.split('.').collect();
    let head = groups[0];
    !head.is_empty()
        && head.bytes().all(|b| b.is_ascii_digit())
        && (groups.len() == 1 || head.len() <= 3)
        && groups[1..]
            .iter()
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether every dot in a decimal-comma amount sits between thousands (`1.234.567,89`), the
/// only place that form puts them.
fn dots_group_thousands(value: &str) -> bool {
    let value = number_part(value);
    let int = value.rsplit_once(',').map_or(value, |(int, _)| int);
    let digits: String = int
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut groups = digits.split('.');
    let head = groups.next().unwrap_or_default();
    !digits.contains('.') || ((1..=3).contains(&head.len()) && groups.all(|g| g.len() == 3))
}

/// Whether an amount column writes decimal commas, fed one value at a time: in a `;` file any
/// comma says so; elsewhere every amount must have that shape, so a quoted `1,250` in a comma
/// file stays one thousand, or one amount must show it beyond doubt (`2.500,50`, a comma after
/// a dot) and none the other way (`2,500.50`): then a `1.250` beside it is one thousand two
/// hundred and fifty as well, not read one way in one row and another in the next.
#[derive(Debug, Clone)]
pub(super) struct CommaScan {
    semicolon: bool,
    any: bool,
    any_comma: bool,
    all_shaped: bool,
    comma_after_dot: bool,
    dot_after_comma: bool,
}

impl CommaScan {
    pub(super) fn new(semicolon: bool) -> CommaScan {
        CommaScan {
            semicolon,
            any: false,
            any_comma: false,
            all_shaped: true,
            comma_after_dot: false,
            dot_after_comma: false,
        }
    }

    pub(super) fn feed(&mut self, value: &str) {
        if value.trim().is_empty() {
            return;
        }
        self.any = true;
        // In a `;` file only a comma that reads as a decimal one counts (`TBD, later` in a cell
        // that is no amount must not turn `1234.56` in another row into 123,456), up to three
        // decimals for the currencies that have them. In a `,` file a quoted `1,250` is one
        // thousand two hundred and fifty, so only one or two decimals count there.
        self.any_comma |= comma_shaped(value, 3);
        self.all_shaped &= comma_shaped(value, 2);
        let number = number_part(value);
        if let (Some(comma), Some(dot)) = (number.rfind(','), number.rfind('.')) {
            if comma > dot {
                self.comma_after_dot |= comma_shaped(value, 3);
            } else {
                self.dot_after_comma = true;
            }
        }
    }

    pub(super) fn finish(self) -> Decimals {
        if self.semicolon {
            if self.any_comma {
                Decimals::Comma
            } else {
                Decimals::Dot
            }
        } else if self.any && self.all_shaped {
            Decimals::Comma
        } else if self.comma_after_dot && !self.dot_after_comma {
            Decimals::CommaByOne
        } else {
            Decimals::Dot
        }
    }
}

/// How an amount column writes its decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decimals {
    /// With a dot, or as each amount says (the currency's rules).
    Dot,
    /// With a comma, dots only between thousands.
    Comma,
    /// With a comma, as one amount of a comma file shows beyond doubt; a `1,250` there (a
    /// comma-file's thousands, or one and a quarter) is refused rather than guessed.
    CommaByOne,
}

/// Reads one amount in integer minor units, through the same parser a typed amount uses and
/// held to the same cap.
pub(super) fn amount(
    value: &str,
    decimals: Decimals,
    currency: Currency,
) -> Result<i64, CellError> {
    let text = if decimals == Decimals::Dot {
        value.to_string()
    } else {
        let number = number_part(value);
        let lone_comma_thousands = decimals == Decimals::CommaByOne
            && !number.contains('.')
            && number
                .split_once(',')
                .is_some_and(|(_, frac)| frac.len() == 3 && !frac.contains(','));
        if lone_comma_thousands || !dots_group_thousands(value) {
            return Err(CellError::CommaGrouping(value.trim().to_string()));
        }
        value.replace('.', "").replace(',', ".")
    };
    let parsed = parse_amount(&text, currency).map_err(CellError::Amount)?;
    check_minor(i128::from(parsed.minor()), currency).map_err(CellError::Amount)
}

/// A company tier as `/company add tier:` stores it, from its value or the name either
/// language shows, in any case.
pub fn tier(value: &str) -> Option<&'static str> {
    match super::headers::key(value).as_str() {
        "enterprise" | "大型企业" => Some("enterprise"),
        "mid market" | "midmarket" | "中型企业" => Some("mid-market"),
        "smb" | "small business" | "中小企业" => Some("smb"),
        _ => None,
    }
}

/// Each system's closed stages and a won/lost status, in any case.
pub(super) fn outcome(value: &str) -> Option<Outcome> {
    let k = super::headers::key(value);
    match k.as_str() {
        "closed won" | "closedwon" | "won" | "win" | "赢单" | "成交" | "已成交" => {
            Some(Outcome::Won)
        }
        "closed lost" | "closedlost" | "lost" | "lose" | "输单" | "丢单" | "失败" => {
            Some(Outcome::Lost)
        }
        // Zoho writes why a deal was lost into the stage name.
        k if k.starts_with("closed lost ") => Some(Outcome::Lost),
        _ => None,
    }
}
