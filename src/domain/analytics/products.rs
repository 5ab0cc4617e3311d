//! `/report products` figures and the product lines people type on `/deal new` and
//! `/deal product` (`Widget x3 @1,200; Support`).

use crate::domain::figures::ratio;
use crate::domain::money::{parse_amount, Amount, Currency, MoneyError, MAX_MINOR};

/// The average discount off list price over sold lines, `(list - sold) / list`: 0.1 when
/// lines sold for 10% under list; `None` when nothing with a list value sold.
pub fn discount(list_value: i64, sold_value: i64) -> Option<f64> {
    ratio(i128::from(list_value) - i128::from(sold_value), list_value)
}

/// One product line as typed: `Widget x3 @1,200`.
#[derive(Clone, Debug, PartialEq)]
pub struct LineSpec {
    /// Product name as typed (matched against the catalogue later).
    pub name: String,
    /// Units, at least 1.
    pub quantity: i32,
    /// Unit price; the list price when absent.
    pub price: Option<Amount>,
}

/// Why a product list was not understood.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LineError {
    /// An entry has no product name.
    #[error("empty product entry")]
    Empty,
    /// The quantity is not a whole number from 1 to 100,000.
    #[error("bad quantity '{0}'")]
    Quantity(String),
    /// The price did not parse.
    #[error("bad price '{0}': {1}")]
    Price(String, MoneyError),
    /// More than 20 lines.
    #[error("too many lines")]
    TooMany,
    /// The same product twice.
    #[error("'{0}' is listed twice")]
    Repeated(String),
}

/// One resolved line's figures, in the form [`lines_total`] checks: units, the unit price
/// it sells at and the list price it is measured against, both in minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineValue {
    /// Units.
    pub quantity: i32,
    /// Price per unit, minor units.
    pub unit_price: i64,
    /// List price per unit, minor units.
    pub list_price: i64,
}

/// Which figure of a deal's lines went past [`MAX_MINOR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("product lines worth more than the cap ({line:?}, at list price: {at_list})")]
pub struct LinesTooLarge {
    /// The line (its index in the input) whose quantity × price is too large; `None` when each
    /// line fits but their total does not.
    pub line: Option<usize>,
    /// Whether it is the value at list price (quantity × list price) that is too large.
    pub at_list: bool,
}

/// A deal's worth from its lines, `Σ quantity × unit price`, with every amount the lines form
/// held to [`MAX_MINOR`]: each line at its price and at list price, and the deal's total at
/// both (the list values feed the products report's discount, so they are bounded like
/// amounts). Computed in `i128`, so nothing wraps on the way. Commands and imports call it
/// before a line is written.
pub fn lines_total(lines: &[LineValue]) -> Result<i64, LinesTooLarge> {
    let cap = i128::from(MAX_MINOR);
    let (mut total, mut list_total) = (0i128, 0i128);
    for (i, l) in lines.iter().enumerate() {
        let quantity = i128::from(l.quantity);
        let (sold, list) = (
            quantity * i128::from(l.unit_price),
            quantity * i128::from(l.list_price),
        );
        for (value, at_list) in [(sold, false), (list, true)] {
            if !(0..=cap).contains(&value) {
                return Err(LinesTooLarge {
                    line: Some(i),
                    at_list,
                });
            }
        }
        total += sold;
        list_total += list;
    }
    for (value, at_list) in [(total, false), (list_total, true)] {
        if value > cap {
            return Err(LinesTooLarge {
                line: None,
                at_list,
            });
        }
    }
    // At most MAX_MINOR, so it fits.
    Ok(total as i64)
}

/// Most lines one deal may carry when typed in one go.
pub const MAX_LINES: usize = 20;

/// Parses `name [xN] [@price]` entries separated by `;`.
pub fn parse_lines(input: &str, currency: Currency) -> Result<Vec<LineSpec>, LineError> {
    let mut out: Vec<LineSpec> = Vec::new();
    for entry in input.split([';', '；']) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (head, price) = match entry.rsplit_once('@') {
            Some((h, p)) => {
                let p = p.trim();
                let amount =
                    parse_amount(p, currency).map_err(|e| LineError::Price(p.to_string(), e))?;
                (h.trim(), Some(amount))
            }
            None => (entry, None),
        };
        let (name, quantity) = match head.rsplit_once(|c: char| c.is_whitespace()) {
            Some((n, q)) if is_quantity(q) => (n.trim(), parse_quantity(q)?),
            _ => (head, 1),
        };
        if name.is_empty() {
            return Err(LineError::Empty);
        }
        if out.iter().any(|l| l.name.eq_ignore_ascii_case(name)) {
            return Err(LineError::Repeated(name.to_string()));
        }
        out.push(LineSpec {
            name: name.to_string(),
            quantity,
            price,
        });
        if out.len() > MAX_LINES {
            return Err(LineError::TooMany);
        }
    }
    if out.is_empty() {
        return Err(LineError::Empty);
    }
    Ok(out)
}

fn is_quantity(token: &str) -> bool {
    let t = token.trim_start_matches(['x', 'X', '×']);
    t.len() < token.len() && !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == ',')
}

fn parse_quantity(token: &str) -> Result<i32, LineError> {
    let digits: String = token
        .trim_start_matches(['x', 'X', '×'])
        .chars()
        .filter(|c| *c != ',')
        .collect();
    match digits.parse::<i32>() {
        Ok(q) if (1..=100_000).contains(&q) => Ok(q),
        _ => Err(LineError::Quantity(token.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discount_off_list() {
        assert_eq!(discount(1_000, 900), Some(0.1));
        assert_eq!(discount(1_000, 1_100), Some(-0.1));
        assert_eq!(discount(0, 0), None);
    }

    fn line(quantity: i32, unit_price: i64, list_price: i64) -> LineValue {
        LineValue {
            quantity,
            unit_price,
            list_price,
        }
    }

    #[test]
    fn lines_are_held_to_the_cap() {
        assert_eq!(lines_total(&[]), Ok(0));
        assert_eq!(
            lines_total(&[line(3, 1_200, 1_500), line(1, 500, 500)]),
            Ok(4_100)
        );
        // Exactly the cap, at both prices.
        assert_eq!(
            lines_total(&[line(100_000, MAX_MINOR / 100_000, MAX_MINOR / 100_000)]),
            Ok(MAX_MINOR)
        );
        // The line: the largest quantity at a huge price is refused, not wrapped.
        let huge = line(100_000, 90_000_000_000_000, 1);
        let err = |line, at_list| Err(LinesTooLarge { line, at_list });
        assert_eq!(lines_total(&[huge]), err(Some(0), false));
        assert_eq!(
            lines_total(&[line(1, 1, 1), line(100_000, i64::MAX, 1)]),
            err(Some(1), false)
        );
        // Sold cheaply against a huge list price: the list value is an amount too.
        assert_eq!(
            lines_total(&[line(100_000, 1, MAX_MINOR)]),
            err(Some(0), true)
        );
        // Each line fits, their total does not.
        let half = MAX_MINOR / 2 + 1;
        assert_eq!(
            lines_total(&[line(1, half, half), line(1, half, half)]),
            err(None, false)
        );
        assert_eq!(
            lines_total(&[line(1, 1, half), line(1, 1, half)]),
            err(None, true)
        );
        assert_eq!(lines_total(&[line(1, -1, 0)]), err(Some(0), false));
    }

    #[test]
    fn product_lines_as_typed() {
        let usd = Currency::parse("USD").unwrap();
        let l = parse_lines("Widget Pro x3 @1,200; Support ;  Cable ×12", usd).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].name, "Widget Pro");
        assert_eq!(l[0].quantity, 3);
        assert_eq!(l[0].price.map(|p| p.minor()), Some(120_000));
        assert_eq!(
            (l[1].name.as_str(), l[1].quantity, l[1].price),
            ("Support", 1, None)
        );
        assert_eq!((l[2].name.as_str(), l[2].quantity), ("Cable", 12));
        // A name that merely ends in a word stays whole.
        assert_eq!(parse_lines("Box x", usd).unwrap()[0].name, "Box x");
        let bad = [
            ("", LineError::Empty),
            (" ; ", LineError::Empty),
            ("@5", LineError::Empty),
            ("Widget x0", LineError::Quantity("x0".into())),
            ("Widget x200000", LineError::Quantity("x200000".into())),
            ("A; a", LineError::Repeated("a".into())),
        ];
        for (input, want) in bad {
            assert_eq!(parse_lines(input, usd), Err(want), "{input}");
        }
        assert!(matches!(
            parse_lines("Widget @abc", usd),
            Err(LineError::Price(_, _))
        ));
    }
}
