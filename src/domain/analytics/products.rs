//! `/report products` figures and the product lines people type on `/deal new` and
//! `/deal product` (`Widget x3 @1,200; Support`).

use crate::domain::figures::ratio;
use crate::domain::money::{parse_amount, Amount, Currency, MoneyError};

/// The average discount off list price over sold lines, `(list - sold) / list`: 0.1 when
/// lines sold for 10% under list; `None` when nothing with a list value sold.
pub fn discount(list_value: i64, sold_value: i64) -> Option<f64> {
    ratio(list_value - sold_value, list_value)
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
