//! Currency markers people type around a number (`$`, `HK$`, `€`, `元`, `EUR`) and which
//! workspace currencies each one fits.

use super::{Currency, MoneyError};

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

/// Checks a currency marker against the workspace currency. `Err(None)` means the marker is
/// not one we know at all, which the caller reports as an unrecognized amount.
pub(super) fn check_marker(marker: &str, currency: Currency) -> Result<(), Option<MoneyError>> {
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
