//! The admins' DM when the digest channel cannot take the bot's posts: without it a deleted
//! channel or a removed permission loses every weekly digest with no one told.

use crate::engine::format::Format;
use crate::engine::Reply;
use crate::i18n::Msg;
use crate::store::{NewOutbox, OutboxKind, StoreResult, Tx, WorkspaceRow};
use chrono::{DateTime, Utc};

/// Why a channel refused a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelProblem {
    /// It no longer exists (Discord's "Unknown Channel").
    Gone,
    /// The bot may not see it or post there ("Missing Access", "Missing Permissions").
    NoAccess,
}

/// Tells each admin who accepts DMs that the post under `failed_key` could not go to
/// `channel`, the workspace's digest channel, and what to do; once per admin, channel and post
/// (the DM's key names them), however often the post is tried again. Written in the
/// transaction that records the post's outcome, with `workspace` read (and locked) in it, so
/// the two go together; nobody is told about a channel the workspace no longer posts to.
/// Returns how many admins will be told.
pub async fn channel_unusable(
    tx: &mut Tx,
    workspace: &WorkspaceRow,
    channel: i64,
    problem: ChannelProblem,
    failed_key: &str,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    if workspace.digest_channel_id != Some(channel) {
        return Ok(0);
    }
    let ws = workspace.id;
    let mut told = 0;
    for (admin, own) in tx.admins(ws).await? {
        let f = Format::stored(
            own.as_deref().unwrap_or(&workspace.locale),
            "UTC",
            &workspace.currency,
        );
        let reply = unusable_notice(&f, channel, problem);
        // Per channel too: a second channel that refuses the same post is news.
        let key = format!("channel-unusable:{ws}:{admin}:{channel}:{failed_key}");
        let message = NewOutbox::dm(key, OutboxKind::ChannelNotice, admin, now)
            .saying((serde_json::to_value(&reply).unwrap_or_default(), Vec::new()));
        told += usize::from(tx.enqueue(ws, &message).await?);
    }
    Ok(told)
}

fn unusable_notice(f: &Format, channel: i64, problem: ChannelProblem) -> Reply {
    let key = match problem {
        ChannelProblem::Gone => "digest.channel_gone",
        ChannelProblem::NoAccess => "digest.channel_no_access",
    };
    // A channel mention links to the channel and pings no one.
    Reply::text(f.m(Msg::new(key).arg("channel", format!("<#{channel}>"))))
}
