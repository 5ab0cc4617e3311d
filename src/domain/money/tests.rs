//! Unit tests of `money`: parsing as typed, formatting for each locale, the round trip between
//! them, currency codes and error wording.

use super::*;
use crate::domain::locale::Locale;
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

/// The cap in whole units of a currency with cents (USD, CNY): [`MAX_MINOR`] / 100.
const TOO_LARGE: MoneyError = TooLarge {
    max_major: MAX_MINOR / 100,
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
        ("5,000,000,000", "USD", Ok(500_000_000_000)),
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
        // Too large: the cap is MAX_MINOR minor units, $5bn.
        ("5bn", "USD", Ok(500_000_000_000)),
        ("5,000,000,000.00", "USD", Ok(500_000_000_000)),
        ("5,000,000,000.01", "USD", Err(TOO_LARGE)),
        ("5.1b", "USD", Err(TOO_LARGE)),
        ("50亿", "CNY", Ok(500_000_000_000)),
        ("51亿", "CNY", Err(TOO_LARGE)),
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
        (500_000_000_000, "USD"),
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
        "amount is too large; the limit is 5,000,000,000 whole units"
    );
}

#[test]
fn format_major_is_plain_and_exact() {
    let usd = Currency::parse("USD").unwrap();
    let jpy = Currency::parse("JPY").unwrap();
    let bhd = Currency::parse("BHD").unwrap();
    assert_eq!(format_major(123_450, usd), "1234.50");
    assert_eq!(format_major(5, usd), "0.05");
    assert_eq!(format_major(-500, usd), "-5.00");
    assert_eq!(format_major(1_200, jpy), "1200");
    assert_eq!(format_major(-5_000, bhd), "-5.000");
    assert_eq!(format_major(i64::MIN, usd), "-92233720368547758.08");
}

/// What the HTTP API hands the engine: the plain amount with its code reads back exactly in
/// that currency and is refused in any other (a currency changed between the two reads).
#[test]
fn format_major_with_its_code_reads_back_and_names_its_currency() {
    let codes = [
        "USD", "EUR", "JPY", "BHD", "KWD", "CNY", "CHF", "BRL", "SEK", "INR", "GBP",
    ];
    for code in codes {
        let c = Currency::parse(code).unwrap();
        for minor in [0, 5, 999, 1_000, 123_450, 1_000_000, MAX_MINOR] {
            let typed = format!("{} {}", format_major(minor, c), c.code());
            assert_eq!(
                parse_amount(&typed, c).map(|a| a.minor),
                Ok(minor),
                "{typed}"
            );
            for other in codes.iter().filter(|o| **o != code) {
                let o = Currency::parse(other).unwrap();
                assert!(parse_amount(&typed, o).is_err(), "{typed} read as {other}");
            }
        }
    }
}
