//! `/help`: built from the manifests, so it always describes what the engine accepts. It reads
//! nothing from the database, so it still answers while the database is away.

use crate::domain::locale::Locale;
use crate::engine::manifest::{kind, ChoiceSpec, Manifests, OptionSpec};
use crate::engine::reply::Embed;
use crate::engine::Reply;
use crate::i18n::{tr, Msg};

fn localized(
    map: &std::collections::BTreeMap<String, String>,
    fallback: &str,
    locale: Locale,
) -> String {
    map.get(locale.tag())
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

/// A name as Discord shows it in `locale`, with the typed name beside a translated one.
fn shown(map: &std::collections::BTreeMap<String, String>, name: &str, locale: Locale) -> String {
    match map.get(locale.tag()) {
        Some(local) if local != name => format!("{local} ({name})"),
        _ => name.to_string(),
    }
}

/// A choice as the reader sees it: its label in their language, as Discord lists it; in
/// English with the value typed at the console beside it where the two differ.
fn choice_label(c: &ChoiceSpec, locale: Locale) -> String {
    if let Some(label) = c.name_localizations.get(locale.tag()) {
        return label.clone();
    }
    let value = c.value_text();
    if c.name.to_lowercase() == value {
        c.name.clone()
    } else {
        format!("{} ({value})", c.name)
    }
}

/// One option: its name as Discord shows it (with the typed name beside a translated one), whether
/// it is required, what it is, and its choices.
fn option_line(o: &OptionSpec, locale: Locale) -> String {
    let req = tr(
        locale,
        if o.required {
            "help.required"
        } else {
            "help.optional"
        },
        &[],
    );
    let name = format!("`{}`", shown(&o.name_localizations, &o.name, locale));
    let mut line = format!(
        "{name} ({req}) {}",
        localized(&o.description_localizations, &o.description, locale)
    );
    if !o.choices.is_empty() {
        let choices = o
            .choices
            .iter()
            .map(|c| choice_label(c, locale))
            .collect::<Vec<_>>()
            .join(if locale == Locale::ZhCn { "、" } else { ", " });
        line.push_str(
            &Msg::new("help.choices")
                .arg("choices", choices)
                .render(locale),
        );
    }
    line
}

fn private(embed: Embed) -> Reply {
    Reply {
        ephemeral: true,
        ..Reply::default()
    }
    .with_embed(embed)
}

/// The list of commands, or one command's subcommands and options.
pub(crate) fn help(locale: Locale, manifests: &Manifests, command: Option<&str>) -> Reply {
    let t = |key: &str| tr(locale, key, &[]);
    let spec = command
        .map(|c| c.trim().trim_start_matches('/').to_lowercase())
        .and_then(|c| manifests.command(&c));
    let Some(spec) = spec else {
        let lines = manifests
            .commands()
            .iter()
            .map(|c| {
                format!(
                    "**/{}** · {}",
                    shown(&c.name_localizations, &c.name, locale),
                    localized(&c.description_localizations, &c.description, locale)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        return private(
            Embed::new(t("help.title"))
                .description(lines)
                .footer(t("help.footer")),
        );
    };
    let mut embed = Embed::new(format!(
        "/{} · {}",
        localized(&spec.name_localizations, &spec.name, locale),
        localized(&spec.description_localizations, &spec.description, locale)
    ));
    let body = |options: &[OptionSpec]| {
        if options.is_empty() {
            return t("help.no_options");
        }
        options
            .iter()
            .map(|o| option_line(o, locale))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let subs: Vec<_> = spec
        .options
        .iter()
        .filter(|o| o.kind == kind::SUB_COMMAND)
        .collect();
    if subs.is_empty() {
        embed = embed.description(body(&spec.options));
    } else {
        for sub in subs {
            embed = embed.field(
                format!(
                    "/{} {} · {}",
                    localized(&spec.name_localizations, &spec.name, locale),
                    localized(&sub.name_localizations, &sub.name, locale),
                    localized(&sub.description_localizations, &sub.description, locale)
                ),
                body(&sub.options),
            );
        }
    }
    let example_key = format!("help.example.{}", spec.name);
    private(embed.footer(t(&example_key)))
}
