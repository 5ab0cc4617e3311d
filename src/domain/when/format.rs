//! How dates and times are shown back: a wall-clock time in the reader's zone, a calendar date,
//! and a day counted from today, in English or Chinese.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::locale::Locale;

/// Shows an instant as a wall-clock time in `tz`, e.g. `Tue, Dec 1, 2026 09:00` or
/// `2026年12月1日 周二 09:00`, so everyone reads due times in their own zone.
pub fn format_datetime(t: DateTime<Utc>, tz: Tz, locale: Locale) -> String {
    let local = t.with_timezone(&tz);
    match locale {
        Locale::En => local.format("%a, %b %-d, %Y %H:%M").to_string(),
        Locale::ZhCn => format!(
            "{} {} {:02}:{:02}",
            format_date(local.date_naive(), Locale::ZhCn),
            zh_weekday(local.weekday()),
            local.hour(),
            local.minute()
        ),
    }
}

/// Shows a calendar date, e.g. `Dec 1, 2026` or `2026年12月1日`; month names avoid the
/// day/month ambiguity that numeric dates have.
pub fn format_date(d: NaiveDate, locale: Locale) -> String {
    match locale {
        Locale::En => d.format("%b %-d, %Y").to_string(),
        Locale::ZhCn => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
    }
}

/// Says how far `date` is from `today` in words ("tomorrow", "in 3 days", "2 days ago", "后天"),
/// which reads faster than a date in lists of due follow-ups.
pub fn format_relative_days(date: NaiveDate, today: NaiveDate, locale: Locale) -> String {
    let days = (date - today).num_days();
    match locale {
        Locale::En => match days {
            0 => "today".into(),
            1 => "tomorrow".into(),
            -1 => "yesterday".into(),
            n if n > 0 => format!("in {n} days"),
            n => format!("{} days ago", -n),
        },
        Locale::ZhCn => match days {
            0 => "今天".into(),
            1 => "明天".into(),
            2 => "后天".into(),
            -1 => "昨天".into(),
            -2 => "前天".into(),
            n if n > 0 => format!("{n}天后"),
            n => format!("{}天前", -n),
        },
    }
}

fn zh_weekday(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Mon => "周一",
        Weekday::Tue => "周二",
        Weekday::Wed => "周三",
        Weekday::Thu => "周四",
        Weekday::Fri => "周五",
        Weekday::Sat => "周六",
        Weekday::Sun => "周日",
    }
}
