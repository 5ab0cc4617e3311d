//! `/report customers`: segments from recency, frequency and monetary value (RFM), and what the
//! customers of a segment have in common.

use crate::domain::money::{sum_minor, TotalOverflow};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A customer segment, from recency, frequency and monetary value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// Bought recently, often, and among the biggest spenders.
    Champions,
    /// Buys again and again, recently enough.
    Loyal,
    /// First bought within the last 90 days.
    New,
    /// Has not bought for a while (up to a year).
    AtRisk,
    /// Nothing for over a year.
    Dormant,
}

impl Segment {
    /// Every segment, in the order reports show them.
    pub const ALL: [Segment; 5] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::New,
        Segment::AtRisk,
        Segment::Dormant,
    ];

    /// Stable key for data and catalog lookups.
    pub fn key(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::New => "new",
            Segment::AtRisk => "at_risk",
            Segment::Dormant => "dormant",
        }
    }
}

/// One customer's purchase history as of a day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rfm {
    /// Days since the last won deal.
    pub recency_days: i64,
    /// Days since the first won deal.
    pub first_days: i64,
    /// Won deals.
    pub frequency: i64,
    /// Their total amount, minor units.
    pub monetary: i64,
}

impl Rfm {
    /// The history as of `as_of`, from the first and last won deal; days are whole days
    /// elapsed, so a deal won 23 hours ago is 0 days old.
    pub fn as_of(
        as_of: DateTime<Utc>,
        first_won: DateTime<Utc>,
        last_won: DateTime<Utc>,
        frequency: i64,
        monetary: i64,
    ) -> Rfm {
        Rfm {
            recency_days: (as_of - last_won).num_days(),
            first_days: (as_of - first_won).num_days(),
            frequency,
            monetary,
        }
    }
}

/// The 75th percentile by nearest rank (`ceil(0.75 n)`-th smallest); 0 for no values.
pub fn p75(values: &[i64]) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let rank = (3 * n).div_ceil(4);
    sorted[rank.saturating_sub(1)]
}

/// The segment a customer is in; the first rule that matches wins, so the segments never
/// overlap and every customer is in one.
pub fn segment(c: &Rfm, p75_monetary: i64) -> Segment {
    if c.first_days <= 90 {
        Segment::New
    } else if c.recency_days <= 90 && c.frequency >= 3 && c.monetary >= p75_monetary {
        Segment::Champions
    } else if c.recency_days <= 180 && c.frequency >= 2 {
        Segment::Loyal
    } else if c.recency_days <= 365 {
        Segment::AtRisk
    } else {
        Segment::Dormant
    }
}

/// The `n` most common values with their counts, most common first, ties by value.
pub fn top_values<'a>(values: impl Iterator<Item = &'a str>, n: usize) -> Vec<(String, i64)> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut out: Vec<(String, i64)> = counts
        .into_iter()
        .map(|(v, c)| (v.to_string(), c))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(n);
    out
}

/// How many common industries, tiers and tags a segment lists: enough to see a pattern, few
/// enough to read at a glance.
pub const TOP_TRAITS: usize = 3;

/// A customer as segmenting sees it: their history and what they might share with others.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerProfile<'a> {
    /// Purchase history.
    pub rfm: Rfm,
    /// Industry, if recorded.
    pub industry: Option<&'a str>,
    /// Tier, if recorded.
    pub tier: Option<&'a str>,
    /// Tags.
    pub tags: &'a [String],
}

/// One segment's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentFigures {
    /// The segment.
    pub segment: Segment,
    /// Customers in it.
    pub customers: usize,
    /// Their revenue (monetary value summed), minor units.
    pub revenue: i64,
    /// Most common industries, with how many customers share each.
    pub industries: Vec<(String, i64)>,
    /// Most common tiers.
    pub tiers: Vec<(String, i64)>,
    /// Most common tags.
    pub tags: Vec<(String, i64)>,
}

/// Every segment in [`Segment::ALL`] order, empty ones included. "Champions" spend at least
/// the 75th percentile of all these customers' monetary value. A segment's revenue is added
/// checked: past `i64` it is [`TotalOverflow`].
pub fn segment_figures(
    customers: &[CustomerProfile<'_>],
) -> Result<Vec<SegmentFigures>, TotalOverflow> {
    let monetary: Vec<i64> = customers.iter().map(|c| c.rfm.monetary).collect();
    let threshold = p75(&monetary);
    let mut members: BTreeMap<Segment, Vec<&CustomerProfile<'_>>> = BTreeMap::new();
    for c in customers {
        members
            .entry(segment(&c.rfm, threshold))
            .or_default()
            .push(c);
    }
    Segment::ALL
        .iter()
        .map(|s| {
            let list = members.get(s).map(Vec::as_slice).unwrap_or(&[]);
            Ok(SegmentFigures {
                segment: *s,
                customers: list.len(),
                revenue: sum_minor(list.iter().map(|c| c.rfm.monetary))?,
                industries: top_values(list.iter().filter_map(|c| c.industry), TOP_TRAITS),
                tiers: top_values(list.iter().filter_map(|c| c.tier), TOP_TRAITS),
                tags: top_values(
                    list.iter().flat_map(|c| c.tags.iter().map(String::as_str)),
                    TOP_TRAITS,
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_by_nearest_rank() {
        assert_eq!(p75(&[]), 0);
        assert_eq!(p75(&[5]), 5);
        assert_eq!(p75(&[1, 2, 3, 4]), 3);
        assert_eq!(p75(&[4, 1, 3, 2, 5]), 4);
    }

    #[test]
    fn segments_by_rule_order() {
        let c = |r, f, n, m| Rfm {
            recency_days: r,
            first_days: f,
            frequency: n,
            monetary: m,
        };
        let p = 1000;
        let cases = [
            (c(10, 30, 5, 5000), Segment::New),
            (c(10, 400, 3, 1000), Segment::Champions),
            (c(10, 400, 3, 999), Segment::Loyal),
            (c(150, 400, 2, 10), Segment::Loyal),
            (c(100, 100, 1, 10), Segment::AtRisk),
            (c(365, 900, 9, 9000), Segment::AtRisk),
            (c(366, 900, 9, 9000), Segment::Dormant),
        ];
        for (rfm, want) in cases {
            assert_eq!(segment(&rfm, p), want, "{rfm:?}");
        }
    }

    #[test]
    fn common_values_most_frequent_first() {
        let v = ["b", "a", "b", "c", "a", "d"];
        assert_eq!(
            top_values(v.into_iter(), 3),
            vec![("a".into(), 2), ("b".into(), 2), ("c".into(), 1)]
        );
    }

    #[test]
    fn recency_in_whole_days() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        let r = Rfm::as_of(
            t("2026-12-10T12:00:00Z"),
            t("2026-01-01T00:00:00Z"),
            t("2026-12-09T13:00:00Z"),
            4,
            9_000,
        );
        assert_eq!((r.recency_days, r.first_days), (0, 343));
        assert_eq!((r.frequency, r.monetary), (4, 9_000));
    }

    #[test]
    fn segment_figures_cover_every_segment() {
        let tags = ["vip".to_string()];
        let c = |first_days, monetary, industry| CustomerProfile {
            rfm: Rfm {
                recency_days: 10,
                first_days,
                frequency: 3,
                monetary,
            },
            industry,
            tier: None,
            tags: &tags,
        };
        let customers = [
            c(400, 5_000, Some("retail")),
            c(400, 1_000, Some("retail")),
            c(30, 700, None),
        ];
        let s = segment_figures(&customers).unwrap();
        assert_eq!(
            s.iter().map(|f| f.segment).collect::<Vec<_>>(),
            Segment::ALL.to_vec()
        );
        // p75 of [700, 1000, 5000] is 5000: one champion, one loyal, one new.
        assert_eq!((s[0].customers, s[0].revenue), (1, 5_000));
        assert_eq!((s[1].customers, s[1].revenue), (1, 1_000));
        assert_eq!((s[2].customers, s[2].revenue), (1, 700));
        assert_eq!(s[0].industries, vec![("retail".to_string(), 1)]);
        assert_eq!(s[2].industries, vec![]);
        assert_eq!(s[2].tags, vec![("vip".to_string(), 1)]);
        assert_eq!(s[3].customers, 0);
    }
}
