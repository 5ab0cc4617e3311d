//! Webhook events, written in the transaction of the change they report: a command's audited
//! writes note what happened (`engine/events.rs`, called by `Ctx::audit`), and before the command
//! commits [`emit`] turns the notes that some endpoint listens to into events with their
//! deliveries. A command that rolls back takes its events with it; one that commits cannot
//! lose them. The importer reports `import.finished` the same way ([`import_finished`]).

use super::ctx::Ctx;
use super::format::{code, Format};
use super::reply::Reply;
use super::EngineResult;
use crate::domain::webhook::{message_id, DealEvent, Event, EventType, ImportEvent, MemberData};
use crate::i18n::Msg;
use crate::store::{NewOutbox, OutboxKind, Store, StoreResult, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Writes the events of the command's notes that a live endpoint listens to, in the command's
/// transaction.
pub(crate) async fn emit(tx: &mut Tx, ctx: &Ctx) -> EngineResult<()> {
    let notes = ctx.noted();
    if notes.is_empty() {
        return Ok(());
    }
    let wanted = match &ctx.webhook_events {
        Some(read) => read.clone(),
        None => tx.webhook_subscriptions(ctx.ws_id()).await?,
    };
    let ws = ctx.ws_id();
    for n in notes {
        if !wanted.iter().any(|w| w == n.kind.as_str()) {
            continue;
        }
        let body = match n.kind {
            EventType::DealCreated
            | EventType::DealStageChanged
            | EventType::DealWon
            | EventType::DealLost
            | EventType::DealAssigned => {
                let Some(deal) = tx.webhook_deal(ws, n.key).await? else {
                    continue;
                };
                let previous_owner = match n.previous_owner {
                    Some(user_id) => Some(MemberData {
                        user_id,
                        name: tx.member_name(ws, user_id).await?,
                    }),
                    None => None,
                };
                body(
                    n.kind,
                    ctx.now,
                    DealEvent {
                        workspace_id: ws,
                        deal,
                        from_stage: n
                            .from_stage
                            .and_then(|s| ctx.stage(s))
                            .map(|s| s.name.clone()),
                        previous_owner,
                        changed_by: ctx.actor,
                    },
                )
            }
            EventType::ContactCreated => match tx.webhook_contact(ws, n.key, ctx.actor).await? {
                Some(data) => body(n.kind, ctx.now, data),
                None => continue,
            },
            EventType::CompanyCreated => match tx.webhook_company(ws, n.key, ctx.actor).await? {
                Some(data) => body(n.kind, ctx.now, data),
                None => continue,
            },
            EventType::ActivityLogged => match tx.webhook_activity(ws, n.key).await? {
                Some(data) => body(n.kind, ctx.now, data),
                None => continue,
            },
            EventType::ImportFinished => continue,
        };
        write(tx, ws, n.kind, &body, ctx.now).await?;
    }
    Ok(())
}

fn body<T: Serialize>(kind: EventType, at: DateTime<Utc>, data: T) -> String {
    Event::new(kind, at, data).body()
}

async fn write(
    tx: &mut Tx,
    ws: i64,
    kind: EventType,
    body: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let id = message_id(rand::random());
    let deliveries = tx
        .enqueue_webhook_event(ws, &id, kind.as_str(), body, now)
        .await?;
    tracing::debug!(workspace = ws, event = %kind, msg_id = %id, deliveries, "webhook event written");
    Ok(())
}

/// `import.finished`, written in the transaction that marks the import done.
pub(crate) async fn import_finished(
    tx: &mut Tx,
    data: ImportEvent,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let kind = EventType::ImportFinished;
    let ws = data.workspace_id;
    if !tx
        .webhook_subscriptions(ws)
        .await?
        .iter()
        .any(|w| w == kind.as_str())
    {
        return Ok(());
    }
    write(tx, ws, kind, &body(kind, now, data), now).await
}

/// Disables an endpoint that delivery gave up on and tells the workspace's admins by DM, in
/// one transaction; true when this call disabled it (a second worker finds it done).
pub async fn disable_endpoint(
    store: &Store,
    ws: i64,
    endpoint: i64,
    reason: DisableReason,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut tx = store.begin().await?;
    let Some(url) = tx
        .disable_webhook_endpoint(ws, endpoint, reason.as_str(), now)
        .await?
    else {
        return Ok(false);
    };
    let locale = tx
        .workspace(ws)
        .await?
        .map(|w| w.locale)
        .unwrap_or_default();
    for (admin, own) in tx.admins(ws).await? {
        let reply = disabled_notice(own.as_deref().unwrap_or(&locale), endpoint, &url, reason);
        // One key per admin: a key shared by all would tell only the first (enqueue keeps
        // one message per key).
        let key = format!(
            "webhook-disabled:{ws}:{endpoint}:{admin}:{}",
            now.timestamp()
        );
        let message = NewOutbox::dm(key, OutboxKind::Webhook, admin, now)
            .saying((serde_json::to_value(&reply).unwrap_or_default(), Vec::new()));
        tx.enqueue(ws, &message).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Why delivery gave an endpoint up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisableReason {
    /// It answered `410 Gone`: it wants nothing more.
    Gone,
    /// It failed every delivery for [`crate::domain::webhook::disable_after`].
    Failing,
}

impl DisableReason {
    /// The stored code; lists name it through the catalog (`webhook.reason_{code}`).
    pub fn as_str(self) -> &'static str {
        match self {
            DisableReason::Gone => "gone",
            DisableReason::Failing => "failing",
        }
    }
}

/// The admin's DM: which endpoint, why, and how to turn it back on.
fn disabled_notice(locale: &str, endpoint: i64, url: &str, reason: DisableReason) -> Reply {
    // No amounts or times: the zone and currency do not matter.
    let f = Format::stored(locale, "UTC", "USD");
    let key = match reason {
        DisableReason::Gone => "webhook.disabled_gone",
        DisableReason::Failing => "webhook.disabled_failing",
    };
    Reply::text(
        f.m(Msg::new(key)
            .arg("endpoint", format!("W-{endpoint}"))
            .arg("url", code(url))),
    )
}
