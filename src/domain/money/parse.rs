//! Reading a typed amount: the steps and separator rules listed in the `money` module
//! documentation, ending in integer minor units.

use super::checked::cap_major;
use super::markers::check_marker;
use super::{Amount, Currency, MoneyError, MAX_MINOR};

/// Reads an amount as a person types it, in the workspace currency `currency`.
///
/// The rules are in the `money` module documentation; in short: `12k`, `1.2m`, `$1,250.50`,
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

/// Applies the separator rules of the `money` module documentation to a digits-and-separators token,
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

/// Turns digits, a multiplier and the currency's exponent into minor units, refusing values
/// that need more precision than the minor unit has or exceed [`MAX_MINOR`].
fn to_minor(
    int_digits: &str,
    frac_digits: &str,
    scale: u32,
    exponent: u32,
) -> Result<i64, MoneyError> {
    let too_large = MoneyError::TooLarge {
        max_major: cap_major(exponent),
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
    if minor > u128::from(MAX_MINOR.unsigned_abs()) {
        return Err(too_large);
    }
    i64::try_from(minor).map_err(|_| too_large)
}
