//! Everything a command needs to know about where it runs: the workspace's settings, the
//! caller, the clock, the language; plus the audit bookkeeping of the running transaction.

use super::format::Format;
use super::{EngineError, EngineResult, Request};
use crate::domain::locale::Locale;
use crate::domain::money::Currency;
use crate::domain::role::{Role, Visibility};
use crate::domain::stage::{Stage, StageKind};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, MemberRow, StageRow, Stamp, Tx, WorkspaceRow};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// The request's surroundings, loaded once per command.
pub(crate) struct Ctx {
    /// Workspace settings as loaded.
    pub ws: WorkspaceRow,
    /// The workspace's time zone, used for reports.
    pub ws_tz: Tz,
    /// How the caller reads: their language, their own time zone (theirs if set, else the
    /// workspace's, also used for times they type) and the workspace currency.
    pub fmt: Format,
    /// The pipeline, in order.
    pub stages: Vec<Stage>,
    /// The caller.
    pub actor: i64,
    /// The caller's role.
    pub role: Role,
    /// The request's clock.
    pub now: DateTime<Utc>,
    /// Who sees what.
    pub visibility: Visibility,
    /// Webhook endpoints may be private addresses (the operator's setting).
    pub allow_private_webhooks: bool,
    /// The webhook event types the workspace's live endpoints want, when the command's
    /// prelude read them; `None` asks the store at commit.
    pub webhook_events: Option<Vec<String>>,
    /// Guild members the command named, as Discord resolved them: (user id, display name).
    guild_members: Vec<(i64, String)>,
    change: Option<i64>,
    /// What the change came through when not chat (an API token's name), for the audit trail.
    via: Option<String>,
    /// What the command's audited writes mean for webhooks, written as events before it
    /// commits (`engine/webhooks.rs`).
    noted: Vec<super::events::Noted>,
    /// The deal the command names by number, as its prelude read it, until the command's
    /// first lookup of that number takes it (`lookup::deal`).
    /// Boxed: the context lives in every command's future, which debug builds copy about.
    pub named_deal: std::sync::Mutex<Option<Box<crate::store::DealRow>>>,
    /// The contact the command names by id, likewise (`lookup::contact`).
    pub named_contact: std::sync::Mutex<Option<Box<crate::store::ContactRow>>>,
    /// The named deal's full card beyond its row, when the command asked its prelude for it
    /// (`/deal show D-42`), until the card takes it.
    pub named_detail: std::sync::Mutex<Option<Box<crate::store::DealDetail>>>,
}

impl Ctx {
    pub fn new(
        req: &Request,
        role: Role,
        ws: WorkspaceRow,
        member: MemberRow,
        stages: Vec<StageRow>,
        locale: Locale,
    ) -> EngineResult<Ctx> {
        // Settings were validated when written; a bad stored value falls back rather than
        // locking the whole team out.
        let ws_tz: Tz = ws.timezone.parse().unwrap_or(Tz::UTC);
        let tz = member
            .timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(ws_tz);
        let currency = Currency::parse(&ws.currency).map_err(|_| {
            EngineError::Unexpected(anyhow::anyhow!(
                "stored currency {} is unknown",
                ws.currency
            ))
        })?;
        let visibility = Visibility::stored(&ws.visibility);
        Ok(Ctx {
            ws_tz,
            fmt: Format {
                locale,
                tz,
                currency,
            },
            stages: stages.into_iter().map(StageRow::into_stage).collect(),
            actor: req.user_id,
            role,
            now: req.now,
            visibility,
            allow_private_webhooks: false,
            webhook_events: None,
            guild_members: req.guild_members.clone(),
            change: None,
            via: match &req.role {
                super::RoleSource::Api { name, .. } => Some(name.clone()),
                _ => None,
            },
            noted: Vec::new(),
            named_deal: std::sync::Mutex::new(None),
            named_contact: std::sync::Mutex::new(None),
            named_detail: std::sync::Mutex::new(None),
            ws,
        })
    }

    /// The workspace id.
    pub fn ws_id(&self) -> i64 {
        self.ws.id
    }

    /// The line a report or export ends with when it was read from a replica that lagged:
    /// the time its figures are from, in the reader's zone, and how far behind that is.
    pub fn as_of_note(&self, at: DateTime<Utc>) -> String {
        self.fmt.m(Msg::new("report.as_of")
            .arg("time", self.fmt.time(at))
            .arg("seconds", (self.now - at).num_seconds().max(0)))
    }

    /// The owner a read is limited to under `/settings visibility own`.
    pub fn owner_filter(&self) -> Option<i64> {
        self.visibility.owner_filter(self.role, self.actor)
    }

    /// The stage with this id.
    pub fn stage(&self, id: i64) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The first stage of the given kind.
    pub fn stage_of_kind(&self, kind: StageKind) -> EngineResult<&Stage> {
        self.stages.iter().find(|s| s.kind == kind).ok_or_else(|| {
            EngineError::Unexpected(anyhow::anyhow!("workspace has no {kind:?} stage"))
        })
    }

    /// Refuses unless the caller is a manager or admin.
    pub fn require_manager(&self) -> EngineResult<()> {
        if self.role.is_manager() {
            Ok(())
        } else {
            Err(EngineError::Forbidden(Msg::new("error.need_manager")))
        }
    }

    /// Refuses unless the caller is an admin.
    pub fn require_admin(&self) -> EngineResult<()> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(EngineError::Forbidden(Msg::new("error.need_admin")))
        }
    }

    /// Refuses unless the caller may change a record owned by `owner`.
    pub fn require_owner(&self, owner: i64, what: String) -> EngineResult<()> {
        if self.role.may_change(self.actor, owner) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(
                Msg::new("error.not_owner").arg("what", what),
            ))
        }
    }

    /// The member someone named in `option`: one the workspace already knows, or a member of
    /// the Discord server that Discord resolved with the command (their row is created here and
    /// belongs to the command's change, so `/undo` removes it too). Anyone else (an id typed by
    /// hand, someone who left, a bot) is refused: a record must never belong to a stranger.
    pub async fn member_named(
        &mut self,
        tx: &mut Tx,
        action: AuditAction,
        user: i64,
        option: &str,
    ) -> EngineResult<MemberRow> {
        if let Some(row) = tx.member(self.ws_id(), user).await? {
            return Ok(row);
        }
        let Some((_, name)) = self.guild_members.iter().find(|(id, _)| *id == user) else {
            return Err(super::errors::option(
                option,
                Msg::new("problem.not_a_member").arg("user", format!("<@{user}>")),
                Msg::new("accepted.member"),
            ));
        };
        let (row, created) = tx.ensure_member(self.ws_id(), user, name).await?;
        if created {
            self.audit(tx, action, Entity::Member, user, None).await?;
        }
        Ok(row)
    }

    /// Takes a row's image before a write, for the audit log.
    pub async fn before(
        &self,
        tx: &mut Tx,
        entity: Entity,
        key: i64,
    ) -> EngineResult<Option<Value>> {
        Ok(tx.snapshot(self.ws_id(), entity, key).await?)
    }

    /// The webhook events the command's writes noted so far.
    pub(crate) fn noted(&self) -> &[super::events::Noted] {
        &self.noted
    }

    /// Records an audited write; all writes of one command share a change id. The write is
    /// also noted for webhooks, so every audited change can be an event.
    pub async fn audit(
        &mut self,
        tx: &mut Tx,
        action: AuditAction,
        entity: Entity,
        key: i64,
        before: Option<Value>,
    ) -> EngineResult<()> {
        self.note(action, entity, key, before.as_ref());
        let change = tx
            .audit(self.ws_id(), self.stamp(action), entity, key, before)
            .await?;
        self.change = Some(change);
        Ok(())
    }

    /// The audit stamp of the command's next write: what [`Ctx::audit`] records it under, and
    /// what a store call that writes a row and its audit entry in one statement takes (hand
    /// what it wrote back to [`Ctx::audited`]).
    pub fn stamp(&self, action: AuditAction) -> Stamp<'_> {
        Stamp {
            change: self.change,
            actor: self.actor,
            action,
            at: self.now,
            via: self.via.as_deref(),
        }
    }

    /// Takes note of writes a store call audited itself under `change` (see [`Ctx::stamp`]),
    /// as [`Ctx::audit`] does for its own.
    pub fn audited(
        &mut self,
        change: i64,
        action: AuditAction,
        entries: &[(Entity, i64, Option<&Value>)],
    ) {
        for (entity, key, before) in entries {
            self.note(action, *entity, *key, *before);
        }
        self.change = Some(change);
    }

    /// Notes an audited write for webhooks.
    fn note(&mut self, action: AuditAction, entity: Entity, key: i64, before: Option<&Value>) {
        super::events::remember(
            &mut self.noted,
            super::events::noted(action, entity, key, before),
        );
    }

    /// The request wrote something that is audited (every command's change is).
    pub fn wrote(&self) -> bool {
        self.change.is_some()
    }

    /// The deal numbered `number` as the prelude read it, once: a second lookup, or one after
    /// the command has written, reads the deal afresh.
    pub fn take_named_deal(&self, number: i64) -> Option<crate::store::DealRow> {
        self.take_named(&self.named_deal, |d| d.number == number)
    }

    /// The full card's detail of the deal with this id as the prelude read it, once, as
    /// [`Ctx::take_named_deal`].
    pub fn take_named_detail(&self, deal_id: i64) -> Option<crate::store::DealDetail> {
        self.take_named(&self.named_detail, |d| d.deal_id == deal_id)
    }

    /// The contact with this id as the prelude read it, once, as [`Ctx::take_named_deal`].
    pub fn take_named_contact(&self, id: i64) -> Option<crate::store::ContactRow> {
        self.take_named(&self.named_contact, |c| c.id == id)
    }

    fn take_named<T>(
        &self,
        slot: &std::sync::Mutex<Option<Box<T>>>,
        is_it: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let named = slot.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        (is_it(&named) && !self.wrote()).then_some(*named)
    }
}

/// A command formats through its context (`ctx.money(..)`, `ctx.t(..)`, `ctx.tz`), the same
/// [`Format`] the scheduled messages use.
impl std::ops::Deref for Ctx {
    type Target = Format;
    fn deref(&self) -> &Format {
        &self.fmt
    }
}
