//! The one formatter for every text a person reads: replies, reminders, agendas and digests
//! all render numbers, money, times and changes here, so a figure looks the same in a reply
//! and in a digest. A request's `Ctx` carries one; scheduled messages build one
//! from the recipient's stored settings.
//!
//! User text enters a message only through [`escape`] (`ctx.esc(..)` in commands): every
//! title, name, note, reason, tag, email and display name, and every typed value an error
//! quotes, is escaped where it is put into a `Msg` argument, a `format!` or an embed, so
//! Discord shows it as typed and it can never form markup, a masked link or a mention. The
//! catalog's own markup (`**%{stage}**`) stays markup. Surfaces where Discord renders no
//! markup (button labels, autocomplete choices, charts) get [`crate::domain::text::visible`]
//! instead, and every message is also sent with mentions switched off (`discord/convert.rs`).

use crate::domain::figures::percent_change;
use crate::domain::locale::Locale;
use crate::domain::money::{format_amount, Currency};
use crate::domain::text::visible;
use crate::domain::when::{format_date, format_datetime};
use crate::i18n::{tr, Msg};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// Language, zone and currency to render one message in.
#[derive(Clone, Debug)]
pub struct Format {
    /// Reply language.
    pub locale: Locale,
    /// The zone times are shown in (the reader's own, else the workspace's).
    pub tz: Tz,
    /// The currency every amount is counted in.
    pub currency: Currency,
}

/// A URL shown as code: read and copied exactly as stored (markup escapes would put
/// backslashes into it, and Discord neither formats nor links a code span). A backtick, which
/// would end the span, becomes a look-alike; a line break, a space.
pub fn code(text: &str) -> String {
    format!(
        "`{}`",
        visible(text).replace('`', "\u{2cb}").replace('\n', " ")
    )
}

/// User text made literal for Discord's markdown: hidden characters dropped
/// ([`visible`]), `\ * _ ~ ` | [ ] <` escaped with a backslash (so no emphasis, code,
/// spoiler, masked link or `<@id>`/`<#id>`/`<t:..>` markup can form), a list, quote or heading
/// marker at the start of a line escaped (`# `, `- `, `> `, `1. `), and a zero-width space put
/// after the `@` (or full-width `＠`, small `﹫`) of `@everyone` and `@here`. Parentheses are
/// left alone: with its brackets escaped, `[x](url)` is no longer a link.
pub fn escape(text: &str) -> String {
    let text = visible(text);
    let mut out = String::with_capacity(text.len() + 8);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let body = line.trim_start();
        out.push_str(&line[..line.len() - body.len()]);
        let digits = body.chars().take_while(char::is_ascii_digit).count();
        let mut skip = 0;
        if matches!(body.chars().next(), Some('#' | '>' | '-')) {
            out.push('\\');
        } else if digits > 0 && body[digits..].starts_with('.') {
            out.push_str(&body[..digits]);
            out.push_str("\\.");
            skip = digits + 1;
        }
        let body = &body[skip..];
        for (i, c) in body.char_indices() {
            if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<') {
                out.push('\\');
            }
            out.push(c);
            if matches!(c, '@' | '＠' | '﹫') {
                let rest: String = body[i + c.len_utf8()..].chars().take(8).collect();
                let rest = rest.to_lowercase();
                if rest.starts_with("everyone") || rest.starts_with("here") {
                    out.push('\u{200B}');
                }
            }
        }
    }
    out
}

impl Format {
    /// User text for a message: see [`escape`], the one way it gets in.
    pub fn esc(&self, text: &str) -> String {
        escape(text)
    }

    /// Optional user text for a card field: escaped, or the catalog's "none".
    pub fn esc_or_none(&self, text: Option<&str>) -> String {
        text.map_or_else(|| self.t("common.none"), escape)
    }

    /// From settings as stored. They were validated when written; a bad stored value falls
    /// back (English, UTC, USD) rather than silencing a reminder or a whole team's digest.
    pub fn stored(locale: &str, tz: &str, currency: &str) -> Format {
        Format {
            locale: Locale::from_tag(locale).unwrap_or_default(),
            tz: tz.parse().unwrap_or(Tz::UTC),
            currency: Currency::parse(currency)
                .unwrap_or_else(|_| Currency::parse("USD").expect("USD is ISO 4217")),
        }
    }

    /// Translates a key without arguments.
    pub fn t(&self, key: &str) -> String {
        tr(self.locale, key, &[])
    }

    /// Renders a message.
    pub fn m(&self, msg: Msg) -> String {
        msg.render(self.locale)
    }

    /// Formats minor units in the workspace currency.
    pub fn money(&self, minor: i64) -> String {
        format_amount(minor, self.currency, self.locale)
    }

    /// Formats an instant in the reader's time zone.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        format_datetime(t, self.tz, self.locale)
    }

    /// Formats a date.
    pub fn date(&self, d: NaiveDate) -> String {
        format_date(d, self.locale)
    }

    /// A share as a percentage with one decimal (rates: win rate, conversion).
    pub fn percent(&self, share: f64) -> String {
        format!("{:.1}%", share * 100.0)
    }

    /// A share as a whole percentage (attainment, chart labels, changes).
    pub fn percent_whole(&self, share: f64) -> String {
        format!("{:.0}%", share * 100.0)
    }

    /// A share that may be undefined (nothing closed, no quota): a dash then.
    pub fn percent_or_dash(&self, share: Option<f64>) -> String {
        share.map(|s| self.percent(s)).unwrap_or_else(|| "—".into())
    }

    /// "now (▲12% from before)": a figure against the one before, the arrow carrying the sign.
    pub fn change(&self, now: i64, before: i64, show: &dyn Fn(i64) -> String) -> String {
        let delta = match percent_change(before, now) {
            Some(share) => format!(
                "{}{}",
                if share >= 0.0 { "▲" } else { "▼" },
                self.percent_whole(share.abs())
            ),
            None if now == 0 => "±0".to_string(),
            None => self.t("digest.new"),
        };
        self.m(Msg::new("digest.change")
            .arg("value", show(now))
            .arg("delta", delta)
            .arg("before", show(before)))
    }

    /// "this (week before: that)" for figures that may be undefined (no deals closed).
    pub fn versus(
        &self,
        now: Option<f64>,
        before: Option<f64>,
        show: impl Fn(f64) -> String,
    ) -> String {
        let text = |v: Option<f64>| v.map(&show).unwrap_or_else(|| "—".into());
        self.m(Msg::new("digest.versus")
            .arg("value", text(now))
            .arg("before", text(before)))
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn user_text_is_shown_as_typed() {
        let cases = [
            ("Acme - 200 seats", "Acme - 200 seats"),
            ("Wei Wang (Acme)", "Wei Wang (Acme)"),
            ("谈判中", "谈判中"),
            (
                "**bold** [link](https://evil.example)",
                "\\*\\*bold\\*\\* \\[link\\](https://evil.example)",
            ),
            (
                "__u__ ~~s~~ ||spoiler||",
                "\\_\\_u\\_\\_ \\~\\~s\\~\\~ \\|\\|spoiler\\|\\|",
            ),
            ("`code` ```block```", "\\`code\\` \\`\\`\\`block\\`\\`\\`"),
            ("back\\slash\\", "back\\\\slash\\\\"),
            ("# big", "\\# big"),
            (
                "-# small\n> quote\n  - item",
                "\\-# small\n\\> quote\n  \\- item",
            ),
            ("1. first", "1\\. first"),
            ("2026 plan", "2026 plan"),
            ("a # b - c > d", "a # b - c > d"),
            (
                "<@123> <@&456> <#789> <t:1:R> </x:1>",
                "\\<@123> \\<@&456> \\<#789> \\<t:1:R> \\</x:1>",
            ),
            ("@everyone", "@\u{200B}everyone"),
            ("hi @Here!", "hi @\u{200B}Here!"),
            ("＠everyone", "＠\u{200B}everyone"),
            ("﹫here", "﹫\u{200B}here"),
            ("@\u{200B}everyone", "@\u{200B}everyone"),
            ("@\u{2060}here", "@\u{200B}here"),
            ("mail bob@example.com", "mail bob@example.com"),
            ("evil\u{202E}txt", "eviltxt"),
            ("tab\there", "tab here"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn escaping_cannot_be_undone_by_what_follows() {
        // Whatever is typed, every markup character ends up preceded by an odd run of
        // backslashes, and no mention survives.
        for input in ["\\*x\\*", "\\\\[a](b)", "[a\\](b)", "\\<@1>", "@@everyone"] {
            let out = escape(input);
            let chars: Vec<char> = out.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                if matches!(c, '*' | '[' | ']' | '<') {
                    let run = chars[..i].iter().rev().take_while(|&&b| b == '\\').count();
                    assert!(run % 2 == 1, "{input:?} -> {out:?}");
                }
            }
            assert!(!out.contains("@everyone"), "{input:?} -> {out:?}");
        }
    }
}
