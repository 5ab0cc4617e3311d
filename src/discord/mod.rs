//! The Discord front-end, and the only module that imports serenity. It maps interactions to
//! engine requests and replies to interaction responses; the engine decides everything else.

pub mod attach;
pub mod convert;
pub mod identify;
pub mod send;

pub use crate::config::DiscordConfig;
use crate::config::Shards;
use crate::engine::manifest::MANIFEST_FILES;
use crate::engine::{
    Action, AutocompleteRequest, ButtonId, Click, Engine, OptionValue, Reply, Request,
};
use crate::i18n::Msg;
use crate::store::Store;
use anyhow::Context as _;
use chrono::Utc;
use serenity::all::{
    AutocompleteChoice, Client, ClientBuilder, CommandDataOptionValue, CommandInteraction,
    ComponentInteraction, Context, CreateAutocompleteResponse, CreateInteractionResponse,
    EventHandler, GatewayIntents, GuildId, Http, HttpBuilder, Interaction, ModalInteraction, Ready,
    ResumedEvent,
};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Answer by this time or defer: Discord drops an interaction not answered within 3 s.
const DEFER_AFTER: Duration = Duration::from_millis(1500);
/// How long a shutdown waits for commands already running.
const DRAIN_FOR: Duration = Duration::from_secs(10);
/// A long import edits its message with progress at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The REST client. With an API base the ratelimiter must be off: serenity's ratelimiter
/// builds its own URLs and would ignore the base (see serenity 0.12 `Ratelimiter::perform`).
pub fn http(config: &DiscordConfig) -> Http {
    let mut builder = HttpBuilder::new(&config.token);
    if let Some(base) = &config.api_base {
        builder = builder
            .proxy(base.trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    builder.build()
}

/// The hash of the manifests as registered, to register again only when they change.
pub fn manifest_hash() -> String {
    let mut hasher = Sha256::new();
    for (name, text) in MANIFEST_FILES {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn dm_workspace(custom_id: &str) -> Option<GuildId> {
    crate::engine::workspace_of(custom_id)
        .and_then(|(ws, _)| u64::try_from(ws).ok())
        .filter(|ws| *ws > 0)
        .map(GuildId::new)
}

/// Commands that run at once: each holds a database connection, and the pool has 16 (the
/// scheduler, the outbox and the HTTP API take the rest). More would only queue inside the pool
/// and fail after its 2-second acquire timeout under load; here they wait their turn instead,
/// deferred after 1.5 s like any slow command, and are answered in order.
const MAX_RUNNING: usize = 12;
/// Commands accepted at once, running and waiting. Past this the bot sheds: it answers at once,
/// privately, that nothing was changed and to try again (`salesbot_commands_shed_total`, and
/// a warning in the log), so memory stays bounded and every interaction is answered within
/// Discord's deadline. A waiting command costs tens of kilobytes of resident memory (its
/// interaction and the engine's future); at 2,000 the discord bench's overload peaked at
/// 189 MiB, so the bound is 1,000 (about 2 s of work at the measured rate).
const MAX_ACCEPTED: usize = 1_000;
/// Interactions being turned away at once. Shedding costs a REST call each; when even those
/// cannot keep up (Discord or the network slower than the flood), the rest get no answer at
/// all (Discord then shows that the bot did not respond; `salesbot_commands_dropped_total`),
/// which is the one way to keep memory bounded whatever arrives.
const MAX_SHEDDING: usize = 1_000;
/// REST calls answering interactions at once. Each holds a connection and its buffers; a
/// flood past this waits in line as a small task instead of opening more.
const MAX_RESPONDING: usize = 64;

/// Commands still running, so a shutdown can let them finish.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

struct Guard(Arc<InFlight>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[derive(Clone)]
struct Handler {
    engine: Engine,
    config: DiscordConfig,
    fetcher: attach::Fetcher,
    registered: Arc<AtomicBool>,
    accepting: Arc<AtomicBool>,
    inflight: Arc<InFlight>,
    /// A shard is connected to the gateway (what `/readyz` reports).
    connected: Arc<AtomicBool>,
    /// Turns to run (see [`MAX_RUNNING`]).
    running: Arc<tokio::sync::Semaphore>,
    /// Interactions this process is working on. A second copy of one (a gateway replay while
    /// the first still runs) is dropped at once: otherwise its deferral timer could take the
    /// interaction's only callback before the engine's dedupe answers "already seen".
    working: Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
    /// Interactions being shed now (see [`MAX_SHEDDING`]).
    shedding: Arc<AtomicUsize>,
    /// Turns to call Discord's interaction endpoints (see [`MAX_RESPONDING`]).
    responding: Arc<tokio::sync::Semaphore>,
}

/// Counts an interaction off [`Handler::shedding`] when it has been turned away.
struct Shedding(Arc<AtomicUsize>);

impl Drop for Shedding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes an interaction id off [`Handler::working`] when its answer is done.
struct Working(Arc<std::sync::Mutex<std::collections::HashSet<u64>>>, u64);

impl Drop for Working {
    fn drop(&mut self) {
        if let Ok(mut ids) = self.0.lock() {
            ids.remove(&self.1);
        }
    }
}

impl Handler {
    fn enter(&self) -> Option<Guard> {
        if !self.accepting.load(Ordering::SeqCst) {
            return None;
        }
        self.inflight.count.fetch_add(1, Ordering::SeqCst);
        Some(Guard(self.inflight.clone()))
    }

    async fn drain(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        let wait = async {
            while self.inflight.count.load(Ordering::SeqCst) > 0 {
                let notified = self.inflight.idle.notified();
                if self.inflight.count.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(DRAIN_FOR, wait).await.is_err() {
            tracing::warn!("shutting down with commands still running");
        }
    }

    async fn register(&self, ctx: &Context) {
        if self.registered.swap(true, Ordering::SeqCst) {
            return; // `ready` fires again after every re-identify
        }
        let scope = match self.config.guild_id {
            Some(g) => format!("guild:{g}"),
            None => "global".to_string(),
        };
        let hash = manifest_hash();
        match self.engine.store().registered_manifest(&scope).await {
            Ok(Some(previous)) if previous == hash => {
                tracing::info!(%scope, "slash commands unchanged; not registering");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not read the last registration; registering")
            }
        }
        let mut manifests = Vec::new();
        for (name, text) in MANIFEST_FILES {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => manifests.push(v),
                Err(e) => {
                    tracing::error!(command = name, error = %e, "manifest is not JSON; not registering");
                    return;
                }
            }
        }
        let result = match self.config.guild_id {
            Some(g) => {
                ctx.http
                    .create_guild_commands(GuildId::new(g), &manifests)
                    .await
            }
            None => ctx.http.create_global_commands(&manifests).await,
        };
        match result {
            Ok(_) => {
                tracing::info!(%scope, commands = manifests.len(), "registered slash commands");
                if let Err(e) = self.engine.store().record_registration(&scope, &hash).await {
                    tracing::warn!(error = %e, "could not record the registration");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "registering slash commands failed; will retry on the next ready");
                self.registered.store(false, Ordering::SeqCst);
            }
        }
    }

    fn request(&self, o: Origin<'_>, action: Action) -> Option<Request> {
        let guild = o.guild?;
        Some(Request {
            workspace_id: convert::id64(guild.get())?,
            user_id: convert::id64(o.user.id.get())?,
            display_name: Some(convert::display_name(o.member, o.user)),
            role: convert::role_source(o.member),
            locale: convert::locale(o.locale),
            channel_id: Some(convert::id64(o.channel)?),
            interaction_id: Some(convert::id64(o.id)?),
            idempotency: None,
            now: Utc::now(),
            action,
            in_dm: false,
            guild_members: Vec::new(),
        })
    }

    async fn on_command(&self, ctx: Context, cmd: CommandInteraction) {
        let inv = convert::invocation(&cmd.data.name, &cmd.data.options);
        let origin = Origin {
            guild: cmd.guild_id,
            user: &cmd.user,
            member: cmd.member.as_deref(),
            locale: &cmd.locale,
            channel: cmd.channel_id.get(),
            id: cmd.id.get(),
        };
        let Some(mut req) = self.request(origin, Action::Command(inv)) else {
            return self
                .outside_guild(&ctx, Responder::Command(&cmd), &cmd.locale)
                .await;
        };
        req.guild_members = convert::guild_members(&cmd.data.resolved);
        let files = convert::attachments(&cmd.data.options, &cmd.data.resolved);
        if files.is_empty() {
            return self.answer(&ctx, Responder::Command(&cmd), req).await;
        }
        // The files are fetched before the engine runs, inside the deferral's time, and the
        // answer (a preview of the caller's data) is private from the start.
        let fetcher = self.fetcher.clone();
        let engine = self.engine.clone();
        let locale = req.locale.unwrap_or_default();
        let work = async move {
            for (option, attachment) in files {
                let value = match fetcher.fetch(&attachment).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::info!(error = %e, "attachment not fetched");
                        return Some(Reply::private(format!("⚠️ {}", e.msg().render(locale))));
                    }
                };
                if let Action::Command(inv) = &mut req.action {
                    for (name, v) in inv.options.iter_mut() {
                        if *name == option {
                            *v = OptionValue::Attachment(value.clone());
                        }
                    }
                }
            }
            engine.handle(req).await
        };
        self.answer_with(&ctx, Responder::Command(&cmd), locale, true, work)
            .await;
    }

    async fn on_component(&self, ctx: Context, c: ComponentInteraction) {
        let action = Action::Click(c.data.custom_id.clone());
        // Buttons on reminders and agendas live in DMs: the button names the workspace.
        let guild = c.guild_id.or_else(|| dm_workspace(&c.data.custom_id));
        let origin = Origin {
            guild,
            user: &c.user,
            member: c.member.as_ref(),
            locale: &c.locale,
            channel: c.channel_id.get(),
            id: c.id.get(),
        };
        let Some(mut req) = self.request(origin, action) else {
            return self
                .outside_guild(&ctx, Responder::Component(&c), &c.locale)
                .await;
        };
        req.in_dm = c.guild_id.is_none();
        let edits_its_message = matches!(
            c.data.custom_id.parse::<ButtonId>().map(|b| b.click),
            Ok(Click::ImportRun(_) | Click::ImportCancel(_))
        );
        if edits_its_message {
            return self.answer_in_place(&ctx, &c, req).await;
        }
        self.answer(&ctx, Responder::Component(&c), req).await;
    }

    /// A button whose answer replaces the message it is on (an import preview's Import and
    /// Cancel): acknowledged at once, then the message is edited with progress at most every
    /// two seconds while the work runs, and finally with the answer.
    async fn answer_in_place(&self, ctx: &Context, c: &ComponentInteraction, req: Request) {
        let locale = req.locale.unwrap_or_default();
        let Some(_guard) = self.enter() else {
            let reply = Reply::private(Msg::new("error.restarting").render(locale));
            return Responder::Component(c).respond(ctx, &reply).await;
        };
        if let Err(e) = c
            .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
            .await
        {
            tracing::warn!(error = %e, "acknowledging the button failed");
        }
        // One task does every edit, in order, so the final answer is never overtaken by a
        // progress edit still in flight.
        let (edits, mut queue) = tokio::sync::mpsc::unbounded_channel::<Reply>();
        let http = ctx.http.clone();
        let token = c.token.clone();
        let editor = tokio::spawn(async move {
            while let Some(reply) = queue.recv().await {
                if let Err(e) = http
                    .edit_original_interaction_response(&token, &convert::edit(&reply), Vec::new())
                    .await
                {
                    tracing::warn!(error = %e, "editing the message failed");
                }
            }
        });
        let engine = self.engine.clone();
        let progress_edits = edits.clone();
        let work = tokio::spawn(async move {
            let last = std::sync::Mutex::new(None::<std::time::Instant>);
            let progress = move |reply: Reply| {
                let Ok(mut last) = last.lock() else { return };
                if last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
                    return;
                }
                *last = Some(std::time::Instant::now());
                let _ = progress_edits.send(reply);
            };
            engine.handle_with_progress(req, &progress).await
        });
        let reply = match work.await {
            Ok(Some(reply)) => Some(reply),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "button task failed");
                Some(Reply::private(Msg::new("error.unexpected").render(locale)))
            }
        };
        if let Some(reply) = reply {
            let _ = edits.send(reply);
        }
        drop(edits);
        if let Err(e) = editor.await {
            tracing::warn!(error = %e, "the message editor stopped");
        }
    }

    async fn on_modal(&self, ctx: Context, m: ModalInteraction) {
        let action = Action::Submit {
            custom_id: m.data.custom_id.clone(),
            fields: convert::modal_fields(&m.data),
        };
        let origin = Origin {
            guild: m.guild_id,
            user: &m.user,
            member: m.member.as_ref(),
            locale: &m.locale,
            channel: m.channel_id.get(),
            id: m.id.get(),
        };
        let Some(req) = self.request(origin, action) else {
            return self
                .outside_guild(&ctx, Responder::Modal(&m), &m.locale)
                .await;
        };
        self.answer(&ctx, Responder::Modal(&m), req).await;
    }

    async fn on_autocomplete(&self, ctx: Context, ac: CommandInteraction) {
        let Some(guild) = ac.guild_id else { return };
        let Some(focused) = ac.data.autocomplete() else {
            return;
        };
        let subcommand = ac.data.options.first().and_then(|o| match o.value {
            CommandDataOptionValue::SubCommand(_) => Some(o.name.clone()),
            _ => None,
        });
        let (Some(workspace_id), Some(user_id)) =
            (convert::id64(guild.get()), convert::id64(ac.user.id.get()))
        else {
            return;
        };
        let req = AutocompleteRequest {
            workspace_id,
            user_id,
            role: convert::role_source(ac.member.as_deref()),
            command: ac.data.name.clone(),
            subcommand,
            option: focused.name.to_string(),
            value: focused.value.to_string(),
        };
        let choices = self.engine.autocomplete(req).await;
        let response = CreateAutocompleteResponse::new().set_choices(
            choices
                .into_iter()
                .map(|c| AutocompleteChoice::new(c.name, c.value))
                .collect(),
        );
        if let Err(e) = ac
            .create_response(&ctx.http, CreateInteractionResponse::Autocomplete(response))
            .await
        {
            tracing::warn!(error = %e, "autocomplete answer failed");
        }
    }

    async fn outside_guild(&self, ctx: &Context, to: Responder<'_>, locale: &str) {
        let locale = convert::locale(locale).unwrap_or_default();
        let reply = Reply::private(Msg::new("error.guild_only").render(locale));
        to.respond(ctx, &reply).await;
    }

    /// Runs the request; answers directly when the engine is quick, else defers first and
    /// completes the deferred response (a private answer then replaces it as a follow-up).
    async fn answer(&self, ctx: &Context, to: Responder<'_>, req: Request) {
        let locale = req.locale.unwrap_or_default();
        let engine = self.engine.clone();
        self.answer_with(
            ctx,
            to,
            locale,
            false,
            async move { engine.handle(req).await },
        )
        .await
    }

    /// Answers with what `work` gives: directly when it is quick, else after a deferral. With
    /// `private`, the deferral is already private, so the answer simply completes it.
    async fn answer_with(
        &self,
        ctx: &Context,
        to: Responder<'_>,
        locale: crate::domain::locale::Locale,
        private: bool,
        work: impl Future<Output = Option<Reply>> + Send + 'static,
    ) {
        let id = to.id();
        let fresh = self
            .working
            .lock()
            .map(|mut ids| ids.insert(id))
            .unwrap_or(true);
        if !fresh {
            tracing::debug!(
                interaction = id,
                "a second copy of an interaction still running"
            );
            return;
        }
        let _working = Working(self.working.clone(), id);
        let Some(_guard) = self.enter() else {
            let reply = Reply::private(Msg::new("error.restarting").render(locale));
            return to.respond(ctx, &reply).await;
        };
        let accepted = self.inflight.count.load(Ordering::SeqCst);
        metrics::gauge!("salesbot_commands_accepted").set(accepted as f64);
        if accepted > MAX_ACCEPTED {
            let shedding = self.shedding.fetch_add(1, Ordering::SeqCst);
            let _shed = Shedding(self.shedding.clone());
            if shedding >= MAX_SHEDDING {
                metrics::counter!("salesbot_commands_dropped_total").increment(1);
                tracing::warn!(
                    accepted,
                    shedding,
                    "overloaded past shedding: dropping a command unanswered"
                );
                return;
            }
            metrics::counter!("salesbot_commands_shed_total").increment(1);
            tracing::warn!(
                accepted,
                limit = MAX_ACCEPTED,
                "overloaded: shedding a command"
            );
            let reply = Reply::private(Msg::new("error.overloaded").render(locale));
            let _turn = self.responding.acquire().await.ok();
            return to.respond(ctx, &reply).await;
        }
        let turns = self.running.clone();
        let mut work = tokio::spawn(async move {
            // A closed semaphore never happens (it lives as long as the handler); run anyway.
            let _turn = turns.acquire_owned().await.ok();
            work.await
        });
        let reply = match tokio::time::timeout(DEFER_AFTER, &mut work).await {
            Ok(done) => match done {
                Ok(Some(reply)) => reply,
                Ok(None) => return, // a replayed interaction, already answered
                Err(e) => {
                    tracing::error!(error = %e, "command task failed");
                    Reply::private(Msg::new("error.unexpected").render(locale))
                }
            },
            Err(_) => {
                let turn = self.responding.acquire().await.ok();
                if let Err(e) = to.defer(ctx, private).await {
                    tracing::warn!(error = %e, "deferring failed");
                }
                drop(turn);
                let reply = match work.await {
                    Ok(Some(reply)) => reply,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "command task failed");
                        Reply::private(Msg::new("error.unexpected").render(locale))
                    }
                };
                let _turn = self.responding.acquire().await.ok();
                return to.complete(ctx, &reply, private).await;
            }
        };
        let _turn = self.responding.acquire().await.ok();
        to.respond(ctx, &reply).await;
    }
}

/// Who sent an interaction and from where: the part of a request every kind of interaction
/// (command, button, modal) carries under the same names.
struct Origin<'a> {
    guild: Option<GuildId>,
    user: &'a serenity::all::User,
    member: Option<&'a serenity::all::Member>,
    locale: &'a str,
    channel: u64,
    id: u64,
}

/// The three interaction kinds answer the same way.
enum Responder<'a> {
    Command(&'a CommandInteraction),
    Component(&'a ComponentInteraction),
    Modal(&'a ModalInteraction),
}

impl Responder<'_> {
    /// The interaction's id.
    fn id(&self) -> u64 {
        match self {
            Responder::Command(c) => c.id.get(),
            Responder::Component(c) => c.id.get(),
            Responder::Modal(m) => m.id.get(),
        }
    }

    async fn respond(&self, ctx: &Context, reply: &Reply) {
        let response = match &reply.modal {
            Some(m) if !matches!(self, Responder::Modal(_)) => {
                CreateInteractionResponse::Modal(convert::modal(m))
            }
            _ => CreateInteractionResponse::Message(convert::response(reply)),
        };
        let result = match self {
            Responder::Command(c) => c.create_response(&ctx.http, response).await,
            Responder::Component(c) => c.create_response(&ctx.http, response).await,
            Responder::Modal(m) => m.create_response(&ctx.http, response).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "interaction response failed");
        }
    }

    async fn defer(&self, ctx: &Context, private: bool) -> serenity::Result<()> {
        // No text yet, but mentions are off on every message the bot sends.
        let defer = CreateInteractionResponse::Defer(
            serenity::all::CreateInteractionResponseMessage::new()
                .ephemeral(private)
                .allowed_mentions(serenity::all::CreateAllowedMentions::new()),
        );
        match self {
            Responder::Command(c) => c.create_response(&ctx.http, defer).await,
            Responder::Component(c) => c.create_response(&ctx.http, defer).await,
            Responder::Modal(m) => m.create_response(&ctx.http, defer).await,
        }
    }

    async fn complete(&self, ctx: &Context, reply: &Reply, deferred_privately: bool) {
        let http = &ctx.http;
        let result = if reply.ephemeral && !deferred_privately {
            // A deferral is public; a private answer (an error, a personal list) replaces it.
            let deleted = match self {
                Responder::Command(c) => c.delete_response(http).await,
                Responder::Component(c) => c.delete_response(http).await,
                Responder::Modal(m) => m.delete_response(http).await,
            };
            if let Err(e) = deleted {
                tracing::warn!(error = %e, "removing the deferred response failed");
            }
            match self {
                Responder::Command(c) => c
                    .create_followup(http, convert::followup(reply))
                    .await
                    .map(|_| ()),
                Responder::Component(c) => c
                    .create_followup(http, convert::followup(reply))
                    .await
                    .map(|_| ()),
                Responder::Modal(m) => m
                    .create_followup(http, convert::followup(reply))
                    .await
                    .map(|_| ()),
            }
        } else {
            match self {
                Responder::Command(c) => c
                    .edit_response(http, convert::edit(reply))
                    .await
                    .map(|_| ()),
                Responder::Component(c) => c
                    .edit_response(http, convert::edit(reply))
                    .await
                    .map(|_| ()),
                Responder::Modal(m) => m
                    .edit_response(http, convert::edit(reply))
                    .await
                    .map(|_| ()),
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "completing the deferred response failed");
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
        self.connected.store(true, Ordering::Relaxed);
        metrics::gauge!("salesbot_gateway_connected_shards").set(1.0);
        self.register(&ctx).await;
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        tracing::info!("gateway session resumed");
        self.connected.store(true, Ordering::Relaxed);
    }

    async fn shard_stage_update(
        &self,
        _ctx: Context,
        event: serenity::gateway::ShardStageUpdateEvent,
    ) {
        let up = matches!(event.new, serenity::gateway::ConnectionStage::Connected);
        self.connected.store(up, Ordering::Relaxed);
        metrics::gauge!("salesbot_gateway_connected_shards").set(if up { 1.0 } else { 0.0 });
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => self.on_command(ctx, cmd).await,
            Interaction::Autocomplete(ac) => self.on_autocomplete(ctx, ac).await,
            Interaction::Component(c) => self.on_component(ctx, c).await,
            Interaction::Modal(m) => self.on_modal(ctx, m).await,
            _ => {}
        }
    }
}

/// Reports the shards' state every 15 s: how many are connected and each one's heartbeat
/// latency (labelled by shard number, a small fixed set, never a guild).
async fn watch_shards(manager: Arc<serenity::gateway::ShardManager>) {
    let mut every = tokio::time::interval(Duration::from_secs(15));
    loop {
        every.tick().await;
        let runners = manager.runners.lock().await;
        let connected = runners
            .values()
            .filter(|r| matches!(r.stage, serenity::gateway::ConnectionStage::Connected))
            .count();
        metrics::gauge!("salesbot_gateway_connected_shards").set(connected as f64);
        for (id, r) in runners.iter() {
            if let Some(latency) = r.latency {
                metrics::gauge!("salesbot_gateway_latency_seconds", "shard" => id.0.to_string())
                    .set(latency.as_secs_f64());
            }
        }
    }
}

/// A running bot: the gateway client plus what is needed to stop it cleanly.
pub struct Bot {
    client: Client,
    handler: Handler,
}

impl Bot {
    /// Builds the client (this asks Discord, or `api_base`, for the gateway address).
    pub async fn connect(config: DiscordConfig, engine: Engine) -> anyhow::Result<Bot> {
        let handler = Handler {
            engine: engine.with_upload_limit(config.upload_limit),
            fetcher: attach::Fetcher::new(&config)?,
            config: config.clone(),
            registered: Arc::new(AtomicBool::new(false)),
            accepting: Arc::new(AtomicBool::new(true)),
            inflight: Arc::new(InFlight::default()),
            connected: Arc::new(AtomicBool::new(false)),
            running: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING)),
            working: Arc::default(),
            shedding: Arc::default(),
            responding: Arc::new(tokio::sync::Semaphore::new(MAX_RESPONDING)),
        };
        // Interactions need no gateway intents; GUILDS keeps the session useful and is not privileged.
        let client = ClientBuilder::new_with_http(http(&config), GatewayIntents::GUILDS)
            .event_handler(handler.clone())
            .await
            .context("failed to set up the Discord client")?;
        Ok(Bot { client, handler })
    }

    /// True while a shard is connected to the gateway.
    pub fn connected(&self) -> Arc<AtomicBool> {
        self.handler.connected.clone()
    }

    /// The REST client, for sending messages on the bot's own initiative.
    pub fn http(&self) -> Arc<Http> {
        self.client.http.clone()
    }

    /// Serves until `shutdown` resolves, then stops taking commands, lets the running ones
    /// finish, and closes the gateway.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Bot {
            mut client,
            handler,
        } = self;
        let shards = client.shard_manager.clone();
        let shards_wanted = handler.config.shards.clone();
        // Held until `run` returns: the relay stops accepting then.
        let _relay = if shards_wanted == Shards::Single {
            None
        } else {
            // Other processes may run the bot's other shards: their gateway starts share
            // Discord's per-bucket limit (see `identify`).
            let max_concurrency = match client.http.get_bot_gateway().await {
                Ok(gateway) => gateway.session_start_limit.max_concurrency,
                Err(e) => {
                    tracing::warn!(error = %e, "GET /gateway/bot failed; assuming max_concurrency 1");
                    1
                }
            };
            let gate = identify::IdentifyGate::new(
                handler.engine.store().clone(),
                u16::try_from(max_concurrency).unwrap_or(u16::MAX),
            );
            let upstream = client.ws_url.lock().await.clone();
            let relay = identify::relay(upstream, gate).await?;
            *client.ws_url.lock().await = relay.url.clone();
            Some(relay)
        };
        let watch = tokio::spawn(watch_shards(shards.clone()));
        let mut gateway = tokio::spawn(async move {
            match shards_wanted {
                Shards::Single => client.start().await,
                Shards::Auto => client.start_autosharded().await,
                Shards::Range { start, end, total } => {
                    tracing::info!(
                        start,
                        end,
                        total,
                        "running gateway shards {start}..={end} of {total}"
                    );
                    client.start_shard_range(start..end + 1, total).await
                }
            }
        });
        tokio::select! {
            ended = &mut gateway => {
                // Only a fatal gateway error (a bad token, disallowed intents) ends the client.
                return ended.context("the Discord client task failed")?.context("the Discord gateway refused the bot");
            }
            () = shutdown => {}
        }
        watch.abort();
        tracing::info!("shutting down: finishing running commands");
        handler.drain().await;
        shards.shutdown_all().await;
        match gateway.await {
            Ok(result) => result.context("the Discord client stopped with an error"),
            Err(e) => Err(anyhow::Error::new(e).context("the Discord client task failed")),
        }
    }
}

/// The sender for the bot's own messages (reminders, agendas, digests).
pub fn sender(config: &DiscordConfig, store: Store) -> anyhow::Result<send::Sender> {
    send::Sender::new(config, store)
}
