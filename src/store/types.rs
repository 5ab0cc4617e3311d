//! Stored spellings of the enums that cross the database seam. Each is a Rust enum held in a
//! TEXT column; sqlx reads and writes it through its `as_str`/`FromStr`, so a typo in a status
//! or kind is a compile error and an unknown stored value is a decode error, never a silent
//! string compare.

use crate::domain::stage::StageKind;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// Maps an enum with `as_str()` and `FromStr` to a TEXT column.
macro_rules! text_column {
    ($t:ty) => {
        impl Type<Postgres> for $t {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }
        impl Encode<'_, Postgres> for $t {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }
        impl<'r> Decode<'r, Postgres> for $t {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<Postgres>>::decode(value)?;
                Ok(text.parse::<$t>()?)
            }
        }
    };
}

/// Generates a text enum: its variants with their stored spellings, `as_str`, `FromStr`,
/// `Display` and the column mapping.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<$name, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownValue {
                        what: stringify!($name),
                        given: other.to_string(),
                    }),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        text_column!($name);
    };
}

/// A stored value that names no variant: a row written by a newer version, or by hand.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}'")]
pub struct UnknownValue {
    /// The enum.
    pub what: &'static str,
    /// What was stored.
    pub given: String,
}

// A deal's status is its stage's kind: open, won or lost.
text_column!(StageKind);

text_enum! {
    /// What a message in the outbox is, for the record and for metrics.
    pub enum OutboxKind {
        /// A task's reminder DM.
        Task = "task",
        /// A member's morning agenda DM.
        Agenda = "agenda",
        /// A workspace's weekly digest post.
        Digest = "digest",
        /// An admin told that a webhook endpoint was disabled.
        Webhook = "webhook",
        /// An admin told that the digest channel refuses the bot's posts.
        ChannelNotice = "channel-notice",
    }
}

text_enum! {
    /// Where an outbox message stands.
    pub enum OutboxStatus {
        /// Waiting for (another) delivery attempt.
        Pending = "pending",
        /// Delivered; the message id is recorded.
        Delivered = "delivered",
        /// Given up, with the reason.
        Failed = "failed",
        /// Decided not to send (nothing to say, too late, DMs closed), with the reason.
        Skipped = "skipped",
    }
}

text_enum! {
    /// How an outbox message reaches its reader.
    pub enum OutboxTarget {
        /// A member's direct messages (`user_id`).
        Dm = "dm",
        /// A channel (`channel_id`).
        Channel = "channel",
    }
}

text_enum! {
    /// What a command did, as the audit log records it; `/undo` names it back to the member.
    pub enum AuditAction {
        /// `/contact add`.
        ContactAdd = "contact.add",
        /// `/contact log`.
        ContactLog = "contact.log",
        /// `/contact tag`.
        ContactTag = "contact.tag",
        /// `/company add`.
        CompanyAdd = "company.add",
        /// `/deal new`.
        DealNew = "deal.new",
        /// `/deal move` and the Next button.
        DealMove = "deal.move",
        /// `/deal won`.
        DealWon = "deal.won",
        /// `/deal lost`.
        DealLost = "deal.lost",
        /// `/deal assign`.
        DealAssign = "deal.assign",
        /// `/deal product`.
        DealProduct = "deal.product",
        /// `/product add`.
        ProductAdd = "product.add",
        /// `/remind`.
        Remind = "remind",
        /// `/tasks done` and the Done button.
        TasksDone = "tasks.done",
        /// The snooze buttons.
        TasksSnooze = "tasks.snooze",
        /// `/settings timezone`.
        SettingsTimezone = "settings.timezone",
        /// `/settings currency`.
        SettingsCurrency = "settings.currency",
        /// `/settings language`.
        SettingsLanguage = "settings.language",
        /// `/settings agenda`.
        SettingsAgenda = "settings.agenda",
        /// `/settings digest`.
        SettingsDigest = "settings.digest",
        /// `/settings stale`.
        SettingsStale = "settings.stale",
        /// `/settings manager-role`.
        SettingsManagerRole = "settings.manager_role",
        /// `/settings quota`.
        SettingsQuota = "settings.quota",
        /// `/settings visibility`.
        SettingsVisibility = "settings.visibility",
        /// `/settings stages`.
        SettingsStages = "settings.stages",
        /// `/settings webhook` (add, remove, redeliver to an endpoint).
        SettingsWebhook = "settings.webhook",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_spellings_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
        }
        for k in OutboxKind::ALL {
            assert_eq!(k.as_str().parse::<OutboxKind>(), Ok(*k));
        }
        for s in OutboxStatus::ALL {
            assert_eq!(s.as_str().parse::<OutboxStatus>(), Ok(*s));
        }
        for t in OutboxTarget::ALL {
            assert_eq!(t.as_str().parse::<OutboxTarget>(), Ok(*t));
        }
        for k in [StageKind::Open, StageKind::Won, StageKind::Lost] {
            assert_eq!(k.as_str().parse::<StageKind>(), Ok(k));
        }
        assert!("deal.moved".parse::<AuditAction>().is_err());
    }
}
