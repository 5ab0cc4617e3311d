//! From a parsed day and time to a date or an instant: calendar steps, named days, and
//! wall-clock times resolved in a zone, DST gaps and overlaps included.

use chrono::{
    DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use super::common::{Dir, Miss, Parsed};
use super::END_OF_DAY;

/// The calendar date it is in `tz` at `now`: the "today" every relative word is counted from.
pub fn today_in(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Turns a wall-clock time in `tz` into an instant, total over DST changes: a time that happens
/// twice takes the earlier instant (a reminder early rather than an hour late), and a time that
/// never happens moves forward by the gap (02:30 in a 02:00→03:00 gap becomes 03:30).
pub fn resolve_local(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: read the wall clock with the offset in force just before the gap. Gaps are
    // normally an hour, but a few zones have skipped a whole day, so look back up to two days.
    for quarter_hours in 1..=(2 * 24 * 4) {
        let probe = local - Duration::minutes(15 * quarter_hours);
        if let Some(before) = tz.from_local_datetime(&probe).latest() {
            let offset = before.offset().fix().local_minus_utc();
            return (local - Duration::seconds(i64::from(offset))).and_utc();
        }
    }
    // No zone has a gap this long; reading the clock as UTC is the least surprising fallback.
    local.and_utc()
}

/// Moves a date by whole days either way; running off chrono's calendar ahead is "too far",
/// behind it is no real date.
pub(super) fn shift_days(date: NaiveDate, days: i64) -> Parsed<NaiveDate> {
    let n = Days::new(days.unsigned_abs());
    if days >= 0 {
        date.checked_add_days(n).ok_or(Miss::TooFar)
    } else {
        date.checked_sub_days(n).ok_or(Miss::Invalid)
    }
}

fn add_days(date: NaiveDate, days: u64) -> Parsed<NaiveDate> {
    date.checked_add_days(Days::new(days)).ok_or(Miss::TooFar)
}

pub(super) fn shift_months(date: NaiveDate, months: i64) -> Parsed<NaiveDate> {
    let n = u32::try_from(months.unsigned_abs()).map_err(|_| Miss::TooFar)?;
    if months >= 0 {
        date.checked_add_months(Months::new(n)).ok_or(Miss::TooFar)
    } else {
        date.checked_sub_months(Months::new(n)).ok_or(Miss::Invalid)
    }
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn last_of_month(date: NaiveDate) -> Parsed<NaiveDate> {
    shift_months(first_of_month(date), 1)?
        .pred_opt()
        .ok_or(Miss::TooFar)
}

pub(super) fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// The nearest `wd` strictly after (`Ahead`) or strictly before (`Back`) `today`: one to seven
/// days away.
pub(super) fn nearest_weekday(today: NaiveDate, wd: Weekday, dir: Dir) -> Parsed<NaiveDate> {
    let (from, to) = match dir {
        Dir::Ahead => (today.weekday(), wd),
        Dir::Back => (wd, today.weekday()),
    };
    let gap = (to.num_days_from_monday() + 7 - from.num_days_from_monday()) % 7;
    let gap = i64::from(if gap == 0 { 7 } else { gap });
    shift_days(today, if dir == Dir::Ahead { gap } else { -gap })
}

/// The calendar day part of an input, before any time is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DayPart {
    /// A settled day, with the time to use if none is typed.
    On {
        date: NaiveDate,
        default: DefaultTime,
    },
    /// A bare weekday, which may still mean today depending on the typed time.
    Weekday(Weekday),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DefaultTime {
    At(NaiveTime),
    /// Keep the wall-clock time of `now` (`in 3 days`).
    KeepClock,
}

impl DayPart {
    /// A named day with the default time for its direction.
    pub(super) fn on(date: NaiveDate, dir: Dir) -> DayPart {
        DayPart::On {
            date,
            default: DefaultTime::At(dir.default_time()),
        }
    }

    /// The day when no time is given (as for `parse_date`).
    pub(super) fn date(self, today: NaiveDate, dir: Dir) -> Parsed<NaiveDate> {
        match self {
            DayPart::On { date, .. } => Ok(date),
            DayPart::Weekday(wd) => nearest_weekday(today, wd, dir),
        }
    }

    /// Combines the day with the typed time, if any, into an instant.
    pub(super) fn at(
        self,
        time: Option<NaiveTime>,
        now: DateTime<Utc>,
        tz: Tz,
        dir: Dir,
    ) -> Parsed<DateTime<Utc>> {
        let today = today_in(now, tz);
        match self {
            DayPart::On { date, default } => {
                let Some(time) = time else {
                    let time = match default {
                        DefaultTime::At(t) => t,
                        DefaultTime::KeepClock => now.with_timezone(&tz).time(),
                    };
                    let at = resolve_local(date.and_time(time), tz);
                    // "today" logged at 10:00 cannot have happened at noon.
                    let capped = dir == Dir::Back && date == today && at > now;
                    return Ok(if capped { now } else { at });
                };
                Ok(resolve_local(date.and_time(time), tz))
            }
            DayPart::Weekday(wd) => {
                if let Some(t) = time {
                    let today_at = resolve_local(today.and_time(t), tz);
                    let fits = match dir {
                        Dir::Ahead => today_at > now,
                        Dir::Back => today_at <= now,
                    };
                    if today.weekday() == wd && fits {
                        return Ok(today_at);
                    }
                }
                let date = nearest_weekday(today, wd, dir)?;
                Ok(resolve_local(
                    date.and_time(time.unwrap_or(dir.default_time())),
                    tz,
                ))
            }
        }
    }
}

/// Named days that have a word of their own, in English and Chinese (`en` and `zh` hold the
/// words).
#[derive(Debug, Clone, Copy)]
pub(super) enum Anchor {
    Today,
    Tomorrow,
    InTwoDays,
    InThreeDays,
    Yesterday,
    TwoDaysAgo,
    ThreeDaysAgo,
    NextWeek,
    EndOfMonth,
    EndOfNextMonth,
    NextMonth,
    EndOfQuarter,
    EndOfYear,
}

impl Anchor {
    pub(super) fn part(self, today: NaiveDate, dir: Dir) -> Parsed<DayPart> {
        let on = |date| DayPart::on(date, dir);
        Ok(match self {
            Anchor::Today if dir == Dir::Ahead => DayPart::On {
                date: today,
                default: DefaultTime::At(END_OF_DAY),
            },
            Anchor::Today => on(today),
            Anchor::Tomorrow => on(shift_days(today, 1)?),
            Anchor::InTwoDays => on(shift_days(today, 2)?),
            Anchor::InThreeDays => on(shift_days(today, 3)?),
            Anchor::Yesterday => on(shift_days(today, -1)?),
            Anchor::TwoDaysAgo => on(shift_days(today, -2)?),
            Anchor::ThreeDaysAgo => on(shift_days(today, -3)?),
            Anchor::NextWeek => on(add_days(monday_of(today), 7)?),
            Anchor::EndOfMonth => on(last_of_month(today)?),
            Anchor::EndOfNextMonth => on(last_of_month(shift_months(first_of_month(today), 1)?)?),
            Anchor::NextMonth => on(shift_months(first_of_month(today), 1)?),
            Anchor::EndOfQuarter => {
                let quarter_end_month = (today.month0() / 3) * 3 + 3;
                let in_that_month = today
                    .with_day(1)
                    .and_then(|d| d.with_month(quarter_end_month));
                on(last_of_month(in_that_month.ok_or(Miss::Invalid)?)?)
            }
            Anchor::EndOfYear => {
                on(NaiveDate::from_ymd_opt(today.year(), 12, 31).ok_or(Miss::Invalid)?)
            }
        })
    }
}
