//! Gateway starts that follow Discord's `max_concurrency` buckets across processes.
//!
//! Discord lets a bot IDENTIFY once per 5 seconds in each rate-limit bucket, the bucket of a
//! shard being `shard_id % max_concurrency` (`GET /gateway/bot`), counted over all the bot's
//! connections; an IDENTIFY over the limit is answered with INVALID_SESSION. serenity 0.12.5
//! spaces the starts of one process's shards 5 s apart and knows nothing of other processes,
//! so two processes started together (a deploy, a restart after a crash) identify at once.
//! serenity has no hook before an IDENTIFY, but it opens every gateway connection to
//! `Client::ws_url`: when a process runs a range of shards, that URL is this relay on
//! 127.0.0.1, which passes frames both ways unchanged and holds a connection's IDENTIFY until
//! its bucket's slot in the pace all processes share in the database (`Pace::Identify`).
//! RESUMEs are not limited and pass at once.

use crate::store::{Pace, Store};
use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

/// Discord's window per bucket, plus a margin: a slot is kept on the database's clock and
/// the frame still has to travel to Discord after it.
pub const IDENTIFY_SPACING: Duration = Duration::from_millis(5_500);
/// How long a start waits for the database to hand out its slot.
const ASK_FOR: Duration = Duration::from_secs(2);

/// Where IDENTIFYs wait for their bucket's turn.
#[derive(Clone)]
pub struct IdentifyGate {
    store: Store,
    max_concurrency: u16,
    /// Each bucket's starts when the database cannot be asked (this process alone then).
    fallback: Arc<governor::DefaultKeyedRateLimiter<u16>>,
}

impl IdentifyGate {
    pub fn new(store: Store, max_concurrency: u16) -> IdentifyGate {
        IdentifyGate {
            store,
            max_concurrency: max_concurrency.max(1),
            fallback: Arc::new(governor::RateLimiter::keyed(
                governor::Quota::with_period(IDENTIFY_SPACING)
                    .expect("a non-zero spacing")
                    .allow_burst(NonZeroU32::MIN),
            )),
        }
    }

    /// The rate-limit bucket of a shard.
    pub fn bucket(&self, shard: u32) -> u16 {
        // The remainder is below max_concurrency, a u16.
        (shard % u32::from(self.max_concurrency)) as u16
    }

    /// Waits until shard `shard` may identify.
    pub async fn wait(&self, shard: u32) {
        let bucket = self.bucket(shard);
        // During a database outage the pool would hold the start for its whole acquire
        // timeout; the gateway must come up to answer "try again" meanwhile.
        let reserved = tokio::time::timeout(
            ASK_FOR,
            self.store
                .reserve_slot(Pace::Identify(bucket), IDENTIFY_SPACING, 1),
        )
        .await
        .map_err(|_| format!("no answer within {ASK_FOR:?}"))
        .and_then(|r| r.map_err(|e| e.to_string()));
        let wait = match reserved {
            Ok(wait) => wait,
            Err(why) => {
                tracing::warn!(%why, shard, bucket, "identify pace unavailable; spacing this process's starts only");
                self.fallback.until_key_ready(&bucket).await;
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tracing::info!(
                shard,
                bucket,
                wait_ms = wait.as_millis() as u64,
                "waiting for the gateway start slot"
            );
            metrics::counter!("salesbot_gateway_identify_waits_total").increment(1);
            tokio::time::sleep(wait).await;
        }
    }
}

/// The running relay: the address serenity connects to; it stops accepting when dropped.
pub struct Relay {
    pub url: String,
    accept: tokio::task::AbortHandle,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Starts the relay in front of `upstream` (the gateway address Discord gave).
pub async fn relay(upstream: String, gate: IdentifyGate) -> anyhow::Result<Relay> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the gateway relay on 127.0.0.1")?;
    let local = format!(
        "ws://{}",
        listener.local_addr().context("gateway relay address")?
    );
    tracing::info!(%upstream, %local, max_concurrency = gate.max_concurrency, "gateway starts paced across processes");
    let accept = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, upstream.clone(), gate.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gateway relay: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(Relay {
        url: local,
        accept: accept.abort_handle(),
    })
}

/// serenity's and tungstenite's limits off, as serenity sets them for its own connections.
fn config() -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: None,
        max_frame_size: None,
        ..Default::default()
    }
}

/// One gateway connection: serenity's side accepted, Discord's opened with the same query
/// (`?v=10`), then frames relayed until either side closes.
// The handshake callback's error type is tungstenite's (an HTTP response), not ours.
#[allow(clippy::result_large_err)]
async fn serve(stream: TcpStream, upstream: String, gate: IdentifyGate) {
    let mut query = String::new();
    let accepted = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |request: &Request, response: Response| {
            query = request
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            Ok(response)
        },
        Some(config()),
    )
    .await;
    let mut down = match accepted {
        Ok(ws) => ws,
        Err(e) => {
            tracing::warn!(error = %e, "gateway relay: handshake with the client failed");
            return;
        }
    };
    let target = format!("{}/{query}", upstream.trim_end_matches('/'));
    let mut up =
        match tokio_tungstenite::connect_async_with_config(target.as_str(), Some(config()), false)
            .await
        {
            Ok((ws, _)) => ws,
            Err(e) => {
                tracing::warn!(error = %e, "gateway relay: cannot reach the gateway");
                // serenity treats an abnormal close as a dropped connection and reconnects.
                let _ = down
                    .close(Some(CloseFrame {
                        code: CloseCode::Again,
                        reason: "gateway unreachable".into(),
                    }))
                    .await;
                return;
            }
        };
    loop {
        tokio::select! {
            from_discord = up.next() => match from_discord {
                Some(Ok(Message::Close(frame))) => {
                    // The close code (4004 bad token, 4014 intents, ...) is what serenity acts on.
                    let _ = down.send(Message::Close(frame)).await;
                    break;
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if down.send(m).await.is_err() {
                        break;
                    }
                }
                // Pings are answered by each hop itself.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    let _ = down
                        .close(Some(CloseFrame { code: CloseCode::Abnormal, reason: "gateway connection lost".into() }))
                        .await;
                    break;
                }
            },
            from_bot = down.next() => match from_bot {
                Some(Ok(Message::Text(text))) => {
                    if let Some(shard) = identifies(&text) {
                        gate.wait(shard).await;
                    }
                    if up.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = up.send(Message::Close(frame)).await;
                    break;
                }
                Some(Ok(m @ Message::Binary(_))) => {
                    if up.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    let _ = up.close(None).await;
                    break;
                }
            },
        }
    }
}

/// The shard an IDENTIFY frame starts (`[0, 1]` when it names none), or None for any other
/// frame.
fn identifies(text: &str) -> Option<u32> {
    #[derive(Deserialize)]
    struct Frame {
        op: u8,
        #[serde(default)]
        d: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(default)]
        shard: Option<(u32, u32)>,
    }
    // Cheap test first: every heartbeat passes through here.
    if !text.contains("\"op\":2") && !text.contains("\"op\": 2") {
        return None;
    }
    let frame: Frame = serde_json::from_str(text).ok()?;
    (frame.op == 2).then(|| frame.d.and_then(|d| d.shard).map_or(0, |(id, _)| id))
}

#[cfg(test)]
mod tests {
    use super::{identifies, IdentifyGate, IDENTIFY_SPACING};
    use crate::store::Store;
    use std::time::Duration;

    #[tokio::test]
    async fn without_the_database_a_process_spaces_its_own_starts() {
        use governor::clock::{Clock, DefaultClock};
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
            .expect("a lazy pool");
        let gate = IdentifyGate::new(Store::from_pool(pool), 2);
        // The pool would retry for its 30 s acquire timeout; the start gives up after ASK_FOR
        // and takes this process's own first slot of bucket 0.
        gate.wait(0).await;
        let next = gate
            .fallback
            .check_key(&0)
            .expect_err("bucket 0 was just used")
            .wait_time_from(DefaultClock::default().now());
        assert!(
            next > Duration::from_secs(5) && next <= IDENTIFY_SPACING,
            "{next:?}"
        );
        assert!(gate.fallback.check_key(&1).is_ok(), "another bucket");
    }

    #[test]
    fn only_an_identify_waits_and_its_shard_is_read() {
        assert_eq!(
            identifies(r#"{"op":2,"d":{"token":"T","shard":[3,8],"intents":1}}"#),
            Some(3)
        );
        assert_eq!(
            identifies(r#"{"op":2,"d":{"token":"T","intents":1}}"#),
            Some(0)
        );
        assert_eq!(identifies(r#"{"op":1,"d":42}"#), None);
        assert_eq!(
            identifies(r#"{"op":6,"d":{"session_id":"s","seq":2,"token":"T"}}"#),
            None
        );
        // A frame that only mentions the text is not an IDENTIFY.
        assert_eq!(
            identifies(r#"{"op":3,"d":{"activities":[{"name":"\"op\":2"}]}}"#),
            None
        );
    }
}
