//! The message catalog: every text a person reads comes from `src/i18n/messages.json`,
//! one entry per key with both languages side by side, through rust-i18n.

use crate::domain::locale::Locale;
use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

/// Keys asked for but missing in the asked locale. Tests read this to prove the catalog is
/// complete for every path they drive; production only pays for it on a miss.
static MISSES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Translates `key` into `locale`, substituting `%{name}` placeholders from `args`.
pub fn tr(locale: Locale, key: &str, args: &[(&str, String)]) -> String {
    let template = match crate::_rust_i18n_try_translate(locale.tag(), key) {
        Some(found) if has_exact(locale, key) => found,
        found => {
            record_miss(locale, key);
            // Fall back to English rather than showing a raw key to a customer.
            found.unwrap_or_else(|| key.to_string().into())
        }
    };
    if args.is_empty() {
        return template.into_owned();
    }
    let (names, values): (Vec<&str>, Vec<String>) =
        args.iter().map(|(k, v)| (*k, v.clone())).unzip();
    rust_i18n::replace_patterns(&template, &names, &values)
}

fn has_exact(locale: Locale, key: &str) -> bool {
    crate::_RUST_I18N_BACKEND
        .translate(locale.tag(), key)
        .is_some()
}

fn record_miss(locale: Locale, key: &str) {
    tracing::warn!(locale = locale.tag(), key, "missing catalog entry");
    if let Ok(mut misses) = MISSES.lock() {
        misses.insert(format!("{}:{key}", locale.tag()));
    }
}

/// Keys that were asked for and missing since the process started, as `locale:key`.
pub fn misses() -> Vec<String> {
    MISSES
        .lock()
        .map(|m| m.iter().cloned().collect())
        .unwrap_or_default()
}

/// The catalog source, for tests that check both languages carry every key.
pub const CATALOG_SOURCE: &str = include_str!("i18n/messages.json");

/// A message not yet rendered: a catalog key and its arguments. Errors carry these so the
/// language is chosen where the reply is built, not where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The catalog key.
    pub key: &'static str,
    /// Placeholder values.
    pub args: Vec<(&'static str, Arg)>,
    /// The number that picks the plural form, when the catalog holds `key.one`, `key.other`...
    pub plural: Option<String>,
}

/// A placeholder value: plain text, or a message rendered in the same language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Shown as given (names, numbers already formatted for the locale).
    Text(String),
    /// Translated along with the message that holds it.
    Msg(Msg),
}

impl Msg {
    /// A message without arguments.
    pub fn new(key: &'static str) -> Msg {
        Msg {
            key,
            args: Vec::new(),
            plural: None,
        }
    }

    /// Adds one placeholder value shown as given.
    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Msg {
        self.args.push((name, Arg::Text(value.to_string())));
        self
    }

    /// Adds a number shown as given that also picks the message's plural form: the catalog
    /// holds the key once per CLDR category the language uses (`key.one`, `key.other`; Chinese
    /// only `key.other`), and the language's rules choose, so English reads "1 deal", "2 deals".
    pub fn count(mut self, name: &'static str, n: impl ToString) -> Msg {
        let n = n.to_string();
        self.plural = Some(n.clone());
        self.args.push((name, Arg::Text(n)));
        self
    }

    /// Adds one placeholder value that is itself a message.
    pub fn arg_msg(mut self, name: &'static str, value: Msg) -> Msg {
        self.args.push((name, Arg::Msg(value)));
        self
    }

    /// Renders the message in `locale`.
    pub fn render(&self, locale: Locale) -> String {
        let args: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Arg::Text(t) => t.clone(),
                    Arg::Msg(m) => m.render(locale),
                };
                (*name, text)
            })
            .collect();
        match &self.plural {
            None => tr(locale, self.key, &args),
            Some(n) => {
                let form = format!("{}.{}", self.key, plural_category(locale, n));
                let other = format!("{}.other", self.key);
                let key = if has_exact(locale, &form) {
                    form
                } else {
                    other
                };
                tr(locale, &key, &args)
            }
        }
    }
}

/// The CLDR plural category of `n` (as written, so `1.0` is not `1`) in `locale`.
fn plural_category(locale: Locale, n: &str) -> &'static str {
    use intl_pluralrules::{PluralCategory, PluralRuleType, PluralRules};
    static RULES: [OnceLock<Option<PluralRules>>; 2] = [OnceLock::new(), OnceLock::new()];
    let (slot, tag) = match locale {
        Locale::En => (&RULES[0], "en"),
        Locale::ZhCn => (&RULES[1], "zh"),
    };
    let rules = slot.get_or_init(|| {
        let lang = tag.parse::<unic_langid::LanguageIdentifier>().ok()?;
        PluralRules::create(lang, PluralRuleType::CARDINAL).ok()
    });
    match rules.as_ref().and_then(|r| r.select(n).ok()) {
        Some(PluralCategory::ZERO) => "zero",
        Some(PluralCategory::ONE) => "one",
        Some(PluralCategory::TWO) => "two",
        Some(PluralCategory::FEW) => "few",
        Some(PluralCategory::MANY) => "many",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_picks_the_plural_form_of_the_language() {
        let footer = |n: &str, l| Msg::new("deal.list_footer").count("count", n).render(l);
        assert_eq!(footer("1", Locale::En), "1 deal");
        assert_eq!(footer("0", Locale::En), "0 deals");
        assert_eq!(footer("2", Locale::En), "2 deals");
        // As written: "1.0" is not "1" in CLDR's English rules.
        assert_eq!(
            Msg::new("pipeline.days")
                .count("days", "1.0")
                .render(Locale::En),
            "1.0 days"
        );
        assert_eq!(footer("1", Locale::ZhCn), "共 1 笔交易");
        assert_eq!(footer("7", Locale::ZhCn), "共 7 笔交易");
        assert!(misses().iter().all(|m| !m.contains("list_footer")));
    }
}
