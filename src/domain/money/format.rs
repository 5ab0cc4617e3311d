//! Showing amounts back: in full for replies and cards, short for labels, grouped in thousands
//! for English and counted in 万 / 亿 for Chinese.

use super::Currency;
use crate::domain::locale::Locale;

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

/// The amount as a plain decimal number in major units, for files other programs read: no
/// symbol, no grouping, always the currency's full minor digits (`1234.50` USD, `1200` JPY,
/// `-5.000` BHD), computed from the integer so it is exact at any size.
pub fn format_major(minor: i64, currency: Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = u128::from(minor.unsigned_abs());
    let exponent = currency.exponent();
    let unit = 10u128.pow(exponent);
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exponent as usize
    )
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
pub(super) fn group_thousands(n: impl Into<u128>) -> String {
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
