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

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::locale::Locale;

/// The largest amount we accept, in whole units of any currency: no deal is worth a trillion,
/// so anything above it is a typo (an extra `k`, a pasted phone number), not a deal.
pub const MAX_MAJOR: i64 = 1_000_000_000_000;

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
    /// Above [`MAX_MAJOR`] whole units, which is a typo rather than a deal.
    #[error("amount is too large; the limit is {} whole units", group_thousands(.max_major.unsigned_abs()))]
    TooLarge {
        /// The limit, in whole units of the currency.
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

/// Reads an amount as a person types it, in the workspace currency `currency`.
///
/// The rules are in the module documentation; in short: `12k`, `1.2m`, `$1,250.50`,
/// `USD 1,250`, `1,250 usd`, `¥120,000`, `120万`, `1 250,50 €`, `1'250.50` are all accepted.
/// Zero is accepted (a deal whose value is not known yet); negative amounts are not.
pub fn parse_amount(input: &str, currency: Currency) -> Result<Amount, MoneyError> {
    let normalized = normalize(input);
    let text = normalized.trim();
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    let unrecognized = || MoneyError::Unrecognized(input.trim().to_string());
    let shape = scan(text, currency).ok_or_else(unrecognized)?;
    for marker in [shape.prefix, shape.suffix].into_iter().flatten() {
        check_marker(marker, currency).map_err(|e| e.unwrap_or_else(unrecognized))?;
    }
    if shape.negative {
        return Err(MoneyError::Negative);
    }
    let minor = to_minor(
        &shape.int_digits,
        &shape.frac_digits,
        shape.scale,
        currency.exponent(),
    )?;
    Ok(Amount { minor, currency })
}

/// Shows an amount in full, for replies and deal cards.
///
/// En: symbol first, comma grouping, decimals only when there are cents (`$12,000`,
/// `$1,250.50`, `-$5`). ZhCn: from 10,000 whole units on, the amount is counted in 万, and from
/// 100,000,000 in 亿, with up to two decimals (`¥120万`, `$1.25万`, `¥1.2亿`), because that is
/// how Chinese readers size a number; below that it is shown like En (`¥9,999.50`).
pub fn format_amount(minor: i64, currency: Currency, locale: Locale) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = u128::from(minor.unsigned_abs());
    let unit = 10u128.pow(currency.exponent());
    let body = match locale {
        Locale::ZhCn if abs >= 10_000 * unit => chinese_units(abs, unit),
        _ => exact(abs, currency.exponent()),
    };
    format!("{sign}{}{body}", marker_for(currency))
}

/// Shows an amount short, for chart labels and table cells where width matters more than cents.
///
/// En: below 1,000 whole units the exact amount (`$950`, `$950.50`; small values are short
/// already and rounding would hide the cents of a small deal), above it one decimal with a
/// K, M, B or T suffix (`$12K`, `$1.2M`). ZhCn: the 万/亿 form of [`format_amount`], which is
/// already compact.
pub fn format_compact(minor: i64, currency: Currency, locale: Locale) -> String {
    if locale == Locale::ZhCn {
        return format_amount(minor, currency, locale);
    }
    let abs = u128::from(minor.unsigned_abs());
    let unit = 10u128.pow(currency.exponent());
    if abs < 1_000 * unit {
        return format_amount(minor, currency, locale);
    }
    const SUFFIXES: [(u32, &str); 4] = [(3, "K"), (6, "M"), (9, "B"), (12, "T")];
    let mut index = SUFFIXES
        .iter()
        .rposition(|&(power, _)| abs >= 10u128.pow(power) * unit)
        .unwrap_or(0);
    let tenths = |index: usize| rounded_div(abs * 10, 10u128.pow(SUFFIXES[index].0) * unit);
    // 999,950 rounds to 1000.0K, which reads better as 1M.
    if tenths(index) >= 10_000 && index + 1 < SUFFIXES.len() {
        index += 1;
    }
    let sign = if minor < 0 { "-" } else { "" };
    let body = trimmed_decimal(tenths(index), 1);
    format!("{sign}{}{body}{}", marker_for(currency), SUFFIXES[index].1)
}

/// Currencies whose home locales write `.` as the decimal point, so a lone `.` before three
/// digits (`$1.234`) is a decimal point there rather than grouping. Elsewhere (EUR, BRL, ...)
/// `1.250` is the usual way to write one thousand two hundred fifty.
const DOT_DECIMAL: &[&str] = &[
    "USD", "CAD", "AUD", "NZD", "GBP", "CHF", "CNY", "HKD", "MOP", "TWD", "SGD", "JPY", "KRW",
    "INR", "MXN", "PHP", "THB", "MYR", "ILS",
];

/// Multipliers people append, longest first so `bn` wins over `b` and `万亿` over `万`.
/// The value is the power of ten.
const MULTIPLIERS: &[(&str, u32)] = &[
    ("thousand", 3),
    ("billion", 9),
    ("million", 6),
    ("万亿", 12),
    ("千万", 7),
    ("百万", 6),
    ("十万", 5),
    ("mm", 6),
    ("mn", 6),
    ("bn", 9),
    ("k", 3),
    ("m", 6),
    ("b", 9),
    // Chinese chat writes 10w for 10万.
    ("w", 4),
    ("千", 3),
    ("万", 4),
    ("萬", 4),
    ("亿", 8),
    ("億", 8),
];

/// Which currencies a marker other than an ISO code or the currency's own symbol can name.
enum Denotes {
    /// Any currency whose symbol contains `$`.
    Dollar,
    /// Exactly these ISO codes.
    Codes(&'static [&'static str]),
}

/// Markers beyond ISO codes, keyed in lower case.
const MARKERS: &[(&str, Denotes)] = &[
    ("$", Denotes::Dollar),
    ("dollar", Denotes::Dollar),
    ("dollars", Denotes::Dollar),
    ("us$", Denotes::Codes(&["USD"])),
    ("美元", Denotes::Codes(&["USD"])),
    ("美金", Denotes::Codes(&["USD"])),
    ("a$", Denotes::Codes(&["AUD"])),
    ("au$", Denotes::Codes(&["AUD"])),
    ("c$", Denotes::Codes(&["CAD"])),
    ("ca$", Denotes::Codes(&["CAD"])),
    ("nz$", Denotes::Codes(&["NZD"])),
    ("hk$", Denotes::Codes(&["HKD"])),
    ("港元", Denotes::Codes(&["HKD"])),
    ("港币", Denotes::Codes(&["HKD"])),
    ("s$", Denotes::Codes(&["SGD"])),
    ("sg$", Denotes::Codes(&["SGD"])),
    ("nt$", Denotes::Codes(&["TWD"])),
    ("mx$", Denotes::Codes(&["MXN"])),
    ("r$", Denotes::Codes(&["BRL"])),
    ("€", Denotes::Codes(&["EUR"])),
    ("euro", Denotes::Codes(&["EUR"])),
    ("euros", Denotes::Codes(&["EUR"])),
    ("欧元", Denotes::Codes(&["EUR"])),
    ("£", Denotes::Codes(&["GBP", "EGP", "FKP", "GIP", "SHP"])),
    ("pound", Denotes::Codes(&["GBP"])),
    ("pounds", Denotes::Codes(&["GBP"])),
    ("英镑", Denotes::Codes(&["GBP"])),
    ("¥", Denotes::Codes(&["CNY", "JPY"])),
    ("cn¥", Denotes::Codes(&["CNY"])),
    ("rmb", Denotes::Codes(&["CNY"])),
    ("yuan", Denotes::Codes(&["CNY"])),
    ("元", Denotes::Codes(&["CNY"])),
    ("块", Denotes::Codes(&["CNY"])),
    ("人民币", Denotes::Codes(&["CNY"])),
    ("jp¥", Denotes::Codes(&["JPY"])),
    ("yen", Denotes::Codes(&["JPY"])),
    ("円", Denotes::Codes(&["JPY"])),
    ("日元", Denotes::Codes(&["JPY"])),
    ("₩", Denotes::Codes(&["KRW", "KPW"])),
    ("₹", Denotes::Codes(&["INR"])),
    ("₽", Denotes::Codes(&["RUB"])),
    ("₺", Denotes::Codes(&["TRY"])),
    ("₫", Denotes::Codes(&["VND"])),
    ("₱", Denotes::Codes(&["PHP"])),
    ("฿", Denotes::Codes(&["THB"])),
    ("₪", Denotes::Codes(&["ILS"])),
    ("₦", Denotes::Codes(&["NGN"])),
    ("₴", Denotes::Codes(&["UAH"])),
];

/// The pieces of a typed amount, before any arithmetic.
struct Shape<'a> {
    /// A minus sign or accounting parentheses were present.
    negative: bool,
    /// A currency marker before the number.
    prefix: Option<&'a str>,
    /// A currency marker after the number and multiplier.
    suffix: Option<&'a str>,
    /// Digits before the decimal separator, grouping removed.
    int_digits: String,
    /// Digits after the decimal separator, if any.
    frac_digits: String,
    /// The multiplier's power of ten (`k` is 3).
    scale: u32,
}

/// Maps full-width forms (from Chinese and Japanese input methods) and typographic variants to
/// the ASCII characters the scanner knows.
fn normalize(input: &str) -> String {
    input
        .chars()
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            '，' => ',',
            '．' => '.',
            '￥' => '¥',
            '＄' => '$',
            '－' | '−' => '-',
            '＋' => '+',
            '（' => '(',
            '）' => ')',
            '\u{3000}' => ' ',
            '’' => '\'',
            _ => c,
        })
        .collect()
}

/// Splits a normalized, trimmed amount into its pieces; `None` when it has no readable shape.
fn scan(text: &str, currency: Currency) -> Option<Shape<'_>> {
    let mut rest = text;
    let mut negative = false;
    if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        rest = inner.trim();
    }
    let mut signs = 0;
    if let Some((minus, after)) = take_sign(rest) {
        signs += 1;
        negative |= minus;
        rest = after.trim_start();
    }
    let prefix_len = rest
        .find(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '-' || c == '+')
        .unwrap_or(rest.len());
    let prefix = (prefix_len > 0).then(|| &rest[..prefix_len]);
    rest = rest[prefix_len..].trim_start();
    if let Some((minus, after)) = take_sign(rest) {
        signs += 1;
        negative |= minus;
        rest = after.trim_start();
    }
    if signs > 1 || (signs > 0 && text.starts_with('(')) {
        return None;
    }
    let (number, after) = take_number(rest)?;
    rest = after.trim_start();
    let (scale, after) = take_multiplier(rest);
    rest = after.trim();
    let suffix = (!rest.is_empty()).then_some(rest);
    // Where three decimals are normal (BHD, KWD), `1.500` is one and a half, not 1500.
    let dot_decimal =
        scale > 0 || currency.exponent() >= 3 || DOT_DECIMAL.contains(&currency.code());
    let (int_digits, frac_digits) = split_number(number, dot_decimal)?;
    Some(Shape {
        negative,
        prefix,
        suffix,
        int_digits,
        frac_digits,
        scale,
    })
}

/// Takes one leading `-` or `+`; the flag is true for minus.
fn take_sign(s: &str) -> Option<(bool, &str)> {
    s.strip_prefix('-')
        .map(|r| (true, r))
        .or_else(|| s.strip_prefix('+').map(|r| (false, r)))
}

/// Characters that may sit between digits of one number.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | '\'' | ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}'
    )
}

/// Takes the digits and the separators between them; a separator only counts when a digit
/// follows it, so `1,250 usd` stops before the space and `1..2` stops after the `1`.
fn take_number(s: &str) -> Option<(&str, &str)> {
    let mut end = 0;
    let mut prev_digit = false;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_digit() {
            end = i + c.len_utf8();
            prev_digit = true;
        } else if prev_digit
            && is_separator(c)
            && chars.peek().is_some_and(|&(_, next)| next.is_ascii_digit())
        {
            prev_digit = false;
        } else {
            break;
        }
    }
    (end > 0).then(|| s.split_at(end))
}

/// Takes a multiplier from the front of `s`; Latin ones must end at a word boundary so that
/// `12kk` and `12 mxn` are not read as `12k` + `k` or `12m` + `xn`.
fn take_multiplier(s: &str) -> (u32, &str) {
    for &(word, power) in MULTIPLIERS {
        let Some(head) = s.get(..word.len()) else {
            continue;
        };
        let rest = &s[word.len()..];
        if word.is_ascii() {
            let at_boundary = !rest.starts_with(|c: char| c.is_ascii_alphabetic());
            if head.eq_ignore_ascii_case(word) && at_boundary {
                return (power, rest);
            }
        } else if head == word {
            return (power, rest);
        }
    }
    (0, s)
}

/// Applies the separator rules of the module documentation to a digits-and-separators token,
/// returning the integer and fraction digits.
fn split_number(number: &str, dot_decimal: bool) -> Option<(String, String)> {
    let groups: Vec<&str> = number.split(is_separator).collect();
    let seps: Vec<char> = number.chars().filter(|&c| is_separator(c)).collect();
    let punct: Vec<usize> = (0..seps.len())
        .filter(|&i| matches!(seps[i], '.' | ','))
        .collect();
    let decimal = match punct.last() {
        None => None,
        Some(&last) => {
            let kind = seps[last];
            let same_kind = punct.iter().filter(|&&i| seps[i] == kind).count();
            let mixed = same_kind < punct.len();
            let is_last_sep = last + 1 == seps.len();
            if mixed {
                // The last of `.` and `,` is the decimal; it may occur once and end the number.
                if same_kind > 1 || !is_last_sep {
                    return None;
                }
                Some(last)
            } else if same_kind > 1 || !is_last_sep {
                None
            } else {
                let integer_is_zero = groups[..=last].iter().all(|g| g.bytes().all(|b| b == b'0'));
                let could_group = groups[last + 1].len() == 3
                    && !integer_is_zero
                    && !(kind == '.' && dot_decimal)
                    && valid_grouping(&groups);
                (!could_group).then_some(last)
            }
        }
    };
    let (int_groups, frac) = match decimal {
        Some(d) => (&groups[..=d], groups[d + 1]),
        None => (&groups[..], ""),
    };
    if int_groups.len() > 1 && !valid_grouping(int_groups) {
        return None;
    }
    Some((int_groups.concat(), frac.to_string()))
}

/// Whether digit groups split by grouping separators look like thousands (or Indian lakh)
/// grouping: first 1-3 digits, last 3, those between 2 or 3.
fn valid_grouping(groups: &[&str]) -> bool {
    let n = groups.len();
    groups.iter().enumerate().all(|(i, g)| match i {
        0 => (1..=3).contains(&g.len()),
        _ if i + 1 == n => g.len() == 3,
        _ => (2..=3).contains(&g.len()),
    })
}

/// Checks a currency marker against the workspace currency. `Err(None)` means the marker is
/// not one we know at all, which the caller reports as an unrecognized amount.
fn check_marker(marker: &str, currency: Currency) -> Result<(), Option<MoneyError>> {
    if marker == currency.symbol() {
        return Ok(());
    }
    let expected = currency.code().to_string();
    let lower = marker.to_lowercase();
    if let Some((_, denotes)) = MARKERS.iter().find(|(key, _)| *key == lower) {
        let fits = match denotes {
            Denotes::Dollar => currency.symbol().contains('$'),
            Denotes::Codes(codes) => codes.contains(&currency.code()),
        };
        return if fits {
            Ok(())
        } else {
            Err(Some(MoneyError::CurrencyMismatch {
                given: marker.to_string(),
                expected,
            }))
        };
    }
    if marker.len() == 3 && marker.bytes().all(|b| b.is_ascii_alphabetic()) {
        let named = Currency::parse(marker).map_err(Some)?;
        return if named == currency {
            Ok(())
        } else {
            Err(Some(MoneyError::CurrencyMismatch {
                given: named.code().to_string(),
                expected,
            }))
        };
    }
    Err(None)
}

/// Turns digits, a multiplier and the currency's exponent into minor units, refusing values
/// that need more precision than the minor unit has or exceed [`MAX_MAJOR`].
fn to_minor(
    int_digits: &str,
    frac_digits: &str,
    scale: u32,
    exponent: u32,
) -> Result<i64, MoneyError> {
    let too_large = MoneyError::TooLarge {
        max_major: MAX_MAJOR,
    };
    // Trailing zeros add no precision: `0.250` is a quarter, in any currency with cents.
    let frac = frac_digits.trim_end_matches('0');
    let shift = scale + exponent;
    let Some(pad) = (shift as usize).checked_sub(frac.len()) else {
        return Err(MoneyError::TooPrecise {
            max_decimals: exponent,
        });
    };
    let mut minor: u128 = 0;
    for digit in int_digits.bytes().chain(frac.bytes()) {
        minor = minor
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or(too_large.clone())?;
    }
    let pad = u32::try_from(pad).map_err(|_| too_large.clone())?;
    minor = 10u128
        .checked_pow(pad)
        .and_then(|p| minor.checked_mul(p))
        .ok_or(too_large.clone())?;
    let cap = u128::from(MAX_MAJOR.unsigned_abs()) * 10u128.pow(exponent);
    if minor > cap {
        return Err(too_large);
    }
    i64::try_from(minor).map_err(|_| too_large)
}

/// What goes before the digits: the symbol, with a space after a lettered one (`kr 100` reads
/// better than `kr100`), or the code where ISO has only the generic `¤`.
fn marker_for(currency: Currency) -> String {
    let symbol = currency.symbol();
    if symbol.is_empty() || symbol == "¤" {
        return format!("{} ", currency.code());
    }
    match symbol.chars().last() {
        Some(c) if c.is_alphabetic() || c == '.' => format!("{symbol} "),
        _ => symbol,
    }
}

/// The exact amount with comma grouping and the minor digits when they are not zero.
fn exact(abs_minor: u128, exponent: u32) -> String {
    let unit = 10u128.pow(exponent);
    let (major, fraction) = (abs_minor / unit, abs_minor % unit);
    let mut text = group_thousands(major);
    if fraction != 0 {
        text.push_str(&format!(".{fraction:0width$}", width = exponent as usize));
    }
    text
}

/// The amount counted in 万 or 亿 with up to two decimals; amounts that round to 10000万 are
/// shown as 1亿 instead.
fn chinese_units(abs_minor: u128, unit: u128) -> String {
    let wan = 10_000 * unit;
    let yi = 100_000_000 * unit;
    let in_wan = rounded_div(abs_minor * 100, wan);
    let (hundredths, suffix) = if abs_minor >= yi || in_wan >= 10_000 * 100 {
        (rounded_div(abs_minor * 100, yi), "亿")
    } else {
        (in_wan, "万")
    };
    format!("{}{suffix}", trimmed_decimal(hundredths, 2))
}

/// `n / d` rounded half away from zero (inputs are non-negative).
fn rounded_div(n: u128, d: u128) -> u128 {
    (n + d / 2) / d
}

/// A fixed-point value with `places` decimals, without trailing zeros (`120` → `1.2`).
fn trimmed_decimal(value: u128, places: u32) -> String {
    let unit = 10u128.pow(places);
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0width$}", width = places as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `1234567` → `1,234,567`.
fn group_thousands(n: impl Into<u128>) -> String {
    let digits = n.into().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use MoneyError::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn mismatch(given: &str, expected: &str) -> MoneyError {
        CurrencyMismatch {
            given: given.to_string(),
            expected: expected.to_string(),
        }
    }

    const TOO_LARGE: MoneyError = TooLarge {
        max_major: MAX_MAJOR,
    };

    #[test]
    fn amounts_parse_as_typed() {
        let cases: Vec<(&str, &str, Result<i64, MoneyError>)> = vec![
            // Multipliers.
            ("12k", "USD", Ok(1_200_000)),
            ("1.2m", "USD", Ok(120_000_000)),
            ("2.5K", "USD", Ok(250_000)),
            ("3bn", "USD", Ok(300_000_000_000)),
            ("1b", "USD", Ok(100_000_000_000)),
            ("1B", "USD", Ok(100_000_000_000)),
            ("2mm", "USD", Ok(200_000_000)),
            ("1.5 million", "USD", Ok(150_000_000)),
            ("12 K usd", "USD", Ok(1_200_000)),
            ("1.2345k", "USD", Ok(123_450)),
            ("1.234k", "USD", Ok(123_400)),
            ("1,500k", "USD", Ok(150_000_000)),
            ("1,5k", "EUR", Ok(150_000)),
            ("0k", "USD", Ok(0)),
            // Symbols, codes and separators.
            ("$1,250.50", "USD", Ok(125_050)),
            ("1250.5", "USD", Ok(125_050)),
            ("USD 1,250", "USD", Ok(125_000)),
            ("usd1250", "USD", Ok(125_000)),
            ("1,250 usd", "USD", Ok(125_000)),
            ("US$ 5", "USD", Ok(500)),
            ("5 dollars", "USD", Ok(500)),
            ("  42  ", "USD", Ok(4_200)),
            ("+5", "USD", Ok(500)),
            ("0", "USD", Ok(0)),
            ("0.99", "USD", Ok(99)),
            ("0.250", "USD", Ok(25)),
            ("007", "USD", Ok(700)),
            ("1,250,000", "USD", Ok(125_000_000)),
            ("1,250", "USD", Ok(125_000)),
            ("1.250", "USD", Ok(125)),
            ("1.250,50", "USD", Ok(125_050)),
            ("12,50,000", "INR", Ok(125_000_000)),
            ("₹12,50,000", "INR", Ok(125_000_000)),
            ("HK$100", "HKD", Ok(10_000)),
            ("$100", "HKD", Ok(10_000)),
            ("NT$100", "TWD", Ok(10_000)),
            ("1'250.50", "CHF", Ok(125_050)),
            ("CHF 1'250.50", "CHF", Ok(125_050)),
            ("1’250", "CHF", Ok(125_000)),
            ("5 kr", "SEK", Ok(500)),
            ("12 mxn", "MXN", Ok(1_200)),
            ("£20", "GBP", Ok(2_000)),
            ("1.500", "BHD", Ok(1_500)),
            ("1,000,000,000,000", "USD", Ok(100_000_000_000_000)),
            // Euro conventions.
            ("1 250,50 €", "EUR", Ok(125_050)),
            ("1\u{a0}250,50 €", "EUR", Ok(125_050)),
            ("1\u{202f}250 €", "EUR", Ok(125_000)),
            ("1.250,50 €", "EUR", Ok(125_050)),
            ("€1.250", "EUR", Ok(125_000)),
            ("1.250.000 EUR", "EUR", Ok(125_000_000)),
            ("0,99 €", "EUR", Ok(99)),
            ("12 euros", "EUR", Ok(1_200)),
            // Chinese and Japanese.
            ("¥120,000", "CNY", Ok(12_000_000)),
            ("¥120,000", "JPY", Ok(120_000)),
            ("￥１２０，０００", "CNY", Ok(12_000_000)),
            ("120万", "CNY", Ok(120_000_000)),
            ("120万", "USD", Ok(120_000_000)),
            ("1.5万", "CNY", Ok(1_500_000)),
            ("1.5万", "JPY", Ok(15_000)),
            ("2亿", "CNY", Ok(20_000_000_000)),
            ("3千", "CNY", Ok(300_000)),
            ("1千万", "CNY", Ok(1_000_000_000)),
            ("120万元", "CNY", Ok(120_000_000)),
            ("5000块", "CNY", Ok(500_000)),
            ("RMB 5,000", "CNY", Ok(500_000)),
            ("10w", "CNY", Ok(10_000_000)),
            ("50万日元", "JPY", Ok(500_000)),
            // Negative.
            ("-5", "USD", Err(Negative)),
            ("(5)", "USD", Err(Negative)),
            ("($1,250)", "USD", Err(Negative)),
            ("-$5", "USD", Err(Negative)),
            ("$-5", "USD", Err(Negative)),
            ("−5", "USD", Err(Negative)),
            // Too large.
            ("99999999999999", "USD", Err(TOO_LARGE)),
            ("1,000,000,000,000.01", "USD", Err(TOO_LARGE)),
            ("1001b", "USD", Err(TOO_LARGE)),
            ("2万亿", "CNY", Err(TOO_LARGE)),
            (
                "123456789012345678901234567890123456789012",
                "USD",
                Err(TOO_LARGE),
            ),
            // Too precise.
            ("$1.234", "USD", Err(TooPrecise { max_decimals: 2 })),
            ("¥1.5", "JPY", Err(TooPrecise { max_decimals: 0 })),
            ("1.234567k", "USD", Err(TooPrecise { max_decimals: 2 })),
            ("1250.555", "EUR", Err(TooPrecise { max_decimals: 2 })),
            ("1.250,505 €", "EUR", Err(TooPrecise { max_decimals: 2 })),
            // Garbage.
            ("abc", "USD", Err(Unrecognized("abc".into()))),
            ("12kk", "USD", Err(Unrecognized("12kk".into()))),
            ("1..2", "USD", Err(Unrecognized("1..2".into()))),
            ("DROP TABLE", "USD", Err(Unrecognized("DROP TABLE".into()))),
            ("1,2,3", "USD", Err(Unrecognized("1,2,3".into()))),
            ("12 50", "USD", Err(Unrecognized("12 50".into()))),
            ("1e6", "USD", Err(Unrecognized("1e6".into()))),
            ("1,250.50.3", "USD", Err(Unrecognized("1,250.50.3".into()))),
            ("--5", "USD", Err(Unrecognized("--5".into()))),
            ("(-5)", "USD", Err(Unrecognized("(-5)".into()))),
            ("$", "USD", Err(Unrecognized("$".into()))),
            ("k", "USD", Err(Unrecognized("k".into()))),
            (
                "12 us dollars",
                "USD",
                Err(Unrecognized("12 us dollars".into())),
            ),
            (" 5- ", "USD", Err(Unrecognized("5-".into()))),
            // Empty.
            ("", "USD", Err(Empty)),
            (" \u{a0} ", "USD", Err(Empty)),
            // Wrong or unknown currency.
            ("€500", "USD", Err(mismatch("€", "USD"))),
            ("500 EUR", "USD", Err(mismatch("EUR", "USD"))),
            ("500 eur", "USD", Err(mismatch("EUR", "USD"))),
            ("$500", "CNY", Err(mismatch("$", "CNY"))),
            ("$500", "EUR", Err(mismatch("$", "EUR"))),
            ("¥500", "USD", Err(mismatch("¥", "USD"))),
            ("5000元", "USD", Err(mismatch("元", "USD"))),
            ("US$5", "CAD", Err(mismatch("US$", "CAD"))),
            ("$5 eur", "USD", Err(mismatch("EUR", "USD"))),
            ("12 xyz", "USD", Err(UnknownCurrency("xyz".into()))),
        ];
        assert!(cases.len() >= 40);
        for (input, code, want) in cases {
            let got = parse_amount(input, cur(code));
            let got = got.map(|amount| {
                assert_eq!(amount.currency(), cur(code), "{input:?}");
                amount.minor()
            });
            assert_eq!(got, want, "{input:?} in {code}");
        }
    }

    #[test]
    fn amounts_format_for_each_locale() {
        let cases = [
            (1_200_000, "USD", Locale::En, "$12,000"),
            (125_050, "USD", Locale::En, "$1,250.50"),
            (-500, "USD", Locale::En, "-$5"),
            (0, "USD", Locale::En, "$0"),
            (5, "USD", Locale::En, "$0.05"),
            (125_050, "EUR", Locale::En, "€1,250.50"),
            (120_000, "JPY", Locale::En, "¥120,000"),
            (12_000_000, "CNY", Locale::En, "¥120,000"),
            (100_000, "SEK", Locale::En, "kr 1,000"),
            (1_500, "BHD", Locale::En, ".د.ب 1.500"),
            (5, "XAU", Locale::En, "XAU 5"),
            (i64::MIN, "USD", Locale::En, "-$92,233,720,368,547,758.08"),
            (120_000_000, "CNY", Locale::ZhCn, "¥120万"),
            (1_250_000, "USD", Locale::ZhCn, "$1.25万"),
            (12_000_000_000, "CNY", Locale::ZhCn, "¥1.2亿"),
            (999_950, "CNY", Locale::ZhCn, "¥9,999.50"),
            (1_000_000, "CNY", Locale::ZhCn, "¥1万"),
            (1_234_500, "CNY", Locale::ZhCn, "¥1.23万"),
            (1_235_000, "CNY", Locale::ZhCn, "¥1.24万"),
            (9_999_999_999, "CNY", Locale::ZhCn, "¥1亿"),
            (-120_000_000, "CNY", Locale::ZhCn, "-¥120万"),
            (12_000, "JPY", Locale::ZhCn, "¥1.2万"),
            (100_000_000_000_000, "CNY", Locale::ZhCn, "¥10000亿"),
            (500, "USD", Locale::ZhCn, "$5"),
        ];
        for (minor, code, locale, want) in cases {
            assert_eq!(
                format_amount(minor, cur(code), locale),
                want,
                "{minor} {code} {locale:?}"
            );
        }
    }

    #[test]
    fn compact_amounts_fit_labels() {
        let cases = [
            (120_000_000, "USD", Locale::En, "$1.2M"),
            (1_200_000, "USD", Locale::En, "$12K"),
            (100_000, "USD", Locale::En, "$1K"),
            (95_000, "USD", Locale::En, "$950"),
            (95_050, "USD", Locale::En, "$950.50"),
            (12_345_600, "USD", Locale::En, "$123.5K"),
            (99_995_000, "USD", Locale::En, "$1M"),
            (-120_000_000, "USD", Locale::En, "-$1.2M"),
            (300_000_000_000, "USD", Locale::En, "$3B"),
            (100_000_000_000_000, "USD", Locale::En, "$1T"),
            (1_200_000, "JPY", Locale::En, "¥1.2M"),
            (120_000_000, "CNY", Locale::ZhCn, "¥120万"),
            (999_950, "CNY", Locale::ZhCn, "¥9,999.50"),
        ];
        for (minor, code, locale, want) in cases {
            assert_eq!(
                format_compact(minor, cur(code), locale),
                want,
                "{minor} {code} {locale:?}"
            );
        }
    }

    #[test]
    fn english_formatting_parses_back() {
        let cases = [
            (0, "USD"),
            (99, "USD"),
            (125_050, "USD"),
            (100_000_000_000_000, "USD"),
            (125_050, "EUR"),
            (120_000, "JPY"),
            (12_345_678, "CNY"),
            (100_000, "SEK"),
            (1_500, "BHD"),
        ];
        for (minor, code) in cases {
            let text = format_amount(minor, cur(code), Locale::En);
            let back = parse_amount(&text, cur(code)).map(Amount::minor);
            assert_eq!(back, Ok(minor), "{text:?}");
        }
    }

    #[test]
    fn currencies_parse_from_codes() {
        let cases = [
            ("usd", Ok(("USD", 2, "$"))),
            (" CNY ", Ok(("CNY", 2, "¥"))),
            ("JPY", Ok(("JPY", 0, "¥"))),
            ("eur", Ok(("EUR", 2, "€"))),
            ("gbp", Ok(("GBP", 2, "£"))),
            ("BHD", Ok(("BHD", 3, ".د.ب"))),
            ("XAU", Ok(("XAU", 0, "¤"))),
            ("xyz", Err(UnknownCurrency("xyz".into()))),
            ("dollar", Err(UnknownCurrency("dollar".into()))),
            ("", Err(UnknownCurrency(String::new()))),
        ];
        for (input, want) in cases {
            let got = Currency::parse(input).map(|c| (c.code(), c.exponent(), c.symbol()));
            let want = want.map(|(code, exp, symbol)| (code, exp, symbol.to_string()));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn currency_deserializes_from_its_code() {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        let cases = [("usd", Some("USD")), ("CNY", Some("CNY")), ("nope", None)];
        for (input, want) in cases {
            let de: StrDeserializer<'_, Error> = input.into_deserializer();
            let got = Currency::deserialize(de).ok().map(Currency::code);
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn error_messages_are_lowercase_without_trailing_period() {
        let errors = [
            Empty,
            Unrecognized("abc".into()),
            Negative,
            TOO_LARGE,
            TooPrecise { max_decimals: 2 },
            mismatch("€", "USD"),
            UnknownCurrency("xyz".into()),
        ];
        for error in errors {
            let text = error.to_string();
            assert!(!text.starts_with(|c: char| c.is_uppercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
        assert_eq!(
            TOO_LARGE.to_string(),
            "amount is too large; the limit is 1,000,000,000,000 whole units"
        );
    }
}
