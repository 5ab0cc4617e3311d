//! The parsers of a single value: a calendar date, a birthday, a time of day and a time zone.

use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin, Tz};

use super::{at, date, far, invalid, time, un};
use crate::domain::when::{parse_birthday, parse_clock, parse_date, parse_tz, WhenError};

#[test]
fn dates_for_expected_close() {
    // Wednesday 2026-06-10 14:30 in New York, which is already the 11th in Shanghai.
    let now = at("2026-06-10 14:30 -0400");
    let cases = [
        (New_York, "2026-12-01", Ok("2026-12-01")),
        (New_York, "2020-01-15", Ok("2020-01-15")),
        (New_York, "today", Ok("2026-06-10")),
        (Shanghai, "today", Ok("2026-06-11")),
        (New_York, "tomorrow", Ok("2026-06-11")),
        (New_York, "in 2 weeks", Ok("2026-06-24")),
        (New_York, "3d", Ok("2026-06-13")),
        (New_York, "fri", Ok("2026-06-12")),
        (New_York, "wed", Ok("2026-06-17")),
        (New_York, "next monday", Ok("2026-06-15")),
        (New_York, "end of month", Ok("2026-06-30")),
        (New_York, "EOM", Ok("2026-06-30")),
        (New_York, "end of quarter", Ok("2026-06-30")),
        (New_York, "eoq", Ok("2026-06-30")),
        (New_York, "eoy", Ok("2026-12-31")),
        (New_York, "next month", Ok("2026-07-01")),
        (New_York, "end of next month", Ok("2026-07-31")),
        (New_York, "明天", Ok("2026-06-11")),
        (Shanghai, "明天", Ok("2026-06-12")),
        (New_York, "月底", Ok("2026-06-30")),
        (New_York, "下个月", Ok("2026-07-01")),
        (New_York, "下周五", Ok("2026-06-19")),
        (New_York, "季度末", Ok("2026-06-30")),
        (New_York, "年底", Ok("2026-12-31")),
    ];
    for (tz, input, want) in cases {
        assert_eq!(parse_date(input, now, tz), want.map(date), "{tz} {input}");
    }
    let errors = [
        ("", WhenError::Empty),
        ("tomorrow 9am", un("tomorrow 9am")),
        ("in 2 hours", un("in 2 hours")),
        ("12/01", un("12/01")),
        ("2026-13-01", invalid("2026-13-01")),
        ("2036-01-01", far("2036-01-01")),
    ];
    for (input, want) in errors {
        assert_eq!(parse_date(input, now, New_York), Err(want), "{input}");
    }
}

#[test]
fn quarter_and_month_ends() {
    let cases = [
        ("2026-01-31 12:00 +0000", "eoq", "2026-03-31"),
        ("2026-04-01 12:00 +0000", "eoq", "2026-06-30"),
        ("2026-09-30 12:00 +0000", "eoq", "2026-09-30"),
        ("2026-11-15 12:00 +0000", "eoq", "2026-12-31"),
        ("2026-02-10 12:00 +0000", "eom", "2026-02-28"),
        ("2028-02-10 12:00 +0000", "eom", "2028-02-29"),
        ("2026-12-10 12:00 +0000", "next month", "2027-01-01"),
        ("2026-12-10 12:00 +0000", "end of next month", "2027-01-31"),
        ("2026-01-31 12:00 +0000", "in 1 month", "2026-02-28"),
    ];
    for (now, input, want) in cases {
        assert_eq!(
            parse_date(input, at(now), Tz::UTC),
            Ok(date(want)),
            "{now} {input}"
        );
    }
}

#[test]
fn birthdays() {
    let cases = [
        ("1985-04-12", Ok((Some(1985), 4, 12))),
        ("04-12", Ok((None, 4, 12))),
        ("4-12", Ok((None, 4, 12))),
        ("--04-12", Ok((None, 4, 12))),
        ("02-29", Ok((None, 2, 29))),
        ("2000-02-29", Ok((Some(2000), 2, 29))),
        ("1985年4月12日", Ok((Some(1985), 4, 12))),
        ("4月12日", Ok((None, 4, 12))),
        (" 1985/04/12 ", Ok((Some(1985), 4, 12))),
        ("1985-02-29", Err(invalid("1985-02-29"))),
        ("02-30", Err(invalid("02-30"))),
        ("13-01", Err(invalid("13-01"))),
        ("1885-04-12", Err(invalid("1885-04-12"))),
        ("04/12", Err(un("04/12"))),
        ("april 12", Err(un("april 12"))),
        ("", Err(WhenError::Empty)),
    ];
    for (input, want) in cases {
        assert_eq!(parse_birthday(input), want, "{input}");
    }
}

#[test]
fn clocks() {
    let cases = [
        ("09:00", Ok("09:00")),
        ("9:00", Ok("09:00")),
        ("9am", Ok("09:00")),
        ("9 AM", Ok("09:00")),
        ("9 a.m.", Ok("09:00")),
        ("17:30", Ok("17:30")),
        ("5:30pm", Ok("17:30")),
        ("12am", Ok("00:00")),
        ("12:15pm", Ok("12:15")),
        ("noon", Ok("12:00")),
        ("0:00", Ok("00:00")),
        ("下午3点", Ok("15:00")),
        ("上午9:30", Ok("09:30")),
        ("凌晨12点", Ok("00:00")),
        ("9", Err(un("9"))),
        ("teatime", Err(un("teatime"))),
        ("24:00", Err(invalid("24:00"))),
        ("0am", Err(invalid("0am"))),
        ("晚上12点", Err(invalid("晚上12点"))),
        ("", Err(WhenError::Empty)),
    ];
    for (input, want) in cases {
        assert_eq!(parse_clock(input), want.map(time), "{input}");
    }
}

#[test]
fn zones() {
    let cases: [(&str, Result<Tz, WhenError>); 12] = [
        ("Europe/Berlin", Ok(Berlin)),
        ("europe/berlin", Ok(Berlin)),
        (" AMERICA/NEW_YORK ", Ok(New_York)),
        ("america/new york", Ok(New_York)),
        ("asia/shanghai", Ok(Shanghai)),
        ("UTC", Ok(Tz::UTC)),
        ("utc", Ok(Tz::UTC)),
        (
            "Europ/Berlin",
            Err(zone("Europ/Berlin", Some("Europe/Berlin"))),
        ),
        ("berlin", Err(zone("berlin", Some("Europe/Berlin")))),
        ("PST", Err(zone("PST", Some("America/Los_Angeles")))),
        ("xyz", Err(zone("xyz", None))),
        ("", Err(WhenError::Empty)),
    ];
    for (input, want) in cases {
        assert_eq!(parse_tz(input), want, "{input}");
    }
    assert_eq!(
        parse_tz("Europ/Berlin").map_err(|e| e.to_string()),
        Err("unknown time zone 'Europ/Berlin'; did you mean 'Europe/Berlin'?".to_string())
    );
}

fn zone(given: &str, suggestion: Option<&str>) -> WhenError {
    WhenError::UnknownTimeZone {
        given: given.to_string(),
        suggestion: suggestion.map(str::to_string),
    }
}
