//! References people type to point at records: `D-42`, `#42`, a title prefix, an email, a
//! Discord mention, a list of tags.
//!
//! Each is parsed once at the door into a typed reference, so the engine decides "look up by
//! id" or "search by name" from the type and never re-reads a raw string.
//!
//! Ids are written with the record's letter (`D-42`, `d42`), a `#` (`#42`) or bare (`42`); a
//! bare number is always an id, so a company literally named `1688` must be typed with more
//! (`1688.com`). Text that merely starts with the letter (`D-Day launch`) is a title, not an
//! id, but text that is clearly a bad id (`D-0`, `D--1`, a 30-digit number) is refused rather
//! than searched for as a title that cannot exist.

use std::fmt;

/// Longest deal-title prefix we search for; titles are short, and a longer input is a paste
/// gone wrong.
pub const MAX_TITLE_CHARS: usize = 150;

/// Longest contact or company name we search for.
pub const MAX_NAME_CHARS: usize = 100;

/// Longest email address, the SMTP path limit (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Most tags on one record; more stop being a filter and become noise.
pub const MAX_TAGS: usize = 10;

/// Longest single tag, so tags fit on a deal card.
pub const MAX_TAG_CHARS: usize = 32;

/// Why a typed reference was refused; each case carries what a reply needs to explain it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// Nothing but whitespace was typed.
    #[error("nothing given; type a number such as 42 or part of a name")]
    Empty,
    /// Looks like an id but is not a usable one (zero, negative, too big), or is not an id
    /// where only an id will do (tasks); carries the input, trimmed.
    #[error("'{0}' is not a valid id; ids are whole numbers from 1, such as 42")]
    BadId(String),
    /// A title or name longer than we search for.
    #[error("text is {len} characters long; the limit is {max}")]
    TooLong {
        /// The input's length in characters, after trimming.
        len: usize,
        /// The limit for this kind of text.
        max: usize,
    },
    /// Not a usable email address; carries the input, trimmed.
    #[error("'{0}' is not an email address; type one like name@example.com")]
    InvalidEmail(String),
    /// A Discord role mention (`<@&123>`) where a person was expected.
    #[error("'{0}' mentions a role, not a person; mention a single member")]
    RoleMention(String),
    /// Neither a user mention nor a user id; carries the input, trimmed.
    #[error("'{0}' is not a member; mention someone with @ or paste their user id")]
    InvalidMention(String),
    /// A tag with characters other than letters, digits, `-` and `_`, or longer than
    /// [`MAX_TAG_CHARS`]; carries the tag as typed.
    #[error("'{0}' is not a valid tag; tags are 1 to 32 letters, digits, '-' or '_'")]
    InvalidTag(String),
    /// More distinct tags than [`MAX_TAGS`].
    #[error("{count} tags given; the limit is {max}")]
    TooManyTags {
        /// How many distinct tags were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl RefError {
    /// The offending text, for replies that quote it in their own words; `None` for the cases
    /// that carry no text (nothing typed, a length or count over its limit).
    pub fn input(&self) -> Option<&str> {
        match self {
            RefError::BadId(s)
            | RefError::InvalidEmail(s)
            | RefError::RoleMention(s)
            | RefError::InvalidMention(s)
            | RefError::InvalidTag(s) => Some(s),
            RefError::Empty | RefError::TooLong { .. } | RefError::TooManyTags { .. } => None,
        }
    }
}

/// How a user points at a deal: by the number we show on its card, or by the start of its title.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DealRef {
    /// `D-42`, `d42`, `#42` or `42`.
    Number(i64),
    /// Any other text, trimmed: a title prefix to search for.
    Title(String),
}

impl DealRef {
    /// Reads `D-42`, `d42`, `#42`, `42` as a number and anything else as a title prefix
    /// (at most [`MAX_TITLE_CHARS`] characters).
    pub fn parse(s: &str) -> Result<DealRef, RefError> {
        let s = non_empty(s)?;
        match id_shape(s, "d") {
            IdShape::Id(n) => Ok(DealRef::Number(n)),
            IdShape::Invalid => Err(RefError::BadId(s.to_string())),
            IdShape::NotAnId => bounded(s, MAX_TITLE_CHARS).map(DealRef::Title),
        }
    }
}

/// How a user points at a contact: by id, by email (exact), or by name (search).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContactRef {
    /// `C-12`, `c12`, `#12` or `12`.
    Id(i64),
    /// A well-formed address, lower-cased as [`Email::parse`] returns it.
    Email(String),
    /// Any other text, trimmed: a name to search for. Includes text with an `@` that is not a
    /// well-formed address (`bob@acme`), which may still be part of a name or a handle.
    Name(String),
}

impl ContactRef {
    /// Reads an id, then an email address, and treats anything else as a name (at most
    /// [`MAX_NAME_CHARS`] characters).
    pub fn parse(s: &str) -> Result<ContactRef, RefError> {
        let s = non_empty(s)?;
        match id_shape(s, "c") {
            IdShape::Id(n) => Ok(ContactRef::Id(n)),
            IdShape::Invalid => Err(RefError::BadId(s.to_string())),
            IdShape::NotAnId => {
                if s.contains('@') {
                    if let Ok(email) = Email::parse(s) {
                        return Ok(ContactRef::Email(email.into_string()));
                    }
                }
                bounded(s, MAX_NAME_CHARS).map(ContactRef::Name)
            }
        }
    }
}

/// How a user points at a company: by id or by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CompanyRef {
    /// `CO-7`, `co7`, `#7` or `7`.
    Id(i64),
    /// Any other text, trimmed: a name to search for.
    Name(String),
}

impl CompanyRef {
    /// Reads `CO-7`, `co7`, `#7`, `7` as an id and anything else as a name (at most
    /// [`MAX_NAME_CHARS`] characters). `C-7` is a name here: `C` is the contact prefix.
    pub fn parse(s: &str) -> Result<CompanyRef, RefError> {
        let s = non_empty(s)?;
        match id_shape(s, "co") {
            IdShape::Id(n) => Ok(CompanyRef::Id(n)),
            IdShape::Invalid => Err(RefError::BadId(s.to_string())),
            IdShape::NotAnId => bounded(s, MAX_NAME_CHARS).map(CompanyRef::Name),
        }
    }
}

/// How a user points at a task. Tasks have no searchable title yet, so only ids; an enum so
/// that a title variant can be added without changing callers' matching style.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskRef {
    /// `T-5`, `t5`, `#5` or `5`.
    Id(i64),
}

impl TaskRef {
    /// Reads `T-5`, `t5`, `#5`, `5`; anything else is [`RefError::BadId`].
    pub fn parse(s: &str) -> Result<TaskRef, RefError> {
        let s = non_empty(s)?;
        match id_shape(s, "t") {
            IdShape::Id(n) => Ok(TaskRef::Id(n)),
            IdShape::Invalid | IdShape::NotAnId => Err(RefError::BadId(s.to_string())),
        }
    }
}

/// A Discord user, as a snowflake id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserMention(pub u64);

impl UserMention {
    /// Reads a mention as Discord renders it in message text (`<@123>`, or the legacy nickname
    /// form `<@!123>`) or a bare id as people paste it; see [`parse_user_mention`].
    pub fn parse(s: &str) -> Result<UserMention, RefError> {
        parse_user_mention(s).map(UserMention)
    }
}

/// Reads `<@123>`, `<@!123>` or `123` as a user id. A role mention (`<@&123>`) gets its own
/// error because "assign to @sales" is a plausible mistake worth explaining.
pub fn parse_user_mention(s: &str) -> Result<u64, RefError> {
    let s = non_empty(s)?;
    if s.starts_with("<@&") {
        return Err(RefError::RoleMention(s.to_string()));
    }
    let digits = s
        .strip_prefix("<@!")
        .or_else(|| s.strip_prefix("<@"))
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(s);
    match digits.parse::<u64>() {
        // `parse` also accepts a leading `+`, which no mention has.
        Ok(id) if id > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(RefError::InvalidMention(s.to_string())),
    }
}

/// A contact's email address, trimmed and lower-cased so that lookups and duplicates compare
/// equal however it was typed.
///
/// The check is a sanity check (one `@`, a dotted domain, no spaces), not RFC 5322: the
/// only real test of an address is sending to it, and a stricter check would refuse real ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` with exactly one `@`, a non-empty local part, a domain of
    /// non-empty dot-separated labels with at least one dot, no whitespace or control
    /// characters, and at most [`MAX_EMAIL_CHARS`] characters.
    pub fn parse(s: &str) -> Result<Email, RefError> {
        let trimmed = non_empty(s)?;
        let email = trimmed.to_lowercase();
        let len = email.chars().count();
        if len > MAX_EMAIL_CHARS {
            return Err(RefError::TooLong {
                len,
                max: MAX_EMAIL_CHARS,
            });
        }
        let invalid = || RefError::InvalidEmail(trimmed.to_string());
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || domain.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    /// The address, for queries and display.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as an owned string, for storage.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a tag list as people type it: `hot, q3 #Enterprise` or `重点客户，续约`.
///
/// Tags are split on commas (including the full-width `，` and `、` of Chinese input methods)
/// and whitespace, lower-cased so `Hot` and `hot` are one tag, stripped of one leading `#`,
/// and de-duplicated keeping the first occurrence's position. Each must be 1 to
/// [`MAX_TAG_CHARS`] letters of any script, digits, `-` or `_`; at most [`MAX_TAGS`] distinct
/// tags. Empty input is an empty list, so "no tags" needs no special syntax.
pub fn parse_tags(s: &str) -> Result<Vec<String>, RefError> {
    let mut tags: Vec<String> = Vec::new();
    let pieces = s
        .split(|c: char| matches!(c, ',' | '，' | '、') || c.is_whitespace())
        .filter(|piece| !piece.is_empty());
    for raw in pieces {
        let typed = raw.strip_prefix(['#', '＃']).unwrap_or(raw);
        // Lower-cased, `İ` is `i` and a combining dot, which is no letter of its own (no tag
        // could hold it, nor be typed again from its own text): it is `i`, as in Turkish.
        let tag = typed.replace('İ', "I").to_lowercase();
        let len = tag.chars().count();
        // Hangul fillers pass for letters but draw nothing.
        let allowed = |c: char| {
            (c.is_alphanumeric() || c == '-' || c == '_') && !crate::domain::text::is_blank(c)
        };
        if len == 0 || len > MAX_TAG_CHARS || !tag.chars().all(allowed) {
            return Err(RefError::InvalidTag(raw.to_string()));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(RefError::TooManyTags {
            count: tags.len(),
            max: MAX_TAGS,
        });
    }
    Ok(tags)
}

/// What an input that might be a numeric id turned out to be.
enum IdShape {
    /// A usable id.
    Id(i64),
    /// Written as an id but unusable: zero, negative, or beyond `i64`.
    Invalid,
    /// Not written as an id at all.
    NotAnId,
}

/// Classifies `s` against the id forms `<prefix>42`, `<prefix>-42`, `#42` and `42`, with the
/// letter prefix matched case-insensitively.
fn id_shape(s: &str, prefix: &str) -> IdShape {
    let rest = s
        .get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| {
            let after = &s[prefix.len()..];
            after.strip_prefix('-').unwrap_or(after)
        })
        .or_else(|| s.strip_prefix('#'))
        .unwrap_or(s);
    let (negative, digits) = match rest.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, rest),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return IdShape::NotAnId;
    }
    match digits.parse::<i64>() {
        Ok(n) if n > 0 && !negative => IdShape::Id(n),
        _ => IdShape::Invalid,
    }
}

/// Trims `s`, refusing input that is only whitespace.
fn non_empty(s: &str) -> Result<&str, RefError> {
    let s = s.trim();
    if s.is_empty() {
        Err(RefError::Empty)
    } else {
        Ok(s)
    }
}

/// Copies `s` if it has at most `max` characters.
fn bounded(s: &str, max: usize) -> Result<String, RefError> {
    let len = s.chars().count();
    if len > max {
        Err(RefError::TooLong { len, max })
    } else {
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_id(s: &str) -> RefError {
        RefError::BadId(s.to_string())
    }

    #[test]
    fn deal_refs() {
        let long = "x".repeat(151);
        let longest = "x".repeat(150);
        let cases: Vec<(&str, Result<DealRef, RefError>)> = vec![
            ("D-42", Ok(DealRef::Number(42))),
            ("d42", Ok(DealRef::Number(42))),
            ("#42", Ok(DealRef::Number(42))),
            ("42", Ok(DealRef::Number(42))),
            ("  D-42 ", Ok(DealRef::Number(42))),
            ("d-007", Ok(DealRef::Number(7))),
            ("9223372036854775807", Ok(DealRef::Number(i64::MAX))),
            ("Acme renewal", Ok(DealRef::Title("Acme renewal".into()))),
            ("  acme  ", Ok(DealRef::Title("acme".into()))),
            ("D-Day launch", Ok(DealRef::Title("D-Day launch".into()))),
            ("D-", Ok(DealRef::Title("D-".into()))),
            ("42 seats", Ok(DealRef::Title("42 seats".into()))),
            ("大单", Ok(DealRef::Title("大单".into()))),
            (&longest, Ok(DealRef::Title(longest.clone()))),
            ("D-0", Err(bad_id("D-0"))),
            ("D--1", Err(bad_id("D--1"))),
            ("0", Err(bad_id("0"))),
            ("-5", Err(bad_id("-5"))),
            ("#-3", Err(bad_id("#-3"))),
            ("9223372036854775808", Err(bad_id("9223372036854775808"))),
            ("", Err(RefError::Empty)),
            ("   ", Err(RefError::Empty)),
            (&long, Err(RefError::TooLong { len: 151, max: 150 })),
        ];
        for (input, want) in cases {
            assert_eq!(DealRef::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn contact_refs() {
        let long = "名".repeat(101);
        let cases: Vec<(&str, Result<ContactRef, RefError>)> = vec![
            ("C-12", Ok(ContactRef::Id(12))),
            ("c12", Ok(ContactRef::Id(12))),
            ("#12", Ok(ContactRef::Id(12))),
            ("12", Ok(ContactRef::Id(12))),
            (
                " Bob@Example.COM ",
                Ok(ContactRef::Email("bob@example.com".into())),
            ),
            ("bob@acme", Ok(ContactRef::Name("bob@acme".into()))),
            ("@bob", Ok(ContactRef::Name("@bob".into()))),
            ("Jane Doe", Ok(ContactRef::Name("Jane Doe".into()))),
            ("张伟", Ok(ContactRef::Name("张伟".into()))),
            ("co-7", Ok(ContactRef::Name("co-7".into()))),
            ("C-0", Err(bad_id("C-0"))),
            ("", Err(RefError::Empty)),
            (&long, Err(RefError::TooLong { len: 101, max: 100 })),
        ];
        for (input, want) in cases {
            assert_eq!(ContactRef::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn company_refs() {
        let cases: Vec<(&str, Result<CompanyRef, RefError>)> = vec![
            ("CO-7", Ok(CompanyRef::Id(7))),
            ("co7", Ok(CompanyRef::Id(7))),
            ("Co-7", Ok(CompanyRef::Id(7))),
            ("#7", Ok(CompanyRef::Id(7))),
            ("7", Ok(CompanyRef::Id(7))),
            ("Acme Inc", Ok(CompanyRef::Name("Acme Inc".into()))),
            ("7-Eleven", Ok(CompanyRef::Name("7-Eleven".into()))),
            ("3M", Ok(CompanyRef::Name("3M".into()))),
            ("C-7", Ok(CompanyRef::Name("C-7".into()))),
            ("Coca-Cola", Ok(CompanyRef::Name("Coca-Cola".into()))),
            ("CO-0", Err(bad_id("CO-0"))),
            ("", Err(RefError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(CompanyRef::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn task_refs() {
        let cases = [
            ("T-5", Ok(TaskRef::Id(5))),
            ("t5", Ok(TaskRef::Id(5))),
            ("#5", Ok(TaskRef::Id(5))),
            ("5", Ok(TaskRef::Id(5))),
            ("T-0", Err(bad_id("T-0"))),
            ("write report", Err(bad_id("write report"))),
            ("D-5", Err(bad_id("D-5"))),
            ("", Err(RefError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(TaskRef::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn user_mentions() {
        let invalid = |s: &str| RefError::InvalidMention(s.to_string());
        let cases = [
            ("<@123>", Ok(123)),
            ("<@!123>", Ok(123)),
            ("123", Ok(123)),
            (" <@80351110224678912> ", Ok(80_351_110_224_678_912)),
            ("18446744073709551615", Ok(u64::MAX)),
            ("<@&123>", Err(RefError::RoleMention("<@&123>".into()))),
            ("<#123>", Err(invalid("<#123>"))),
            ("@bob", Err(invalid("@bob"))),
            ("<@123", Err(invalid("<@123"))),
            ("<@>", Err(invalid("<@>"))),
            ("+123", Err(invalid("+123"))),
            ("0", Err(invalid("0"))),
            ("18446744073709551616", Err(invalid("18446744073709551616"))),
            ("", Err(RefError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_user_mention(input), want, "{input:?}");
            assert_eq!(
                UserMention::parse(input),
                want.map(UserMention),
                "{input:?}"
            );
        }
    }

    #[test]
    fn emails() {
        let invalid = |s: &str| RefError::InvalidEmail(s.to_string());
        let long = format!("{}@example.com", "a".repeat(243));
        let longest = format!("{}@example.com", "a".repeat(242));
        let cases: Vec<(&str, Result<&str, RefError>)> = vec![
            ("Bob@Example.com", Ok("bob@example.com")),
            (" a@b.co ", Ok("a@b.co")),
            (
                "first.last+crm@mail.example.co.uk",
                Ok("first.last+crm@mail.example.co.uk"),
            ),
            ("张伟@例子.中国", Ok("张伟@例子.中国")),
            (longest.as_str(), Ok(longest.as_str())),
            ("a@b", Err(invalid("a@b"))),
            ("@b.com", Err(invalid("@b.com"))),
            ("a@", Err(invalid("a@"))),
            ("ab.com", Err(invalid("ab.com"))),
            ("a@@b.com", Err(invalid("a@@b.com"))),
            ("a@b@c.com", Err(invalid("a@b@c.com"))),
            ("a b@c.com", Err(invalid("a b@c.com"))),
            ("a\tb@c.com", Err(invalid("a\tb@c.com"))),
            ("a\u{0}@c.com", Err(invalid("a\u{0}@c.com"))),
            ("a@b..com", Err(invalid("a@b..com"))),
            ("a@.com", Err(invalid("a@.com"))),
            ("a@com.", Err(invalid("a@com."))),
            ("", Err(RefError::Empty)),
            (&long, Err(RefError::TooLong { len: 255, max: 254 })),
        ];
        for (input, want) in cases {
            let got = Email::parse(input);
            assert_eq!(
                got.as_ref().map(Email::as_str).map_err(Clone::clone),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn tags() {
        let too_long = "x".repeat(33);
        let longest = "x".repeat(32);
        let eleven = "a b c d e f g h i j k";
        let cases: Vec<(&str, Result<Vec<&str>, RefError>)> = vec![
            ("hot, q3 #Enterprise", Ok(vec!["hot", "q3", "enterprise"])),
            ("Hot hot HOT", Ok(vec!["hot"])),
            ("b, a, b", Ok(vec!["b", "a"])),
            ("重点客户，续约、重点客户", Ok(vec!["重点客户", "续约"])),
            ("＃大客户", Ok(vec!["大客户"])),
            ("new-lead q_3", Ok(vec!["new-lead", "q_3"])),
            ("a,,b\n c", Ok(vec!["a", "b", "c"])),
            ("", Ok(vec![])),
            ("  ,  ", Ok(vec![])),
            (&longest, Ok(vec![longest.as_str()])),
            (
                "1 2 3 4 5 6 7 8 9 10 10 10",
                Ok(vec!["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
            ),
            ("#", Err(RefError::InvalidTag("#".into()))),
            ("##hot", Err(RefError::InvalidTag("##hot".into()))),
            ("ok bad!", Err(RefError::InvalidTag("bad!".into()))),
            ("a.b", Err(RefError::InvalidTag("a.b".into()))),
            ("İstanbul", Ok(vec!["istanbul"])),
            (&too_long, Err(RefError::InvalidTag(too_long.clone()))),
            (eleven, Err(RefError::TooManyTags { count: 11, max: 10 })),
        ];
        for (input, want) in cases {
            let want = want.map(|tags| tags.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(parse_tags(input), want, "{input:?}");
        }
    }

    #[test]
    fn error_messages_are_lowercase_without_trailing_period() {
        let errors = [
            RefError::Empty,
            bad_id("D-0"),
            RefError::TooLong { len: 151, max: 150 },
            RefError::InvalidEmail("a@b".into()),
            RefError::RoleMention("<@&1>".into()),
            RefError::InvalidMention("@bob".into()),
            RefError::InvalidTag("bad!".into()),
            RefError::TooManyTags { count: 11, max: 10 },
        ];
        for error in errors {
            let text = error.to_string();
            assert!(!text.starts_with(|c: char| c.is_uppercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
            // Whatever text an error carries is quoted in its message.
            if let Some(input) = error.input() {
                assert!(text.contains(&format!("'{input}'")), "{text}");
            }
        }
        assert_eq!(bad_id("D-0").input(), Some("D-0"));
        assert_eq!(RefError::Empty.input(), None);
    }
}
