//! Pipeline stages: what kind each is, valid names for new ones, and finding the one a person
//! meant when they typed a stage name in a command.

use crate::domain::text::TextError;
use serde::{Deserialize, Serialize};

/// What reaching a stage means for a deal. Reports and KPIs branch on this, never on the name,
/// because every workspace names its stages differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// The deal is still being worked.
    Open,
    /// The deal closed and the money counts as revenue.
    Won,
    /// The deal closed without a sale.
    Lost,
}

/// A stage kind that is not `open`, `won` or `lost`, e.g. a bad value read back from storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage kind '{0}'; use open, won or lost")]
pub struct StageKindError(pub String);

impl std::str::FromStr for StageKind {
    type Err = StageKindError;
    fn from_str(s: &str) -> Result<StageKind, StageKindError> {
        StageKind::parse(s)
    }
}

impl StageKind {
    /// The stored and serialized spelling, shared with the database column and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Open => "open",
            StageKind::Won => "won",
            StageKind::Lost => "lost",
        }
    }

    /// Reads the stored spelling (case and surrounding spaces ignored), so a row or a command
    /// option becomes a kind once at the boundary.
    pub fn parse(s: &str) -> Result<StageKind, StageKindError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(StageKind::Open),
            "won" => Ok(StageKind::Won),
            "lost" => Ok(StageKind::Lost),
            _ => Err(StageKindError(s.trim().to_string())),
        }
    }

    /// Whether a deal in a stage of this kind is finished, so it leaves the open pipeline.
    pub fn is_closed(self) -> bool {
        matches!(self, StageKind::Won | StageKind::Lost)
    }
}

/// One stage of a workspace's pipeline, as the store hands it to the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Database id; stable across renames, so deals point at this.
    pub id: i64,
    /// The name people see and type.
    pub name: String,
    /// Order in the pipeline, lowest first.
    pub position: i32,
    /// Chance of winning, in percent (0–100), for the weighted forecast.
    pub probability: i16,
    /// What reaching this stage means.
    pub kind: StageKind,
}

impl Stage {
    /// A stage as the pipeline holds it.
    pub fn new(id: i64, name: &str, position: i32, probability: i16, kind: StageKind) -> Stage {
        Stage {
            id,
            name: name.to_string(),
            position,
            probability,
            kind,
        }
    }
}

/// A stage name that is safe to store and show: trimmed, inner spaces collapsed, 1–40
/// characters, no control or invisible characters, and no Discord mentions (a stage name is
/// echoed in replies and must never ping anyone).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StageName(String);

impl StageName {
    /// The most characters a stage name may have; long names break the pipeline view.
    pub const MAX_CHARS: usize = 40;

    /// Checks a name typed for a new or renamed stage; only a valid name gets a `StageName`.
    /// Errors are `StageError`'s name variants, so one error type covers every stage option.
    pub fn parse(s: &str) -> Result<StageName, StageError> {
        let trimmed = match crate::domain::text::line(s) {
            Ok(t) => t,
            Err(TextError::Empty) => return Err(StageError::EmptyName),
            Err(_) => return Err(StageError::NameHasControlChars(s.trim().to_string())),
        };
        let name = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
        // The matcher ignores case, spaces, `-` and `_`: a name of nothing else could never
        // be typed to find it.
        if fold(&name).is_empty() {
            return Err(StageError::NameUntypable(name));
        }
        let lower = name.to_lowercase();
        if ["<@", "<#", "@everyone", "@here"]
            .iter()
            .any(|m| lower.contains(m))
        {
            return Err(StageError::NameHasMention(name));
        }
        let chars = name.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(StageError::NameTooLong { given: name, chars });
        }
        Ok(StageName(name))
    }

    /// The name, for storing and showing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned string, for handing to the store.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for StageName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether two stage names are the same to the matcher (`Pre_sale`, `Presale`, `pre-sale`),
/// so a pipeline never holds two that typing cannot tell apart.
pub fn same_name(a: &str, b: &str) -> bool {
    // Compared as they fold, with nothing allocated: an import asks this for every row and
    // stage.
    folded(a).eq(folded(b))
}

/// Why a typed stage name matched no single stage, or was refused as a new stage's name. Each
/// variant quotes what was typed so the reply can show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// No stage has this name or starts with it.
    #[error("unknown stage '{given}'; {}stages: {}", did_you_mean(.suggestion.as_deref()), .all.join(", "))]
    Unknown {
        /// The name as typed (trimmed).
        given: String,
        /// The closest stage name, when one is a plausible typo of `given`.
        suggestion: Option<String>,
        /// Every stage name in pipeline order, so the reply can list the choices.
        all: Vec<String>,
    },
    /// Several stages start with what was typed.
    #[error("'{given}' matches more than one stage: {}; type more of the name", .candidates.join(", "))]
    Ambiguous {
        /// The name as typed (trimmed).
        given: String,
        /// The matching stage names in pipeline order.
        candidates: Vec<String>,
    },
    /// A new stage name that is nothing but whitespace.
    #[error("a stage name cannot be empty")]
    EmptyName,
    /// A new stage name longer than [`StageName::MAX_CHARS`] characters.
    #[error("stage name '{given}' is {chars} characters long; the limit is 40")]
    NameTooLong {
        /// The name as given (trimmed).
        given: String,
        /// Its length in characters.
        chars: usize,
    },
    /// A new stage name with a control or invisible character (newline, zero-width space,
    /// direction override), which would garble or disguise it in lists.
    #[error("stage name {0:?} contains control or invisible characters")]
    NameHasControlChars(String),
    /// A new stage name of nothing but spaces, `-` and `_`, which the matcher could not find.
    #[error("stage name '{0}' has no letter or digit")]
    NameUntypable(String),
    /// A new stage name with mention markup (`<@…>`, `<#…>`, `@everyone`, `@here`).
    #[error("stage name '{0}' contains a mention; stage names cannot mention people or channels")]
    NameHasMention(String),
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!("did you mean '{s}'? "))
        .unwrap_or_default()
}

/// How similar (normalized Damerau–Levenshtein, 0–1) a typo must be to a name to suggest it:
/// high enough that `xyz` suggests nothing, low enough that one slip in a short name counts.
const SUGGEST_SIMILARITY: f64 = 0.6;

/// Finds the stage a person meant: an exact name ignoring case, spaces, hyphens and
/// underscores (`closed-won` = `Closed Won`), else the only stage whose name starts with the
/// input (`neg`). Otherwise the error carries a did-you-mean suggestion and all the names,
/// so the reply can offer the fix.
pub fn match_stage<'a>(input: &str, stages: &'a [Stage]) -> Result<&'a Stage, StageError> {
    let given = input.trim();
    let wanted = fold(given);
    let mut ordered: Vec<&'a Stage> = stages.iter().collect();
    ordered.sort_by_key(|s| s.position);
    let names = |found: &[&Stage]| found.iter().map(|s| s.name.clone()).collect::<Vec<_>>();

    // A stage's name typed as it is written always finds it, even where two names from before
    // the duplicate rule fold alike or a name folds to nothing (`_`).
    if let Some(s) = ordered.iter().find(|s| s.name == given) {
        return Ok(s);
    }
    if !wanted.is_empty() {
        let exact: Vec<&Stage> = ordered
            .iter()
            .copied()
            .filter(|s| fold(&s.name) == wanted)
            .collect();
        let prefixed: Vec<&Stage> = ordered
            .iter()
            .copied()
            .filter(|s| fold(&s.name).starts_with(&wanted))
            .collect();
        // Two stages that differ only in case or separators cannot be told apart by typing.
        let found = if exact.is_empty() { prefixed } else { exact };
        match found.as_slice() {
            [] => {}
            [one] => return Ok(one),
            many => {
                return Err(StageError::Ambiguous {
                    given: given.to_string(),
                    candidates: names(many),
                })
            }
        }
    }

    let mut suggestion: Option<(f64, &Stage)> = None;
    for stage in &ordered {
        let score = strsim::normalized_damerau_levenshtein(&wanted, &fold(&stage.name));
        if score >= SUGGEST_SIMILARITY && suggestion.is_none_or(|(best, _)| score > best) {
            suggestion = Some((score, stage));
        }
    }
    Err(StageError::Unknown {
        given: given.to_string(),
        suggestion: suggestion.map(|(_, s)| s.name.clone()),
        all: names(&ordered),
    })
}

/// The form names are compared in: lowercase, without spaces, hyphens or underscores.
fn fold(name: &str) -> String {
    folded(name).collect()
}

fn folded(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: i32, name: &str, probability: i16, kind: StageKind) -> Stage {
        Stage::new(i64::from(id), name, id, probability, kind)
    }

    fn default_pipeline() -> Vec<Stage> {
        vec![
            stage(1, "Lead", 10, StageKind::Open),
            stage(2, "Qualified", 25, StageKind::Open),
            stage(3, "Proposal", 50, StageKind::Open),
            stage(4, "Negotiation", 75, StageKind::Open),
            stage(5, "Won", 100, StageKind::Won),
            stage(6, "Lost", 0, StageKind::Lost),
        ]
    }

    fn all_default() -> Vec<String> {
        [
            "Lead",
            "Qualified",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost",
        ]
        .map(String::from)
        .to_vec()
    }

    fn unknown(given: &str, suggestion: Option<&str>) -> Result<&'static str, StageError> {
        Err(StageError::Unknown {
            given: given.to_string(),
            suggestion: suggestion.map(String::from),
            all: all_default(),
        })
    }

    #[test]
    fn matches_default_pipeline() {
        let stages = default_pipeline();
        let cases = [
            ("Lead", Ok("Lead")),
            ("lead", Ok("Lead")),
            ("  NEGOTIATION ", Ok("Negotiation")),
            ("neg", Ok("Negotiation")),
            ("p", Ok("Proposal")),
            ("qual", Ok("Qualified")),
            ("w", Ok("Won")),
            (
                "l",
                Err(StageError::Ambiguous {
                    given: "l".into(),
                    candidates: vec!["Lead".into(), "Lost".into()],
                }),
            ),
            ("lo", Ok("Lost")),
            ("negociation", unknown("negociation", Some("Negotiation"))),
            ("qualifed", unknown("qualifed", Some("Qualified"))),
            ("Propsal", unknown("Propsal", Some("Proposal"))),
            ("wom", unknown("wom", Some("Won"))),
            ("xyz", unknown("xyz", None)),
            ("", unknown("", None)),
        ];
        for (input, want) in cases {
            let got = match_stage(input, &stages).map(|s| s.name.as_str());
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn matches_ignoring_separators() {
        let stages = vec![
            stage(3, "Closed Lost", 0, StageKind::Lost),
            stage(1, "Discovery Call", 20, StageKind::Open),
            stage(2, "Closed Won", 100, StageKind::Won),
            stage(4, "初步接触", 10, StageKind::Open),
            stage(5, "谈判中", 70, StageKind::Open),
        ];
        let cases = [
            ("closed-won", Ok("Closed Won")),
            ("CLOSED_WON", Ok("Closed Won")),
            ("closedlost", Ok("Closed Lost")),
            ("closed w", Ok("Closed Won")),
            ("discovery-call", Ok("Discovery Call")),
            ("disc", Ok("Discovery Call")),
            ("谈判", Ok("谈判中")),
            ("初步接触", Ok("初步接触")),
            // Candidates come back in pipeline order, not slice order.
            (
                "closed",
                Err(StageError::Ambiguous {
                    given: "closed".into(),
                    candidates: vec!["Closed Won".into(), "Closed Lost".into()],
                }),
            ),
        ];
        for (input, want) in cases {
            let got = match_stage(input, &stages).map(|s| s.name.as_str());
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn every_stage_can_be_named_exactly() {
        // Pipelines saved before names that fold alike were refused.
        let stages = vec![
            stage(1, "Pre_sale", 10, StageKind::Open),
            stage(2, "Presale", 20, StageKind::Open),
            stage(3, "Pre-Sale", 30, StageKind::Open),
            stage(4, "_", 40, StageKind::Open),
            stage(5, "-", 50, StageKind::Open),
        ];
        for s in &stages {
            assert_eq!(
                match_stage(&s.name, &stages).map(|m| m.id),
                Ok(s.id),
                "{}",
                s.name
            );
        }
        assert!(matches!(
            match_stage("presale", &stages),
            Err(StageError::Ambiguous { .. })
        ));
        assert!(same_name("Pre_sale", "pre-SALE") && same_name("Presale", "Pre Sale"));
        assert!(!same_name("Presale", "Presales"));
    }

    #[test]
    fn exact_match_beats_prefix() {
        let stages = vec![
            stage(1, "Demo", 30, StageKind::Open),
            stage(2, "Demo Done", 40, StageKind::Open),
        ];
        assert_eq!(match_stage("demo", &stages).map(|s| s.id), Ok(1));
        assert_eq!(match_stage("demo d", &stages).map(|s| s.id), Ok(2));
    }

    #[test]
    fn error_messages_name_the_fix() {
        let stages = default_pipeline();
        let message = |input: &str| match_stage(input, &stages).map_err(|e| e.to_string()).err();
        let cases = [
            (
                "negociation",
                "unknown stage 'negociation'; did you mean 'Negotiation'? stages: Lead, Qualified, \
                 Proposal, Negotiation, Won, Lost",
            ),
            ("xyz", "unknown stage 'xyz'; stages: Lead, Qualified, Proposal, Negotiation, Won, Lost"),
            ("l", "'l' matches more than one stage: Lead, Lost; type more of the name"),
        ];
        for (input, want) in cases {
            assert_eq!(message(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn stage_names() {
        let (forty, forty_han, long) = ("y".repeat(40), "谈".repeat(40), "x".repeat(41));
        let cases = [
            ("Negotiation", Ok("Negotiation")),
            ("  Closed   Won ", Ok("Closed Won")),
            ("谈判中", Ok("谈判中")),
            ("x", Ok("x")),
            (forty.as_str(), Ok(forty.as_str())),
            (forty_han.as_str(), Ok(forty_han.as_str())),
            ("", Err(StageError::EmptyName)),
            ("   ", Err(StageError::EmptyName)),
            (
                long.as_str(),
                Err(StageError::NameTooLong {
                    given: long.clone(),
                    chars: 41,
                }),
            ),
            ("_", Err(StageError::NameUntypable("_".into()))),
            ("- _ -", Err(StageError::NameUntypable("- _ -".into()))),
            ("A-B", Ok("A-B")),
            (
                "\u{2800}",
                Err(StageError::NameHasControlChars("\u{2800}".into())),
            ),
            (
                "Lead\tWon",
                Err(StageError::NameHasControlChars("Lead\tWon".into())),
            ),
            (
                "Lead\nWon",
                Err(StageError::NameHasControlChars("Lead\nWon".into())),
            ),
            (
                "Le\u{200B}ad",
                Err(StageError::NameHasControlChars("Le\u{200B}ad".into())),
            ),
            (
                "Won\u{202E}",
                Err(StageError::NameHasControlChars("Won\u{202E}".into())),
            ),
            (
                "ping <@123>",
                Err(StageError::NameHasMention("ping <@123>".into())),
            ),
            (
                "<@&456> stage",
                Err(StageError::NameHasMention("<@&456> stage".into())),
            ),
            (
                "@everyone",
                Err(StageError::NameHasMention("@everyone".into())),
            ),
            (
                "hey @Here",
                Err(StageError::NameHasMention("hey @Here".into())),
            ),
            (
                "see <#789>",
                Err(StageError::NameHasMention("see <#789>".into())),
            ),
        ];
        for (input, want) in cases {
            let got = StageName::parse(input);
            assert_eq!(
                got.as_ref().map(StageName::as_str),
                want.as_ref().map(|s| *s),
                "{input:?}"
            );
            assert_eq!(got.err(), want.err(), "{input:?}");
        }
    }

    #[test]
    fn stage_kinds() {
        let cases = [
            ("open", Ok(StageKind::Open)),
            ("Won", Ok(StageKind::Won)),
            (" LOST ", Ok(StageKind::Lost)),
            ("closed", Err(StageKindError("closed".into()))),
        ];
        for (input, want) in cases {
            assert_eq!(StageKind::parse(input), want, "{input}");
        }
        for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
            assert_eq!(StageKind::parse(kind.as_str()), Ok(kind));
        }
        assert!(!StageKind::Open.is_closed());
        assert!(StageKind::Won.is_closed() && StageKind::Lost.is_closed());
    }
}
