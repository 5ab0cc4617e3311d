//! What the engine answers, in a shape every front-end can render: Discord maps it to an
//! interaction response, the console prints it, tests read it.

use serde::{Deserialize, Serialize};

/// A transport-neutral reply.
///
/// Any of its own fields may be missing when read back (the outbox stores replies as JSON):
/// a newer version that leaves out an empty one writes a reply an older one still reads.
/// The embeds, buttons and files in it still need all of theirs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    /// Only the person who typed the command sees it (errors, private lists).
    pub ephemeral: bool,
    /// The message text.
    pub content: String,
    /// Rich cards.
    pub embeds: Vec<Embed>,
    /// Buttons; each custom id is a click the engine understands.
    pub components: Vec<Button>,
    /// Files such as chart images.
    pub attachments: Vec<Attachment>,
    /// A form to show instead of a message (Discord's modal), e.g. to ask a lost reason.
    pub modal: Option<Modal>,
    /// A report's figures as plain numbers (the text above carries the same, formatted):
    /// `salesbot report --json`, the console's JSON output and tests read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// A form with text fields; submitting it sends `custom_id` and the texts back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Modal {
    /// What the engine does on submit, e.g. `deal:lost:42`.
    pub custom_id: String,
    /// Heading of the form.
    pub title: String,
    /// The text fields.
    pub fields: Vec<ModalField>,
}

/// One text field of a form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModalField {
    /// Name the value comes back under.
    pub custom_id: String,
    /// Label shown above the field.
    pub label: String,
    /// Several lines rather than one.
    pub paragraph: bool,
    /// Longest accepted text.
    pub max_length: u16,
}

/// A rich card with titled fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    /// Heading of the card.
    pub title: String,
    /// Body text under the heading.
    pub description: String,
    /// Name and value pairs.
    pub fields: Vec<Field>,
    /// Small print at the bottom.
    pub footer: Option<String>,
}

/// One name/value line of an embed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Label.
    pub name: String,
    /// Value, already formatted for the locale.
    pub value: String,
    /// Discord lays inline fields side by side.
    pub inline: bool,
}

/// A button; pressing it sends `custom_id` back as a click.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Button {
    /// What the engine does when pressed, e.g. `deal:next:42`.
    pub custom_id: String,
    /// Text on the button.
    pub label: String,
}

/// A file sent with the reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Name shown to the reader.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes; not serialized, front-ends send them as files.
    #[serde(skip)]
    pub data: Vec<u8>,
}

impl Reply {
    /// A plain public reply.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply {
            content: content.into(),
            ..Reply::default()
        }
    }

    /// A reply only the caller sees.
    pub fn private(content: impl Into<String>) -> Reply {
        Reply {
            content: content.into(),
            ephemeral: true,
            ..Reply::default()
        }
    }

    /// Names the record the command created or showed (`{"record": {"type": "deal", "id": 7}}`),
    /// so a front-end that answers with the record itself (the HTTP API) finds it.
    pub fn with_record(mut self, kind: &str, id: i64) -> Reply {
        self.data = Some(serde_json::json!({ "record": { "type": kind, "id": id } }));
        self
    }

    /// Adds an embed.
    pub fn with_embed(mut self, embed: Embed) -> Reply {
        self.embeds.push(embed);
        self
    }

    /// Adds a button. Labels show no markup, so a stage name in one is only cleared of
    /// hidden characters, not escaped.
    pub fn with_button(mut self, custom_id: impl Into<String>, label: impl Into<String>) -> Reply {
        self.components.push(Button {
            custom_id: custom_id.into(),
            label: crate::domain::text::visible(&label.into()),
        });
        self
    }
}

impl Embed {
    /// A card with a title.
    pub fn new(title: impl Into<String>) -> Embed {
        Embed {
            title: title.into(),
            ..Embed::default()
        }
    }

    /// Sets the body text.
    pub fn description(mut self, text: impl Into<String>) -> Embed {
        self.description = text.into();
        self
    }

    /// Adds a field shown side by side with its neighbours.
    pub fn inline(mut self, name: impl Into<String>, value: impl Into<String>) -> Embed {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
            inline: true,
        });
        self
    }

    /// Adds a field on a line of its own.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Embed {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
            inline: false,
        });
        self
    }

    /// Sets the footer.
    pub fn footer(mut self, text: impl Into<String>) -> Embed {
        self.footer = Some(text.into());
        self
    }
}
