//! API tokens: their text and the hash that is all the database keeps. A token is 32 random
//! bytes (the caller draws them, this module does no I/O) behind a prefix that says what it
//! is, so a leaked one is recognisable by secret scanners and in support requests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// What every salesbot API token starts with.
pub const PREFIX: &str = "sbk_";

/// A token's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Reads only.
    Read,
    /// Reads and writes.
    Write,
}

impl Scope {
    /// As stored and typed: `read`, `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// `read` or `write`, any case.
    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

/// The token's text for 32 random bytes.
pub fn format(random: &[u8; 32]) -> String {
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random))
}

/// What the database keeps of a token: its SHA-256. Tokens carry 256 random bits, so a slow
/// password hash would add nothing but latency to every request.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Looks like one of ours (right prefix and length), checked before any database lookup.
pub fn well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_prefixed_and_its_hash_is_stable() {
        let t = format(&[7u8; 32]);
        assert!(t.starts_with("sbk_"));
        assert!(well_formed(&t));
        assert_eq!(hash(&t), hash(&t));
        assert_ne!(hash(&t), hash(&format(&[8u8; 32])));
        assert!(!well_formed("sbk_short"));
        assert!(!well_formed(&t.replace("sbk_", "xyz_")));
    }

    #[test]
    fn scopes_read_any_case() {
        assert_eq!(Scope::parse(" Write "), Some(Scope::Write));
        assert_eq!(Scope::parse("read"), Some(Scope::Read));
        assert_eq!(Scope::parse("admin"), None);
    }
}
