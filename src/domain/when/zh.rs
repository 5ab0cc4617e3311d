//! The Chinese grammar: numerals (`三`, `十五`, `两`), dates (`2027年1月5日`, `12月1日`),
//! weeks (`周五`, `下周一`), named days (`明天`, `月底`), counted shifts (`3天后`, `2小时前`)
//! and clock times (`下午3点半`, `上午9:30`).

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use regex::Regex;

use super::common::{group, small, tail, ymd, Counted, Dir, Miss, Parsed};
use super::resolve::{monday_of, shift_days, Anchor, DayPart};
use super::NOON;

/// Words that mean the moment of typing.
pub(super) const NOW: &[&str] = &["现在", "马上", "刚才", "刚刚"];

/// A number as digits or as small Chinese numerals (`三`, `十五`, `两`).
const NUM: &str = r"\d+|[零〇一二两三四五六七八九十]+";

/// A birthday written `1985年4月12日` or `4月12日`: the year if given, the month and the day,
/// as typed.
pub(super) fn birthday(s: &str) -> Option<(Option<&str>, &str, &str)> {
    static CN: LazyLock<Regex> =
        lazy_regex!(r"^(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$");

    let c = CN.captures(s)?;
    Some((c.get(1).map(|m| m.as_str()), group(&c, 2), group(&c, 3)))
}

/// Each anchor's words, which need no space before the time (`明天9点`).
static ANCHORS: LazyLock<Vec<(Regex, Anchor)>> = LazyLock::new(|| {
    let cn = |words: &str| Regex::new(&format!(r"^(?:{words})\s*(.*)$"));
    let table = [
        (cn("今天|今日"), Anchor::Today),
        (cn("明天|明日"), Anchor::Tomorrow),
        (cn("后天|後天"), Anchor::InTwoDays),
        (cn("大后天|大後天"), Anchor::InThreeDays),
        (cn("昨天|昨日"), Anchor::Yesterday),
        (cn("前天"), Anchor::TwoDaysAgo),
        (cn("大前天"), Anchor::ThreeDaysAgo),
        (cn("下个?(?:周|星期|礼拜)"), Anchor::NextWeek),
        (cn("下个?月[底末]"), Anchor::EndOfNextMonth),
        (cn("(?:本月|这个月)[底末]|月[底末]"), Anchor::EndOfMonth),
        (cn("下个?月初?"), Anchor::NextMonth),
        (cn("(?:本)?季度?[底末]"), Anchor::EndOfQuarter),
        (cn("(?:今年)?年[底末]"), Anchor::EndOfYear),
    ];
    table
        .into_iter()
        .map(|(re, anchor)| (re.expect("valid anchor regex"), anchor))
        .collect()
});

fn cn_weekday(c: &str) -> Option<Weekday> {
    Some(match c {
        "一" | "1" => Weekday::Mon,
        "二" | "2" => Weekday::Tue,
        "三" | "3" => Weekday::Wed,
        "四" | "4" => Weekday::Thu,
        "五" | "5" => Weekday::Fri,
        "六" | "6" => Weekday::Sat,
        "日" | "天" | "7" => Weekday::Sun,
        _ => return None,
    })
}

/// Reads a Chinese day at the start of `s` and returns it with the rest (a time, or "").
pub(super) fn day_part(s: &str, today: NaiveDate, dir: Dir) -> Parsed<Option<(DayPart, &str)>> {
    static CN_FULL: LazyLock<Regex> =
        lazy_regex!(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]\s*(.*)$");
    static CN_MONTH_DAY: LazyLock<Regex> =
        lazy_regex!(&format!(r"^({NUM})\s*月\s*({NUM})\s*[日号]\s*(.*)$"));
    static CN_WEEKDAY: LazyLock<Regex> = lazy_regex!(
        r"^(下下个?|下个?|上上个?|上个?|本|这个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])\s*(.*)$"
    );

    if let Some(c) = CN_FULL.captures(s) {
        let date = ymd(&c[1], &c[2], &c[3])?;
        return Ok(Some((DayPart::on(date, dir), tail(s, &c, 4))));
    }
    if let Some(c) = CN_MONTH_DAY.captures(s) {
        // No year: the nearest such day in the direction of the input, today included.
        let (month, day) = (small(&c[1])?, small(&c[2])?);
        let in_year = |year: i32| NaiveDate::from_ymd_opt(year, month, day);
        let date = match dir {
            Dir::Ahead => in_year(today.year())
                .filter(|d| *d >= today)
                .or_else(|| in_year(today.year() + 1)),
            Dir::Back => in_year(today.year())
                .filter(|d| *d <= today)
                .or_else(|| in_year(today.year() - 1)),
        };
        return Ok(Some((
            DayPart::on(date.ok_or(Miss::Invalid)?, dir),
            tail(s, &c, 3),
        )));
    }
    if let Some(c) = CN_WEEKDAY.captures(s) {
        // A prefix names a calendar week (Monday start): 下周五 is next week's Friday even on a
        // Monday, which is what it means in Chinese.
        let wd = cn_weekday(&c[2]).ok_or(Miss::Unrecognized)?;
        let weeks: Option<i64> = match c.get(1).map(|m| m.as_str()) {
            None => None,
            Some(p) if p.starts_with("下下") => Some(2),
            Some(p) if p.starts_with('下') => Some(1),
            Some(p) if p.starts_with("上上") => Some(-2),
            Some(p) if p.starts_with('上') => Some(-1),
            Some(_) => Some(0),
        };
        let part = match weeks {
            None => DayPart::Weekday(wd),
            Some(w) => {
                let offset = w * 7 + i64::from(wd.num_days_from_monday());
                DayPart::on(shift_days(monday_of(today), offset)?, dir)
            }
        };
        return Ok(Some((part, tail(s, &c, 3))));
    }
    // After the weekdays, so "下周一" is Monday rather than "next week" followed by "一".
    for (re, anchor) in ANCHORS.iter() {
        if let Some(c) = re.captures(s) {
            return Ok(Some((anchor.part(today, dir)?, tail(s, &c, 1))));
        }
    }
    Ok(None)
}

/// Reads `3天后`, `2小时前`, `半小时后`; Chinese always says which way.
pub(super) fn counted(s: &str) -> Option<Counted<'_>> {
    static CN: LazyLock<Regex> = lazy_regex!(&format!(
        r"^({NUM}|半)\s*个?\s*(分钟|分|小时|钟头|天|日|周|星期|礼拜|月)\s*(后|以后|之后|前|以前|之前)\s*(.*)$"
    ));

    let c = CN.captures(s)?;
    let unit = match group(&c, 2) {
        "分钟" | "分" => 'm',
        "小时" | "钟头" => 'h',
        "天" | "日" => 'd',
        "月" => 'o',
        _ => 'w',
    };
    let sign = if group(&c, 3).ends_with('后') { 1 } else { -1 };
    let count = group(&c, 1);
    Some(Counted {
        count,
        half: count == "半",
        unit,
        sign,
        rest: group(&c, 4),
    })
}

/// Reads a Chinese time of day: `中午`, `9点`, `下午3点半`, `上午9:30`.
pub(super) fn clock(s: &str) -> Parsed<Option<NaiveTime>> {
    static CN: LazyLock<Regex> = lazy_regex!(&format!(
        r"^(上午|早上|早晨|清晨|早|中午|午后|下午|傍晚|晚上|晚|夜里|凌晨)?\s*(?:(\d{{1,2}}):(\d{{2}})|({NUM})\s*[点點时時]\s*(?:(半|一刻|三刻)|({NUM})\s*分?)?)$"
    ));

    if s == "中午" {
        return Ok(Some(NOON));
    }
    let Some(c) = CN.captures(s) else {
        return Ok(None);
    };
    let period = c.get(1).map(|m| m.as_str());
    let (hour, minute) = match (c.get(2), c.get(3), c.get(4)) {
        (Some(h), Some(m), _) => (small(h.as_str())?, small(m.as_str())?),
        (_, _, Some(h)) => {
            let minute = match (c.get(5).map(|m| m.as_str()), c.get(6)) {
                (Some("半"), _) => 30,
                (Some("一刻"), _) => 15,
                (Some("三刻"), _) => 45,
                (_, Some(m)) => small(m.as_str())?,
                _ => 0,
            };
            (small(h.as_str())?, minute)
        }
        _ => return Err(Miss::Unrecognized),
    };
    let hour = cn_period_hour(period, hour).ok_or(Miss::Invalid)?;
    NaiveTime::from_hms_opt(hour, minute, 0)
        .map(Some)
        .ok_or(Miss::Invalid)
}

/// Applies a Chinese part-of-day word to a 12-hour reading; `None` when they contradict.
fn cn_period_hour(period: Option<&str>, hour: u32) -> Option<u32> {
    match period {
        None => (hour <= 23).then_some(hour),
        Some("上午" | "早上" | "早晨" | "清晨" | "早") => (hour <= 12).then_some(hour),
        Some("中午") => match hour {
            11 | 12 => Some(hour),
            1..=3 => Some(hour + 12),
            _ => None,
        },
        Some("凌晨") => match hour {
            12 => Some(0),
            0..=6 => Some(hour),
            _ => None,
        },
        Some("午后" | "下午") => match hour {
            1..=11 => Some(hour + 12),
            12..=23 => Some(hour),
            _ => None,
        },
        // 傍晚, 晚上, 晚, 夜里: "晚上12点" would be the next day's midnight, so refuse it.
        Some(_) => match hour {
            1..=11 => Some(hour + 12),
            13..=23 => Some(hour),
            _ => None,
        },
    }
}
