//! Messages the bot sends on its own: a direct message to a member, a post in a channel.
//! Failures are sorted into "try again later" and "will never work", so a caller (the
//! outbox) can retry the first and record the second.

use super::convert;
use crate::engine::Reply;
use crate::store::Store;
use serenity::all::{ChannelId, Http, HttpError, UserId};
use std::sync::Arc;
use std::time::Duration;

/// Discord's "Cannot send messages to this user": the member closed their DMs.
const DM_CLOSED: isize = 50007;
/// Discord's "Unknown Channel".
const UNKNOWN_CHANNEL: isize = 10003;
/// "Missing Access" and "Missing Permissions": the bot may not post there.
const NO_ACCESS: [isize; 2] = [50001, 50013];
/// A send that takes longer than this is abandoned and retried later.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The member does not accept direct messages; recorded, not retried.
    #[error("the member does not accept direct messages")]
    DmClosed,
    /// The channel is gone.
    #[error("unknown channel")]
    UnknownChannel,
    /// The bot lacks access or permission there.
    #[error("missing access or permission: {0}")]
    NoAccess(String),
    /// Rate limited, a Discord outage or a network error: try again later.
    #[error("temporary failure: {0}")]
    Retry(String),
    /// Any other refusal; retrying will not help.
    #[error("refused: {0}")]
    Failed(String),
}

impl SendError {
    /// Whether sending again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retry(_))
    }
}

fn classify(e: serenity::Error) -> SendError {
    match &e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) => {
            let status = resp.status_code.as_u16();
            let code = resp.error.code;
            if code == DM_CLOSED {
                SendError::DmClosed
            } else if code == UNKNOWN_CHANNEL {
                SendError::UnknownChannel
            } else if NO_ACCESS.contains(&code) {
                SendError::NoAccess(resp.error.message.clone())
            } else if status == 429 || status >= 500 {
                SendError::Retry(format!("status {status}"))
            } else {
                SendError::Failed(format!(
                    "status {status}, code {code}: {}",
                    resp.error.message
                ))
            }
        }
        serenity::Error::Http(HttpError::Request(_)) | serenity::Error::Io(_) => {
            SendError::Retry(e.to_string())
        }
        _ => SendError::Failed(e.to_string()),
    }
}

/// Sends messages through Discord's REST API.
#[derive(Clone)]
pub struct Sender {
    http: Arc<Http>,
    store: Store,
}

impl Sender {
    /// A sender over an HTTP client (the bot's own, or one built from the configuration).
    pub fn new(http: Arc<Http>, store: Store) -> Sender {
        Sender { http, store }
    }

    /// Sends a direct message; returns the message id. A member with closed DMs is recorded
    /// in `members.dm_closed` so nothing keeps trying.
    pub async fn dm(&self, workspace: i64, user: u64, reply: &Reply) -> Result<u64, SendError> {
        let attempt = async {
            let channel = UserId::new(user)
                .create_dm_channel(&self.http)
                .await
                .map_err(classify)?;
            let msg = channel
                .id
                .send_message(&self.http, convert::message(reply))
                .await
                .map_err(classify)?;
            Ok(msg.id.get())
        };
        let result = tokio::time::timeout(SEND_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| Err(SendError::Retry("timed out".into())));
        if result == Err(SendError::DmClosed) {
            if let Err(e) = self.store.mark_dm_closed(workspace, user as i64).await {
                tracing::warn!(error = %e, "could not record closed DMs");
            }
        }
        result
    }

    /// Posts in a channel; returns the message id.
    pub async fn channel(&self, channel: u64, reply: &Reply) -> Result<u64, SendError> {
        let attempt = async {
            let msg = ChannelId::new(channel)
                .send_message(&self.http, convert::message(reply))
                .await
                .map_err(classify)?;
            Ok(msg.id.get())
        };
        tokio::time::timeout(SEND_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| Err(SendError::Retry("timed out".into())))
    }
}
