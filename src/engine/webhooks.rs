//! Webhook events, written in the transaction of the change they report: a command's audited
//! writes note what happened ([`noted`], called by `Ctx::audit`), and before the command
//! commits [`emit`] turns the notes that some endpoint listens to into events with their
//! deliveries. A command that rolls back takes its events with it; one that commits cannot
//! lose them. The importer reports `import.finished` the same way ([`import_finished`]).

use super::ctx::Ctx;
use super::format::Format;
use super::reply::Reply;
use super::EngineResult;
use crate::domain::webhook::{message_id, DealEvent, Event, EventType, ImportEvent, MemberData};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, NewOutbox, OutboxKind, Store, StoreResult, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// Something a command did that an endpoint may want to hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Noted {
    kind: EventType,
    /// The row's id.
    key: i64,
    /// The deal's stage before (stage changes).
    from_stage: Option<i64>,
    /// The deal's owner before (`deal.assigned`).
    previous_owner: Option<i64>,
}

/// What an audited write means for webhooks: its events, if any.
pub(crate) fn noted(
    action: AuditAction,
    entity: Entity,
    key: i64,
    before: Option<&Value>,
) -> Vec<Noted> {
    let plain = |kind| Noted {
        kind,
        key,
        from_stage: None,
        previous_owner: None,
    };
    let field = |name: &str| before.and_then(|b| b.get(name)).and_then(Value::as_i64);
    let stage_change = |also: Option<EventType>| {
        let moved = Noted {
            from_stage: field("stage_id"),
            ..plain(EventType::DealStageChanged)
        };
        let mut out = vec![moved.clone()];
        if let Some(kind) = also {
            out.push(Noted { kind, ..moved });
        }
        out
    };
    match (action, entity, before.is_some()) {
        (AuditAction::DealNew, Entity::Deal, false) => vec![plain(EventType::DealCreated)],
        (AuditAction::DealMove, Entity::Deal, true) => stage_change(None),
        (AuditAction::DealWon, Entity::Deal, true) => stage_change(Some(EventType::DealWon)),
        (AuditAction::DealLost, Entity::Deal, true) => stage_change(Some(EventType::DealLost)),
        (AuditAction::DealAssign, Entity::Deal, true) => vec![Noted {
            previous_owner: field("owner_id"),
            ..plain(EventType::DealAssigned)
        }],
        (_, Entity::Contact, false) => vec![plain(EventType::ContactCreated)],
        (_, Entity::Company, false) => vec![plain(EventType::CompanyCreated)],
        (_, Entity::Activity, false) => vec![plain(EventType::ActivityLogged)],
        _ => Vec::new(),
    }
}

/// Adds notes to a command's list; a second note of the same event for the same row (a won
/// deal whose amount was set first) keeps the first, which knows the stage it left.
pub(crate) fn remember(list: &mut Vec<Noted>, new: Vec<Noted>) {
    for n in new {
        if !list.iter().any(|o| o.kind == n.kind && o.key == n.key) {
            list.push(n);
        }
    }
}

/// Writes the events of the command's notes that a live endpoint listens to, in the command's
/// transaction.
pub(crate) async fn emit(tx: &mut Tx, ctx: &Ctx) -> EngineResult<()> {
    let notes = ctx.noted();
    if notes.is_empty() {
        return Ok(());
    }
    let wanted = tx.webhook_subscriptions(ctx.ws_id()).await?;
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
        let key = format!("webhook-disabled:{ws}:{endpoint}:{}", now.timestamp());
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
    fn as_str(self) -> &'static str {
        match self {
            DisableReason::Gone => "the endpoint answered 410 Gone",
            DisableReason::Failing => "every delivery failed for 5 days",
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
            .arg("url", f.esc(url))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audited_writes_become_events() {
        let kinds = |a, e, before: Option<Value>| {
            noted(a, e, 7, before.as_ref())
                .into_iter()
                .map(|n| (n.kind, n.from_stage, n.previous_owner))
                .collect::<Vec<_>>()
        };
        let was = Some(json!({"stage_id": 3, "owner_id": 11}));
        use EventType::*;
        assert_eq!(
            kinds(AuditAction::DealNew, Entity::Deal, None),
            [(DealCreated, None, None)]
        );
        assert!(kinds(AuditAction::DealNew, Entity::StageChange, None).is_empty());
        assert_eq!(
            kinds(AuditAction::DealWon, Entity::Deal, was.clone()),
            [(DealStageChanged, Some(3), None), (DealWon, Some(3), None)]
        );
        assert_eq!(
            kinds(AuditAction::DealLost, Entity::Deal, was.clone()),
            [(DealStageChanged, Some(3), None), (DealLost, Some(3), None)]
        );
        assert_eq!(
            kinds(AuditAction::DealAssign, Entity::Deal, was.clone()),
            [(DealAssigned, None, Some(11))]
        );
        assert!(kinds(AuditAction::ContactLog, Entity::Deal, was.clone()).is_empty());
        assert!(kinds(AuditAction::DealProduct, Entity::Deal, was).is_empty());
        assert_eq!(
            kinds(AuditAction::DealNew, Entity::Company, None),
            [(CompanyCreated, None, None)]
        );
        assert_eq!(
            kinds(AuditAction::ContactAdd, Entity::Contact, None),
            [(ContactCreated, None, None)]
        );
        assert_eq!(
            kinds(AuditAction::ContactLog, Entity::Activity, None),
            [(ActivityLogged, None, None)]
        );
        assert!(kinds(AuditAction::ContactTag, Entity::Contact, Some(json!({}))).is_empty());
    }

    #[test]
    fn a_second_note_of_the_same_event_keeps_the_first() {
        let mut list = Vec::new();
        let first = Some(json!({"stage_id": 3}));
        let second = Some(json!({"stage_id": 4}));
        remember(
            &mut list,
            noted(AuditAction::DealWon, Entity::Deal, 7, first.as_ref()),
        );
        remember(
            &mut list,
            noted(AuditAction::DealWon, Entity::Deal, 7, second.as_ref()),
        );
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|n| n.from_stage == Some(3)));
    }
}
