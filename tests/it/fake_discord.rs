//! A fake Discord for integration tests: a REST server (axum) and a gateway websocket
//! (tokio-tungstenite) on 127.0.0.1, good enough for the real serenity 0.12.5 client.
//!
//! How a test uses it:
//! 1. `FakeDiscord::start()`, then build the bot with `api_base()` as its REST proxy
//!    (`HttpBuilder::proxy`, with the ratelimiter disabled) and start it.
//! 2. `wait_sessions(1, ..)` until the bot has identified.
//! 3. `send_interaction(command(..))` and friends, then `wait_callback` / `wait_request` to read
//!    what the bot answered.
//! 4. Failure injection: `script` (any status, once each), `close_dms`, `unknown_channel`,
//!    `drop_gateway` (forces a RESUME).
//!
//! Sharding, as Discord does it: the fake serves any number of gateway sessions at once, each
//! the shard its IDENTIFY named (`[0, 1]` when it named none). A dispatch about a guild goes
//! only to the session of shard `(guild_id >> 22) % total`; one about no guild goes to shard 0.
//! A dispatch for a shard with no live session is held and written once a session for that
//! shard is up. Each interaction takes one initial callback; a second is refused with 400
//! "Interaction has already been acknowledged", as on Discord. Starts are limited as on
//! Discord: one IDENTIFY per 5 s in each bucket `shard % max_concurrency` (`GET /gateway/bot`
//! says `max_concurrency`, 1 unless a test sets it); one over the limit gets INVALID_SESSION.
//!
//! Protocol facts (required JSON fields, `s` on every dispatch, `RESUMED` with `d:{}`, ...) come
//! from checking serenity 0.12.5 against a hand-written fake; serenity silently drops payloads it
//! cannot parse, which is why every interaction is checked against serenity's own types before
//! it is sent. Nothing here sleeps: waits are on a `watch` channel bumped on every change.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The bot's application id (also its user id), sent in READY and in every interaction.
pub const APP_ID: u64 = 900000000000000001;
/// The default guild of the fixtures.
pub const GUILD_ID: u64 = 800000000000000001;
/// The default channel of the fixtures.
pub const CHANNEL_ID: u64 = 810000000000000001;

/// DM channel ids are derived from the recipient: `DM_CHANNEL_BASE + user_id`.
const DM_CHANNEL_BASE: u64 = 5_000_000_000;
/// First id handed out for messages the fake creates; each new message takes the next one.
const FIRST_MESSAGE_ID: u64 = 840000000000000001;
/// Heartbeat interval sent in HELLO: long, so tests never depend on heartbeat timing.
const HEARTBEAT_INTERVAL_MS: u64 = 41250;
/// Discord's start limit: one IDENTIFY per this window in each `max_concurrency` bucket.
const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);
/// The timestamp on every fixture and every message the fake returns.
const TIMESTAMP: &str = "2026-12-01T09:00:00.000000+00:00";
/// Permission bits of an ordinary member: VIEW_CHANNEL, SEND_MESSAGES, READ_MESSAGE_HISTORY,
/// USE_APPLICATION_COMMANDS (no MANAGE_GUILD, no ADMINISTRATOR).
const MEMBER_PERMISSIONS: u64 = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31);
/// MANAGE_GUILD, the bit that makes a caller an admin.
const MANAGE_GUILD: u64 = 1 << 5;

/// A REST request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The HTTP method: "POST", "PUT", "PATCH", ...
    pub method: String,
    /// The path, e.g. "/api/v10/interactions/700.../tok-700.../callback" (with `?query` appended
    /// if there was one; serenity sends none on the routes the bot uses).
    pub path: String,
    /// The JSON body, or the parsed `payload_json` part of a multipart body; `Null` if none.
    /// A body that is not JSON is kept as a JSON string of its text.
    pub json: Value,
    /// The file parts of a multipart body, in order.
    pub files: Vec<RecordedFile>,
    /// When the request arrived.
    pub at: Instant,
    /// A callback's body not yet parsed into `json` ([`FakeDiscord::defer_callback_bodies`]):
    /// every reader of the requests parses it first, so no test sees it unparsed.
    unparsed: Option<axum::body::Bytes>,
}

/// One file part of a multipart request.
#[derive(Clone, Debug)]
pub struct RecordedFile {
    /// The form field name, e.g. "files[0]".
    pub field: String,
    /// The file name, e.g. "chart.png".
    pub filename: String,
    /// The part's content type, e.g. "image/png" (empty if the part had none).
    pub content_type: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// A message the fake created for a POST to a channel.
#[derive(Clone, Debug)]
pub struct Posted {
    /// The channel (a DM channel is `DM_CHANNEL_BASE + user`).
    pub channel: u64,
    /// The nonce it was posted with under `enforce_nonce`, if any.
    pub nonce: Option<String>,
    /// Its message id.
    pub id: u64,
    /// Its text.
    pub content: String,
}

/// A scripted reply: status, JSON body (`Null` for an empty body) and extra headers.
pub type Reply = (u16, Value, Vec<(String, String)>);

/// Replies queued by `FakeDiscord::script` for requests with this method and path prefix.
struct Script {
    /// The method to match, upper case.
    method: String,
    /// The path prefix to match.
    path_prefix: String,
    /// Replies still to use, first one next.
    replies: VecDeque<Reply>,
}

/// A gateway connection the fake talks on.
struct Conn {
    /// Connection number, counted from 1, for the log.
    id: usize,
    /// Frames to write on it. Dropping this sender ends the connection task, which closes the
    /// socket: that is how a newer connection for the same shard replaces an older one.
    tx: mpsc::UnboundedSender<WsMessage>,
    /// The session it carries, set once READY or RESUMED has been written on it; dispatches
    /// go to it only then.
    session: Option<String>,
}

/// Which shard a session is: `[id, total]` of its IDENTIFY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shard {
    id: u64,
    total: u64,
}

impl Shard {
    /// The shard an IDENTIFY asked for: its `shard` array, else the whole bot (`[0, 1]`).
    fn of_identify(d: &Value) -> Shard {
        match (d["shard"][0].as_u64(), d["shard"][1].as_u64()) {
            (Some(id), Some(total)) if total > 0 && id < total => Shard { id, total },
            _ => Shard { id: 0, total: 1 },
        }
    }

    /// Whether Discord sends this shard the events of `guild` (events about no guild, such as
    /// DMs, go to shard 0).
    fn owns(&self, guild: Option<u64>) -> bool {
        match guild {
            Some(g) => (g >> 22) % self.total == self.id,
            None => self.id == 0,
        }
    }
}

/// A gateway session: its shard and the last `s` sent on it (kept across resumes).
struct GatewaySession {
    shard: Shard,
    seq: u64,
}

/// A dispatch waiting for a session of its shard.
struct Held {
    /// The guild it is about, if any (decides the shard).
    guild: Option<u64>,
    /// The event name, e.g. INTERACTION_CREATE.
    event: String,
    /// Its `d`.
    d: Value,
}

/// Where a dispatch went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Written to this connection (numbered from 1, as in the gateway log).
    Sent { conn: usize },
    /// No live session serves its shard: held until one does.
    Held,
}

/// Everything the fake knows. A std mutex guards it: it is never held across an await, and
/// the blocking accessors (`requests`, `script`, ...) need it from sync code.
#[derive(Default)]
struct Inner {
    /// Every REST request, in arrival order.
    requests: Vec<Recorded>,
    /// IDENTIFY frames received.
    identifies: usize,
    /// The `shard` array of each IDENTIFY (`[id, total]`), `Null` when absent.
    identify_shards: Vec<Value>,
    /// RESUME frames received.
    resumes: usize,
    /// `max_concurrency` of `GET /gateway/bot` (0 is taken as 1, Discord's value for most bots).
    max_concurrency: u64,
    /// When each rate-limit bucket (`shard % max_concurrency`) last started a session.
    identified_at: HashMap<u64, Instant>,
    /// IDENTIFYs refused with INVALID_SESSION for coming within 5 s of another in their bucket.
    identifies_refused: usize,
    /// READY plus RESUMED frames written.
    sessions: usize,
    /// The open gateway connections, oldest first.
    conns: Vec<Conn>,
    /// Every session handed out in READY, by session id.
    gateway_sessions: HashMap<String, GatewaySession>,
    /// Dispatches waiting for a live session of their shard, in order.
    held: Vec<Held>,
    /// Interactions whose initial callback was accepted, by id.
    acknowledged: HashSet<String>,
    /// Connections accepted so far (numbers the next one).
    conns_seen: usize,
    /// A line per gateway event, for failure messages.
    gateway_log: Vec<String>,
    /// Scripted replies, matched in the order they were added.
    scripts: Vec<Script>,
    /// Users whose DM channels refuse messages.
    closed_dms: HashSet<u64>,
    /// Channels that answer 404 Unknown Channel.
    unknown_channels: HashSet<u64>,
    /// Messages created so far (the next message id is `FIRST_MESSAGE_ID + this`).
    messages_created: u64,
    /// Discord's global limit when a test asks for it: requests per second across all routes,
    /// past which the answer is a global 429 (interaction callbacks are exempt, as on Discord).
    global_limit: Option<usize>,
    /// Arrival times of the requests the global limit counts.
    global_window: VecDeque<Instant>,
    /// Global 429s answered.
    global_429s: usize,
    /// Messages posted with `enforce_nonce`, by nonce: a repeat by the same author (the fake
    /// has one, the bot) returns the first, in whichever channel, as Discord does for a few
    /// minutes (here for the fake's life).
    nonces: HashMap<String, Value>,
    /// Messages created by POSTs to channels, in order.
    posted: Vec<Posted>,
    /// The next message posts that are taken (the message exists, its nonce kept) and answered
    /// with a 500, as when Discord's answer is lost on the way back.
    take_then_fail: usize,
    /// The message id of each interaction token's original response.
    originals: HashMap<String, u64>,
    /// Files served on GET at their path, as Discord's CDN serves attachments.
    files: HashMap<String, Vec<u8>>,
    /// Interaction callbacks' bodies are kept as bytes and parsed when the requests are read.
    defer_callback_bodies: bool,
}

impl Inner {
    /// The requests so far, every body parsed.
    fn settled_requests(&mut self) -> &[Recorded] {
        for r in &mut self.requests {
            if let Some(b) = r.unparsed.take() {
                r.json = json_body(&b);
            }
        }
        &self.requests
    }

    /// The live connection (its index) whose session's shard receives `guild`'s events.
    fn conn_for(&self, guild: Option<u64>) -> Option<usize> {
        self.conns.iter().position(|c| {
            c.session
                .as_ref()
                .and_then(|id| self.gateway_sessions.get(id))
                .is_some_and(|g| g.shard.owns(guild))
        })
    }

    /// Writes a dispatch with the session's next `s` on connection `index`; its number, or `d`
    /// back when the connection cannot take it.
    fn send_on(&mut self, index: usize, event: &str, d: Value) -> Result<usize, Value> {
        self.send_serialized_on(index, event, &d.to_string())
            .map_err(|()| d)
    }

    /// `send_on` with the event's `d` already serialized (`d_json`).
    fn send_serialized_on(&mut self, index: usize, event: &str, d_json: &str) -> Result<usize, ()> {
        let conn = &self.conns[index];
        let (conn_id, tx) = (conn.id, conn.tx.clone());
        let Some(session) = conn
            .session
            .as_ref()
            .and_then(|id| self.gateway_sessions.get_mut(id))
        else {
            return Err(());
        };
        let frame = format!(
            r#"{{"op":0,"s":{},"t":{},"d":{d_json}}}"#,
            session.seq + 1,
            Value::from(event)
        );
        if tx.send(WsMessage::Text(frame)).is_err() {
            return Err(());
        }
        session.seq += 1;
        let seq = session.seq;
        self.gateway_log
            .push(format!("conn#{conn_id} -> {event} s={seq}"));
        Ok(conn_id)
    }

    /// Writes the held dispatches that the live connection `index` now receives, in order.
    fn flush_held(&mut self, index: usize) {
        let Some(shard) = self.conns[index]
            .session
            .as_ref()
            .and_then(|id| self.gateway_sessions.get(id))
            .map(|g| g.shard)
        else {
            return;
        };
        let (mine, rest): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| shard.owns(h.guild));
        self.held = rest;
        for h in mine {
            if let Err(d) = self.send_on(index, &h.event, h.d) {
                self.held.push(Held { d, ..h });
            }
        }
    }
}

/// The guild a dispatch is about: `d.guild_id`, or `d.id` for the guild's own events.
fn guild_of(event: &str, d: &Value) -> Option<u64> {
    let id = match event {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => &d["id"],
        _ => &d["guild_id"],
    };
    match id {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}

/// State shared by the handle and the server tasks.
struct Shared {
    /// The mutable state.
    inner: StdMutex<Inner>,
    /// Bumped after every change, so waiters can re-check without polling.
    changed: watch::Sender<u64>,
    /// The gateway URL given out by `GET /api/v10/gateway`.
    ws_url: String,
}

impl Shared {
    /// Locks the state; a panic in another thread while holding it does not hide the state.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiter.
    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Appends a line to the gateway log.
    fn log(&self, line: String) {
        self.lock().gateway_log.push(line);
    }
}

/// The gateway log, one event per line, for failure messages.
fn describe_gateway(s: &Inner) -> String {
    if s.gateway_log.is_empty() {
        "(no gateway activity)".to_string()
    } else {
        s.gateway_log.join("\n  ")
    }
}

/// A fake Discord: REST and gateway on 127.0.0.1, serving until dropped.
pub struct FakeDiscord {
    /// The state shared with the server tasks.
    shared: Arc<Shared>,
    /// "http://127.0.0.1:PORT".
    api_base: String,
    /// Tells the REST server to shut down (gracefully) when the fake is dropped.
    rest_shutdown: Option<oneshot::Sender<()>>,
    /// The gateway accept loop, aborted on drop.
    gateway_task: AbortHandle,
}

impl FakeDiscord {
    /// Binds REST and gateway on 127.0.0.1 port 0 and serves until dropped.
    pub async fn start() -> FakeDiscord {
        let rest = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake REST");
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake gateway");
        let api_base = format!("http://{}", rest.local_addr().expect("REST address"));
        let ws_url = format!("ws://{}", gateway.local_addr().expect("gateway address"));
        let shared = Arc::new(Shared {
            inner: StdMutex::new(Inner::default()),
            changed: watch::Sender::new(0),
            ws_url,
        });

        let app = Router::new()
            .fallback(rest_handler)
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let (rest_shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(rest, app)
                .tcp_nodelay(true)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await;
        });
        let gateway_task = tokio::spawn(accept_gateway(gateway, shared.clone())).abort_handle();

        FakeDiscord {
            shared,
            api_base,
            rest_shutdown: Some(rest_shutdown),
            gateway_task,
        }
    }

    /// The value for DISCORD_API_BASE / HttpBuilder::proxy, e.g. "http://127.0.0.1:41234".
    pub fn api_base(&self) -> String {
        self.api_base.clone()
    }

    /// Waits until the bot has identified (READY sent) or resumed (RESUMED sent) `n` times in
    /// total; panics with a clear message after `timeout`.
    pub async fn wait_sessions(&self, n: usize, timeout: Duration) {
        let reached = self
            .wait_until(timeout, || (self.shared.lock().sessions >= n).then_some(()))
            .await;
        if reached.is_none() {
            let s = self.shared.lock();
            panic!(
                "fake discord: waited {timeout:?} for {n} gateway session(s) (READY or RESUMED sent), \
                 got {} ({} IDENTIFY, {} RESUME received); gateway log:\n  {}",
                s.sessions,
                s.identifies,
                s.resumes,
                describe_gateway(&s)
            );
        }
    }

    /// Enforces Discord's global rate limit from now on: at most `per_second` requests in any
    /// second (interaction callbacks aside), a global 429 past it.
    pub fn enforce_global_limit(&self, per_second: usize) {
        self.shared.lock().global_limit = Some(per_second);
    }

    /// Global 429s answered so far.
    pub fn global_429s(&self) -> usize {
        self.shared.lock().global_429s
    }

    /// The `shard` array of every IDENTIFY so far.
    /// Sets `max_concurrency` (what `GET /gateway/bot` says and the start limit's buckets).
    pub fn set_max_concurrency(&self, n: u64) {
        self.shared.lock().max_concurrency = n;
    }

    /// IDENTIFYs refused for breaking the start limit (one per 5 s per bucket).
    pub fn identifies_refused(&self) -> usize {
        self.shared.lock().identifies_refused
    }

    pub fn identify_shards(&self) -> Vec<Value> {
        self.shared.lock().identify_shards.clone()
    }

    /// Number of IDENTIFY and RESUME frames received so far: (identifies, resumes).
    pub fn session_counts(&self) -> (usize, usize) {
        let s = self.shared.lock();
        (s.identifies, s.resumes)
    }

    /// Sends a dispatch (op 0, the session's next `s`) to the live session of the shard that
    /// owns the event's guild (`d.guild_id`, or `d.id` for GUILD_CREATE/UPDATE/DELETE; shard 0
    /// for an event about no guild).
    ///
    /// Live means READY or RESUMED has been sent on the connection. With no live session for
    /// that shard (none yet, or after `drop_gateway` or a killed process) the event is held and
    /// written, in order, right after the next READY or RESUMED of that shard. That is a model
    /// of Discord's replay: real Discord replays missed events only on RESUME, to the session
    /// that missed them; an event written to a connection that then died is lost, and a test
    /// that needs it sends it again (the same interaction id), as Discord's replay would.
    pub async fn dispatch(&self, event: &str, d: Value) -> Delivery {
        let guild = guild_of(event, &d);
        let mut s = self.shared.lock();
        // Sent under the lock so frames leave in `s` order.
        let held = match s.conn_for(guild) {
            Some(index) => match s.send_on(index, event, d) {
                Ok(conn) => {
                    drop(s);
                    self.shared.bump();
                    return Delivery::Sent { conn };
                }
                Err(d) => d,
            },
            None => d,
        };
        s.gateway_log.push(format!(
            "held {event} (guild {guild:?}): no live session of its shard"
        ));
        s.held.push(Held {
            guild,
            event: event.to_string(),
            d: held,
        });
        drop(s);
        self.shared.bump();
        Delivery::Held
    }

    /// `dispatch` with the payload already serialized (`d_json`, for the shard of `guild`): a
    /// load generator builds its payloads before its clock starts, so that the fake's own work
    /// for each event, on the cores the bot is measured on, is the frame alone.
    pub async fn dispatch_serialized(
        &self,
        event: &str,
        guild: Option<u64>,
        d_json: &str,
    ) -> Delivery {
        {
            let mut s = self.shared.lock();
            if let Some(conn) = s
                .conn_for(guild)
                .and_then(|index| s.send_serialized_on(index, event, d_json).ok())
            {
                drop(s);
                self.shared.bump();
                return Delivery::Sent { conn };
            }
        }
        // No live session: held as any other dispatch (a model of replay, not a hot path).
        let d: Value = serde_json::from_str(d_json)
            .unwrap_or_else(|e| panic!("fake discord: dispatch of unreadable JSON: {e}"));
        self.dispatch(event, d).await
    }

    /// Waits until a live gateway session serves shard `shard` (of any total); panics with the
    /// gateway log after `timeout`.
    pub async fn wait_shard(&self, shard: u64, timeout: Duration) {
        let live = || {
            let s = self.shared.lock();
            s.conns
                .iter()
                .filter_map(|c| c.session.as_ref())
                .filter_map(|id| s.gateway_sessions.get(id))
                .any(|g| g.shard.id == shard)
                .then_some(())
        };
        if self.wait_until(timeout, live).await.is_none() {
            let s = self.shared.lock();
            panic!(
                "fake discord: waited {timeout:?} for a live session of shard {shard}; \
                 gateway log:\n  {}",
                describe_gateway(&s)
            );
        }
    }

    /// Dispatches still held for want of a live session of their shard.
    pub fn held(&self) -> usize {
        self.shared.lock().held.len()
    }

    /// The gateway log, one event per line, for a test's own failure messages.
    pub fn gateway_log(&self) -> String {
        describe_gateway(&self.shared.lock())
    }

    /// Every message created by a POST to a channel (a DM or a channel post), in order; a
    /// repeated `enforce_nonce` post returns the first message and is not listed again.
    pub fn posted(&self) -> Vec<Posted> {
        self.shared.lock().posted.clone()
    }

    /// Sends INTERACTION_CREATE with this payload.
    ///
    /// The payload is first deserialized as `serenity::all::Interaction` (always, not only in
    /// debug builds); this panics with serde's error otherwise, because serenity silently drops
    /// payloads it cannot parse.
    pub async fn send_interaction(&self, interaction: Value) -> Delivery {
        if let Err(e) = serde_json::from_value::<serenity::all::Interaction>(interaction.clone()) {
            panic!(
                "fake discord: serenity would drop this interaction: {e}\npayload: {interaction}"
            );
        }
        self.dispatch("INTERACTION_CREATE", interaction).await
    }

    /// Closes the newest gateway websocket with close code 4000 so the bot must reconnect and
    /// RESUME. Panics if there is no connection.
    pub async fn drop_gateway(&self) {
        let mut s = self.shared.lock();
        let Some(conn) = s.conns.pop() else {
            panic!(
                "fake discord: drop_gateway: no gateway connection; gateway log:\n  {}",
                describe_gateway(&s)
            );
        };
        let frame = CloseFrame {
            code: CloseCode::from(4000),
            reason: "fake discord: dropped by the test".into(),
        };
        // The connection task writes the close frame, then waits for the client's reply.
        let _ = conn.tx.send(WsMessage::Close(Some(frame)));
        s.gateway_log
            .push(format!("conn#{} -> close 4000 (drop_gateway)", conn.id));
    }

    /// All REST requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().settled_requests().to_vec()
    }

    /// Keeps interaction callbacks' bodies as bytes until the requests are read: a load
    /// generator's fake then spends no CPU parsing answers while the bot it measures shares
    /// the cores (Discord's parsing is on Discord's machines). Callbacks are the one route
    /// whose reply does not depend on the body.
    pub fn defer_callback_bodies(&self) {
        self.shared.lock().defer_callback_bodies = true;
    }

    /// Forgets the requests recorded so far (a benchmark's runs one after another).
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// How many requests were recorded, without copying them.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Waits for the first request (including ones already received) matching `pred`; panics
    /// after `timeout` listing the requests seen.
    pub async fn wait_request(
        &self,
        timeout: Duration,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        match self.find_request(timeout, pred).await {
            Some(r) => r,
            None => panic!(
                "fake discord: waited {timeout:?} for a matching request; requests seen:\n{}",
                self.describe_requests()
            ),
        }
    }

    /// Waits for the interaction callback (POST /api/v10/interactions/{id}/{token}/callback) of
    /// interaction `id`.
    pub async fn wait_callback(&self, interaction_id: u64, timeout: Duration) -> Recorded {
        let prefix = format!("/api/v10/interactions/{interaction_id}/");
        let is_callback = |r: &Recorded| {
            r.method == "POST" && r.path.starts_with(&prefix) && r.path.ends_with("/callback")
        };
        match self.find_request(timeout, is_callback).await {
            Some(r) => r,
            None => panic!(
                "fake discord: waited {timeout:?} for the callback of interaction {interaction_id}; \
                 requests seen:\n{}\ngateway log:\n  {}",
                self.describe_requests(),
                self.gateway_log()
            ),
        }
    }

    /// Scripts the next replies for requests whose method and path start with the given ones:
    /// each queued (status, json body, extra headers) is used once, in order, before falling
    /// back to the normal reply. E.g. 500 then 429 with retry-after then normal. A `Null` body
    /// gives an empty body. Scripts win over `close_dms` and `unknown_channel`.
    pub fn script(&self, method: &str, path_prefix: &str, replies: Vec<Reply>) {
        for (status, _, headers) in &replies {
            StatusCode::from_u16(*status)
                .unwrap_or_else(|_| panic!("fake discord: bad scripted status {status}"));
            for (k, v) in headers {
                HeaderName::from_bytes(k.as_bytes())
                    .unwrap_or_else(|_| panic!("fake discord: bad header name {k:?}"));
                HeaderValue::from_str(v)
                    .unwrap_or_else(|_| panic!("fake discord: bad header value {v:?}"));
            }
        }
        self.shared.lock().scripts.push(Script {
            method: method.to_ascii_uppercase(),
            path_prefix: path_prefix.to_string(),
            replies: replies.into(),
        });
    }

    /// Makes messages sent to the DM channel of `user_id` fail with
    /// 403 {"code":50007,"message":"Cannot send messages to this user"}. Opening the DM channel
    /// still works, as on Discord.
    pub fn close_dms(&self, user_id: u64) {
        self.shared.lock().closed_dms.insert(user_id);
    }

    /// Makes the next `n` message posts go in (posted, their nonces kept; a repeated nonce
    /// finds its message) and answer 500, as when the answer is lost after the message was made.
    pub fn take_then_fail(&self, n: usize) {
        self.shared.lock().take_then_fail = n;
    }

    /// Marks a channel id unknown: every request under /api/v10/channels/{id} answers
    /// 404 {"code":10003,"message":"Unknown Channel"}.
    pub fn unknown_channel(&self, channel_id: u64) {
        self.shared.lock().unknown_channels.insert(channel_id);
    }

    /// Serves `bytes` on GET at `/attachments/{n}/{filename}` of the REST server, as Discord's
    /// CDN serves an attachment, and returns its URL (on the fake's 127.0.0.1 origin).
    pub fn serve_file(&self, filename: &str, bytes: Vec<u8>) -> String {
        let mut s = self.shared.lock();
        let path = format!("/attachments/{}/{filename}", s.files.len() + 1);
        s.files.insert(path.clone(), bytes);
        format!("{}{path}", self.api_base)
    }

    /// The DM channel id the fake hands out for `user_id`.
    pub fn dm_channel_id(user_id: u64) -> u64 {
        DM_CHANNEL_BASE + user_id
    }

    /// Waits until `check` returns `Some` or `timeout` passes (then `None`). Subscribes before
    /// the first check, so no change can slip between a check and the wait. `check` runs
    /// without the lock held, so it may call back into the fake.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(t) = check() {
                return Some(t);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `shared`, which we hold: it cannot close.
                Ok(Err(_)) | Err(_) => return check(),
            }
        }
    }

    /// Waits for the first request matching `pred`, checking each request once (requests are
    /// only ever appended) and calling `pred` without the lock held.
    async fn find_request(
        &self,
        timeout: Duration,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Option<Recorded> {
        let mut checked = 0;
        self.wait_until(timeout, || {
            let fresh: Vec<Recorded> = self.shared.lock().settled_requests()[checked..].to_vec();
            checked += fresh.len();
            fresh.into_iter().find(|r| pred(r))
        })
        .await
    }

    /// One line per request, for failure messages.
    fn describe_requests(&self) -> String {
        let mut s = self.shared.lock();
        let requests = s.settled_requests();
        if requests.is_empty() {
            return "  (none)".to_string();
        }
        requests
            .iter()
            .map(|r| {
                let mut body = r.json.to_string();
                if body.len() > 300 {
                    let mut cut = 300;
                    while !body.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    body.truncate(cut);
                    body.push('…');
                }
                let files: Vec<&str> = r.files.iter().map(|f| f.filename.as_str()).collect();
                format!("  {} {} {body} files={files:?}", r.method, r.path)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for FakeDiscord {
    /// Stops accepting, closes the gateway connection and lets the REST server wind down.
    fn drop(&mut self) {
        self.gateway_task.abort();
        if let Some(stop) = self.rest_shutdown.take() {
            let _ = stop.send(());
        }
        // Dropping the senders ends the connection tasks, which close the sockets.
        self.shared.lock().conns.clear();
    }
}

// ------------------------------------------------------------------------------------ REST

/// Records every request, then answers it: scripted reply, injected failure or normal reply.
async fn rest_handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let at = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let defer = path.ends_with("/callback") && shared.lock().defer_callback_bodies;
    let mut unparsed = None;
    let (json, files) = if content_type.starts_with("multipart/form-data") {
        read_multipart(req).await
    } else {
        match axum::body::to_bytes(req.into_body(), usize::MAX).await {
            Ok(b) if b.is_empty() => (Value::Null, vec![]),
            Ok(b) if defer => {
                unparsed = Some(b);
                (Value::Null, vec![])
            }
            Ok(b) => (json_body(&b), vec![]),
            Err(e) => (
                Value::String(format!("fake discord: unreadable body: {e}")),
                vec![],
            ),
        }
    };
    let recorded = Recorded {
        method,
        path,
        json,
        files,
        at,
        unparsed,
    };
    let (reply, file) = {
        let mut s = shared.lock();
        let file = (recorded.method == "GET")
            .then(|| s.files.get(&recorded.path).cloned())
            .flatten();
        let reply = reply_for(&mut s, &shared.ws_url, &recorded);
        s.requests.push(recorded);
        (reply, file)
    };
    shared.bump();
    match file {
        Some(bytes) => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes))
            .expect("file response"),
        None => to_response(reply),
    }
}

/// A request body as JSON; one that is not JSON as a JSON string of its text.
fn json_body(b: &[u8]) -> Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
}

/// Splits a multipart body into its `payload_json` (parsed) and its file parts.
async fn read_multipart(req: Request) -> (Value, Vec<RecordedFile>) {
    let mut multipart = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => {
            return (
                Value::String(format!("fake discord: bad multipart: {e}")),
                vec![],
            )
        }
    };
    let mut json = Value::Null;
    let mut files = vec![];
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                json = Value::String(format!("fake discord: bad multipart: {e}"));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        if name == "payload_json" {
            json = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        } else if let Some(filename) = filename {
            files.push(RecordedFile {
                field: name,
                filename,
                content_type,
                bytes,
            });
        }
    }
    (json, files)
}

/// Chooses the reply to a request (the request is not yet in `s.requests`).
fn reply_for(s: &mut Inner, ws_url: &str, r: &Recorded) -> Reply {
    if let Some(limit) = s.global_limit {
        if !r.path.contains("/callback") {
            while s
                .global_window
                .front()
                .is_some_and(|t| r.at.duration_since(*t) >= Duration::from_secs(1))
            {
                s.global_window.pop_front();
            }
            if s.global_window.len() >= limit {
                s.global_429s += 1;
                let wait = s
                    .global_window
                    .front()
                    .map(|t| Duration::from_secs(1).saturating_sub(r.at.duration_since(*t)))
                    .unwrap_or_default()
                    .as_secs_f64();
                return (
                    429,
                    json!({"message": "You are being rate limited.", "retry_after": wait, "global": true}),
                    vec![
                        ("retry-after".to_string(), format!("{:.3}", wait.max(0.001))),
                        ("x-ratelimit-global".to_string(), "true".to_string()),
                        ("x-ratelimit-scope".to_string(), "global".to_string()),
                    ],
                );
            }
            s.global_window.push_back(r.at);
        }
    }
    if let Some(script) = s.scripts.iter_mut().find(|sc| {
        sc.method == r.method && r.path.starts_with(&sc.path_prefix) && !sc.replies.is_empty()
    }) {
        return script.replies.pop_front().expect("checked non-empty");
    }
    let path = r.path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();

    if let ["channels", id, ..] = segments.as_slice() {
        let id: u64 = id.parse().unwrap_or(0);
        if s.unknown_channels.contains(&id) {
            return (
                404,
                json!({"code": 10003, "message": "Unknown Channel"}),
                vec![],
            );
        }
        if r.method == "POST"
            && segments.get(2) == Some(&"messages")
            && id > DM_CHANNEL_BASE
            && s.closed_dms.contains(&(id - DM_CHANNEL_BASE))
        {
            return (
                403,
                json!({"code": 50007, "message": "Cannot send messages to this user"}),
                vec![],
            );
        }
    }

    let ok = |v: Value| (200, v, vec![]);
    match (r.method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => ok(json!({"url": ws_url})),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": ws_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 86_400_000,
                "max_concurrency": s.max_concurrency.max(1),
            },
        })),
        ("GET", ["oauth2", "applications", "@me"]) => ok(application_info()),
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => ok(json!([])),
        ("POST", ["interactions", id, _, "callback"]) => {
            if s.acknowledged.insert(id.to_string()) {
                (204, Value::Null, vec![])
            } else {
                (
                    400,
                    json!({"code": 40060, "message": "Interaction has already been acknowledged."}),
                    vec![],
                )
            }
        }
        ("PATCH", ["webhooks", _, token, "messages", "@original"]) => {
            let id = match s.originals.get(*token) {
                Some(id) => *id,
                None => {
                    let id = next_message_id(s);
                    s.originals.insert(token.to_string(), id);
                    id
                }
            };
            ok(message_json(id, CHANNEL_ID, &r.json))
        }
        ("DELETE", ["webhooks", _, _, "messages", "@original"]) => (204, Value::Null, vec![]),
        ("POST", ["webhooks", _, _]) => {
            let id = next_message_id(s);
            ok(message_json(id, CHANNEL_ID, &r.json))
        }
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = match &r.json["recipient_id"] {
                Value::String(id) => id.parse::<u64>().unwrap_or(0),
                other => other.as_u64().unwrap_or(0),
            };
            ok(json!({
                "id": (DM_CHANNEL_BASE + recipient).to_string(),
                "type": 1,
                "last_message_id": null,
                "recipients": [{"id": recipient.to_string(), "username": "u"}],
            }))
        }
        ("POST", ["channels", channel, "messages"]) => {
            let channel: u64 = channel.parse().unwrap_or(CHANNEL_ID);
            let nonce = match (&r.json["nonce"], r.json["enforce_nonce"].as_bool()) {
                (Value::String(n), Some(true)) => Some(n.clone()),
                (Value::Number(n), Some(true)) => Some(n.to_string()),
                _ => None,
            };
            if nonce.as_ref().is_some_and(|n| n.chars().count() > 25) {
                return (
                    400,
                    json!({"code": 50035, "message": "Invalid Form Body",
                           "errors": {"nonce": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                               "message": "Must be 25 or fewer in length."}]}}}),
                    vec![],
                );
            }
            if let Some(earlier) = nonce.as_ref().and_then(|n| s.nonces.get(n)).cloned() {
                if s.take_then_fail > 0 {
                    s.take_then_fail -= 1;
                    return lost_answer();
                }
                return ok(earlier);
            }
            let id = next_message_id(s);
            let mut message = message_json(id, channel, &r.json);
            s.posted.push(Posted {
                channel,
                nonce: nonce.clone(),
                id,
                content: message["content"].as_str().unwrap_or_default().to_string(),
            });
            if let Some(n) = nonce {
                message["nonce"] = json!(n);
                s.nonces.insert(n, message.clone());
            }
            if s.take_then_fail > 0 {
                s.take_then_fail -= 1;
                return lost_answer();
            }
            ok(message)
        }
        _ => (404, json!({"code": 0, "message": "not faked"}), vec![]),
    }
}

/// Discord's 500 after it made (or found, by its nonce) the message: the answer is lost.
fn lost_answer() -> (u16, Value, Vec<(String, String)>) {
    (
        500,
        json!({"message": "500: Internal Server Error", "code": 0}),
        vec![],
    )
}

/// Hands out the next message id.
fn next_message_id(s: &mut Inner) -> u64 {
    let id = FIRST_MESSAGE_ID + s.messages_created;
    s.messages_created += 1;
    id
}

/// A Message as Discord returns it, authored by the bot, echoing the request's content, embeds
/// and components when serenity accepts them back (otherwise only the content).
fn message_json(id: u64, channel_id: u64, request: &Value) -> Value {
    let content = request["content"].as_str().unwrap_or_default();
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": {"id": APP_ID.to_string(), "username": "salesbot", "global_name": null, "avatar": null, "bot": true},
        "content": content,
        "timestamp": TIMESTAMP,
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "components": [],
    });
    let minimal = message.clone();
    for key in ["embeds", "components"] {
        if request[key].is_array() {
            message[key] = request[key].clone();
        }
    }
    if serde_json::from_value::<serenity::all::Message>(message.clone()).is_ok() {
        message
    } else {
        minimal
    }
}

/// A valid `CurrentApplicationInfo`.
fn application_info() -> Value {
    json!({
        "id": APP_ID.to_string(),
        "name": "salesbot",
        "icon": null,
        "description": "",
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "0000",
        "flags": 0,
        "owner": {"id": "1", "username": "owner", "avatar": null},
        "team": null,
    })
}

/// Turns a reply into an HTTP response: JSON body unless `Null`.
fn to_response((status, body, headers): Reply) -> Response {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
        Body::from(body.to_string())
    };
    builder.body(body).expect("reply headers were checked")
}

// --------------------------------------------------------------------------------- gateway

/// Accepts gateway connections until aborted.
async fn accept_gateway(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((socket, _)) = listener.accept().await {
        // Small frames go out at once, as Discord's do; Nagle would hold them for an ACK.
        let _ = socket.set_nodelay(true);
        tokio::spawn(serve_connection(socket, shared.clone()));
    }
}

/// Speaks the gateway protocol on one connection: HELLO, then READY on IDENTIFY, RESUMED on
/// RESUME, ACK on heartbeat, and whatever the test dispatches to its shard. A newer connection
/// that identifies or resumes as the same shard replaces it.
async fn serve_connection(socket: TcpStream, shared: Arc<Shared>) {
    let ws = match tokio_tungstenite::accept_async(socket).await {
        Ok(ws) => ws,
        Err(e) => {
            shared.log(format!("websocket handshake failed: {e}"));
            return;
        }
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut s = shared.lock();
        s.conns_seen += 1;
        let id = s.conns_seen;
        s.conns.push(Conn {
            id,
            tx,
            session: None,
        });
        s.gateway_log.push(format!("conn#{id} open, -> HELLO"));
        id
    };
    shared.bump();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}});
    if sink.send(WsMessage::Text(hello.to_string())).await.is_err() {
        return;
    }

    let mut close_sent = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(frame) => {
                    close_sent |= matches!(frame, WsMessage::Close(_));
                    if sink.send(frame).await.is_err() {
                        break;
                    }
                }
                None if close_sent => {
                    // Let the client answer our close frame (tungstenite replies while reading).
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while let Some(Ok(_)) = stream.next().await {}
                    })
                    .await;
                    break;
                }
                // Replaced by a newer connection of its shard, or the fake was dropped.
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    if !on_client_frame(&shared, id, &text, &mut sink).await {
                        break;
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    shared.log(format!("conn#{id} <- close {:?}", frame.map(|f| u16::from(f.code))));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    shared.log(format!("conn#{id} error: {e}"));
                    break;
                }
                None => break,
            },
        }
    }
    let mut s = shared.lock();
    s.conns.retain(|c| c.id != id);
    s.gateway_log.push(format!("conn#{id} closed"));
    drop(s);
    shared.bump();
}

/// Handles one client frame; returns false when the socket is unusable.
async fn on_client_frame<S>(shared: &Shared, id: usize, text: &str, sink: &mut S) -> bool
where
    S: futures_util::Sink<WsMessage> + Unpin,
{
    let frame: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            shared.log(format!("conn#{id} <- unparseable frame ({e}): {text}"));
            return true;
        }
    };
    let op = frame["op"].as_u64();
    if op == Some(1) {
        return sink
            .send(WsMessage::Text(json!({"op": 11}).to_string()))
            .await
            .is_ok();
    }
    // IDENTIFY and RESUME: count them, then answer only on a connection still open (not
    // replaced or dropped by the test).
    let mut refused = false;
    let reply = {
        let mut s = shared.lock();
        let open = s.conns.iter().any(|c| c.id == id);
        match op {
            Some(2) => {
                s.identifies += 1;
                s.identify_shards.push(frame["d"]["shard"].clone());
                let shard = Shard::of_identify(&frame["d"]);
                let session = format!("sess-{}", s.identifies);
                s.gateway_log.push(format!(
                    "conn#{id} <- IDENTIFY shard [{}, {}]",
                    shard.id, shard.total
                ));
                // Discord's start limit: one IDENTIFY per 5 s in each bucket, over all of the
                // bot's connections; past it, INVALID_SESSION (not resumable).
                let bucket = shard.id % s.max_concurrency.max(1);
                let now = Instant::now();
                let limited = s
                    .identified_at
                    .get(&bucket)
                    .is_some_and(|at| now.duration_since(*at) < IDENTIFY_WINDOW);
                if limited {
                    s.identifies_refused += 1;
                    s.gateway_log.push(format!(
                        "conn#{id} -> INVALID_SESSION (bucket {bucket} identified under 5 s ago)"
                    ));
                    refused = true;
                    None
                } else {
                    s.identified_at.insert(bucket, now);
                    open.then(|| {
                        s.gateway_sessions
                            .insert(session.clone(), GatewaySession { shard, seq: 1 });
                        let ready = ready_frame(&session, &shared.ws_url, shard);
                        ("READY", session, ready)
                    })
                }
            }
            Some(6) => {
                s.resumes += 1;
                let session = frame["d"]["session_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                s.gateway_log.push(format!(
                    "conn#{id} <- RESUME {session} {}",
                    frame["d"]["seq"]
                ));
                open.then(|| {
                    let resumed =
                        s.gateway_sessions
                            .entry(session.clone())
                            .or_insert(GatewaySession {
                                shard: Shard { id: 0, total: 1 },
                                seq: 0,
                            });
                    resumed.seq += 1;
                    let frame = json!({"op": 0, "s": resumed.seq, "t": "RESUMED", "d": {}});
                    ("RESUMED", session, frame)
                })
            }
            _ => {
                s.gateway_log
                    .push(format!("conn#{id} <- op {}", frame["op"]));
                None
            }
        }
    };
    shared.bump();
    if refused {
        return sink
            .send(WsMessage::Text(json!({"op": 9, "d": false}).to_string()))
            .await
            .is_ok();
    }
    let Some((name, session, reply)) = reply else {
        return true;
    };
    if sink.send(WsMessage::Text(reply.to_string())).await.is_err() {
        return false;
    }
    // Live only once READY/RESUMED is on the wire, so dispatches always come after it.
    {
        let mut s = shared.lock();
        let shard = s.gateway_sessions.get(&session).map(|g| g.shard);
        if s.conns.iter().any(|c| c.id == id) {
            // An older connection of the same shard is replaced (its socket closes), as
            // Discord keeps one connection per session.
            let same_shard: Vec<usize> = s
                .conns
                .iter()
                .filter(|c| c.id != id)
                .filter(|c| {
                    c.session
                        .as_ref()
                        .and_then(|sid| s.gateway_sessions.get(sid))
                        .map(|g| g.shard)
                        == shard
                })
                .map(|c| c.id)
                .collect();
            s.conns.retain(|c| !same_shard.contains(&c.id));
            for old in same_shard {
                s.gateway_log.push(format!("conn#{old} replaced"));
            }
            s.sessions += 1;
            s.gateway_log
                .push(format!("conn#{id} -> {name} s={}", reply["s"]));
            if let Some(index) = s.conns.iter().position(|c| c.id == id) {
                s.conns[index].session = Some(session);
                s.flush_held(index);
            }
        }
    }
    shared.bump();
    true
}

/// READY with every field serenity requires (v, user, guilds, session_id, resume_gateway_url,
/// application{id, flags}), for `shard` (which lists GUILD_ID only if the shard owns it).
fn ready_frame(session_id: &str, ws_url: &str, shard: Shard) -> Value {
    let guilds: Vec<Value> = shard
        .owns(Some(GUILD_ID))
        .then(|| json!({"id": GUILD_ID.to_string(), "unavailable": true}))
        .into_iter()
        .collect();
    json!({"op": 0, "s": 1, "t": "READY", "d": {
        "v": 10,
        "user": {"id": APP_ID.to_string(), "username": "salesbot", "global_name": null, "avatar": null, "bot": true},
        "guilds": guilds,
        "session_id": session_id,
        "resume_gateway_url": ws_url,
        "shard": [shard.id, shard.total],
        "application": {"id": APP_ID.to_string(), "flags": 0},
    }})
}

// -------------------------------------------------------------------------------- fixtures

/// Who sends an interaction.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's id.
    pub user_id: u64,
    /// Display name (`global_name`); the username is its lowercase form without spaces.
    pub name: String,
    /// The member's permission bits in the channel.
    pub permissions: u64,
    /// The member's role ids.
    pub roles: Vec<u64>,
    /// The user's client locale, e.g. "en-US" or "de".
    pub locale: String,
    /// The guild the interaction comes from.
    pub guild_id: u64,
}

impl Caller {
    /// An ordinary member ("rep{id}"): can view and send, cannot manage the guild; no roles,
    /// locale "en-US", in GUILD_ID.
    pub fn rep(user_id: u64) -> Caller {
        Caller {
            user_id,
            name: format!("rep{user_id}"),
            permissions: MEMBER_PERMISSIONS,
            roles: vec![],
            locale: "en-US".to_string(),
            guild_id: GUILD_ID,
        }
    }

    /// A member with permissions 32 = MANAGE_GUILD ("admin{id}"), otherwise like `rep`.
    pub fn admin(user_id: u64) -> Caller {
        Caller {
            name: format!("admin{user_id}"),
            permissions: MANAGE_GUILD,
            ..Caller::rep(user_id)
        }
    }

    /// The same caller with these role ids.
    pub fn with_roles(self, roles: Vec<u64>) -> Caller {
        Caller { roles, ..self }
    }

    /// The same caller with this locale.
    pub fn locale(self, l: &str) -> Caller {
        Caller {
            locale: l.to_string(),
            ..self
        }
    }

    /// The same caller in another guild.
    pub fn in_guild(self, g: u64) -> Caller {
        Caller {
            guild_id: g,
            ..self
        }
    }

    /// The `member` object of an interaction.
    fn member(&self) -> Value {
        json!({
            "user": self.user(),
            "roles": self.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "nick": null,
            "avatar": null,
            "permissions": self.permissions.to_string(),
        })
    }

    /// The `user` object of the caller.
    fn user(&self) -> Value {
        let username: String = self
            .name
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("_");
        json!({
            "id": self.user_id.to_string(),
            "username": username,
            "global_name": self.name,
            "avatar": null,
            "discriminator": "0",
        })
    }
}

/// The fields every interaction shares: token `tok-{id}`, APP_ID, CHANNEL_ID, the caller's
/// guild, member and locale.
fn interaction_base(id: u64, kind: u8, caller: &Caller) -> serde_json::Map<String, Value> {
    let v = json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "guild_id": caller.guild_id.to_string(),
        "channel_id": CHANNEL_ID.to_string(),
        "member": caller.member(),
        "token": format!("tok-{id}"),
        "version": 1,
        "app_permissions": "2248473465835073",
        "locale": caller.locale,
        "guild_locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10485760,
    });
    match v {
        Value::Object(map) => map,
        _ => unreachable!("json! object"),
    }
}

/// A stable command id derived from the command name (FNV-1a), so the same name always gets
/// the same id.
fn command_id(name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf29ce484222325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    600000000000000000 + hash % 1_000_000_000 + 1
}

/// Option types whose value is a snowflake sent as a string: user, channel, role, mentionable,
/// attachment.
fn is_snowflake_type(kind: u8) -> bool {
    matches!(kind, 6..=9 | 11)
}

/// The `data` of a chat-input command or autocomplete. `sub` may be "sub" or "group sub".
/// With `resolve`, user/channel/role options also get `resolved` entries, as Discord sends.
fn command_data(
    name: &str,
    sub: Option<&str>,
    options: Vec<(&str, u8, Value)>,
    focused: Option<&str>,
    resolve: bool,
) -> Value {
    let mut resolved = json!({});
    let options: Vec<Value> = options
        .into_iter()
        .map(|(opt, kind, value)| {
            let mut value = value;
            if is_snowflake_type(kind) || focused == Some(opt) {
                if let Some(n) = value.as_u64() {
                    value = Value::String(n.to_string());
                } else if !value.is_string() {
                    value = Value::String(value.to_string());
                }
            }
            if resolve {
                if let Some(id) = value.as_str().filter(|_| is_snowflake_type(kind)) {
                    add_resolved(&mut resolved, kind, id);
                }
            }
            let mut o = json!({"name": opt, "type": kind, "value": value});
            if focused == Some(opt) {
                o["focused"] = json!(true);
            }
            o
        })
        .collect();
    let options = match sub.map(|s| s.split_once(' ')) {
        None => json!(options),
        Some(Some((group, sub))) => {
            json!([{"name": group, "type": 2, "options": [{"name": sub, "type": 1, "options": options}]}])
        }
        Some(None) => json!([{"name": sub, "type": 1, "options": options}]),
    };
    let mut data =
        json!({"id": command_id(name).to_string(), "name": name, "type": 1, "options": options});
    if resolved.as_object().is_some_and(|r| !r.is_empty()) {
        data["resolved"] = resolved;
    }
    data
}

/// Adds the `resolved` entry Discord sends for a user (6), channel (7), role (8) or
/// mentionable (9, resolved as a user) option.
fn add_resolved(resolved: &mut Value, kind: u8, id: &str) {
    match kind {
        6 | 9 => {
            resolved["users"][id] = json!({"id": id, "username": format!("user{id}"), "global_name": null, "avatar": null});
            resolved["members"][id] = json!({
                "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
                "flags": 0, "nick": null, "permissions": MEMBER_PERMISSIONS.to_string(),
            });
        }
        7 => {
            resolved["channels"][id] = json!({
                "id": id, "name": format!("channel-{id}"), "type": 0, "permissions": MEMBER_PERMISSIONS.to_string(),
            });
        }
        8 => {
            resolved["roles"][id] = json!({
                "id": id, "name": format!("role-{id}"), "color": 0,
                "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
                "hoist": false, "managed": false, "mentionable": false, "permissions": "0", "position": 1,
                "icon": null, "unicode_emoji": null, "flags": 0,
            });
        }
        _ => {}
    }
}

/// A chat-input command (type 2). `options` are (name, type, value) with the value typed as
/// Discord sends it: strings as JSON strings, integers as JSON integers, booleans, and
/// user/channel/role ids (types 6/7/8) as JSON strings (numbers are turned into strings);
/// user/channel/role options also get their `resolved` entries. `sub` is a subcommand name, or
/// "group sub" for a subcommand in a group.
pub fn command(
    id: u64,
    caller: &Caller,
    name: &str,
    sub: Option<&str>,
    options: Vec<(&str, u8, Value)>,
) -> Value {
    let mut v = interaction_base(id, 2, caller);
    v.insert("data".into(), command_data(name, sub, options, None, true));
    Value::Object(v)
}

/// A file option as Discord resolves it: the option names the attachment's id, and
/// `resolved.attachments` holds its url, name and size.
pub struct FileOption<'a> {
    /// The option's name, e.g. "file".
    pub option: &'a str,
    /// The attachment's file name.
    pub filename: &'a str,
    /// Where Discord says it can be downloaded.
    pub url: String,
    /// The size Discord reports, in bytes.
    pub size: u64,
}

/// A chat-input command like `command`, with a file option (type 11) added to the
/// (sub)command's options and resolved like Discord does.
pub fn command_with_file(
    id: u64,
    caller: &Caller,
    name: &str,
    sub: Option<&str>,
    options: Vec<(&str, u8, Value)>,
    file: FileOption<'_>,
) -> Value {
    let mut v = command(id, caller, name, sub, options);
    let attachment_id = (id + 1_000_000).to_string();
    let option = json!({"name": file.option, "type": 11, "value": attachment_id});
    let data = &mut v["data"];
    match sub {
        Some(_) => {
            let leaves = &mut data["options"][0]["options"];
            if let Some(list) = leaves.as_array_mut() {
                list.push(option);
            }
        }
        None => {
            if let Some(list) = data["options"].as_array_mut() {
                list.push(option);
            }
        }
    }
    data["resolved"]["attachments"][attachment_id.as_str()] = json!({
        "id": attachment_id,
        "filename": file.filename,
        "size": file.size,
        "url": file.url,
        "proxy_url": file.url,
        "content_type": "text/csv",
    });
    v
}

/// An autocomplete interaction (type 4): like `command` but the option named `focused` has
/// `"focused": true` and a string value (a non-string value is turned into its JSON text).
pub fn autocomplete(
    id: u64,
    caller: &Caller,
    name: &str,
    sub: Option<&str>,
    options: Vec<(&str, u8, Value)>,
    focused: &str,
) -> Value {
    assert!(
        options.iter().any(|(n, _, _)| *n == focused),
        "fake discord: autocomplete focuses {focused:?}, which is not among the options"
    );
    let mut v = interaction_base(id, 4, caller);
    v.insert(
        "data".into(),
        command_data(name, sub, options, Some(focused), false),
    );
    Value::Object(v)
}

/// A button click (type 3) with a minimal valid `message` (a bot message in CHANNEL_ID).
pub fn button(id: u64, caller: &Caller, custom_id: &str) -> Value {
    let mut v = interaction_base(id, 3, caller);
    v.insert(
        "data".into(),
        json!({"custom_id": custom_id, "component_type": 2}),
    );
    let mut message = message_json(830000000000000001, CHANNEL_ID, &Value::Null);
    message["components"] = json!([{"type": 1, "components": [{"type": 2, "style": 1, "label": "Button", "custom_id": custom_id}]}]);
    v.insert("message".into(), message);
    Value::Object(v)
}

/// A button click in the caller's DM with the bot: no guild and no member, the `user` only,
/// as Discord sends a click on a reminder or agenda.
pub fn dm_button(id: u64, caller: &Caller, custom_id: &str) -> Value {
    let mut v = button(id, caller, custom_id);
    if let Value::Object(map) = &mut v {
        map.remove("guild_id");
        map.remove("member");
        map.insert("user".into(), caller.user());
        map.insert("context".into(), json!(1));
    }
    v
}

/// A modal submit (type 5) with text inputs (custom_id, value), one action row each.
pub fn modal_submit(id: u64, caller: &Caller, custom_id: &str, fields: Vec<(&str, &str)>) -> Value {
    let mut v = interaction_base(id, 5, caller);
    let rows: Vec<Value> = fields
        .into_iter()
        .map(|(field, value)| json!({"type": 1, "components": [{"type": 4, "custom_id": field, "value": value}]}))
        .collect();
    v.insert(
        "data".into(),
        json!({"custom_id": custom_id, "components": rows}),
    );
    Value::Object(v)
}

// ------------------------------------------------------------------------------- self-tests

/// The bare serenity handler the self-test drives: answers every interaction kind.
struct Probe {
    /// Set once the global commands were registered (READY fires again after a re-IDENTIFY).
    registered: std::sync::atomic::AtomicBool,
}

#[serenity::async_trait]
impl serenity::all::EventHandler for Probe {
    /// Registers (empty) global commands once.
    async fn ready(&self, ctx: serenity::all::Context, _ready: serenity::all::Ready) {
        if !self
            .registered
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            ctx.http
                .create_global_commands(&json!([]))
                .await
                .expect("register commands");
        }
    }

    /// Replies to each interaction kind with the simplest response.
    async fn interaction_create(
        &self,
        ctx: serenity::all::Context,
        interaction: serenity::all::Interaction,
    ) {
        use serenity::all::{
            CreateAttachment, CreateAutocompleteResponse, CreateInteractionResponse as R,
            CreateInteractionResponseFollowup, CreateInteractionResponseMessage as M,
            EditInteractionResponse, Interaction,
        };
        let result = match interaction {
            Interaction::Command(c) if c.data.name == "slow" => {
                // The deferred flow: defer, edit @original with a file, follow up, delete.
                async {
                    c.defer_ephemeral(&ctx.http).await?;
                    let edit = EditInteractionResponse::new()
                        .content("done")
                        .new_attachment(CreateAttachment::bytes(vec![1, 2, 3], "r.png"));
                    let edited = c.edit_response(&ctx.http, edit).await?;
                    assert_eq!(edited.content, "done", "the fake echoes the content");
                    let followup = CreateInteractionResponseFollowup::new().content("more");
                    c.create_followup(&ctx.http, followup).await?;
                    c.delete_response(&ctx.http).await
                }
                .await
            }
            Interaction::Command(c) => {
                c.create_response(
                    &ctx.http,
                    R::Message(M::new().content("pong").ephemeral(true)),
                )
                .await
            }
            Interaction::Autocomplete(a) => {
                let typed = a
                    .data
                    .autocomplete()
                    .map(|o| o.value.to_string())
                    .unwrap_or_default();
                let choices = CreateAutocompleteResponse::new()
                    .add_string_choice(format!("Acme {typed}"), "deal:1");
                a.create_response(&ctx.http, R::Autocomplete(choices)).await
            }
            Interaction::Component(b) => {
                let text = format!("clicked {}", b.data.custom_id);
                b.create_response(&ctx.http, R::Message(M::new().content(text)))
                    .await
            }
            Interaction::Modal(m) => {
                let text = format!("saved {}", m.data.custom_id);
                m.create_response(
                    &ctx.http,
                    R::Message(M::new().content(text).ephemeral(true)),
                )
                .await
            }
            _ => Ok(()),
        };
        result.expect("interaction response");
    }
}

/// The error response inside a serenity error, or a panic naming the unexpected error.
fn discord_error(e: serenity::Error) -> (u16, isize) {
    match e {
        serenity::Error::Http(serenity::all::HttpError::UnsuccessfulRequest(r)) => {
            (r.status_code.as_u16(), r.error.code)
        }
        other => panic!("expected an unsuccessful request, got {other:?}"),
    }
}

/// The fixtures deserialize as serenity's own types, with the values a handler reads.
#[test]
fn fake_discord_fixtures_are_what_serenity_reads() {
    use serenity::all::{Interaction, Permissions, ResolvedValue};
    let admin = Caller::admin(1001)
        .with_roles(vec![820000000000000001])
        .locale("de")
        .in_guild(800000000000000002);
    let v = command(
        700000000000000001,
        &admin,
        "deal",
        Some("add"),
        vec![
            ("title", 3, json!("Acme")),
            ("stage", 4, json!(2)),
            ("won", 5, json!(true)),
            ("owner", 6, json!(1002)),
            ("where", 7, json!("810000000000000002")),
            ("team", 8, json!("820000000000000002")),
        ],
    );
    let Interaction::Command(cmd) = serde_json::from_value(v).expect("command deserializes") else {
        panic!("not a command");
    };
    assert_eq!(cmd.token, "tok-700000000000000001");
    assert_eq!(cmd.user.id.get(), 1001, "user is filled from the member");
    assert_eq!(cmd.locale, "de");
    assert_eq!(cmd.guild_id.map(|g| g.get()), Some(800000000000000002));
    assert_eq!(cmd.channel_id.get(), CHANNEL_ID);
    let member = cmd.member.as_ref().expect("member");
    assert_eq!(
        member.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
        vec![820000000000000001]
    );
    assert!(member
        .permissions
        .expect("permissions")
        .contains(Permissions::MANAGE_GUILD));
    let options = cmd.data.options();
    let [sub] = options.as_slice() else {
        panic!("one subcommand: {options:?}")
    };
    assert_eq!(sub.name, "add");
    let ResolvedValue::SubCommand(values) = &sub.value else {
        panic!("subcommand: {sub:?}")
    };
    let kinds: Vec<String> = values
        .iter()
        .map(|o| match &o.value {
            ResolvedValue::String(s) => format!("{}=string:{s}", o.name),
            ResolvedValue::Integer(i) => format!("{}=int:{i}", o.name),
            ResolvedValue::Boolean(b) => format!("{}=bool:{b}", o.name),
            ResolvedValue::User(u, m) => format!("{}=user:{}:{}", o.name, u.id, m.is_some()),
            ResolvedValue::Channel(c) => format!("{}=channel:{}", o.name, c.id),
            ResolvedValue::Role(r) => format!("{}=role:{}", o.name, r.id),
            other => format!("{}=other:{other:?}", o.name),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "title=string:Acme",
            "stage=int:2",
            "won=bool:true",
            "owner=user:1002:true",
            "where=channel:810000000000000002",
            "team=role:820000000000000002",
        ]
    );
    let rep = Caller::rep(1002);
    let v = command(
        700000000000000002,
        &rep,
        "pipeline",
        Some("report weekly"),
        vec![],
    );
    let Interaction::Command(cmd) =
        serde_json::from_value(v).expect("grouped command deserializes")
    else {
        panic!("not a command");
    };
    assert!(!cmd
        .member
        .expect("member")
        .permissions
        .expect("permissions")
        .contains(Permissions::MANAGE_GUILD));
    assert!(matches!(
        cmd.data.options()[0].value,
        ResolvedValue::SubCommandGroup(_)
    ));

    let v = autocomplete(
        700000000000000003,
        &rep,
        "deal",
        Some("move"),
        vec![("deal", 4, json!(12)), ("stage", 4, json!(3))],
        "deal",
    );
    let Interaction::Autocomplete(ac) =
        serde_json::from_value(v).expect("autocomplete deserializes")
    else {
        panic!("not an autocomplete");
    };
    let focused = ac.data.autocomplete().expect("a focused option");
    assert_eq!((focused.name, focused.value), ("deal", "12"));

    let v = button(700000000000000004, &rep, "deal:edit:42");
    let Interaction::Component(b) = serde_json::from_value(v).expect("button deserializes") else {
        panic!("not a component");
    };
    assert_eq!(b.data.custom_id, "deal:edit:42");

    let v = modal_submit(
        700000000000000005,
        &rep,
        "deal:note:42",
        vec![("note", "Call back"), ("when", "Monday")],
    );
    let Interaction::Modal(m) = serde_json::from_value(v).expect("modal deserializes") else {
        panic!("not a modal");
    };
    let inputs: Vec<(String, Option<String>)> = m
        .data
        .components
        .iter()
        .flat_map(|row| &row.components)
        .filter_map(|c| match c {
            serenity::all::ActionRowComponent::InputText(t) => {
                Some((t.custom_id.clone(), t.value.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        inputs,
        [
            ("note".to_string(), Some("Call back".to_string())),
            ("when".to_string(), Some("Monday".to_string()))
        ]
    );

    serde_json::from_value::<serenity::all::CurrentApplicationInfo>(application_info())
        .expect("application info");
    serde_json::from_value::<serenity::all::Ready>(
        ready_frame("s", "ws://x", Shard { id: 0, total: 1 })["d"].clone(),
    )
    .expect("ready");
}

/// A bare serenity client identifies, answers every interaction kind, sends a DM with a file,
/// sees injected failures, and resumes after the gateway drops.
// The default current-thread runtime, the same flavor `sqlx::test` uses.
#[tokio::test]
async fn fake_discord_speaks_enough_discord_for_serenity() {
    use serenity::all::{
        ChannelId, ClientBuilder, CreateAttachment, CreateMessage, GatewayIntents, HttpBuilder,
        UserId,
    };
    const T: Duration = Duration::from_secs(10);

    let fake = FakeDiscord::start().await;
    let http = HttpBuilder::new("TESTTOKEN")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::GUILDS)
        .event_handler(Probe {
            registered: false.into(),
        })
        .await
        .expect("client builds");
    let http = client.http.clone();
    let shard_manager = client.shard_manager.clone();
    let running = tokio::spawn(async move { client.start().await });

    fake.wait_sessions(1, T).await;
    assert_eq!(fake.session_counts(), (1, 0));
    let register = fake
        .wait_request(T, |r| {
            r.method == "PUT" && r.path == format!("/api/v10/applications/{APP_ID}/commands")
        })
        .await;
    assert_eq!(register.json, json!([]));
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/api/v10/gateway"));

    // One interaction of each kind, each answered through its callback.
    let rep = Caller::rep(1001);
    fake.send_interaction(command(
        700000000000000001,
        &rep,
        "deal",
        Some("add"),
        vec![("title", 3, json!("Acme"))],
    ))
    .await;
    let cb = fake.wait_callback(700000000000000001, T).await;
    assert_eq!(
        cb.path,
        "/api/v10/interactions/700000000000000001/tok-700000000000000001/callback"
    );
    assert_eq!(cb.json["type"], 4, "{}", cb.json);
    assert_eq!(cb.json["data"]["content"], "pong");
    assert_eq!(cb.json["data"]["flags"], 64);

    fake.send_interaction(autocomplete(
        700000000000000002,
        &rep,
        "deal",
        Some("move"),
        vec![("deal", 3, json!("Ac"))],
        "deal",
    ))
    .await;
    let cb = fake.wait_callback(700000000000000002, T).await;
    assert_eq!(cb.json["type"], 8, "{}", cb.json);
    assert_eq!(
        cb.json["data"]["choices"],
        json!([{"name": "Acme Ac", "value": "deal:1"}])
    );

    fake.send_interaction(button(700000000000000003, &rep, "deal:edit:42"))
        .await;
    let cb = fake.wait_callback(700000000000000003, T).await;
    assert_eq!(cb.json["type"], 4, "{}", cb.json);
    assert_eq!(cb.json["data"]["content"], "clicked deal:edit:42");

    fake.send_interaction(modal_submit(
        700000000000000004,
        &rep,
        "deal:note:42",
        vec![("note", "Call back")],
    ))
    .await;
    let cb = fake.wait_callback(700000000000000004, T).await;
    assert_eq!(cb.json["type"], 4, "{}", cb.json);
    assert_eq!(cb.json["data"]["content"], "saved deal:note:42");
    assert_eq!(cb.json["data"]["flags"], 64);

    // A DM with a file: multipart with files[0] and payload_json.
    let dm = UserId::new(42)
        .create_dm_channel(&http)
        .await
        .expect("dm channel");
    assert_eq!(dm.id.get(), FakeDiscord::dm_channel_id(42));
    let png = vec![0x89, b'P', b'N', b'G'];
    let sent = dm
        .id
        .send_message(
            &http,
            CreateMessage::new()
                .content("weekly chart")
                .add_file(CreateAttachment::bytes(png.clone(), "x.png")),
        )
        .await
        .expect("dm sent");
    assert_eq!(sent.content, "weekly chart");
    let dm_path = format!("/api/v10/channels/{}/messages", dm.id);
    let rec = fake
        .wait_request(T, |r| r.method == "POST" && r.path == dm_path)
        .await;
    assert_eq!(rec.json["content"], "weekly chart");
    assert_eq!(rec.json["attachments"][0]["filename"], "x.png");
    let [file] = rec.files.as_slice() else {
        panic!("one file part: {:?}", rec.files)
    };
    assert_eq!(
        (
            file.field.as_str(),
            file.filename.as_str(),
            file.content_type.as_str()
        ),
        ("files[0]", "x.png", "image/png")
    );
    assert_eq!(file.bytes, png);

    // Closed DMs, a scripted 500 and 429, an unknown channel.
    fake.close_dms(43);
    let closed = UserId::new(43)
        .create_dm_channel(&http)
        .await
        .expect("dm channel opens");
    let err = closed
        .id
        .say(&http, "hi")
        .await
        .expect_err("closed dms refuse");
    assert_eq!(discord_error(err), (403, 50007));

    let channel = ChannelId::new(CHANNEL_ID);
    fake.script(
        "POST",
        &format!("/api/v10/channels/{CHANNEL_ID}/messages"),
        vec![
            (500, json!({"code": 0, "message": "boom"}), vec![]),
            (
                429,
                json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false}),
                vec![("retry-after".to_string(), "1.5".to_string())],
            ),
        ],
    );
    assert_eq!(
        discord_error(channel.say(&http, "a").await.expect_err("500")).0,
        500
    );
    assert_eq!(
        discord_error(channel.say(&http, "b").await.expect_err("429")).0,
        429
    );
    let first = channel.say(&http, "c").await.expect("back to normal");
    let second = channel.say(&http, "d").await.expect("normal");
    assert!(second.id > first.id, "message ids increase");

    fake.unknown_channel(810000000000000009);
    let err = ChannelId::new(810000000000000009)
        .say(&http, "x")
        .await
        .expect_err("unknown");
    assert_eq!(discord_error(err), (404, 10003));
    // A deferred answer: defer, edit @original (multipart), follow up, delete @original.
    fake.send_interaction(command(700000000000000006, &rep, "slow", None, vec![]))
        .await;
    let original = format!("/api/v10/webhooks/{APP_ID}/tok-700000000000000006/messages/@original");
    fake.wait_request(T, |r| r.method == "DELETE" && r.path == original)
        .await;
    let cb = fake.wait_callback(700000000000000006, T).await;
    assert_eq!(
        cb.json,
        json!({"type": 5, "data": {"flags": 64, "attachments": []}})
    );
    let edit = fake
        .wait_request(T, |r| r.method == "PATCH" && r.path == original)
        .await;
    assert_eq!(edit.json["content"], "done");
    assert_eq!(edit.files[0].filename, "r.png");
    let followup = fake
        .wait_request(T, |r| {
            r.method == "POST"
                && r.path == format!("/api/v10/webhooks/{APP_ID}/tok-700000000000000006")
        })
        .await;
    assert_eq!(followup.json["content"], "more");

    let err = http.get_current_user().await.expect_err("not faked");
    assert_eq!(discord_error(err), (404, 0));
    let app = http
        .get_current_application_info()
        .await
        .expect("application info");
    assert_eq!(app.id.get(), APP_ID);

    // The gateway drops: the bot resumes and keeps answering.
    fake.drop_gateway().await;
    fake.wait_sessions(2, T).await;
    assert_eq!(fake.session_counts(), (1, 1));
    fake.send_interaction(command(
        700000000000000005,
        &Caller::admin(7),
        "ping",
        None,
        vec![],
    ))
    .await;
    let cb = fake.wait_callback(700000000000000005, T).await;
    assert_eq!(cb.json["data"]["content"], "pong");

    shard_manager.shutdown_all().await;
    let ended = tokio::time::timeout(T, running)
        .await
        .expect("client stops within 10 s");
    ended.expect("client task").expect("client ends cleanly");
}

/// Two sessions, shards 0 and 1 of 2: each guild's events reach only its shard's session,
/// an event for a shard with no session waits for that shard's READY, an event about no
/// guild goes to shard 0, and an interaction takes one initial callback.
#[tokio::test]
async fn fake_discord_routes_each_guild_to_its_shard() {
    use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
    type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
    const T: Duration = Duration::from_secs(10);

    async fn next_frame(ws: &mut Ws) -> Value {
        loop {
            let message = tokio::time::timeout(T, ws.next())
                .await
                .expect("a frame in time")
                .expect("the socket is open")
                .expect("a readable frame");
            if let WsMessage::Text(text) = message {
                return serde_json::from_str(&text).expect("JSON frame");
            }
        }
    }
    async fn identify(url: &str, shard: u64) -> Ws {
        let (mut ws, _) = connect_async(url).await.expect("gateway connects");
        assert_eq!(next_frame(&mut ws).await["op"], 10, "HELLO first");
        let identify = json!({"op": 2, "d": {"token": "T", "intents": 1, "properties": {}, "shard": [shard, 2]}});
        ws.send(WsMessage::Text(identify.to_string()))
            .await
            .expect("IDENTIFY sent");
        let ready = next_frame(&mut ws).await;
        assert_eq!(ready["t"], "READY", "{ready}");
        assert_eq!(ready["d"]["shard"], json!([shard, 2]));
        ws
    }

    let on_shard_0 = GUILD_ID + (1 << 22);
    let on_shard_1 = GUILD_ID;
    assert_eq!(((on_shard_0 >> 22) % 2, (on_shard_1 >> 22) % 2), (0, 1));
    let fake = FakeDiscord::start().await;
    // Two buckets, so the two shards may start at once.
    fake.set_max_concurrency(2);
    let url = fake.shared.ws_url.clone();
    let mut zero = identify(&url, 0).await;

    let held = fake
        .dispatch("GUILD_CREATE", json!({"id": on_shard_1.to_string()}))
        .await;
    assert_eq!(held, Delivery::Held, "shard 1 has no session yet");
    assert_eq!(fake.held(), 1);
    let sent = fake
        .dispatch(
            "INTERACTION_CREATE",
            json!({"id": "7", "guild_id": on_shard_0.to_string()}),
        )
        .await;
    assert!(matches!(sent, Delivery::Sent { .. }), "{sent:?}");
    let frame = next_frame(&mut zero).await;
    assert_eq!(
        (frame["t"].as_str(), frame["s"].as_u64()),
        (Some("INTERACTION_CREATE"), Some(2))
    );

    // Shard 1 identifies: the held GUILD_CREATE follows its READY.
    let mut one = identify(&url, 1).await;
    let frame = next_frame(&mut one).await;
    assert_eq!(frame["t"], "GUILD_CREATE", "{frame}");
    assert_eq!(frame["d"]["id"], on_shard_1.to_string());
    assert_eq!(frame["s"], 2);
    assert_eq!(fake.held(), 0);

    fake.dispatch(
        "INTERACTION_CREATE",
        json!({"id": "8", "guild_id": on_shard_1.to_string()}),
    )
    .await;
    fake.dispatch("MESSAGE_CREATE", json!({"id": "9"})).await;
    let frame = next_frame(&mut one).await;
    assert_eq!(
        frame["d"]["id"], "8",
        "shard 1 gets its guild's event: {frame}"
    );
    let frame = next_frame(&mut zero).await;
    assert_eq!(
        frame["d"]["id"], "9",
        "shard 0 gets the event about no guild: {frame}"
    );
    assert_eq!(frame["s"], 3);
    assert_eq!(fake.identify_shards(), vec![json!([0, 2]), json!([1, 2])]);

    // One initial callback per interaction, as on Discord.
    let client = reqwest::Client::new();
    let callback = format!("{}/api/v10/interactions/8/tok-8/callback", fake.api_base());
    let body = json!({"type": 4, "data": {"content": "hi"}});
    let first = client
        .post(&callback)
        .json(&body)
        .send()
        .await
        .expect("callback");
    assert_eq!(first.status(), 204);
    let second = client
        .post(&callback)
        .json(&body)
        .send()
        .await
        .expect("callback");
    assert_eq!(second.status(), 400);
    let error: Value = second.json().await.expect("error body");
    assert_eq!(error["code"], 40060);

    // Discord's start limit: another IDENTIFY in shard 0's bucket within 5 s is refused with
    // a session that cannot be resumed; the other bucket was not touched by it.
    let (mut again, _) = connect_async(url.as_str()).await.expect("gateway connects");
    assert_eq!(next_frame(&mut again).await["op"], 10, "HELLO first");
    let identify =
        json!({"op": 2, "d": {"token": "T", "intents": 1, "properties": {}, "shard": [2, 4]}});
    again
        .send(WsMessage::Text(identify.to_string()))
        .await
        .expect("IDENTIFY sent");
    assert_eq!(next_frame(&mut again).await, json!({"op": 9, "d": false}));
    assert_eq!(fake.identifies_refused(), 1);
}
