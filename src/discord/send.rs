//! Messages the bot sends on its own: a direct message to a member, a post in a channel.
//!
//! These go through our own REST calls rather than serenity's: the outbox must honour
//! Discord's `retry-after` on a 429, and serenity's error type drops the response headers
//! (and with its rate limiter off, the body too). Failures are sorted into "try again later"
//! (with Discord's wait when it gave one) and "will never work", so the outbox can retry the
//! first and record the second. Embeds and buttons are built with serenity's builders, so a DM
//! looks exactly like an interaction reply.

use super::{convert, DiscordConfig};
use crate::engine::notices::ChannelProblem;
use crate::engine::Reply;
use crate::outbox::{Deliver, DeliveryError, Outgoing, Target};
use crate::store::{Pace, Store};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Discord's "Cannot send messages to this user": the member closed their DMs.
const DM_CLOSED: i64 = 50007;
/// Discord's "Unknown Channel".
const UNKNOWN_CHANNEL: i64 = 10003;
/// "Missing Access" and "Missing Permissions": the bot may not post there.
const NO_ACCESS: [i64; 2] = [50001, 50013];
/// A send that takes longer than this is abandoned and retried later.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest a request waits for its turn under the shared pace; a longer wait means the
/// pace is held back (a global 429), and the message goes back to the outbox to wait there
/// rather than past its lease. Turns taken by many concurrent senders come well within it
/// (150 at once at 45/s: under 4 s). `longest_send` counts it for each of a DM's two requests.
const LONGEST_PACE_WAIT: Duration = Duration::from_secs(10);
/// The longest a request waits for the database to reserve its turn.
const PACE_ASK: Duration = Duration::from_secs(2);

/// The longest `retry-after` a 429 is taken at its word for.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
    /// Rate limited, a Discord outage or a network error: try again later, after `after` when
    /// Discord said so.
    #[error("temporary failure: {reason}")]
    Retry {
        /// Discord's `retry-after`.
        after: Option<Duration>,
        /// What happened.
        reason: String,
        /// The request went and no answer says it was not taken (a 5xx, a connection that
        /// dropped or timed out after sending): Discord may have posted the message.
        maybe_taken: bool,
    },
    /// A 429: not a failure of this message, which waits `after` (Discord's `retry-after`)
    /// and is not counted as an attempt; `global` when the whole bot is held back, not just
    /// this route.
    #[error("rate limited{}", if *.global { " (global)" } else { "" })]
    RateLimited {
        after: Option<Duration>,
        global: bool,
    },
    /// A 401: the bot's token is no longer valid. No message can go until an operator fixes
    /// it, so none is counted as failed meanwhile.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Any other refusal; retrying will not help.
    #[error("refused: {0}")]
    Failed(String),
}

impl SendError {
    /// Whether sending again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SendError::Retry { .. } | SendError::RateLimited { .. } | SendError::Unauthorized(_)
        )
    }
}

/// A request that failed in the network. Only one that never connected was surely not taken.
fn network(e: &reqwest::Error) -> SendError {
    SendError::Retry {
        after: None,
        reason: format!("network: {e}"),
        maybe_taken: !e.is_connect(),
    }
}

/// Reads Discord's answer: the JSON body on success, a classified error otherwise.
async fn answer(response: Response) -> Result<Value, SendError> {
    let status = response.status();
    // Discord sends retry-after in seconds (fractions allowed), in a header and in the body.
    let header_wait = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let global_header = response
        .headers()
        .get("x-ratelimit-global")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || response
            .headers()
            .get("x-ratelimit-scope")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("global"));
    let body: Value = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        // A success whose answer was lost on the way: the message may exist, and only a
        // retry with its nonce inside the window learns its id.
        Err(e) if status.is_success() => {
            return Err(SendError::Retry {
                after: None,
                reason: format!("answer lost: {e}"),
                maybe_taken: true,
            })
        }
        Err(_) => Value::Null,
    };
    if status.is_success() {
        return Ok(body);
    }
    let code = body["code"].as_i64().unwrap_or(0);
    let message = body["message"].as_str().unwrap_or("").to_string();
    if status == StatusCode::TOO_MANY_REQUESTS {
        // Held to an hour: a wait beyond any Discord gives (`1e20`) would overflow the
        // instant it is added to, and hold the shared pace and the message for ever.
        let wait = header_wait
            .or_else(|| body["retry_after"].as_f64())
            .filter(|w| w.is_finite() && *w >= 0.0)
            .map(|w| w.min(LONGEST_RETRY_AFTER.as_secs_f64()));
        return Err(SendError::RateLimited {
            after: wait.map(Duration::from_secs_f64),
            global: global_header || body["global"].as_bool() == Some(true),
        });
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(SendError::Unauthorized(format!(
            "status 401, code {code}: {message}"
        )));
    }
    if status.is_server_error() {
        return Err(SendError::Retry {
            after: None,
            reason: format!("status {}", status.as_u16()),
            maybe_taken: true,
        });
    }
    Err(match code {
        DM_CLOSED => SendError::DmClosed,
        UNKNOWN_CHANNEL => SendError::UnknownChannel,
        c if NO_ACCESS.contains(&c) => SendError::NoAccess(message),
        _ => SendError::Failed(format!(
            "status {}, code {code}: {message}",
            status.as_u16()
        )),
    })
}

fn id_of(body: &Value) -> Result<u64, SendError> {
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| body["id"].as_u64())
        .ok_or_else(|| SendError::Failed("Discord's answer carried no id".into()))
}

/// The message JSON, built with serenity's builders and Discord's limits (see `convert`).
fn payload(reply: &Reply) -> Value {
    let mut value = serde_json::to_value(convert::message(reply)).unwrap_or_else(|_| json!({}));
    // Files are sent as parts; the JSON names them in order.
    value["attachments"] = reply
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"id": i, "filename": a.filename}))
        .collect::<Vec<_>>()
        .into();
    value
}

/// The nonce of an outbox message: the same for every attempt at it (its workspace and slot
/// key), 24 hex characters (Discord takes at most 25).
pub fn nonce(workspace: i64, dedupe_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{workspace}:{dedupe_key}").as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Requests per second the bot's senders allow themselves, all processes together: under
/// Discord's global 50 per bot, leaving room for the interaction edits and follow-ups the
/// gateway handlers send meanwhile.
pub const GLOBAL_PER_SECOND: u32 = 45;
/// Requests it may send at once after a quiet spell. No second holds more than
/// `GLOBAL_BURST + GLOBAL_PER_SECOND` slots (GCRA's bound): 46, which leaves room under 50 for
/// the jitter between reserving a slot and the request reaching Discord (on a loaded host
/// wake-ups come late, and late ones bunch up; with a burst of 5 two processes met 429s).
const GLOBAL_BURST: u32 = 1;

/// Sends messages through Discord's REST API.
#[derive(Clone)]
pub struct Sender {
    client: Client,
    base: String,
    token: String,
    store: Store,
}

impl Sender {
    /// A sender for the configured Discord (or `api_base`).
    pub fn new(config: &DiscordConfig, store: Store) -> anyhow::Result<Sender> {
        let client = Client::builder()
            .timeout(SEND_TIMEOUT)
            .user_agent("DiscordBot (https://github.com/salesbot, 0.1)")
            .build()
            .map_err(|e| anyhow::anyhow!("failed to build the HTTP client: {e}"))?;
        let base = config
            .api_base
            .clone()
            .unwrap_or_else(|| "https://discord.com".into())
            .trim_end_matches('/')
            .to_string();
        Ok(Sender {
            client,
            base,
            token: format!("Bot {}", config.token),
            store,
        })
    }

    /// Waits for this request's turn under Discord's global limit, which is per bot: every
    /// process reserves its slot in the one pace they share, so a digest for thousands of
    /// workspaces goes out at the highest rate Discord allows, from however many processes,
    /// instead of in 429 storms.
    async fn pace(&self) -> Result<(), SendError> {
        let interval = std::time::Duration::from_secs(1) / GLOBAL_PER_SECOND;
        // Bounded like the pace's own wait, so the time a send may take stays what the
        // lease check counts (`longest_send`); a database that does not answer in time is
        // one out of reach.
        let reserved = tokio::time::timeout(
            PACE_ASK,
            self.store.reserve_slot(Pace::Send, interval, GLOBAL_BURST),
        )
        .await
        .unwrap_or_else(|_| {
            Err(crate::store::StoreError::Unexpected(anyhow::anyhow!(
                "no answer within {PACE_ASK:?}"
            )))
        });
        match reserved {
            // Held back past what a send may wait (a global 429's retry-after): waiting here
            // would outlast the message's lease, so it goes back to the outbox to wait there.
            Ok(wait) if wait > LONGEST_PACE_WAIT => Err(SendError::RateLimited {
                after: Some(wait),
                global: true,
            }),
            Ok(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Err(e) => {
                // Without the shared pace this process cannot know what the others send, and a
                // pace of its own beside theirs would go past Discord's limit: the message
                // waits in the outbox a second (if the hand-back cannot be recorded either,
                // its lease brings it back). A send it could not record would be sent again.
                tracing::warn!(error = %e, "shared send pace unavailable; the message waits");
                // Counted apart: the outbox counts the hand-back as a global rate limit, which a
                // dashboard would read as Discord's.
                metrics::counter!("salesbot_send_pace_unavailable_total").increment(1);
                Err(SendError::RateLimited {
                    after: Some(std::time::Duration::from_secs(1)),
                    global: true,
                })
            }
        }
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, SendError> {
        self.pace().await?;
        let response = self
            .client
            .post(format!("{}/api/v10{path}", self.base))
            .header("Authorization", &self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| network(&e))?;
        self.held_back(answer(response).await).await
    }

    /// A global 429 holds every process back, not only this request: the shared pace is
    /// pushed past Discord's `retry-after`, so no process sends into the limit meanwhile.
    async fn held_back<T>(&self, answer: Result<T, SendError>) -> Result<T, SendError> {
        if let Err(SendError::RateLimited {
            after: Some(wait),
            global: true,
        }) = &answer
        {
            let interval = std::time::Duration::from_secs(1) / GLOBAL_PER_SECOND;
            if let Err(e) = self
                .store
                .hold_pace(Pace::Send, *wait, interval, GLOBAL_BURST)
                .await
            {
                tracing::warn!(error = %e, "could not hold the shared send pace back");
            }
        }
        answer
    }

    /// Posts a message. With a `nonce` Discord enforces it (`enforce_nonce`): a second post with
    /// the same nonce within a few minutes returns the first message instead of a new one, so
    /// a retry after a crash between Discord's answer and the outbox's record posts once.
    async fn post_message(
        &self,
        channel: u64,
        reply: &Reply,
        nonce: Option<&str>,
    ) -> Result<u64, SendError> {
        let path = format!("/channels/{channel}/messages");
        let mut body = payload(reply);
        if let Some(n) = nonce {
            body["nonce"] = json!(n);
            body["enforce_nonce"] = json!(true);
        }
        if reply.attachments.is_empty() {
            return id_of(&self.post_json(&path, &body).await?);
        }
        let mut form = Form::new().part(
            "payload_json",
            Part::text(body.to_string())
                .mime_str("application/json")
                .map_err(|e| SendError::Failed(e.to_string()))?,
        );
        for (i, a) in reply.attachments.iter().enumerate() {
            let part = Part::bytes(a.data.clone())
                .file_name(a.filename.clone())
                .mime_str(&a.content_type)
                .map_err(|e| SendError::Failed(format!("attachment {}: {e}", a.filename)))?;
            form = form.part(format!("files[{i}]"), part);
        }
        self.pace().await?;
        let response = self
            .client
            .post(format!("{}/api/v10{path}", self.base))
            .header("Authorization", &self.token)
            .multipart(form)
            .send()
            .await
            .map_err(|e| network(&e))?;
        id_of(&self.held_back(answer(response).await).await?)
    }

    /// Sends a direct message; returns the message id. A member with closed DMs is recorded
    /// in `members.dm_closed` so nothing keeps trying until they next use the bot.
    pub async fn dm(
        &self,
        workspace: i64,
        user: u64,
        reply: &Reply,
        nonce: Option<&str>,
    ) -> Result<u64, SendError> {
        let result = async {
            let channel = self
                .post_json(
                    "/users/@me/channels",
                    &json!({"recipient_id": user.to_string()}),
                )
                .await
                .map_err(|e| match e {
                    // Opening a DM channel is one route for every recipient: its limit holds
                    // every DM back, not only this member's.
                    SendError::RateLimited { after, .. } => SendError::RateLimited {
                        after,
                        global: true,
                    },
                    // No message went with it.
                    SendError::Retry { after, reason, .. } => SendError::Retry {
                        after,
                        reason,
                        maybe_taken: false,
                    },
                    other => other,
                })?;
            self.post_message(id_of(&channel)?, reply, nonce).await
        }
        .await;
        if result == Err(SendError::DmClosed) {
            if let Err(e) = self.store.mark_dm_closed(workspace, user as i64).await {
                tracing::warn!(error = %e, "could not record closed DMs");
            }
        }
        result
    }

    /// Posts in a channel; returns the message id.
    pub async fn channel(
        &self,
        channel: u64,
        reply: &Reply,
        nonce: Option<&str>,
    ) -> Result<u64, SendError> {
        self.post_message(channel, reply, nonce).await
    }
}

/// The outbox delivers through Discord's REST API: a 429 or 5xx is retried (with Discord's
/// wait when it gave one), anything else is recorded as permanent.
impl Deliver for Sender {
    async fn deliver(&self, m: &Outgoing) -> Result<u64, DeliveryError> {
        let n = nonce(m.workspace_id, &m.dedupe_key);
        let result = match m.target {
            Target::Dm(user) => self.dm(m.workspace_id, user, &m.reply, Some(&n)).await,
            Target::Channel(channel) => self.channel(channel, &m.reply, Some(&n)).await,
        };
        result.map_err(|e| match e {
            SendError::UnknownChannel if matches!(m.target, Target::Channel(_)) => {
                DeliveryError::ChannelUnusable(ChannelProblem::Gone, e.to_string())
            }
            SendError::NoAccess(_) if matches!(m.target, Target::Channel(_)) => {
                DeliveryError::ChannelUnusable(ChannelProblem::NoAccess, e.to_string())
            }
            SendError::Retry {
                after,
                reason,
                maybe_taken,
            } => DeliveryError::Retry {
                after,
                reason: format!("temporary failure: {reason}"),
                maybe_taken,
            },
            SendError::RateLimited { after, global } => DeliveryError::RateLimited {
                // Discord always says how long; a 429 without it waits a second.
                after: after.unwrap_or(Duration::from_secs(1)),
                global,
            },
            SendError::Unauthorized(why) => DeliveryError::Halt(format!(
                "Discord refused the bot's token ({why}): check DISCORD_TOKEN"
            )),
            permanent => DeliveryError::Permanent(permanent.to_string()),
        })
    }

    /// A DM is two requests (its channel, then the message), each with its timeout and its
    /// turn under the shared pace.
    fn longest_send(&self) -> Duration {
        2 * (SEND_TIMEOUT + PACE_ASK + LONGEST_PACE_WAIT)
    }
}
