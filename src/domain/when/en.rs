//! The English grammar: named days (`tomorrow`, `eom`), weekdays (`fri`, `next monday`),
//! counted shifts (`in 3 days`, `2h`, `an hour ago`) and clock times (`9am`, `14:30`, `noon`).

use std::sync::LazyLock;

use chrono::{NaiveDate, NaiveTime, Weekday};
use regex::Regex;

use super::common::{group, small, tail, Counted, Dir, Miss, Parsed};
use super::resolve::{nearest_weekday, Anchor, DayPart};
use super::NOON;

/// Words that mean the moment of typing.
pub(super) const NOW: &[&str] = &["now", "right now", "just now"];

/// Each anchor's words, which must be followed by a space or the end.
static ANCHORS: LazyLock<Vec<(Regex, Anchor)>> = LazyLock::new(|| {
    let en = |words: &str| Regex::new(&format!(r"^(?:{words})(?:\s+(.*))?$"));
    let table = [
        (en("today|tod"), Anchor::Today),
        (en("tomorrow|tmrw|tmr|tomorow"), Anchor::Tomorrow),
        (
            en("(?:the )?day after tomorrow|overmorrow"),
            Anchor::InTwoDays,
        ),
        (en("yesterday|yday|yest"), Anchor::Yesterday),
        (en("(?:the )?day before yesterday"), Anchor::TwoDaysAgo),
        (en("next week"), Anchor::NextWeek),
        (en("end of (?:the )?next month"), Anchor::EndOfNextMonth),
        (en("end of (?:the )?month|eom"), Anchor::EndOfMonth),
        (en("next month"), Anchor::NextMonth),
        (en("end of (?:the )?quarter|eoq"), Anchor::EndOfQuarter),
        (en("end of (?:the )?year|eoy"), Anchor::EndOfYear),
    ];
    table
        .into_iter()
        .map(|(re, anchor)| (re.expect("valid anchor regex"), anchor))
        .collect()
});

const EN_WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("mon", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("tues", Weekday::Tue),
    ("tue", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("weds", Weekday::Wed),
    ("wed", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("thurs", Weekday::Thu),
    ("thur", Weekday::Thu),
    ("thu", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("fri", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sat", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("sun", Weekday::Sun),
];

/// Reads an English day at the start of `s` and returns it with the rest (a time, or "").
pub(super) fn day_part(s: &str, today: NaiveDate, dir: Dir) -> Parsed<Option<(DayPart, &str)>> {
    static EN_WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
        let names: Vec<&str> = EN_WEEKDAYS.iter().map(|(name, _)| *name).collect();
        let names = names.join("|");
        Regex::new(&format!(
            r"^(?:(next|this|on|coming|last|past)\s+)?({names})(?:\s+(.*))?$"
        ))
        .expect("valid regex")
    });

    if let Some(c) = EN_WEEKDAY.captures(s) {
        let wd = EN_WEEKDAYS
            .iter()
            .find(|(name, _)| *name == &c[2])
            .map(|(_, wd)| *wd)
            .ok_or(Miss::Unrecognized)?;
        let part = match group(&c, 1) {
            "next" => DayPart::on(nearest_weekday(today, wd, Dir::Ahead)?, dir),
            "last" | "past" => DayPart::on(nearest_weekday(today, wd, Dir::Back)?, dir),
            _ => DayPart::Weekday(wd),
        };
        return Ok(Some((part, tail(s, &c, 3))));
    }
    for (re, anchor) in ANCHORS.iter() {
        if let Some(c) = re.captures(s) {
            return Ok(Some((anchor.part(today, dir)?, tail(s, &c, 1))));
        }
    }
    Ok(None)
}

/// Reads `in 3 days`, `2 hours ago`, `45m`. Short forms without a direction word (`3d`) lean
/// the way the caller does.
pub(super) fn counted(s: &str, dir: Dir) -> Option<Counted<'_>> {
    static EN: LazyLock<Regex> = lazy_regex!(
        r"^(in\s+)?(\d+|an?|one|half an?)\s*(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mos?)(\s+ago)?(?:\s+(.*))?$"
    );

    let c = EN.captures(s)?;
    let (ahead, ago) = (c.get(1).is_some(), c.get(4).is_some());
    let count = group(&c, 2);
    // Counted words read as numbers only next to "in" or "ago": "am" is not "a minute".
    if (ahead && ago) || (!ahead && !ago && !count.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let unit = match group(&c, 3) {
        u if u.starts_with("mo") => 'o',
        u => u.chars().next().unwrap_or('m'),
    };
    let sign = match (ahead, ago) {
        (true, _) => 1,
        (_, true) => -1,
        _ if dir == Dir::Ahead => 1,
        _ => -1,
    };
    Some(Counted {
        count,
        half: count.starts_with("half"),
        unit,
        sign,
        rest: c.get(5).map_or("", |m| m.as_str()),
    })
}

/// Reads an English time of day: `14:00`, `9am`, `9:30 pm`, `noon`.
pub(super) fn clock(s: &str) -> Parsed<Option<NaiveTime>> {
    static EN: LazyLock<Regex> =
        lazy_regex!(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$");

    if matches!(s, "noon" | "midday") {
        return Ok(Some(NOON));
    }
    let Some(c) = EN.captures(s) else {
        return Ok(None);
    };
    let (minute, second, meridiem) = (c.get(2), c.get(3), c.get(4));
    if minute.is_none() && meridiem.is_none() {
        // A bare "9" could be morning or evening; ask rather than guess.
        return Err(Miss::Unrecognized);
    }
    let mut hour = small(&c[1])?;
    if let Some(m) = meridiem {
        if !(1..=12).contains(&hour) {
            return Err(Miss::Invalid);
        }
        let pm = m.as_str().starts_with('p');
        hour = match (pm, hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
    }
    let minute = minute.map_or(Ok(0), |m| small(m.as_str()))?;
    let second = second.map_or(Ok(0), |m| small(m.as_str()))?;
    NaiveTime::from_hms_opt(hour, minute, second)
        .map(Some)
        .ok_or(Miss::Invalid)
}
