//! Wall clocks and instants both ways: an instant shown in a zone and locale, and a local time
//! resolved to an instant across DST changes.

use chrono::NaiveDateTime;
use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin};

use super::{at, date};
use crate::domain::locale::Locale;
use crate::domain::when::{format_date, format_datetime, format_relative_days, resolve_local};

#[test]
fn formatting() {
    let t = at("2026-12-01 09:00 -0500");
    let cases = [
        (New_York, Locale::En, "Tue, Dec 1, 2026 09:00"),
        (New_York, Locale::ZhCn, "2026年12月1日 周二 09:00"),
        (Shanghai, Locale::En, "Tue, Dec 1, 2026 22:00"),
        (Berlin, Locale::ZhCn, "2026年12月1日 周二 15:00"),
    ];
    for (tz, locale, want) in cases {
        assert_eq!(format_datetime(t, tz, locale), want, "{tz} {locale:?}");
    }
    assert_eq!(format_date(date("2026-12-01"), Locale::En), "Dec 1, 2026");
    assert_eq!(
        format_date(date("2026-12-01"), Locale::ZhCn),
        "2026年12月1日"
    );

    let today = date("2026-06-10");
    let relative = [
        ("2026-06-10", "today", "今天"),
        ("2026-06-11", "tomorrow", "明天"),
        ("2026-06-12", "in 2 days", "后天"),
        ("2026-06-09", "yesterday", "昨天"),
        ("2026-06-08", "2 days ago", "前天"),
        ("2026-06-20", "in 10 days", "10天后"),
        ("2026-05-31", "10 days ago", "10天前"),
    ];
    for (d, en, zh) in relative {
        assert_eq!(format_relative_days(date(d), today, Locale::En), en, "{d}");
        assert_eq!(
            format_relative_days(date(d), today, Locale::ZhCn),
            zh,
            "{d}"
        );
    }
}

#[test]
fn resolving_local_times() {
    let dt = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test time");
    let cases = [
        (New_York, "2026-03-08 02:30", "2026-03-08 03:30 -0400"),
        (New_York, "2026-11-01 01:30", "2026-11-01 01:30 -0400"),
        (Berlin, "2026-03-29 02:00", "2026-03-29 03:00 +0200"),
        (Berlin, "2026-10-25 02:59", "2026-10-25 02:59 +0200"),
        (Shanghai, "2026-03-08 02:30", "2026-03-08 02:30 +0800"),
        // Samoa skipped 2011-12-30 entirely when it crossed the date line.
        (
            chrono_tz::Pacific::Apia,
            "2011-12-30 10:00",
            "2011-12-31 10:00 +1400",
        ),
    ];
    for (tz, local, want) in cases {
        assert_eq!(resolve_local(dt(local), tz), at(want), "{tz} {local}");
    }
}
