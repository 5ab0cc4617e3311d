//! Between Discord's shapes and the engine's: interactions become requests, replies become
//! interaction responses and messages. Discord's size limits are applied here, so an unusually
//! long reply is cut rather than refused by Discord.

use crate::domain::locale::Locale;
use crate::engine::reply::{Embed, Field};
use crate::engine::{Invocation, OptionValue, Reply, RoleSource};
use serenity::all::{
    ActionRowComponent, Attachment, ButtonStyle, CommandDataOption, CommandDataOptionValue,
    CommandDataResolved, CreateActionRow, CreateAllowedMentions, CreateAttachment, CreateButton,
    CreateEmbed, CreateEmbedFooter, CreateInputText, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, CreateModal, EditInteractionResponse,
    InputTextStyle, Member, ModalInteractionData, User,
};

const CONTENT_MAX: usize = 2000;
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const FIELDS_MAX: usize = 25;
const FOOTER_MAX: usize = 2048;
const BUTTON_LABEL_MAX: usize = 80;
const BUTTONS_PER_ROW: usize = 5;
const ROWS_MAX: usize = 5;

/// Cuts text to Discord's limit, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The engine's invocation from a chat-input command's data.
pub fn invocation(name: &str, options: &[CommandDataOption]) -> Invocation {
    let mut inv = Invocation {
        command: name.to_string(),
        subcommand: None,
        options: Vec::new(),
    };
    let mut leaves = options;
    if let Some(first) = options.first() {
        if let CommandDataOptionValue::SubCommand(inner) = &first.value {
            inv.subcommand = Some(first.name.clone());
            leaves = inner;
        }
    }
    for o in leaves {
        let value = match &o.value {
            CommandDataOptionValue::String(s) => OptionValue::String(s.clone()),
            CommandDataOptionValue::Integer(i) => OptionValue::Integer(*i),
            CommandDataOptionValue::Number(n) => OptionValue::Number(*n),
            CommandDataOptionValue::Boolean(b) => OptionValue::Boolean(*b),
            CommandDataOptionValue::User(u) => OptionValue::User(u.get()),
            CommandDataOptionValue::Channel(c) => OptionValue::Channel(c.get()),
            CommandDataOptionValue::Role(r) => OptionValue::Role(r.get()),
            CommandDataOptionValue::Mentionable(m) => OptionValue::User(m.get()),
            CommandDataOptionValue::Autocomplete { value, .. } => {
                OptionValue::String(value.clone())
            }
            // Attachments and unknown kinds are not in any manifest; validation names them.
            _ => OptionValue::String(String::new()),
        };
        inv.options.push((o.name.clone(), value));
    }
    inv
}

/// The attachment options of a command, with what Discord resolved for each: (option name,
/// the attachment's url, name and size). The Discord layer fetches them for the engine.
pub fn attachments(
    options: &[CommandDataOption],
    resolved: &CommandDataResolved,
) -> Vec<(String, Attachment)> {
    let leaves = match options.first().map(|o| &o.value) {
        Some(CommandDataOptionValue::SubCommand(inner)) => inner.as_slice(),
        _ => options,
    };
    leaves
        .iter()
        .filter_map(|o| match &o.value {
            CommandDataOptionValue::Attachment(id) => resolved
                .attachments
                .get(id)
                .map(|a| (o.name.clone(), a.clone())),
            _ => None,
        })
        .collect()
}

/// The server members a command's user options named, as Discord resolved them: (id, the
/// name to show). Someone Discord resolved only as a user is not in this server; bots are
/// never members of a team.
pub fn guild_members(resolved: &CommandDataResolved) -> Vec<(i64, String)> {
    resolved
        .members
        .iter()
        .filter_map(|(id, m)| {
            let user = resolved.users.get(id).or(m.user.as_ref())?;
            if user.bot {
                return None;
            }
            let name = m
                .nick
                .clone()
                .or_else(|| user.global_name.clone())
                .unwrap_or_else(|| user.name.clone());
            Some((id64(id.get())?, name))
        })
        .collect()
}

/// A Discord id as the store keeps it (`bigint`). Snowflakes stay below 2^63 until the year
/// 2154, but an id comes off the network: one out of range is refused, never wrapped into
/// another workspace's or member's id.
pub fn id64(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

/// What the engine needs to know of the caller's role: Manage Server makes an admin; the
/// workspace's manager role (known to the engine) makes a manager.
pub fn role_source(member: Option<&Member>) -> RoleSource {
    match member {
        Some(m) => RoleSource::Discord {
            manage_guild: m
                .permissions
                .is_some_and(|p| p.manage_guild() || p.administrator()),
            role_ids: m.roles.iter().filter_map(|r| id64(r.get())).collect(),
        },
        None => RoleSource::Discord {
            manage_guild: false,
            role_ids: Vec::new(),
        },
    }
}

/// The name to show for the caller: server nickname, then display name, then username.
pub fn display_name(member: Option<&Member>, user: &User) -> String {
    member
        .and_then(|m| m.nick.clone())
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone())
}

/// The caller's language, when we speak it.
pub fn locale(tag: &str) -> Option<Locale> {
    Locale::from_tag(tag)
}

/// The texts typed into a submitted form.
pub fn modal_fields(data: &ModalInteractionData) -> Vec<(String, String)> {
    data.components
        .iter()
        .flat_map(|row| row.components.iter())
        .filter_map(|c| match c {
            ActionRowComponent::InputText(t) => {
                Some((t.custom_id.clone(), t.value.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

/// What Discord allows one message's embeds in all: titles, descriptions, field names and
/// values and footers together. Past it the whole message is refused.
const EMBEDS_TOTAL_MAX: usize = 6000;

fn embeds(reply: &Reply) -> Vec<CreateEmbed> {
    let mut cards: Vec<Embed> = reply
        .embeds
        .iter()
        .take(10)
        .map(|e| Embed {
            title: clip(&e.title, TITLE_MAX),
            description: clip(&e.description, DESCRIPTION_MAX),
            fields: e
                .fields
                .iter()
                .take(FIELDS_MAX)
                .map(|f| Field {
                    name: clip(&f.name, FIELD_NAME_MAX),
                    value: if f.value.is_empty() {
                        "—".to_string()
                    } else {
                        clip(&f.value, FIELD_VALUE_MAX)
                    },
                    inline: f.inline,
                })
                .collect(),
            footer: e.footer.as_deref().map(|f| clip(f, FOOTER_MAX)),
        })
        .collect();
    fit_total(&mut cards);
    cards
        .into_iter()
        .map(|e| {
            let mut embed = CreateEmbed::new().title(e.title);
            if !e.description.is_empty() {
                embed = embed.description(e.description);
            }
            embed = embed.fields(e.fields.into_iter().map(|f| (f.name, f.value, f.inline)));
            if let Some(footer) = e.footer {
                embed = embed.footer(CreateEmbedFooter::new(footer));
            }
            embed
        })
        .collect()
}

/// Shortens the longest body texts (descriptions and field values, where lists are) until the
/// embeds fit [`EMBEDS_TOTAL_MAX`] together, each part being within its own limit already.
fn fit_total(cards: &mut [Embed]) {
    let len = |s: &str| s.chars().count();
    loop {
        let total: usize = cards
            .iter()
            .map(|e| {
                len(&e.title)
                    + len(&e.description)
                    + e.footer.as_deref().map_or(0, len)
                    + e.fields
                        .iter()
                        .map(|f| len(&f.name) + len(&f.value))
                        .sum::<usize>()
            })
            .sum();
        let excess = total.saturating_sub(EMBEDS_TOTAL_MAX);
        if excess == 0 {
            return;
        }
        let longest = cards
            .iter_mut()
            .flat_map(|e| {
                std::iter::once(&mut e.description).chain(e.fields.iter_mut().map(|f| &mut f.value))
            })
            .max_by_key(|s| len(s));
        let Some(text) = longest else { return };
        let n = len(text);
        if n <= 1 {
            // Only titles and names are left long: nothing a cut of bodies can save.
            return;
        }
        *text = clip(text, n.saturating_sub(excess).max(1));
    }
}

fn rows(reply: &Reply) -> Vec<CreateActionRow> {
    reply
        .components
        .chunks(BUTTONS_PER_ROW)
        .take(ROWS_MAX)
        .map(|chunk| {
            CreateActionRow::Buttons(
                chunk
                    .iter()
                    .map(|b| {
                        CreateButton::new(b.custom_id.clone())
                            .label(clip(&b.label, BUTTON_LABEL_MAX))
                            .style(ButtonStyle::Primary)
                    })
                    .collect(),
            )
        })
        .collect()
}

fn files(reply: &Reply) -> Vec<CreateAttachment> {
    reply
        .attachments
        .iter()
        .map(|a| CreateAttachment::bytes(a.data.clone(), a.filename.clone()))
        .collect()
}

/// serenity has one builder per kind of message; they share these setters but no trait, so
/// one macro fills them all alike: clipped text, embeds, buttons, no pings, files.
macro_rules! fill {
    ($builder:expr, $reply:expr, $attach:ident $(, $ephemeral:ident)?) => {{
        let reply: &Reply = $reply;
        let mut m = $builder
            .content(clip(&reply.content, CONTENT_MAX))
            .embeds(embeds(reply))
            .components(rows(reply))
            $(.$ephemeral(reply.ephemeral))?
            .allowed_mentions(CreateAllowedMentions::new());
        for f in files(reply) {
            m = m.$attach(f);
        }
        m
    }};
}

/// An interaction response message. Mentions never ping: what people typed is shown, not sent.
pub fn response(reply: &Reply) -> CreateInteractionResponseMessage {
    fill!(
        CreateInteractionResponseMessage::new(),
        reply,
        add_file,
        ephemeral
    )
}

/// The edit that completes a deferred response.
pub fn edit(reply: &Reply) -> EditInteractionResponse {
    fill!(EditInteractionResponse::new(), reply, new_attachment)
}

/// A follow-up message, used for a private answer after a public deferral.
pub fn followup(reply: &Reply) -> CreateInteractionResponseFollowup {
    fill!(
        CreateInteractionResponseFollowup::new(),
        reply,
        add_file,
        ephemeral
    )
}

/// A form (modal) the engine asked to show.
pub fn modal(m: &crate::engine::Modal) -> CreateModal {
    let rows = m
        .fields
        .iter()
        .take(5)
        .map(|f| {
            let style = if f.paragraph {
                InputTextStyle::Paragraph
            } else {
                InputTextStyle::Short
            };
            CreateActionRow::InputText(
                CreateInputText::new(style, clip(&f.label, 45), f.custom_id.clone())
                    .max_length(f.max_length)
                    .required(true),
            )
        })
        .collect();
    CreateModal::new(m.custom_id.clone(), clip(&m.title, 45)).components(rows)
}

/// A message the bot sends on its own (a DM or a channel post).
pub fn message(reply: &Reply) -> CreateMessage {
    fill!(CreateMessage::new(), reply, add_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(cards: &[Embed]) -> usize {
        cards
            .iter()
            .map(|e| {
                e.title.chars().count()
                    + e.description.chars().count()
                    + e.fields
                        .iter()
                        .map(|f| f.name.chars().count() + f.value.chars().count())
                        .sum::<usize>()
            })
            .sum()
    }

    /// Each part within its own limit can still make a message Discord refuses whole: the
    /// longest bodies give way until the embeds fit together, and short ones stay as they are.
    #[test]
    fn embeds_fit_discords_total_together() {
        let field = |name: &str, n: usize| Field {
            name: name.to_string(),
            value: "x".repeat(n),
            inline: false,
        };
        let mut cards = vec![Embed {
            title: "Agenda".into(),
            description: "d".repeat(DESCRIPTION_MAX),
            fields: (0..6)
                .map(|i| field(&format!("list {i}"), FIELD_VALUE_MAX))
                .chain([field("short", 10)])
                .collect(),
            footer: None,
        }];
        assert!(total(&cards) > EMBEDS_TOTAL_MAX);
        fit_total(&mut cards);
        assert!(total(&cards) <= EMBEDS_TOTAL_MAX, "{}", total(&cards));
        assert_eq!(cards[0].fields[6].value, "x".repeat(10));
        assert_eq!(cards[0].title, "Agenda");
        // What fits already is left alone.
        let mut small = vec![Embed {
            title: "t".into(),
            description: "d".repeat(100),
            fields: vec![field("a", 100)],
            footer: None,
        }];
        fit_total(&mut small);
        assert_eq!(small[0].description.len(), 100);
    }
}
