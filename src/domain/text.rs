//! What text people type may hold before the bot stores it and shows it again: one rule for
//! every name, title and note, so a deal title is held to what a stage name is.
//!
//! Three classes of character are told apart. Control characters (tab, newline, NUL) garble
//! lists. Direction controls (U+202E and its kin) and zero-width characters (U+200B, U+2060,
//! U+FEFF) have no use in a name except to disguise or split it, so they are refused wherever
//! they stand. Blank characters (whitespace, U+2800, U+3164, joiners, variation selectors)
//! belong in real text next to visible ones, but a name made only of them looks empty.

/// Why a name or a note was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but whitespace.
    #[error("nothing was given")]
    Empty,
    /// Only blank or formatting characters (U+2800, U+3164, U+200D ...): it would look empty.
    #[error("only invisible characters")]
    Invisible,
    /// A direction control or zero-width character somewhere in it.
    #[error("invisible or direction-changing characters")]
    Hidden,
    /// A control character (tab or line break in a name, NUL or bell anywhere).
    #[error("control characters")]
    Control,
}

/// Direction controls: embeddings, overrides, isolates and the marks; they reorder what
/// follows, so `evil\u{202E}txt.exe` reads as something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Zero-width characters with no place in a name: they split `@everyone` or a stage name
/// into something that looks the same and compares different.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{206A}'..='\u{206F}' | '\u{FEFF}')
}

/// Refused anywhere: direction controls and zero-width characters.
pub fn is_hidden(c: char) -> bool {
    is_bidi_control(c) || is_zero_width(c)
}

/// Control characters, the line and paragraph separators among them.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that draw nothing on their own: whitespace, hidden ones, and the fillers and
/// joiners that pass for letters (U+2800 braille blank, U+3164 and U+115F/U+1160/U+FFA0 hangul
/// fillers, U+00AD soft hyphen, U+034F, U+180E, U+200C/U+200D joiners, variation selectors,
/// tag characters).
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || is_hidden(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180E}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

fn check(s: &str, allowed_control: fn(char) -> bool) -> Result<&str, TextError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    if s.chars().any(|c| is_control(c) && !allowed_control(c)) {
        return Err(TextError::Control);
    }
    if s.chars().any(is_hidden) {
        return Err(TextError::Hidden);
    }
    if s.chars().all(is_blank) {
        return Err(TextError::Invisible);
    }
    Ok(s)
}

/// A name or title on one line (deal titles, company, contact, product and stage names,
/// reasons): trimmed, with something visible, no control, direction or zero-width characters.
pub fn line(s: &str) -> Result<&str, TextError> {
    check(s, |_| false)
}

/// A note or summary, which may run over several lines (line breaks and tabs kept), held to
/// the same rule otherwise.
pub fn block(s: &str) -> Result<&str, TextError> {
    check(s, |c| matches!(c, '\n' | '\t'))
}

/// Text with the characters that must never reach a reader removed: control characters other
/// than line breaks (a tab becomes a space), direction controls and zero-width characters. For rows stored before the
/// rules above, and for text drawn where markup means nothing (charts, buttons, suggestions).
pub fn visible(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|&c| c == '\n' || !(is_control(c) || is_hidden(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            ("Acme", Ok("Acme")),
            ("  Acme renewal ", Ok("Acme renewal")),
            ("谈判中", Ok("谈判中")),
            (
                "**bold** [link](https://evil.example)",
                Ok("**bold** [link](https://evil.example)"),
            ),
            // Joiners and fillers are fine next to visible text: an emoji family, a hangul name.
            (
                "👨\u{200D}👩\u{200D}👧 plan",
                Ok("👨\u{200D}👩\u{200D}👧 plan"),
            ),
            ("ㅤAcme", Ok("ㅤAcme")),
            ("", Err(TextError::Empty)),
            ("   ", Err(TextError::Empty)),
            ("\u{3000}", Err(TextError::Empty)),
            ("\u{2800}", Err(TextError::Invisible)),
            ("\u{3164}", Err(TextError::Invisible)),
            ("\u{3164}\u{2800} \u{115F}", Err(TextError::Invisible)),
            ("\u{200D}", Err(TextError::Invisible)),
            ("\u{FE0F}\u{00AD}", Err(TextError::Invisible)),
            ("\u{200B}", Err(TextError::Hidden)),
            ("\u{2060}", Err(TextError::Hidden)),
            ("\u{FEFF}", Err(TextError::Hidden)),
            ("@\u{200B}everyone", Err(TextError::Hidden)),
            ("Won\u{202E}", Err(TextError::Hidden)),
            ("a\u{2066}b\u{2069}", Err(TextError::Hidden)),
            ("Lead\tWon", Err(TextError::Control)),
            ("\t", Err(TextError::Empty)),
            ("Lead\nWon", Err(TextError::Control)),
            ("Lead\u{2028}Won", Err(TextError::Control)),
            ("A\u{7}nn", Err(TextError::Control)),
        ];
        for (input, want) in cases {
            assert_eq!(line(input), want, "{input:?}");
        }
    }

    #[test]
    fn notes_keep_their_lines() {
        assert_eq!(
            block("sent quote\n\tfollow up"),
            Ok("sent quote\n\tfollow up")
        );
        assert_eq!(block("\u{2800}\n\u{3164}"), Err(TextError::Invisible));
        assert_eq!(block("a\u{0}b"), Err(TextError::Control));
        assert_eq!(block("a\u{202E}b"), Err(TextError::Hidden));
    }

    #[test]
    fn visible_drops_what_must_not_show() {
        assert_eq!(visible("a\u{200B}b\u{202E}c\td\ne\u{7}"), "abc d\ne");
        assert_eq!(visible("👨\u{200D}👩"), "👨\u{200D}👩");
    }
}
