//! Report periods ("this week", "last quarter"), turned into UTC ranges for queries.
//!
//! A period is a span of local calendar days in the workspace's time zone, so its bounds are
//! local midnights converted to UTC. That is why a week is not always 168 hours: the week of a
//! spring-forward change is 167 hours long and the autumn one 169. Weeks start on Monday (ISO).

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::domain::when::{resolve_local, today_in};

/// A report period, as offered in the slash-command choices, or a custom span of days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    /// Monday of the current week up to next Monday.
    ThisWeek,
    /// The full week before this one.
    LastWeek,
    /// The current calendar month.
    ThisMonth,
    /// The calendar month before this one.
    LastMonth,
    /// The current calendar quarter (Jan–Mar, Apr–Jun, Jul–Sep, Oct–Dec).
    ThisQuarter,
    /// The calendar quarter before this one.
    LastQuarter,
    /// The current calendar year.
    ThisYear,
    /// The calendar year before this one.
    LastYear,
    /// No lower bound: everything ever recorded.
    AllTime,
    /// The local days `from` through `to`, both included. Build it with [`Period::custom`] so
    /// the bounds are checked.
    Custom {
        /// First day included.
        from: NaiveDate,
        /// Last day included.
        to: NaiveDate,
    },
}

/// Why a period was refused; each variant names what was given so the reply can quote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// Not one of the choice values.
    #[error("unknown period '{0}'; choose one of: {choices}", choices = Period::CHOICES.join(", "))]
    Unknown(String),
    /// The start is after the end, which is almost always the two dates swapped.
    #[error("the period starts on {from}, after it ends on {to}; swap the dates")]
    Reversed {
        /// The start as given.
        from: NaiveDate,
        /// The end as given.
        to: NaiveDate,
    },
    /// Longer than 10 years: a typo in a year, and a query we do not want to run.
    #[error("the period {from} to {to} is longer than 10 years")]
    TooLong {
        /// The start as given.
        from: NaiveDate,
        /// The end as given.
        to: NaiveDate,
    },
}

/// The longest custom period, in months.
const MAX_CUSTOM: Months = Months::new(10 * 12);

impl Period {
    /// The choice values, in the order the slash command offers them; the manifest and the
    /// "unknown period" message list the same values.
    pub const CHOICES: [&'static str; 9] = [
        "this-week",
        "last-week",
        "this-month",
        "last-month",
        "this-quarter",
        "last-quarter",
        "this-year",
        "last-year",
        "all-time",
    ];

    /// Reads a choice value (`this-week`, `last-quarter`, `all-time`, ...). Case and surrounding
    /// spaces are ignored so a typed value works as well as a picked one.
    pub fn parse(s: &str) -> Result<Period, PeriodError> {
        let period = match s.trim().to_ascii_lowercase().as_str() {
            "this-week" => Period::ThisWeek,
            "last-week" => Period::LastWeek,
            "this-month" => Period::ThisMonth,
            "last-month" => Period::LastMonth,
            "this-quarter" => Period::ThisQuarter,
            "last-quarter" => Period::LastQuarter,
            "this-year" => Period::ThisYear,
            "last-year" => Period::LastYear,
            "all-time" => Period::AllTime,
            _ => return Err(PeriodError::Unknown(s.trim().to_string())),
        };
        Ok(period)
    }

    /// A custom span of whole local days, `from` through `to` inclusive. Refuses a reversed
    /// span and one longer than 10 years, which are typos rather than questions.
    pub fn custom(from: NaiveDate, to: NaiveDate) -> Result<Period, PeriodError> {
        if from > to {
            return Err(PeriodError::Reversed { from, to });
        }
        if from
            .checked_add_months(MAX_CUSTOM)
            .is_none_or(|limit| to > limit)
        {
            return Err(PeriodError::TooLong { from, to });
        }
        Ok(Period::Custom { from, to })
    }

    /// The choice value this period was picked with (`custom` for a custom span), for logs,
    /// stored report settings and the period label lookup in the message catalog.
    pub fn key(&self) -> &'static str {
        match self {
            Period::ThisWeek => "this-week",
            Period::LastWeek => "last-week",
            Period::ThisMonth => "this-month",
            Period::LastMonth => "last-month",
            Period::ThisQuarter => "this-quarter",
            Period::LastQuarter => "last-quarter",
            Period::ThisYear => "this-year",
            Period::LastYear => "last-year",
            Period::AllTime => "all-time",
            Period::Custom { .. } => "custom",
        }
    }

    /// The half-open UTC range `[start, end)` the period covers, counted from local midnights
    /// in `tz` on the day it is at `now`. A "this" period runs to its natural end, not to `now`,
    /// so items scheduled later in the period count too.
    ///
    /// `AllTime` has no start and ends at the start of year 10000: far enough to include
    /// anything dated, and still inside what Postgres `timestamptz` can store. A `Custom`
    /// period built without [`Period::custom`] and reversed gives an empty range
    /// (`start >= end`), which queries treat as "nothing".
    pub fn range(&self, now: DateTime<Utc>, tz: Tz) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
        if *self == Period::AllTime {
            return (None, far_future());
        }
        let (from, until) = self.days(now, tz);
        // Dates beyond chrono's calendar only come from hand-built custom periods; open ends
        // are the honest reading of them.
        let start = from.map(|d| midnight(d, tz));
        let end = until.map_or_else(far_future, |d| midnight(d, tz));
        (start, end)
    }

    /// The local days `[from, until)` the period covers in `tz` at `now`; `None` for an open
    /// end (all time has neither).
    pub fn days(&self, now: DateTime<Utc>, tz: Tz) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let today = today_in(now, tz);
        let week = monday_of(today);
        let month = first_of_month(today);
        let quarter = month
            .with_month(month.month0() / 3 * 3 + 1)
            .unwrap_or(month);
        let year = month.with_month(1).unwrap_or(month);
        match *self {
            Period::ThisWeek => (Some(week), add_days(week, 7)),
            Period::LastWeek => (sub_days(week, 7), Some(week)),
            Period::ThisMonth => (Some(month), add_months(month, 1)),
            Period::LastMonth => (sub_months(month, 1), Some(month)),
            Period::ThisQuarter => (Some(quarter), add_months(quarter, 3)),
            Period::LastQuarter => (sub_months(quarter, 3), Some(quarter)),
            Period::ThisYear => (Some(year), add_months(year, 12)),
            Period::LastYear => (sub_months(year, 12), Some(year)),
            Period::AllTime => (None, None),
            Period::Custom { from, to } => (Some(from), to.succ_opt()),
        }
    }
}

fn midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    // A few zones change clocks at midnight; resolve_local moves a missing midnight forward.
    resolve_local(date.and_time(NaiveTime::MIN), tz)
}

fn far_future() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(10_000, 1, 1).map_or(DateTime::<Utc>::MAX_UTC, |d| {
        d.and_time(NaiveTime::MIN).and_utc()
    })
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn add_days(date: NaiveDate, days: u64) -> Option<NaiveDate> {
    date.checked_add_days(Days::new(days))
}

fn sub_days(date: NaiveDate, days: u64) -> Option<NaiveDate> {
    date.checked_sub_days(Days::new(days))
}

fn add_months(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    date.checked_add_months(Months::new(months))
}

fn sub_months(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    date.checked_sub_months(Months::new(months))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin};

    use crate::domain::testing::{at, date};

    #[test]
    fn ranges() {
        use Period::*;
        // (zone, now, period, start, end, length in hours)
        // One row per line reads as a table; rustfmt would split each row over many lines.
        #[rustfmt::skip]
        let cases = [
            // Berlin springs forward on Sunday 2026-03-29: that week is 167 hours.
            (Berlin, "2026-03-25 12:00 +0100", ThisWeek, "2026-03-23 00:00 +0100", "2026-03-30 00:00 +0200", 167),
            (Berlin, "2026-03-29 23:30 +0200", ThisWeek, "2026-03-23 00:00 +0100", "2026-03-30 00:00 +0200", 167),
            (Berlin, "2026-04-01 09:00 +0200", LastWeek, "2026-03-23 00:00 +0100", "2026-03-30 00:00 +0200", 167),
            (Berlin, "2026-03-30 00:00 +0200", ThisWeek, "2026-03-30 00:00 +0200", "2026-04-06 00:00 +0200", 168),
            // Berlin falls back on Sunday 2026-10-25: that week is 169 hours.
            (Berlin, "2026-10-25 12:00 +0100", ThisWeek, "2026-10-19 00:00 +0200", "2026-10-26 00:00 +0100", 169),
            (Berlin, "2026-10-10 12:00 +0200", ThisMonth, "2026-10-01 00:00 +0200", "2026-11-01 00:00 +0100", 745),
            (Berlin, "2026-03-10 12:00 +0100", ThisMonth, "2026-03-01 00:00 +0100", "2026-04-01 00:00 +0200", 743),
            // New York springs forward on Sunday 2026-03-08 and falls back on Sunday 2026-11-01.
            (New_York, "2026-03-08 12:00 -0400", ThisWeek, "2026-03-02 00:00 -0500", "2026-03-09 00:00 -0400", 167),
            (New_York, "2026-03-05 12:00 -0500", ThisWeek, "2026-03-02 00:00 -0500", "2026-03-09 00:00 -0400", 167),
            (New_York, "2026-11-01 09:00 -0500", ThisWeek, "2026-10-26 00:00 -0400", "2026-11-02 00:00 -0500", 169),
            (New_York, "2026-11-04 09:00 -0500", LastWeek, "2026-10-26 00:00 -0400", "2026-11-02 00:00 -0500", 169),
            (New_York, "2026-11-15 09:00 -0500", LastMonth, "2026-10-01 00:00 -0400", "2026-11-01 00:00 -0400", 744),
            // The week is the local one: Sunday night in New York is already Monday in UTC.
            (New_York, "2026-06-14 22:00 -0400", ThisWeek, "2026-06-08 00:00 -0400", "2026-06-15 00:00 -0400", 168),
            // Shanghai is already in July while UTC is still in June.
            (Shanghai, "2026-07-01 04:00 +0800", ThisMonth, "2026-07-01 00:00 +0800", "2026-08-01 00:00 +0800", 744),
            (Shanghai, "2026-07-01 04:00 +0800", LastMonth, "2026-06-01 00:00 +0800", "2026-07-01 00:00 +0800", 720),
            (Shanghai, "2026-07-01 04:00 +0800", ThisQuarter, "2026-07-01 00:00 +0800", "2026-10-01 00:00 +0800", 2208),
            (Shanghai, "2026-07-01 04:00 +0800", LastQuarter, "2026-04-01 00:00 +0800", "2026-07-01 00:00 +0800", 2184),
            // Quarter and year boundaries.
            (Tz::UTC, "2026-01-01 00:00 +0000", LastQuarter, "2025-10-01 00:00 +0000", "2026-01-01 00:00 +0000", 2208),
            (Tz::UTC, "2026-03-31 23:59 +0000", ThisQuarter, "2026-01-01 00:00 +0000", "2026-04-01 00:00 +0000", 2160),
            (Tz::UTC, "2026-04-01 00:00 +0000", ThisQuarter, "2026-04-01 00:00 +0000", "2026-07-01 00:00 +0000", 2184),
            (Tz::UTC, "2026-12-31 23:59 +0000", ThisQuarter, "2026-10-01 00:00 +0000", "2027-01-01 00:00 +0000", 2208),
            (Tz::UTC, "2026-02-15 12:00 +0000", LastQuarter, "2025-10-01 00:00 +0000", "2026-01-01 00:00 +0000", 2208),
            (Tz::UTC, "2026-01-15 12:00 +0000", LastMonth, "2025-12-01 00:00 +0000", "2026-01-01 00:00 +0000", 744),
            (Tz::UTC, "2026-01-01 00:00 +0000", LastWeek, "2025-12-22 00:00 +0000", "2025-12-29 00:00 +0000", 168),
            (Berlin, "2026-06-10 12:00 +0200", ThisYear, "2026-01-01 00:00 +0100", "2027-01-01 00:00 +0100", 8760),
            (Berlin, "2026-06-10 12:00 +0200", LastYear, "2025-01-01 00:00 +0100", "2026-01-01 00:00 +0100", 8760),
            (Tz::UTC, "2029-03-01 12:00 +0000", LastYear, "2028-01-01 00:00 +0000", "2029-01-01 00:00 +0000", 8784),
            // New Year's Eve in New York is already next year in UTC; the local year counts.
            (New_York, "2026-12-31 22:00 -0500", ThisYear, "2026-01-01 00:00 -0500", "2027-01-01 00:00 -0500", 8760),
        ];
        for (tz, now, period, start, end, hours) in cases {
            let (got_start, got_end) = period.range(at(now), tz);
            let label = format!("{tz} {now} {}", period.key());
            assert_eq!(got_start, Some(at(start)), "start of {label}");
            assert_eq!(got_end, at(end), "end of {label}");
            assert_eq!(
                (got_end - at(start)).num_hours(),
                hours,
                "length of {label}"
            );
        }
    }

    #[test]
    fn all_time_has_no_start() {
        let (start, end) = Period::AllTime.range(at("2026-06-10 12:00 +0000"), Berlin);
        assert_eq!(start, None);
        let year_10000 = NaiveDate::from_ymd_opt(10_000, 1, 1).expect("in chrono's range");
        assert_eq!(end, year_10000.and_time(NaiveTime::MIN).and_utc());
    }

    #[test]
    fn custom_periods_include_the_whole_last_day() {
        // One row per line reads as a table; rustfmt would split each row over many lines.
        #[rustfmt::skip]
        let cases = [
            (Berlin, "2026-03-01", "2026-03-31", "2026-03-01 00:00 +0100", "2026-04-01 00:00 +0200"),
            (New_York, "2026-11-01", "2026-11-01", "2026-11-01 00:00 -0400", "2026-11-02 00:00 -0500"),
            (Shanghai, "2026-01-01", "2026-12-31", "2026-01-01 00:00 +0800", "2027-01-01 00:00 +0800"),
        ];
        let now = at("2026-06-10 12:00 +0000");
        for (tz, from, to, start, end) in cases {
            let period = Period::custom(date(from), date(to)).expect("valid custom period");
            assert_eq!(period.key(), "custom");
            assert_eq!(
                period.range(now, tz),
                (Some(at(start)), at(end)),
                "{tz} {from}..{to}"
            );
        }
    }

    #[test]
    fn custom_periods_are_checked() {
        let cases = [
            ("2026-01-01", "2026-01-01", true),
            ("2016-01-01", "2026-01-01", true),
            ("2016-01-01", "2026-01-02", false),
            ("2026-02-01", "2026-01-31", false),
        ];
        for (from, to, ok) in cases {
            let (from, to) = (date(from), date(to));
            let got = Period::custom(from, to);
            match (ok, got) {
                (true, Ok(p)) => assert_eq!(p, Period::Custom { from, to }),
                (false, Err(PeriodError::Reversed { .. })) if from > to => {}
                (false, Err(PeriodError::TooLong { .. })) if from <= to => {}
                (_, got) => panic!("{from}..{to}: unexpected {got:?}"),
            }
        }
        assert_eq!(
            Period::custom(date("2026-02-01"), date("2026-01-31")).map_err(|e| e.to_string()),
            Err(
                "the period starts on 2026-02-01, after it ends on 2026-01-31; swap the dates"
                    .to_string()
            )
        );
    }

    #[test]
    fn choice_values_round_trip() {
        for choice in Period::CHOICES {
            let period = Period::parse(choice).expect("every choice parses");
            assert_eq!(period.key(), choice);
        }
        assert_eq!(Period::parse(" This-Week "), Ok(Period::ThisWeek));
        let errors = [("custom", "custom"), ("this week", "this week"), ("", "")];
        for (input, quoted) in errors {
            assert_eq!(
                Period::parse(input),
                Err(PeriodError::Unknown(quoted.into())),
                "{input}"
            );
        }
        assert_eq!(
            Period::parse("fortnight").map_err(|e| e.to_string()),
            Err(
                "unknown period 'fortnight'; choose one of: this-week, last-week, this-month, \
                 last-month, this-quarter, last-quarter, this-year, last-year, all-time"
                    .to_string()
            )
        );
    }
}
