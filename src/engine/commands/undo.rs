//! `/undo`: takes back the caller's latest change of the last ten minutes, if every row it
//! touched is still as that change left it.

use super::settings::webhook::within_cap;
use crate::engine::ctx::Ctx;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, AuditEntry, Entity, Tx, UndoOutcome};
use chrono::Duration;

pub(super) async fn undo(tx: &mut Tx, ctx: &mut Ctx) -> EngineResult<Reply> {
    let since = ctx.now - Duration::minutes(10);
    match tx.undo_last(ctx.ws_id(), ctx.actor, since, ctx.now).await? {
        UndoOutcome::Nothing => Ok(Reply::private(ctx.t("undo.nothing"))),
        UndoOutcome::Newer => Err(EngineError::Conflict(Msg::new("undo.newer"))),
        UndoOutcome::Conflict(action) => Err(EngineError::Conflict(
            Msg::new("undo.conflict").arg_msg("action", Msg::new(action_key(action))),
        )),
        UndoOutcome::Undone(action, entries) => {
            match action {
                // The funnel's furthest stage follows the stage order, which this put back.
                AuditAction::SettingsStages => tx.recompute_furthest(ctx.ws_id()).await?,
                AuditAction::SettingsCurrency => currency_still_free(tx, ctx, &entries).await?,
                // An undone removal brings an endpoint back: it counts against the cap like an add.
                AuditAction::SettingsWebhook => within_cap(tx, ctx.ws_id(), 0).await?,
                _ => {}
            }
            Ok(Reply::text(ctx.m(
                Msg::new("undo.done").arg_msg("action", Msg::new(action_key(action))),
            )))
        }
    }
}

/// Taking back a currency change is a currency change: refused, like `/settings currency`,
/// once amounts were written in the currency it would leave. Both currencies come from the
/// change's images, which the undo checked against the workspace row it holds locked, not from
/// the row as the request found it (a change committed in between would pass unseen).
async fn currency_still_free(tx: &mut Tx, ctx: &Ctx, entries: &[AuditEntry]) -> EngineResult<()> {
    let currency = |image: &Option<serde_json::Value>| {
        image
            .as_ref()
            .and_then(|row| row.get("currency"))
            .and_then(|c| c.as_str())
            .map(str::to_string)
    };
    for e in entries.iter().filter(|e| e.entity == Entity::Workspace) {
        let (Some(left), Some(restored)) = (currency(&e.after), currency(&e.before)) else {
            continue;
        };
        super::settings::currency_may_change(tx, ctx.ws_id(), &left, &restored).await?;
    }
    Ok(())
}

/// The catalog key naming an audited action. The settings that have no key of their own read
/// as "a settings change".
fn action_key(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ContactAdd => "action.contact_add",
        AuditAction::ContactLog => "action.contact_log",
        AuditAction::ContactTag => "action.contact_tag",
        AuditAction::CompanyAdd => "action.company_add",
        AuditAction::DealNew => "action.deal_new",
        AuditAction::DealMove => "action.deal_move",
        AuditAction::DealWon => "action.deal_won",
        AuditAction::DealLost => "action.deal_lost",
        AuditAction::DealAssign => "action.deal_assign",
        AuditAction::DealProduct => "action.deal_product",
        AuditAction::ProductAdd => "action.product_add",
        AuditAction::Remind => "action.remind",
        AuditAction::TasksDone => "action.tasks_done",
        AuditAction::TasksSnooze => "action.tasks_snooze",
        AuditAction::SettingsStages => "action.settings_stages",
        AuditAction::SettingsQuota => "action.settings_quota",
        AuditAction::SettingsAgenda => "action.settings_agenda",
        AuditAction::SettingsTimezone
        | AuditAction::SettingsCurrency
        | AuditAction::SettingsLanguage
        | AuditAction::SettingsDigest
        | AuditAction::SettingsStale
        | AuditAction::SettingsManagerRole
        | AuditAction::SettingsVisibility
        | AuditAction::SettingsWebhook => "action.settings",
    }
}
