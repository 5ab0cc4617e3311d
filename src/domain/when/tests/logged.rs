//! `parse_past`: when a logged interaction happened, leaning back where the input does not say.

use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin};

use super::{at, future, invalid, un};
use crate::domain::when::{parse_past, WhenError};

#[test]
fn past_times_for_logged_interactions() {
    // Wednesday 2026-06-10, 14:30 in New York.
    let now = "2026-06-10 14:30 -0400";
    let cases = [
        ("now", Ok("2026-06-10 14:30 -0400")),
        ("just now", Ok("2026-06-10 14:30 -0400")),
        ("today", Ok("2026-06-10 12:00 -0400")),
        ("today 9am", Ok("2026-06-10 09:00 -0400")),
        ("yesterday 3pm", Ok("2026-06-09 15:00 -0400")),
        ("yesterday", Ok("2026-06-09 12:00 -0400")),
        ("3pm yesterday", Ok("2026-06-09 15:00 -0400")),
        ("day before yesterday", Ok("2026-06-08 12:00 -0400")),
        ("2 hours ago", Ok("2026-06-10 12:30 -0400")),
        ("an hour ago", Ok("2026-06-10 13:30 -0400")),
        ("half an hour ago", Ok("2026-06-10 14:00 -0400")),
        ("30 min ago", Ok("2026-06-10 14:00 -0400")),
        ("3 days ago", Ok("2026-06-07 14:30 -0400")),
        ("3 days ago 10am", Ok("2026-06-07 10:00 -0400")),
        ("a week ago", Ok("2026-06-03 14:30 -0400")),
        ("a month ago", Ok("2026-05-10 14:30 -0400")),
        // Short forms and bare words lean back.
        ("2h", Ok("2026-06-10 12:30 -0400")),
        ("3d", Ok("2026-06-07 14:30 -0400")),
        ("fri", Ok("2026-06-05 12:00 -0400")),
        ("fri 3pm", Ok("2026-06-05 15:00 -0400")),
        ("wed 9am", Ok("2026-06-10 09:00 -0400")),
        ("wed 4pm", Ok("2026-06-03 16:00 -0400")),
        ("wed", Ok("2026-06-03 12:00 -0400")),
        ("last monday", Ok("2026-06-08 12:00 -0400")),
        ("last wed", Ok("2026-06-03 12:00 -0400")),
        ("3pm", Ok("2026-06-09 15:00 -0400")),
        ("9am", Ok("2026-06-10 09:00 -0400")),
        ("2026-05-20 14:00", Ok("2026-05-20 14:00 -0400")),
        ("2025-11-20 14:00", Ok("2025-11-20 14:00 -0500")),
        ("2026-06-10", Ok("2026-06-10 12:00 -0400")),
        ("5月20日", Ok("2026-05-20 12:00 -0400")),
        ("12月1日", Ok("2025-12-01 12:00 -0500")),
        ("昨天下午3点", Ok("2026-06-09 15:00 -0400")),
        ("前天", Ok("2026-06-08 12:00 -0400")),
        ("大前天", Ok("2026-06-07 12:00 -0400")),
        ("2小时前", Ok("2026-06-10 12:30 -0400")),
        ("半小时前", Ok("2026-06-10 14:00 -0400")),
        ("3天前", Ok("2026-06-07 14:30 -0400")),
        ("上周五", Ok("2026-06-05 12:00 -0400")),
        ("周五", Ok("2026-06-05 12:00 -0400")),
        ("刚才", Ok("2026-06-10 14:30 -0400")),
        // A minute of slack for clocks that run a little ahead.
        ("today 14:31", Ok("2026-06-10 14:31 -0400")),
        ("today 14:32", Err(future("today 14:32"))),
        ("tomorrow", Err(future("tomorrow"))),
        ("in 2 hours", Err(future("in 2 hours"))),
        ("3天后", Err(future("3天后"))),
        ("next fri", Err(future("next fri"))),
        ("in 2 hours ago", Err(un("in 2 hours ago"))),
        ("12/01", Err(un("12/01"))),
        ("2026-02-30", Err(invalid("2026-02-30"))),
        ("", Err(WhenError::Empty)),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse_past(input, at(now), New_York),
            want.map(at),
            "{input}"
        );
    }
}

#[test]
fn past_times_across_dst_and_mornings() {
    // One row per line reads as a table; rustfmt would split each row over many lines.
    #[rustfmt::skip]
    let cases = [
        // "today" with no time is noon, but never later than now.
        (New_York, "2026-06-10 10:00 -0400", "today", "2026-06-10 10:00 -0400"),
        (New_York, "2026-06-10 10:00 -0400", "2026-06-10", "2026-06-10 10:00 -0400"),
        // Calendar steps back keep the wall clock across the change; hours do not.
        (Berlin, "2026-03-30 12:00 +0200", "2 days ago", "2026-03-28 12:00 +0100"),
        (Berlin, "2026-03-30 12:00 +0200", "48 hours ago", "2026-03-28 11:00 +0100"),
        (Berlin, "2026-03-30 12:00 +0200", "yesterday 02:30", "2026-03-29 03:30 +0200"),
        (New_York, "2026-11-02 09:00 -0500", "yesterday 1:30am", "2026-11-01 01:30 -0400"),
        (Shanghai, "2026-06-10 08:00 +0800", "昨天晚上8点", "2026-06-09 20:00 +0800"),
    ];
    for (tz, now, input, want) in cases {
        assert_eq!(
            parse_past(input, at(now), tz),
            Ok(at(want)),
            "{tz} {now} {input}"
        );
    }
}
