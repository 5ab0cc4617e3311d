//! The two languages the bot speaks, picked from a Discord locale tag.

use serde::{Deserialize, Serialize};

/// A language the message catalog is complete for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Locale {
    /// English; the fallback for every tag we do not speak.
    #[default]
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Locale {
    /// Maps a BCP-47-ish tag as Discord sends it (`en-US`, `zh-CN`, `zh-TW`) to a locale we speak.
    /// Returns `None` for languages we have no catalog for, so the caller can fall back.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let lower = tag.trim().to_ascii_lowercase();
        let primary = lower.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" => Some(Locale::En),
            // Traditional-script readers still read Simplified far better than English.
            "zh" => Some(Locale::ZhCn),
            _ => None,
        }
    }

    /// The catalog tag, as the message catalog and the manifests name it.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_to_locales() {
        let cases = [
            ("en-US", Some(Locale::En)),
            ("en-GB", Some(Locale::En)),
            ("zh-CN", Some(Locale::ZhCn)),
            ("zh-TW", Some(Locale::ZhCn)),
            ("ZH_cn", Some(Locale::ZhCn)),
            ("de", None),
            ("", None),
        ];
        for (tag, want) in cases {
            assert_eq!(Locale::from_tag(tag), want, "{tag}");
        }
    }
}
