//! The slash-command manifests in `commands/*.json` are the one source of truth for what a
//! command accepts. Discord registers them as they are; the engine validates every request
//! against them again, because a console line or a crafted interaction skips Discord's checks.

use super::format::escape;
use super::EngineError;
use crate::domain::locale::Locale;
use crate::i18n::{Arg, Msg};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The manifest files, compiled in so the binary cannot disagree with itself.
pub const MANIFEST_FILES: [(&str, &str); 15] = [
    ("contact", include_str!("../../commands/contact.json")),
    ("company", include_str!("../../commands/company.json")),
    ("deal", include_str!("../../commands/deal.json")),
    ("pipeline", include_str!("../../commands/pipeline.json")),
    ("kpi", include_str!("../../commands/kpi.json")),
    ("report", include_str!("../../commands/report.json")),
    ("forecast", include_str!("../../commands/forecast.json")),
    ("product", include_str!("../../commands/product.json")),
    ("remind", include_str!("../../commands/remind.json")),
    ("tasks", include_str!("../../commands/tasks.json")),
    ("settings", include_str!("../../commands/settings.json")),
    ("undo", include_str!("../../commands/undo.json")),
    ("import", include_str!("../../commands/import.json")),
    ("export", include_str!("../../commands/export.json")),
    ("help", include_str!("../../commands/help.json")),
];

/// Discord's option type numbers.
pub mod kind {
    /// A subcommand.
    pub const SUB_COMMAND: u8 = 1;
    /// A group of subcommands.
    pub const SUB_COMMAND_GROUP: u8 = 2;
    /// Text.
    pub const STRING: u8 = 3;
    /// A whole number.
    pub const INTEGER: u8 = 4;
    /// True or false.
    pub const BOOLEAN: u8 = 5;
    /// A member.
    pub const USER: u8 = 6;
    /// A channel.
    pub const CHANNEL: u8 = 7;
    /// A role.
    pub const ROLE: u8 = 8;
    /// A user or role.
    pub const MENTIONABLE: u8 = 9;
    /// A decimal number.
    pub const NUMBER: u8 = 10;
    /// An uploaded file.
    pub const ATTACHMENT: u8 = 11;
}

/// One command as Discord's JSON describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct CommandSpec {
    /// Name typed after the slash.
    pub name: String,
    /// English description.
    pub description: String,
    /// Localized descriptions.
    #[serde(default)]
    pub description_localizations: BTreeMap<String, String>,
    /// Localized names.
    #[serde(default)]
    pub name_localizations: BTreeMap<String, String>,
    /// Subcommands or options.
    #[serde(default)]
    pub options: Vec<OptionSpec>,
}

/// A subcommand or option.
#[derive(Clone, Debug, Deserialize)]
pub struct OptionSpec {
    /// Discord's option type.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Name.
    pub name: String,
    /// Localized names, as Discord shows them to a reader of that language.
    #[serde(default)]
    pub name_localizations: BTreeMap<String, String>,
    /// English description.
    pub description: String,
    /// Localized descriptions.
    #[serde(default)]
    pub description_localizations: BTreeMap<String, String>,
    /// Whether it must be given.
    #[serde(default)]
    pub required: bool,
    /// Fixed choices.
    #[serde(default)]
    pub choices: Vec<ChoiceSpec>,
    /// Shortest accepted text.
    pub min_length: Option<usize>,
    /// Longest accepted text.
    pub max_length: Option<usize>,
    /// Smallest accepted number.
    pub min_value: Option<f64>,
    /// Largest accepted number.
    pub max_value: Option<f64>,
    /// Whether Discord asks us for suggestions while typing.
    #[serde(default)]
    pub autocomplete: bool,
    /// Options of a subcommand.
    #[serde(default)]
    pub options: Vec<OptionSpec>,
}

/// A fixed choice.
#[derive(Clone, Debug, Deserialize)]
pub struct ChoiceSpec {
    /// Label.
    pub name: String,
    /// Localized labels.
    #[serde(default)]
    pub name_localizations: BTreeMap<String, String>,
    /// Value sent back.
    pub value: serde_json::Value,
}

impl ChoiceSpec {
    /// The value as text, the way a person types it at the console.
    pub fn value_text(&self) -> String {
        match &self.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A value as a front-end delivers it, already typed the way Discord types it.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// Text.
    String(String),
    /// Whole number.
    Integer(i64),
    /// Decimal number.
    Number(f64),
    /// True or false.
    Boolean(bool),
    /// A user id.
    User(u64),
    /// A channel id.
    Channel(u64),
    /// A role id.
    Role(u64),
    /// A file the front-end already fetched (a Discord attachment, a path the console read).
    Attachment(FileValue),
}

/// A file's name and bytes, as an option value. `Debug` shows the size, not the bytes.
#[derive(Clone, PartialEq)]
pub struct FileValue {
    /// The name the sender gave it.
    pub filename: String,
    /// Its bytes.
    pub bytes: std::sync::Arc<Vec<u8>>,
}

impl std::fmt::Debug for FileValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileValue({:?}, {} bytes)",
            self.filename,
            self.bytes.len()
        )
    }
}

/// A command as it arrives: name, subcommand and named values.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Invocation {
    /// Top-level command name.
    pub command: String,
    /// Subcommand name, for commands that have them.
    pub subcommand: Option<String>,
    /// Named option values.
    pub options: Vec<(String, OptionValue)>,
}

/// The options of a request that passed validation, by name.
#[derive(Clone, Debug, Default)]
pub struct Args {
    values: BTreeMap<String, OptionValue>,
    /// Every option name a parser asked for, when a test is checking parsers against the
    /// manifests; `None` (no cost) otherwise.
    asked: Option<std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>>,
}

impl Args {
    /// Args that remember which options a parser asked for (see `commands::coverage`).
    #[cfg(test)]
    pub(crate) fn probing(
        values: BTreeMap<String, OptionValue>,
    ) -> (
        Args,
        std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    ) {
        let asked = std::sync::Arc::default();
        (
            Args {
                values,
                asked: Some(std::sync::Arc::clone(&asked)),
            },
            asked,
        )
    }

    fn get(&self, name: &str) -> Option<&OptionValue> {
        if let Some(asked) = &self.asked {
            if let Ok(mut asked) = asked.lock() {
                asked.insert(name.to_string());
            }
        }
        self.values.get(name)
    }

    /// Text option.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(OptionValue::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Whole-number option.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(OptionValue::Integer(i)) => Some(*i),
            _ => None,
        }
    }

    /// Boolean option.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(OptionValue::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// User option, as a database id.
    pub fn user(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(OptionValue::User(u)) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// Channel option.
    pub fn channel(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(OptionValue::Channel(c)) => i64::try_from(*c).ok(),
            _ => None,
        }
    }

    /// Role option.
    pub fn role(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(OptionValue::Role(r)) => i64::try_from(*r).ok(),
            _ => None,
        }
    }

    /// File option.
    pub fn file(&self, name: &str) -> Option<&FileValue> {
        match self.get(name) {
            Some(OptionValue::Attachment(f)) => Some(f),
            _ => None,
        }
    }
}

/// All manifests, parsed once.
#[derive(Clone, Debug)]
pub struct Manifests {
    commands: Vec<CommandSpec>,
}

fn type_msg(kind: u8) -> Msg {
    Msg::new(match kind {
        kind::INTEGER => "type.integer",
        kind::NUMBER => "type.number",
        kind::BOOLEAN => "type.boolean",
        kind::USER => "type.user",
        kind::CHANNEL => "type.channel",
        kind::ROLE => "type.role",
        kind::ATTACHMENT => "type.attachment",
        _ => "type.string",
    })
}

fn invalid(msg: Msg) -> EngineError {
    EngineError::Invalid(msg)
}

fn number_text(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

impl Manifests {
    /// Parses the compiled-in manifests; a broken file is a bug caught by the tests.
    pub fn load() -> anyhow::Result<Manifests> {
        let mut commands = Vec::new();
        for (name, text) in MANIFEST_FILES {
            let spec: CommandSpec = serde_json::from_str(text).map_err(|e| {
                anyhow::anyhow!("commands/{name}.json is not a valid manifest: {e}")
            })?;
            commands.push(spec);
        }
        Ok(Manifests { commands })
    }

    /// The command specs, in manifest order.
    pub fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    /// A command by name.
    pub fn command(&self, name: &str) -> Option<&CommandSpec> {
        self.commands.iter().find(|c| c.name == name)
    }

    fn command_names(&self) -> String {
        self.commands
            .iter()
            .map(|c| format!("/{}", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The option list that applies to an invocation (the subcommand's, or the command's own).
    pub fn option_specs<'a>(
        &'a self,
        command: &str,
        sub: Option<&str>,
    ) -> Result<&'a [OptionSpec], EngineError> {
        let spec = self.command(command).ok_or_else(|| {
            invalid(
                Msg::new("error.unknown_command")
                    .arg("given", escape(command))
                    .arg("commands", self.command_names()),
            )
        })?;
        let subs: Vec<&OptionSpec> = spec
            .options
            .iter()
            .filter(|o| o.kind == kind::SUB_COMMAND)
            .collect();
        if subs.is_empty() {
            return match sub {
                None => Ok(&spec.options),
                Some(s) => Err(invalid(
                    Msg::new("error.unknown_option")
                        .arg("option", escape(s))
                        .arg("command", format!("/{command}"))
                        .arg(
                            "options",
                            spec.options
                                .iter()
                                .map(|o| o.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                )),
            };
        }
        let names = subs
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let Some(sub) = sub else {
            return Err(invalid(
                Msg::new("error.missing_subcommand")
                    .arg("command", format!("/{command}"))
                    .arg("subcommands", names),
            ));
        };
        subs.iter()
            .find(|o| o.name == sub)
            .map(|o| o.options.as_slice())
            .ok_or_else(|| {
                invalid(
                    Msg::new("error.unknown_subcommand")
                        .arg("given", escape(sub))
                        .arg("command", format!("/{command}"))
                        .arg("subcommands", names),
                )
            })
    }

    /// Checks an invocation against its manifest: names, types, required options, choices,
    /// lengths and ranges. Returns the values by name.
    pub fn validate(&self, inv: &Invocation) -> Result<Args, EngineError> {
        let specs = self.option_specs(&inv.command, inv.subcommand.as_deref())?;
        let path = match &inv.subcommand {
            Some(s) => format!("/{} {}", inv.command, s),
            None => format!("/{}", inv.command),
        };
        let mut values = BTreeMap::new();
        for (name, value) in &inv.options {
            let spec = specs.iter().find(|s| &s.name == name).ok_or_else(|| {
                let accepted = specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                invalid(
                    Msg::new(if accepted.is_empty() {
                        "error.no_options"
                    } else {
                        "error.unknown_option"
                    })
                    .arg("option", escape(name))
                    .arg("command", &path)
                    .arg("options", accepted),
                )
            })?;
            if values.contains_key(name) {
                return Err(invalid(
                    Msg::new("error.duplicate_option").arg("option", name),
                ));
            }
            check_value(spec, value)?;
            values.insert(name.clone(), value.clone());
        }
        for spec in specs {
            if spec.required && !values.contains_key(&spec.name) {
                return Err(invalid(
                    Msg::new("error.missing_option")
                        .arg("option", &spec.name)
                        .arg("command", &path)
                        .arg_msg("expected", type_msg(spec.kind)),
                ));
            }
        }
        Ok(Args {
            values,
            asked: None,
        })
    }

    /// Converts text typed at the console into the value Discord's client would send for
    /// that option, so the console exercises the same typed path.
    pub fn typed_value(
        &self,
        command: &str,
        sub: Option<&str>,
        option: &str,
        raw: &str,
    ) -> Result<OptionValue, EngineError> {
        let specs = self.option_specs(command, sub)?;
        let Some(spec) = specs.iter().find(|s| s.name == option) else {
            // Unknown names are reported by `validate`, with the list of accepted ones.
            return Ok(OptionValue::String(raw.to_string()));
        };
        let bad = || {
            invalid(
                Msg::new("error.option_type")
                    .arg("option", option)
                    .arg("given", escape(raw))
                    .arg_msg("expected", type_msg(spec.kind)),
            )
        };
        Ok(match spec.kind {
            kind::INTEGER => OptionValue::Integer(raw.trim().parse().map_err(|_| bad())?),
            kind::NUMBER => OptionValue::Number(raw.trim().parse().map_err(|_| bad())?),
            kind::BOOLEAN => OptionValue::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => true,
                "false" | "no" | "0" | "off" => false,
                _ => return Err(bad()),
            }),
            kind::USER => OptionValue::User(snowflake(raw, &["<@!", "<@"]).ok_or_else(bad)?),
            kind::CHANNEL => OptionValue::Channel(snowflake(raw, &["<#"]).ok_or_else(bad)?),
            kind::ROLE => OptionValue::Role(snowflake(raw, &["<@&"]).ok_or_else(bad)?),
            _ => OptionValue::String(raw.to_string()),
        })
    }

    /// The message with the command, subcommand and option names it quotes as Discord shows
    /// them in `locale`: an error about `amount` reads 金额 to a zh-CN reader, the label their
    /// client puts on that field. Names the manifest does not know are left as typed.
    pub fn localize_names(
        &self,
        msg: &Msg,
        command: &str,
        sub: Option<&str>,
        locale: Locale,
    ) -> Msg {
        let Some(spec) = self.command(command).filter(|_| locale != Locale::En) else {
            return msg.clone();
        };
        let local = |o: &OptionSpec| o.name_localizations.get(locale.tag()).cloned();
        let sub_spec = |name: &str| {
            spec.options
                .iter()
                .find(|o| o.kind == kind::SUB_COMMAND && o.name == name)
        };
        let options = sub
            .and_then(sub_spec)
            .map(|s| s.options.as_slice())
            .unwrap_or(&spec.options);
        let option = |name: &str| {
            options
                .iter()
                .find(|o| o.name == name)
                .and_then(local)
                .unwrap_or_else(|| name.to_string())
        };
        let subcommand = |name: &str| {
            sub_spec(name)
                .and_then(local)
                .unwrap_or_else(|| name.to_string())
        };
        let command_name = spec
            .name_localizations
            .get(locale.tag())
            .cloned()
            .unwrap_or_else(|| spec.name.clone());
        let list = |text: &str, one: &dyn Fn(&str) -> String| {
            text.split(", ").map(one).collect::<Vec<_>>().join(", ")
        };
        let label = |option: &str, value: &str| {
            options
                .iter()
                .find(|o| o.name == option)
                .and_then(|o| o.choices.iter().find(|c| c.value_text() == value))
                .and_then(|c| c.name_localizations.get(locale.tag()).cloned())
                .unwrap_or_else(|| value.to_string())
        };
        let rename_one = |arg: &str, text: &str| -> String {
            match arg {
                "option" | "other" => option(text),
                // A settings action is named by the label the reader picked it by.
                "action" => label("action", text),
                "options" => list(text, &option),
                "subcommands" => list(text, &subcommand),
                "command" if text.trim_start_matches('/') == spec.name => {
                    format!("/{command_name}")
                }
                "command" => match text.trim_start_matches('/').split_once(' ') {
                    Some((c, s)) if c == spec.name => format!("/{command_name} {}", subcommand(s)),
                    _ => text.to_string(),
                },
                _ => text.to_string(),
            }
        };
        let rename = |arg: &str, text: &str, about: Option<&str>| -> String {
            match (arg, about) {
                // The choices of the option, as the reader's Discord lists them.
                ("choices", Some(about)) => list(text, &|v| label(about, v)),
                _ => rename_one(arg, text),
            }
        };
        rename_args(msg, &rename)
    }

    /// The localized name of a command, for help.
    pub fn description(&self, command: &str, locale: Locale) -> Option<String> {
        let spec = self.command(command)?;
        Some(
            spec.description_localizations
                .get(locale.tag())
                .cloned()
                .unwrap_or_else(|| spec.description.clone()),
        )
    }
}

/// Renames a message's arguments (and those of the messages inside it); `rename` gets the
/// argument's name, its text and the option the message is about, if it names one.
fn rename_args(msg: &Msg, rename: &dyn Fn(&str, &str, Option<&str>) -> String) -> Msg {
    let about = msg.args.iter().find_map(|(name, value)| match value {
        Arg::Text(text) if *name == "option" => Some(text.clone()),
        _ => None,
    });
    let mut out = msg.clone();
    for (name, value) in out.args.iter_mut() {
        match value {
            Arg::Text(text) => *text = rename(name, text, about.as_deref()),
            Arg::Msg(inner) => *inner = rename_args(inner, rename),
        }
    }
    out
}

/// A Discord id typed bare or inside its mention markup.
fn snowflake(raw: &str, prefixes: &[&str]) -> Option<u64> {
    let t = raw.trim();
    let inner = prefixes
        .iter()
        .find_map(|p| t.strip_prefix(p).and_then(|rest| rest.strip_suffix('>')))
        .unwrap_or(t);
    // Discord ids are 63-bit; anything larger cannot be a real member, channel or role.
    inner
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0 && *id <= i64::MAX as u64)
}

/// A value as the person gave it, for quoting back in an error (never Rust's debug form).
fn plain(value: &OptionValue) -> String {
    match value {
        OptionValue::String(s) => s.clone(),
        OptionValue::Integer(i) => i.to_string(),
        OptionValue::Number(n) => n.to_string(),
        OptionValue::Boolean(b) => b.to_string(),
        // Bare ids: mention markup quoted back would render as a mention.
        OptionValue::User(id) | OptionValue::Channel(id) | OptionValue::Role(id) => id.to_string(),
        OptionValue::Attachment(f) => f.filename.clone(),
    }
}

fn check_value(spec: &OptionSpec, value: &OptionValue) -> Result<(), EngineError> {
    let name = spec.name.as_str();
    let type_ok = matches!(
        (spec.kind, value),
        (kind::STRING, OptionValue::String(_))
            | (kind::INTEGER, OptionValue::Integer(_))
            | (
                kind::NUMBER,
                OptionValue::Number(_) | OptionValue::Integer(_)
            )
            | (kind::BOOLEAN, OptionValue::Boolean(_))
            | (kind::USER, OptionValue::User(_))
            | (kind::CHANNEL, OptionValue::Channel(_))
            | (kind::ROLE, OptionValue::Role(_))
            | (kind::ATTACHMENT, OptionValue::Attachment(_))
            | (
                kind::MENTIONABLE,
                OptionValue::User(_) | OptionValue::Role(_)
            )
    );
    if !type_ok {
        return Err(invalid(
            Msg::new("error.option_type")
                .arg("option", name)
                .arg("given", escape(&plain(value)))
                .arg_msg("expected", type_msg(spec.kind)),
        ));
    }
    if let OptionValue::String(s) = value {
        let len = s.chars().count();
        if let Some(max) = spec.max_length {
            if len > max {
                return Err(invalid(
                    Msg::new("error.option_too_long")
                        .arg("option", name)
                        .arg("max", max)
                        .arg("given", len),
                ));
            }
        }
        let min = spec
            .min_length
            .unwrap_or(0)
            .max(if spec.required { 1 } else { 0 });
        if s.trim().is_empty() && (len < min || spec.required) {
            return Err(invalid(
                Msg::new("error.option_too_short")
                    .arg("option", name)
                    .arg("min", min.max(1)),
            ));
        }
        if len < min {
            // Say how short it is: "must not be empty" for two letters sends a person looking
            // for the wrong mistake.
            return Err(invalid(
                Msg::new("error.option_too_short_given")
                    .arg("option", name)
                    .arg("given", len)
                    .arg("min", min),
            ));
        }
        // Newlines are fine in a summary; other control characters only corrupt displays.
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(invalid(
                Msg::new("error.option_control").arg("option", name),
            ));
        }
        // Direction controls and zero-width characters disguise text (`@\u{200B}everyone`).
        if s.chars().any(crate::domain::text::is_hidden) {
            return Err(invalid(Msg::new("error.option_hidden").arg("option", name)));
        }
        // Text the bot echoes back must not ping people or roles when Discord renders it.
        let lower = s.to_lowercase();
        let markup = ["<@", "<#", "<:", "<a:", "<t:", "</"];
        if markup.iter().any(|m| lower.contains(m)) || names_everyone(&lower) {
            return Err(invalid(
                Msg::new("error.option_mention").arg("option", name),
            ));
        }
    }
    let number = match value {
        OptionValue::Integer(i) => Some(*i as f64),
        OptionValue::Number(n) if n.is_finite() => Some(*n),
        OptionValue::Number(_) => {
            return Err(invalid(
                Msg::new("error.option_type")
                    .arg("option", name)
                    .arg("given", "NaN")
                    .arg_msg("expected", type_msg(spec.kind)),
            ))
        }
        _ => None,
    };
    if let Some(n) = number {
        let below = spec.min_value.is_some_and(|m| n < m);
        let above = spec.max_value.is_some_and(|m| n > m);
        if below || above {
            return Err(invalid(
                Msg::new("error.option_range")
                    .arg("option", name)
                    .arg("given", number_text(n))
                    .arg(
                        "min",
                        spec.min_value
                            .map(number_text)
                            .unwrap_or_else(|| "-".into()),
                    )
                    .arg(
                        "max",
                        spec.max_value
                            .map(number_text)
                            .unwrap_or_else(|| "-".into()),
                    ),
            ));
        }
    }
    if !spec.choices.is_empty() {
        let given = plain(value);
        if !spec.choices.iter().any(|c| c.value_text() == given) {
            let accepted = spec
                .choices
                .iter()
                .map(|c| c.value_text())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(invalid(
                Msg::new("error.option_choice")
                    .arg("option", name)
                    .arg("given", escape(&given))
                    .arg("choices", accepted),
            ));
        }
    }
    Ok(())
}

/// `@everyone` or `@here` standing as a mention, not as part of an email address's domain
/// (`ann@here.com`, `it@hereford.ac.uk`: the character before the `@` belongs to the address
/// and the domain goes on after the word). Such an address is a real one, and its echo is
/// escaped like any text, so it can ping no one; `x@here` on its own is still refused.
fn names_everyone(lower: &str) -> bool {
    ["@everyone", "@here"].iter().any(|m| {
        lower.match_indices(m).any(|(at, word)| {
            let in_address = lower[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || "._%+-".contains(c))
                && lower[at + word.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '-');
            !in_address
        })
    })
}
