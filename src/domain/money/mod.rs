//! Money as people type it and as we show it back.
//!
//! A sales team types amounts every way there is: `12k`, `$1,250.50`, `120万`, `1.250,50 €`.
//! [`parse_amount`] turns all of them into an [`Amount`] in integer minor units (cents, fen)
//! once, at the door, and [`format_amount`] / [`format_compact`] turn minor units back into
//! text for either locale.
//!
//! Only integer arithmetic is used, never `f64`: a float turns `0.1 + 0.2` into a pipeline
//! total that is off by a cent, and a sales total is the number nobody forgives.
//!
//! How a typed amount is read, in order:
//! 1. Full-width characters (`１２０，０００`, `￥`) become their ASCII forms.
//! 2. A sign: a leading `-` or the accounting form `(5)` means negative, which is refused.
//! 3. An optional currency marker before the number (`$`, `USD`, `HK$`, `¥`) and one after the
//!    multiplier (`usd`, `€`, `元`). A marker must name the workspace currency; see
//!    [`MoneyError::CurrencyMismatch`] for which markers fit which currencies.
//! 4. The number and its separators, read by these rules:
//!    - spaces, NBSP (U+00A0), narrow NBSP (U+202F), thin space and `'` always group digits;
//!    - if both `.` and `,` appear, the last one is the decimal separator (it may appear once);
//!    - several of the same separator are grouping (`1,250,000`, `1.250.000`);
//!    - a single `.` or `,` followed by 1, 2 or 4+ digits is the decimal separator;
//!    - a single `.` or `,` followed by exactly three digits is grouping (`1,250` and
//!      `€1.250` are 1250), except that a `.` is read as a decimal point when the workspace
//!      currency is one whose home locales write a decimal point (USD, GBP, CNY, JPY, ...:
//!      so `$1.234` is too precise, not 1234) or whose minor unit has three digits (BHD,
//!      KWD: `1.500` is 1.5), when a multiplier follows (`1.234k` is 1234),
//!      when the integer part is zero (`0.250`), and when the digits cannot be a grouping
//!      (`1250.555`);
//!    - groups must look like groups: the last group before the decimal has 3 digits, the
//!      first 1 to 3, and those between 2 or 3 (so Indian `12,50,000` works but `1,2,3` does
//!      not).
//! 5. An optional multiplier: `k`, `m`/`mm`/`mn`/`million`, `b`/`bn`/`billion`, `thousand`,
//!    and the Chinese units `千`, `万`/`萬`/`w`, `十万`, `百万`, `千万`, `亿`/`億`, `万亿`.
//!
//! Where things live: this file holds [`Currency`], [`Amount`] and [`MoneyError`]; `parse` reads
//! typed amounts by the steps above, `markers` decides which currency markers fit which
//! currencies, and `format` shows amounts back.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod checked;
mod format;
mod markers;
mod parse;
#[cfg(test)]
mod tests;

pub use checked::{add_minor, check_minor, line_value, max_major, sum_minor, TotalOverflow};
pub use format::{format_amount, format_compact, format_major};
pub use parse::parse_amount;

use format::group_thousands;

/// The largest amount anything may hold, in minor units: a deal's amount however it is formed
/// (typed, won, the total of its product lines), one product line (quantity × price, and
/// quantity × list price), a deal's lines at list price, a product's list price, a monthly
/// quota, and every row an import writes. 5 × 10^11 minor units is $5,000,000,000.00,
/// ¥500,000,000,000 or 500,000,000.000 BHD: above it is a typo (an extra `k`, a pasted phone
/// number), not a deal.
///
/// The bound it buys: every figure is a sum of such amounts in `i64` minor units, whose
/// largest value is 9,223,372,036,854,775,807 (≈ 9.22 × 10^18). A workspace at its limits,
/// 10 million deals each at the cap, sums to 5 × 10^18, still below it (18 million would fit),
/// so totals, rollups, weighted amounts and forecasts cannot overflow from amounts that passed
/// this check. Sums are still checked ([`sum_minor`]) so that rows written past the check (by
/// hand, by an old version) give a clear error instead of a wrong figure.
pub const MAX_MINOR: i64 = 500_000_000_000;

/// A workspace's currency.
///
/// Wraps the ISO 4217 table so the rest of the crate depends on one small type, and so the
/// decisions that table leaves open (no exponent, the generic `¤` symbol) are made here once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Reads a code as an admin types it in the workspace settings (`usd`, ` CNY `); case and
    /// surrounding spaces are forgiven because they carry no meaning.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let trimmed = code.trim();
        iso_currency::Currency::from_code(&trimmed.to_ascii_uppercase())
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(trimmed.to_string()))
    }

    /// The ISO 4217 code, the one unambiguous name for storage and for error messages.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// How many digits the minor unit has (USD 2, JPY 0, BHD 3), which fixes how many decimals
    /// an amount may carry. Units with no minor unit in ISO 4217 (gold, SDR) count as 0.
    pub fn exponent(self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }

    /// The symbol people recognise (`$`, `€`, `£`, `¥`, `kr`), as ISO data lists it; may be
    /// the generic `¤` for units without one, which the formatters replace with the code.
    pub fn symbol(self) -> String {
        self.0.symbol().symbol
    }

    /// The underlying ISO record, for callers that need its names or country lists.
    pub fn iso(self) -> iso_currency::Currency {
        self.0
    }
}

impl From<iso_currency::Currency> for Currency {
    fn from(iso: iso_currency::Currency) -> Self {
        Currency(iso)
    }
}

/// Shows the code: in logs and messages the code is unambiguous where `$` is not.
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Stored and sent as its code, so settings files and JSON stay readable.
impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// Read back through [`Currency::parse`], so a hand-edited `"usd"` works and a typo fails loudly.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// A sum of money in integer minor units, tagged with its currency so that amounts in different
/// currencies are never added up by accident.
///
/// User input becomes an `Amount` only through [`parse_amount`]; [`Amount::from_minor`] is for
/// values that are already trusted (read from storage, or the result of arithmetic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Amount {
    /// The value in the currency's smallest unit (cents for USD, yen for JPY).
    minor: i64,
    /// The currency the value is in.
    currency: Currency,
}

impl Amount {
    /// Wraps a trusted minor-unit value, such as a stored deal value or a sum of them; it may
    /// be negative because differences (quota minus won) can be.
    pub fn from_minor(minor: i64, currency: Currency) -> Amount {
        Amount { minor, currency }
    }

    /// The value in minor units, the form stored and summed.
    pub fn minor(self) -> i64 {
        self.minor
    }

    /// The currency the value is in.
    pub fn currency(self) -> Currency {
        self.currency
    }
}

/// Why a typed amount was refused; each case carries what a reply needs to explain it.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum MoneyError {
    /// Nothing but whitespace was typed.
    #[error("no amount given; type a number such as 12k, 1,250.50 or 120万")]
    Empty,
    /// The text does not read as an amount; carries the input as typed (trimmed).
    #[error("'{0}' is not an amount; type a number such as 12k, 1,250.50 or 120万")]
    Unrecognized(String),
    /// A minus sign or accounting parentheses: deal values are never negative.
    #[error("amounts can't be negative; type the value without a minus sign")]
    Negative,
    /// Above [`MAX_MINOR`] minor units, which is a typo rather than a deal.
    #[error("amount is too large; the limit is {} whole units", group_thousands(.max_major.unsigned_abs()))]
    TooLarge {
        /// The limit, in whole units of the currency ([`max_major`]).
        max_major: i64,
    },
    /// More decimals than the currency's minor unit holds (`$1.234`, `¥1.5` in JPY).
    #[error("too many decimal places; this currency allows at most {max_decimals}")]
    TooPrecise {
        /// The currency's minor-unit digits.
        max_decimals: u32,
    },
    /// The amount names a currency other than the workspace's.
    ///
    /// `given` is the symbol as typed or the ISO code in upper case; `expected` is the
    /// workspace's ISO code. Which markers fit which currencies: a marker equal to the
    /// currency's own ISO symbol always fits (`kr` for SEK, `R$` for BRL); `$` and `dollar(s)`
    /// fit every currency whose symbol contains `$` (USD, CAD, AUD, HKD, SGD, TWD, MXN, ...),
    /// since people everywhere type the bare `$` for their local dollar, but not CNY or EUR;
    /// `¥` fits CNY and JPY; `元`, `块`, `rmb`, `cn¥` only CNY; `円`, `yen`, `jp¥` only JPY;
    /// `€` only EUR; `£` the pound currencies; prefixed dollars (`US$`, `HK$`, `A$`, `C$`,
    /// `S$`, `NT$`, `NZ$`) only their own currency.
    #[error("amount is in {given} but this workspace uses {expected}; leave the currency out or use {expected}")]
    CurrencyMismatch {
        /// The marker as typed (`€`), or an ISO code upper-cased (`EUR`).
        given: String,
        /// The workspace's ISO code.
        expected: String,
    },
    /// A three-letter code that is not ISO 4217; carries it as typed.
    #[error("unknown currency '{0}'; use an ISO 4217 code such as USD, EUR or CNY")]
    UnknownCurrency(String),
}
