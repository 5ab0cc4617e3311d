//! Time zones as people type them: IANA names in any case, and the closest real name when a
//! typed one is not.

use chrono_tz::Tz;

use super::WhenError;

/// Parses an IANA zone name regardless of case (`europe/berlin`, `america/new york`), plus
/// `UTC`. An unknown name comes back with the closest real name, so the reply can offer a fix.
pub fn parse_tz(input: &str) -> Result<Tz, WhenError> {
    let given = input.trim();
    if given.is_empty() {
        return Err(WhenError::Empty);
    }
    // People type the spaces that IANA spells as underscores ("new york").
    let wanted = given
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase();
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
    {
        return Ok(*tz);
    }
    Err(WhenError::UnknownTimeZone {
        given: given.to_string(),
        suggestion: suggest_zone(&wanted),
    })
}

/// Abbreviations people type for a zone; they are not IANA names (or name a fixed offset with
/// no DST), so they only ever become a suggestion, never a silent answer.
const ZONE_ALIASES: &[(&str, &str)] = &[
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("mdt", "America/Denver"),
    ("mt", "America/Denver"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("edt", "America/New_York"),
    ("et", "America/New_York"),
    ("bst", "Europe/London"),
    ("cest", "Europe/Berlin"),
    ("ist", "Asia/Kolkata"),
    ("jst", "Asia/Tokyo"),
    ("beijing", "Asia/Shanghai"),
    ("china", "Asia/Shanghai"),
];

/// How similar (normalized Damerau–Levenshtein) a typo must be to be worth suggesting.
const ZONE_SIMILARITY: f64 = 0.7;

fn suggest_zone(wanted: &str) -> Option<String> {
    if let Some((_, name)) = ZONE_ALIASES.iter().find(|(alias, _)| *alias == wanted) {
        return Some((*name).to_string());
    }
    // Compare with both the full name and its city, so "berlin" finds Europe/Berlin.
    let score = |name: &str| {
        let lower = name.to_lowercase();
        let city = lower.rsplit('/').next().unwrap_or(&lower).to_string();
        strsim::normalized_damerau_levenshtein(wanted, &lower)
            .max(strsim::normalized_damerau_levenshtein(wanted, &city))
    };
    let mut best: Option<(f64, &str)> = None;
    for tz in &chrono_tz::TZ_VARIANTS {
        let s = score(tz.name());
        if s >= ZONE_SIMILARITY && best.is_none_or(|(b, _)| s > b) {
            best = Some((s, tz.name()));
        }
    }
    best.map(|(_, name)| name.to_string())
}
