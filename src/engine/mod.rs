//! The command engine: one request in, one transport-neutral [`Reply`] out.
//!
//! A request is validated against the manifests, parsed into a typed [`Command`] (amounts,
//! times, stages and references become domain values), permission-checked, and executed in a
//! single transaction together with its audit entries. The engine knows nothing of Discord.

mod autocomplete;
mod clicks;
mod commands;
mod ctx;
mod errors;
mod events;
pub mod export;
pub mod format;
pub mod import;
pub mod manifest;
pub mod notices;
pub mod reply;
pub mod reports;
pub mod tokens;
pub mod webhooks;

pub use crate::config::DEFAULT_UPLOAD_LIMIT;
pub use autocomplete::{AutocompleteRequest, Choice};
pub use clicks::{workspace_of, ButtonId, Click, Snooze};
pub use commands::Command;
pub use manifest::{FileValue, Invocation, Manifests, OptionValue};
pub use reply::{Attachment, Button, Embed, Field, Modal, ModalField, Reply};

use crate::domain::locale::Locale;
use crate::domain::money::TotalOverflow;
use crate::domain::refs::{ContactRef, DealRef};
use crate::domain::role::Role;
use crate::i18n::Msg;
use crate::store::{KeyState, MemberRow, Named, Prelude, Store, StoreError, Tx, WalPosition};
use chrono::{DateTime, Utc};
use ctx::Ctx;
use std::sync::Arc;

/// What the caller asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A slash command.
    Command(Invocation),
    /// A button press, by custom id.
    Click(String),
    /// A submitted form (Discord's modal): its custom id and the text of each field.
    Submit {
        /// The modal's custom id, e.g. `deal:lost:42`.
        custom_id: String,
        /// (field custom id, text typed).
        fields: Vec<(String, String)>,
    },
}

/// How the caller's role is known.
#[derive(Clone, Debug, PartialEq)]
pub enum RoleSource {
    /// Whoever runs `salesbot report` on the server: sees the whole workspace, is not a
    /// member of it and leaves no trace (no member row, no workspace created).
    Operator,
    /// The front-end says so (the console, tests).
    Known(Role),
    /// Discord's view of the member; the engine applies the workspace's manager role.
    Discord {
        /// The member has Manage Server: an admin.
        manage_guild: bool,
        /// The member's role ids.
        role_ids: Vec<i64>,
    },
    /// An HTTP API token. Like the operator it is not a member and leaves no member row; it
    /// sees the whole workspace, and its changes are audited under its own actor id (the
    /// token's id, negated, so it never meets a Discord user id) with its name.
    Api {
        /// The token's name, as the audit trail shows it.
        name: String,
        /// It may write; a read-only token's request that would write is refused and rolled
        /// back, whatever route it came by.
        write: bool,
    },
}

impl RoleSource {
    /// The role in a workspace whose manager role is `manager_role`.
    pub fn resolve(&self, manager_role: Option<i64>) -> Role {
        match self {
            RoleSource::Known(role) => *role,
            RoleSource::Discord {
                manage_guild: true, ..
            } => Role::Admin,
            RoleSource::Discord { role_ids, .. }
                if manager_role.is_some_and(|m| role_ids.contains(&m)) =>
            {
                Role::Manager
            }
            RoleSource::Discord { .. } => Role::Rep,
            RoleSource::Operator => Role::Admin,
            RoleSource::Api { write: true, .. } => Role::Admin,
            RoleSource::Api { write: false, .. } => Role::Manager,
        }
    }

    /// Not a member of the workspace: no member row is read or written for them.
    fn outsider(&self) -> bool {
        matches!(self, RoleSource::Operator | RoleSource::Api { .. })
    }
}

/// One request, from any front-end.
#[derive(Clone, Debug)]
pub struct Request {
    /// Workspace (Discord guild) the request comes from.
    pub workspace_id: i64,
    /// Who asked.
    pub user_id: i64,
    /// Their display name, when the front-end knows it.
    pub display_name: Option<String>,
    /// What the front-end knows of their role.
    pub role: RoleSource,
    /// Their language; the workspace's is used when absent.
    pub locale: Option<Locale>,
    /// Channel the request came from.
    pub channel_id: Option<i64>,
    /// Discord's interaction id; a repeated id is not applied twice.
    pub interaction_id: Option<i64>,
    /// An API write's `Idempotency-Key`, claimed by the HTTP front-end: the command records in
    /// its own transaction that it was applied under the key, so a retry whose first answer was
    /// lost (the process died, the read-back failed) is answered from that record instead of
    /// being applied twice.
    pub idempotency: Option<IdempotencyKey>,
    /// The current time, given so tests and the console control the clock.
    pub now: DateTime<Utc>,
    /// The command or click.
    pub action: Action,
    /// It came from a direct message: the workspace was named by a button, so the caller must
    /// already be a member of it.
    pub in_dm: bool,
    /// Members of the Discord server named in the command's user options, as Discord resolved
    /// them: (user id, display name). An option may name someone the workspace does not know
    /// yet only if they are here; the console names only members the workspace knows.
    pub guild_members: Vec<(i64, String)>,
}

/// An `Idempotency-Key` and the API token that sent it (keys are the token's own).
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub token_id: i64,
    pub key: String,
    /// The claim the front-end holds on the key (`store::Idempotency::New`).
    pub claim: i64,
}

/// Why a request did not succeed. Each user-facing case carries a catalog message.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input was wrong; the message names the option and what is accepted.
    #[error("invalid input: {0:?}")]
    Invalid(Msg),
    /// The thing named does not exist in this workspace (or is not visible to the caller).
    #[error("not found: {0:?}")]
    NotFound(Msg),
    /// The caller's role does not allow this.
    #[error("forbidden: {0:?}")]
    Forbidden(Msg),
    /// The request clashes with the current state.
    #[error("conflict: {0:?}")]
    Conflict(Msg),
    /// The same interaction was already processed.
    #[error("interaction already processed")]
    Duplicate,
    /// The transaction ran into another one; the engine runs it again.
    #[error("transaction conflicted: {0}")]
    Contention(String),
    /// The database is away; the user should try again shortly.
    #[error("database unavailable")]
    Unavailable,
    /// A bug or an unexpected state.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => EngineError::Unavailable,
            StoreError::Contention(e) => EngineError::Contention(e.to_string()),
            e @ StoreError::Stale(_) => EngineError::Contention(e.to_string()),
            StoreError::Duplicate(c) => {
                EngineError::Unexpected(anyhow::anyhow!("unexpected duplicate on {c}"))
            }
            StoreError::Repeated => EngineError::Duplicate,
            StoreError::OutOfRange(e) => {
                // Logged in full: only a row written around the cap gets here, and someone
                // has to find it.
                tracing::error!(error = ?e, "money figure out of range");
                EngineError::Conflict(Msg::new("error.out_of_range"))
            }
            StoreError::Unexpected(e) => EngineError::Unexpected(e),
        }
    }
}

/// A checked money total that overflowed in Rust: the same answer as one that overflowed in SQL.
impl From<TotalOverflow> for EngineError {
    fn from(_: TotalOverflow) -> Self {
        tracing::error!("money total overflowed");
        EngineError::Conflict(Msg::new("error.out_of_range"))
    }
}

/// A request's command for metrics and logs: the manifests' command and subcommand names (a
/// fixed set: anything else typed at the console is `unknown`), or the kind of click.
fn command_label(manifests: &Manifests, action: &Action) -> String {
    match action {
        Action::Command(inv) => match manifests.command(&inv.command) {
            None => "unknown".into(),
            Some(spec) => match &inv.subcommand {
                Some(sub) if spec.options.iter().any(|o| &o.name == sub) => {
                    format!("{} {sub}", spec.name)
                }
                Some(_) => format!("{} unknown", spec.name),
                None => spec.name.clone(),
            },
        },
        Action::Click(_) => "button".into(),
        Action::Submit { .. } => "form".into(),
    }
}

/// Counts a finished request and its duration by command and outcome (`ok`, `refused` for an
/// answer that says what was wrong, `error`, `duplicate`).
fn observe_command(command: String, outcome: &'static str, started: std::time::Instant) {
    let labels = [("command", command), ("outcome", outcome.to_string())];
    metrics::counter!("salesbot_commands_total", &labels).increment(1);
    metrics::histogram!("salesbot_command_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
}

/// Result alias for engine steps.
pub type EngineResult<T> = Result<T, EngineError>;

/// The engine, shared by every front-end.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    manifests: Arc<Manifests>,
    /// The largest file a reply may carry (the front-end's upload limit); bigger exports are
    /// compressed or split.
    upload_limit: usize,
    /// Webhook endpoints may be private, loopback or link-local addresses
    /// (`WEBHOOK_ALLOW_PRIVATE`).
    allow_private_webhooks: bool,
}

impl Engine {
    /// Builds the engine over a store.
    pub fn new(store: Store) -> anyhow::Result<Engine> {
        Ok(Engine {
            store,
            manifests: Arc::new(Manifests::load()?),
            upload_limit: DEFAULT_UPLOAD_LIMIT,
            allow_private_webhooks: false,
        })
    }

    /// The same engine, accepting webhook endpoints at private, loopback and link-local
    /// addresses when `allow` (the operator's `WEBHOOK_ALLOW_PRIVATE`).
    pub fn allow_private_webhooks(mut self, allow: bool) -> Engine {
        self.allow_private_webhooks = allow;
        self
    }

    /// The same engine, keeping each file it sends under `bytes`.
    pub fn with_upload_limit(mut self, bytes: usize) -> Engine {
        self.upload_limit = bytes.max(1);
        self
    }

    /// The manifests, for front-ends that parse typed text (the console) or register them.
    pub fn manifests(&self) -> &Manifests {
        &self.manifests
    }

    /// The store, for front-ends that need settings (the console's time zone).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one request. `None` means the interaction was already answered.
    pub async fn handle(&self, req: Request) -> Option<Reply> {
        self.handle_with_progress(req, &|_| {}).await
    }

    /// Handles one request, calling `progress` with a reply to show meanwhile when the work is
    /// long (the Import button: "1,234 rows so far…"); the returned reply replaces it.
    #[tracing::instrument(skip_all, fields(workspace = req.workspace_id, user = req.user_id, command = %command_label(&self.manifests, &req.action)))]
    pub async fn handle_with_progress(
        &self,
        req: Request,
        progress: &(dyn Fn(Reply) + Send + Sync),
    ) -> Option<Reply> {
        let started = std::time::Instant::now();
        let label = command_label(&self.manifests, &req.action);
        let reply = self.handle_inner(req, progress).await;
        let outcome = match &reply {
            None => "duplicate",
            Some(r) if r.ephemeral && r.content.starts_with("⚠️") => "refused",
            Some(_) => "ok",
        };
        observe_command(label, outcome, started);
        reply
    }

    async fn handle_inner(
        &self,
        req: Request,
        progress: &(dyn Fn(Reply) + Send + Sync),
    ) -> Option<Reply> {
        let mut locale = req.locale.unwrap_or_default();
        // A deadlock or serialization failure rolled everything back; running the request
        // again is safe. Bounded, so a pathological hot spot still gets an answer.
        let mut attempts = 0;
        loop {
            attempts += 1;
            // On the heap: a command's future is large (every command's state machine is in
            // it), and a caller that blocks on it keeps it on its thread's stack; the tests'
            // 2 MiB stacks had no room left in debug builds.
            match Box::pin(self.run(&req, &mut locale, progress)).await {
                Ok(reply) => return Some(reply),
                Err(EngineError::Duplicate) => return None,
                Err(EngineError::Contention(why)) if attempts < 4 => {
                    tracing::debug!(attempts, %why, "retrying after contention");
                }
                Err(EngineError::Unavailable) => {
                    let offline = self.help_offline(&req, locale);
                    return offline.or_else(|| {
                        Some(self.error_reply(&EngineError::Unavailable, None, locale))
                    });
                }
                Err(e) => {
                    let path = match &req.action {
                        Action::Command(inv) => {
                            Some((inv.command.as_str(), inv.subcommand.as_deref()))
                        }
                        _ => None,
                    };
                    return Some(self.error_reply(&e, path, locale));
                }
            }
        }
    }

    /// Handles one request and hands back a failure as itself rather than as its reply, for a
    /// front-end that answers failures its own way (the HTTP API: a status and a problem
    /// document). Contention is retried as in [`Engine::handle`].
    #[tracing::instrument(skip_all, fields(workspace = req.workspace_id, command = %command_label(&self.manifests, &req.action)))]
    pub async fn call(&self, req: Request) -> EngineResult<Reply> {
        let started = std::time::Instant::now();
        let mut locale = req.locale.unwrap_or_default();
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            // On the heap, as in `handle_inner`.
            match Box::pin(self.run(&req, &mut locale, &|_| {})).await {
                Err(EngineError::Contention(why)) if attempts < 4 => {
                    tracing::debug!(attempts, %why, "retrying after contention");
                }
                other => break other,
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(
                EngineError::Unexpected(_) | EngineError::Unavailable | EngineError::Contention(_),
            ) => "error",
            Err(EngineError::Duplicate) => "duplicate",
            Err(_) => "refused",
        };
        observe_command(
            command_label(&self.manifests, &req.action),
            outcome,
            started,
        );
        result
    }

    /// `/help` reads only the manifests, so it answers while the database is away.
    fn help_offline(&self, req: &Request, locale: Locale) -> Option<Reply> {
        let Action::Command(inv) = &req.action else {
            return None;
        };
        let args = self.manifests.validate(inv).ok()?;
        Command::help_without_store(inv, &args, locale, &self.manifests)
    }

    /// The ephemeral reply for a failed request, naming options and commands as Discord shows
    /// them in `locale`. `path` is the command and subcommand the request was for, if any.
    pub fn error_reply(
        &self,
        e: &EngineError,
        path: Option<(&str, Option<&str>)>,
        locale: Locale,
    ) -> Reply {
        let localize = |m: &Msg| match path {
            Some((command, sub)) => self.manifests.localize_names(m, command, sub, locale),
            None => m.clone(),
        };
        let e = match e {
            EngineError::Invalid(m) => EngineError::Invalid(localize(m)),
            EngineError::NotFound(m) => EngineError::NotFound(localize(m)),
            EngineError::Forbidden(m) => EngineError::Forbidden(localize(m)),
            EngineError::Conflict(m) => EngineError::Conflict(localize(m)),
            other => return errors::error_reply(other, locale),
        };
        errors::error_reply(&e, locale)
    }

    async fn run(
        &self,
        req: &Request,
        locale: &mut Locale,
        progress: &(dyn Fn(Reply) + Send + Sync),
    ) -> EngineResult<Reply> {
        let (ws_id, user) = (req.workspace_id, req.user_id);
        // A command that only reads is answered again if Discord delivers it again; only
        // writes are marked, so that a repeat is never applied twice.
        let only_reads = match &req.action {
            Action::Command(inv) => {
                commands::path_only_reads(&inv.command, inv.subcommand.as_deref())
            }
            Action::Click(_) | Action::Submit { .. } => false,
        };
        let interaction = req.interaction_id.filter(|_| !only_reads);
        // A command whose path usually writes one statement (a move, a logged call) runs it
        // without BEGIN and COMMIT too, the interaction marker written by that statement;
        // one that turns out to need more opens a transaction before it writes.
        let one_write = !only_reads
            && req.idempotency.is_none()
            && match &req.action {
                Action::Command(inv) => {
                    commands::path_one_write(&inv.command, inv.subcommand.as_deref())
                }
                Action::Click(_) | Action::Submit { .. } => false,
            };
        let named = named_records(&req.action);
        // A read runs without BEGIN and COMMIT (its statements see under READ COMMITTED what
        // they would inside a transaction); what it writes on the way, a new workspace or a
        // changed member row, opens one first.
        let (mut tx, prelude) = if only_reads {
            self.store.prelude_reads(ws_id, user, named).await?
        } else if one_write {
            self.store
                .prelude_one_write(ws_id, user, interaction, named)
                .await?
        } else {
            let mut tx = self.store.begin().await?;
            let prelude = tx.prelude(ws_id, user, interaction, named).await?;
            (tx, prelude)
        };
        let prelude = match prelude {
            Some(p) => p,
            None if req.role.outsider() => {
                return Err(EngineError::NotFound(
                    Msg::new("error.no_workspace").arg("workspace", req.workspace_id),
                ))
            }
            None => {
                tx.ensure_workspace(req.workspace_id).await?;
                // Marked by this prelude in a transaction; a marker still waiting for the
                // command's write (`one_write`) is looked for instead.
                let interaction = interaction.filter(|_| !one_write);
                tx.prelude(ws_id, user, interaction, named)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("workspace vanished after creation"))?
            }
        };
        let Prelude {
            workspace: ws,
            stages,
            member: known_member,
            webhook_events,
            repeated,
            wal_position,
            deal: named_deal,
            contact: named_contact,
            deal_detail: named_detail,
        } = prelude;
        *locale = req
            .locale
            .or_else(|| Locale::from_tag(&ws.locale))
            .unwrap_or_default();
        if repeated {
            return Err(EngineError::Duplicate);
        }
        if let Some(k) = &req.idempotency {
            match tx
                .idempotency_applied(ws_id, k.token_id, &k.key, k.claim)
                .await?
            {
                KeyState::Applied(data) => {
                    return Ok(Reply {
                        data,
                        ..Reply::default()
                    })
                }
                KeyState::Held => {}
                KeyState::Lost => {
                    return Err(EngineError::Conflict(Msg::new("api.idempotency_in_flight")))
                }
            }
        }
        if req.in_dm && known_member.is_none() {
            return Err(EngineError::NotFound(Msg::new("error.not_a_member")));
        }
        // A click in a DM carries no member, so Discord's view would make everyone a rep
        // named by their global name: the role and name are the ones the server last showed.
        let (role, display_name) = match &known_member {
            Some(m) if req.in_dm => (Role::stored(&m.role), None),
            _ => (
                req.role.resolve(ws.manager_role_id),
                req.display_name.as_deref(),
            ),
        };
        let member = if req.role.outsider() {
            MemberRow {
                user_id: req.user_id,
                display_name: match &req.role {
                    RoleSource::Api { name, .. } => name.clone(),
                    _ => "operator".into(),
                },
                role: role.as_str().into(),
                timezone: None,
                quota_minor: None,
                locale: None,
                dm_closed: false,
            }
        } else {
            tx.upsert_member(
                req.workspace_id,
                req.user_id,
                display_name,
                role.as_str(),
                req.locale.map(|l| l.tag()),
                Some(known_member),
            )
            .await?
        };
        // Read before the caller's member row was written: their own deal shows the name
        // they have now.
        let mut named_deal = named_deal;
        if let Some(deal) = named_deal
            .as_mut()
            .filter(|d| !req.role.outsider() && d.owner_id == member.user_id)
        {
            deal.owner_name = Some(member.display_name.clone());
        }
        let mut ctx = Ctx::new(req, role, ws, member, stages, *locale)?;
        ctx.allow_private_webhooks = self.allow_private_webhooks;
        ctx.webhook_events = Some(webhook_events);
        ctx.named_deal = std::sync::Mutex::new(named_deal);
        ctx.named_contact = std::sync::Mutex::new(named_contact);
        ctx.named_detail = std::sync::Mutex::new(named_detail);
        let command = match &req.action {
            Action::Command(inv) => {
                let args = self.manifests.validate(inv)?;
                Command::parse(inv, &args, &ctx)?
            }
            Action::Click(id) => clicks::parse(id, &ctx)?,
            Action::Submit { custom_id, fields } => clicks::parse_submit(custom_id, fields, &ctx)?,
        };
        if only_reads && !command.only_reads() {
            // Unmarked, a repeated delivery would apply it twice (`coverage` keeps the two
            // lists in step, so this is a guard, not a path).
            return Err(EngineError::Unexpected(anyhow::anyhow!(
                "{command:?} writes but its path counts as a read"
            )));
        }
        if command.works_outside() {
            if matches!(req.role, RoleSource::Api { write: false, .. }) {
                return Err(EngineError::Forbidden(Msg::new("api.read_only")));
            }
            let outside = commands::Outside {
                store: &self.store,
                progress,
                upload_limit: self.upload_limit,
            };
            // The request's transaction (and its interaction marker) is committed by then, so
            // a conflict is answered rather than run again.
            return command
                .run_outside(tx, &ctx, outside)
                .await
                .map_err(|e| match e {
                    EngineError::Contention(why) => {
                        EngineError::Unexpected(anyhow::anyhow!("conflict after commit: {why}"))
                    }
                    other => other,
                });
        }
        if command.reads_reports() && self.store.has_replica() {
            return self.read_report(tx, wal_position, command, &mut ctx).await;
        }
        // Written outside a transaction only when the command writes one statement, and
        // nothing after it would: no webhook event to enqueue with it.
        if one_write
            && tx.unopened()
            && !(command.one_write(&ctx) && ctx.webhook_events.as_ref().is_some_and(Vec::is_empty))
        {
            tx.open().await?;
        }
        let reply = command.execute(&mut tx, &mut ctx, &self.manifests).await?;
        if one_write && tx.unopened() && ctx.wrote() {
            // Reported: a write of a one-statement command that went round `Tx::one_write`
            // ran without its marker (`one_write_commands_write_in_one_statement` covers them).
            return Err(EngineError::Unexpected(anyhow::anyhow!(
                "{:?} wrote outside a transaction without its interaction marker",
                req.action
            )));
        }
        if only_reads && ctx.wrote() {
            // Reported, not undone: a read runs without a transaction (`prelude_reads`). The
            // check before `execute` refuses every command that writes on a read's path.
            return Err(EngineError::Unexpected(anyhow::anyhow!(
                "a command counted as a read wrote an audited change"
            )));
        }
        if matches!(req.role, RoleSource::Api { write: false, .. }) && ctx.wrote() {
            // Dropping the transaction rolls the write back.
            return Err(EngineError::Forbidden(Msg::new("api.read_only")));
        }
        // In the command's transaction: an event is never lost, nor sent for a rollback.
        webhooks::emit(&mut tx, &ctx).await?;
        if let Some(k) = &req.idempotency {
            tx.mark_idempotency_applied(ws_id, k.token_id, &k.key, k.claim, reply.data.as_ref())
                .await?;
        }
        tx.commit().await?;
        Ok(reply)
    }

    /// Runs a report on the replica. The request's transaction (the caller's member row, its
    /// only write; a report is a read, so it has no interaction marker) commits first; `seen`
    /// is the primary's position the prelude noted, so the report sees at least everything
    /// committed before the request, or says how old its figures are.
    async fn read_report(
        &self,
        tx: Tx,
        seen: WalPosition,
        command: Command,
        ctx: &mut Ctx,
    ) -> EngineResult<Reply> {
        tx.commit().await?;
        let (mut read, as_of) = self.store.begin_read(Some(seen)).await?;
        let mut reply = match command
            .clone()
            .execute(&mut read, ctx, &self.manifests)
            .await
        {
            // A replica cancels a query that conflicts with replaying the primary's cleanup
            // (SQLSTATE 40001). The request's transaction is committed: the report alone
            // runs again, on the primary.
            Err(EngineError::Contention(why)) => {
                tracing::warn!(%why, "report cancelled on the replica; reading from the primary");
                drop(read);
                let mut tx = self.store.begin().await?;
                return command.execute(&mut tx, ctx, &self.manifests).await;
            }
            other => other?,
        };
        if let Some(at) = as_of {
            let note = ctx.as_of_note(at);
            reply.content = if reply.content.is_empty() {
                note
            } else {
                format!("{}\n{note}", reply.content)
            };
            if let Some(serde_json::Value::Object(data)) = reply.data.as_mut() {
                data.insert("as_of".into(), serde_json::Value::String(at.to_rfc3339()));
            }
        }
        Ok(reply)
    }
}

/// The deal a command names by number in its `deal` option (`D-42`, `#42`, `42`) and the
/// contact it names by id in its `contact` option (`C-12`), read with the command's prelude so
/// that their lookups need no round trip of their own (`lookup::deal`, `lookup::contact`);
/// for `/deal show`, the deal's full card too. Titles, names and addresses are searched as
/// before.
fn named_records(action: &Action) -> Named {
    let Action::Command(inv) = action else {
        return Named::default();
    };
    let text = |option: &str| {
        inv.options.iter().find_map(|(name, value)| match value {
            OptionValue::String(text) if name == option => Some(text.as_str()),
            _ => None,
        })
    };
    let shows_card = inv.command == "deal" && inv.subcommand.as_deref() == Some("show");
    Named {
        detail: shows_card.then_some(commands::CARD_HISTORY),
        deal: text("deal").and_then(|t| match DealRef::parse(t) {
            Ok(DealRef::Number(n)) => Some(n),
            _ => None,
        }),
        contact: text("contact").and_then(|t| match ContactRef::parse(t) {
            Ok(ContactRef::Id(id)) => Some(id),
            _ => None,
        }),
    }
}
