//! The cap every amount is held to, however it is formed, and the checked arithmetic every
//! money total goes through (see [`MAX_MINOR`] for the bound the cap buys).

use super::{Currency, MoneyError, MAX_MINOR};

/// The cap in whole units of a currency whose minor unit has `exponent` digits.
pub(super) fn cap_major(exponent: u32) -> i64 {
    10i64
        .checked_pow(exponent)
        .map_or(0, |unit| MAX_MINOR / unit)
}

/// The cap in whole units of `currency`: 5,000,000,000 for USD, 500,000,000,000 for JPY.
pub fn max_major(currency: Currency) -> i64 {
    cap_major(currency.exponent())
}

/// Holds a minor-unit value formed other than by typing it (a product line's quantity × price,
/// the total of a deal's lines, a row an import reads) to the same rules as a typed amount:
/// not negative, at most [`MAX_MINOR`]. Takes `i128` so a product or sum can be handed in
/// before it is narrowed, and so cannot wrap on the way here.
pub fn check_minor(minor: i128, currency: Currency) -> Result<i64, MoneyError> {
    if minor < 0 {
        return Err(MoneyError::Negative);
    }
    if minor > i128::from(MAX_MINOR) {
        return Err(MoneyError::TooLarge {
            max_major: max_major(currency),
        });
    }
    // Within 0..=MAX_MINOR, so it fits.
    Ok(minor as i64)
}

/// A money total that went past what `i64` minor units hold. Amounts held to [`MAX_MINOR`]
/// cannot get here; only rows written past the check can.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("a money total went past the largest value minor units can hold")]
pub struct TotalOverflow;

/// The sum of minor-unit values, or [`TotalOverflow`] instead of a wrapped figure.
pub fn sum_minor<I: IntoIterator<Item = i64>>(values: I) -> Result<i64, TotalOverflow> {
    values
        .into_iter()
        .try_fold(0i64, |total, v| total.checked_add(v).ok_or(TotalOverflow))
}

/// `a + b` in minor units, or [`TotalOverflow`].
pub fn add_minor(a: i64, b: i64) -> Result<i64, TotalOverflow> {
    a.checked_add(b).ok_or(TotalOverflow)
}

/// A product line's value, `unit_price_minor × quantity`, or [`TotalOverflow`]. The database
/// holds new lines to the cap (`deal_products_value_cap`), but not lines written before it
/// existed: a saturated figure would be a wrong figure shown as if it were right.
pub fn line_value(unit_price_minor: i64, quantity: i32) -> Result<i64, TotalOverflow> {
    unit_price_minor
        .checked_mul(i64::from(quantity))
        .ok_or(TotalOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn the_cap_in_whole_units() {
        assert_eq!(max_major(cur("USD")), 5_000_000_000);
        assert_eq!(max_major(cur("JPY")), 500_000_000_000);
        assert_eq!(max_major(cur("BHD")), 500_000_000);
        assert_eq!(max_major(cur("CLF")), 50_000_000);
    }

    #[test]
    fn a_line_value_that_would_wrap_is_an_overflow() {
        assert_eq!(line_value(1_250, 4), Ok(5_000));
        assert_eq!(line_value(i64::MAX / 2, 3), Err(TotalOverflow));
        assert_eq!(line_value(i64::MAX, -2), Err(TotalOverflow));
    }

    #[test]
    fn values_at_the_bounds() {
        let usd = cur("USD");
        let too_large = MoneyError::TooLarge {
            max_major: 5_000_000_000,
        };
        assert_eq!(check_minor(0, usd), Ok(0));
        assert_eq!(check_minor(i128::from(MAX_MINOR), usd), Ok(MAX_MINOR));
        assert_eq!(
            check_minor(i128::from(MAX_MINOR) + 1, usd),
            Err(too_large.clone())
        );
        assert_eq!(check_minor(-1, usd), Err(MoneyError::Negative));
        // A line of the largest quantity at the largest price: refused, not wrapped.
        let line = i128::from(100_000i32) * i128::from(i64::MAX);
        assert_eq!(check_minor(line, usd), Err(too_large.clone()));
        assert_eq!(check_minor(i128::MAX, usd), Err(too_large));
    }

    #[test]
    fn totals_are_checked() {
        assert_eq!(sum_minor([]), Ok(0));
        assert_eq!(sum_minor([i64::MAX, 0]), Ok(i64::MAX));
        assert_eq!(sum_minor([i64::MAX, 1]), Err(TotalOverflow));
        assert_eq!(sum_minor([i64::MAX, 1, -1]), Err(TotalOverflow));
        assert_eq!(add_minor(i64::MAX - 1, 1), Ok(i64::MAX));
        assert_eq!(add_minor(i64::MAX, 1), Err(TotalOverflow));
        assert_eq!(add_minor(i64::MIN, -1), Err(TotalOverflow));
    }

    #[test]
    fn ten_million_deals_at_the_cap_sum_without_overflow() {
        // The bound written next to MAX_MINOR: 10^7 deals at the cap fit in i64, and so do
        // 18 million; the headroom is what weighted amounts, won + open and quotas add.
        let deals = 10_000_000i64;
        let total = sum_minor(std::iter::repeat_n(MAX_MINOR, deals as usize));
        assert_eq!(total, Ok(5_000_000_000_000_000_000));
        assert!(i128::from(MAX_MINOR) * 18_000_000 < i128::from(i64::MAX));
    }
}
