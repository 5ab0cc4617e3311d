//! The one formatter for every text a person reads: replies, reminders, agendas and digests
//! all render numbers, money, times and changes here, so a figure looks the same in a reply
//! and in a digest. A request's `Ctx` carries one; scheduled messages build one
//! from the recipient's stored settings.

use crate::domain::figures::percent_change;
use crate::domain::locale::Locale;
use crate::domain::money::{format_amount, Currency};
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

impl Format {
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
