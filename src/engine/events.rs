//! What a command's audited writes mean for webhooks: `Ctx::audit` notes each write here, and
//! `engine/webhooks.rs` turns the notes some endpoint listens to into events before the
//! command commits. Pure: it reads only the action, the table and the row's image before.

use crate::domain::webhook::EventType;
use crate::store::{AuditAction, Entity};
use serde_json::Value;

/// Something a command did that an endpoint may want to hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Noted {
    /// The event.
    pub kind: EventType,
    /// The row's id.
    pub key: i64,
    /// The deal's stage before (stage changes).
    pub from_stage: Option<i64>,
    /// The deal's owner before (`deal.assigned`).
    pub previous_owner: Option<i64>,
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
