//! `/settings webhook`: an admin's endpoints for outgoing webhooks. Add (the signing secret
//! shown once, to the admin alone), list, remove, and redeliver an event or an endpoint's
//! failed deliveries (which also turns a disabled endpoint back on). Each change is audited,
//! so `/undo` takes it back.

use super::super::text;
use crate::domain::webhook::{EndpointUrl, EventType, Secret, UrlError};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::format::code;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, EndpointRow, Entity, Tx};
use chrono::Duration;

/// Endpoints one workspace may have: enough for an ERP, finance and a few automations.
pub const MAX_ENDPOINTS: usize = 10;

/// How far back redelivering an endpoint reaches.
fn redeliver_window() -> Duration {
    Duration::days(7)
}

/// A parsed `/settings webhook`.
#[derive(Clone, Debug)]
pub enum WebhookAction {
    /// Every endpoint with its state.
    List,
    /// A new endpoint.
    Add {
        url: EndpointUrl,
        events: Vec<EventType>,
    },
    /// Stop sending to an endpoint.
    Remove(i64),
    /// Send one event again.
    RedeliverEvent(String),
    /// Turn an endpoint back on and send again what it failed.
    RedeliverEndpoint(i64),
}

impl WebhookAction {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<WebhookAction> {
        let action = args.str("action").unwrap_or("list");
        let url = text(args, "url");
        let events = text(args, "events");
        let endpoint = args.int("endpoint");
        let event = text(args, "event");
        let accepted = || Msg::new("accepted.webhook_options");
        let needed = |option: &str| {
            errors::option(
                option,
                Msg::new("problem.needed_for").arg("action", action),
                accepted(),
            )
        };
        Ok(match action {
            "add" => {
                let url = url.ok_or_else(|| needed("url"))?;
                let url = EndpointUrl::parse(&url, ctx.allow_private_webhooks).map_err(|e| {
                    let problem = match e {
                        UrlError::Malformed => "problem.url_malformed",
                        UrlError::Scheme => "problem.url_scheme",
                        UrlError::Credentials => "problem.url_credentials",
                        UrlError::Private => "problem.url_private",
                    };
                    errors::option(
                        "url",
                        Msg::new(problem).arg("given", ctx.esc(&url)),
                        Msg::new("accepted.webhook_url"),
                    )
                })?;
                let events = events.ok_or_else(|| needed("events"))?;
                let events = EventType::parse_list(&events).map_err(|bad| {
                    errors::option(
                        "events",
                        Msg::new("problem.unknown_event").arg("given", ctx.esc(&bad)),
                        Msg::new("accepted.webhook_events").arg("events", EventType::names()),
                    )
                })?;
                WebhookAction::Add { url, events }
            }
            "remove" => WebhookAction::Remove(endpoint.ok_or_else(|| needed("endpoint"))?),
            "redeliver" => match (event, endpoint) {
                (Some(e), _) => WebhookAction::RedeliverEvent(e),
                (None, Some(id)) => WebhookAction::RedeliverEndpoint(id),
                (None, None) => return Err(need_event()),
            },
            _ => WebhookAction::List,
        })
    }
}

/// Refuses when the workspace's live endpoints and `adding` more would pass the cap. Counted
/// under the adds' lock, so two writers beside each other (adds, an undone removal) never both
/// see room for one.
pub(in crate::engine::commands) async fn within_cap(
    tx: &mut Tx,
    ws: i64,
    adding: usize,
) -> EngineResult<()> {
    tx.lock_endpoint_adds(ws).await?;
    if tx.webhook_endpoints(ws).await?.len() + adding > MAX_ENDPOINTS {
        return Err(EngineError::Conflict(
            Msg::new("error.webhook_limit").arg("max", MAX_ENDPOINTS),
        ));
    }
    Ok(())
}

fn need_event() -> EngineError {
    errors::option(
        "event",
        Msg::new("problem.needed_for").arg("action", "redeliver"),
        Msg::new("accepted.webhook_options"),
    )
}

/// Runs a `/settings webhook` action; admins only.
pub(super) async fn run(tx: &mut Tx, ctx: &mut Ctx, action: WebhookAction) -> EngineResult<Reply> {
    ctx.require_admin()?;
    let ws = ctx.ws_id();
    match action {
        WebhookAction::List => list(tx, ctx).await,
        WebhookAction::Add { url, events } => {
            within_cap(tx, ws, 1).await?;
            let secret = Secret::from_bytes(rand::random());
            let names: Vec<String> = events.iter().map(|e| e.as_str().to_string()).collect();
            let id = tx
                .insert_webhook_endpoint(
                    ws,
                    url.as_str(),
                    &names,
                    &secret.reveal(),
                    ctx.actor,
                    ctx.now,
                )
                .await?;
            ctx.audit(
                tx,
                AuditAction::SettingsWebhook,
                Entity::WebhookEndpoint,
                id,
                None,
            )
            .await?;
            // Shown once, to the admin alone: it is stored only to sign.
            let mut reply = Reply::private(
                ctx.m(Msg::new("webhook.added")
                    .arg("endpoint", format!("W-{id}"))
                    .arg("url", code(url.as_str()))
                    .arg("events", names.join(", "))
                    .arg("secret", secret.reveal())),
            )
            .with_record("webhook_endpoint", id);
            if let Some(data) = reply.data.as_mut() {
                data["secret"] = serde_json::Value::String(secret.reveal());
            }
            Ok(reply)
        }
        WebhookAction::Remove(id) => {
            let e = endpoint(tx, ctx, id).await?;
            let before = ctx.before(tx, Entity::WebhookEndpoint, id).await?;
            tx.remove_webhook_endpoint(ws, id, ctx.now).await?;
            ctx.audit(
                tx,
                AuditAction::SettingsWebhook,
                Entity::WebhookEndpoint,
                id,
                before,
            )
            .await?;
            Ok(Reply::private(
                ctx.m(Msg::new("webhook.removed")
                    .arg("endpoint", format!("W-{id}"))
                    .arg("url", code(&e.url))),
            ))
        }
        WebhookAction::RedeliverEvent(msg_id) => {
            match tx.redeliver_webhook_event(ws, &msg_id, ctx.now).await? {
                None => Err(EngineError::NotFound(
                    Msg::new("error.webhook_event_not_found").arg("event", ctx.esc(&msg_id)),
                )),
                Some(n) => Ok(Reply::private(
                    ctx.m(Msg::new("webhook.redelivered_event")
                        .arg("event", ctx.esc(&msg_id))
                        .count("count", n as i64)),
                )),
            }
        }
        WebhookAction::RedeliverEndpoint(id) => {
            endpoint(tx, ctx, id).await?;
            let before = ctx.before(tx, Entity::WebhookEndpoint, id).await?;
            let n = tx
                .redeliver_webhook_endpoint(ws, id, ctx.now - redeliver_window(), ctx.now)
                .await?;
            ctx.audit(
                tx,
                AuditAction::SettingsWebhook,
                Entity::WebhookEndpoint,
                id,
                before,
            )
            .await?;
            Ok(Reply::private(
                ctx.m(Msg::new("webhook.redelivered_endpoint")
                    .arg("endpoint", format!("W-{id}"))
                    .count("count", n as i64)),
            ))
        }
    }
}

async fn endpoint(tx: &mut Tx, ctx: &Ctx, id: i64) -> EngineResult<EndpointRow> {
    tx.webhook_endpoint(ctx.ws_id(), id).await?.ok_or_else(|| {
        EngineError::NotFound(
            Msg::new("error.webhook_not_found").arg("endpoint", format!("W-{id}")),
        )
    })
}

async fn list(tx: &mut Tx, ctx: &Ctx) -> EngineResult<Reply> {
    let rows = tx.webhook_endpoints(ctx.ws_id()).await?;
    if rows.is_empty() {
        return Ok(Reply::private(ctx.t("webhook.list_none")));
    }
    let lines = rows
        .iter()
        .map(|e| {
            let state = match (&e.disabled_at, &e.failing_since) {
                (Some(at), _) => ctx.m(Msg::new("webhook.state_disabled")
                    .arg("since", ctx.time(*at))
                    .arg_msg(
                        "reason",
                        Msg::new(match e.disabled_reason.as_deref() {
                            Some("gone") => "webhook.reason_gone",
                            _ => "webhook.reason_failing",
                        }),
                    )),
                (None, Some(since)) => {
                    ctx.m(Msg::new("webhook.state_failing").arg("since", ctx.time(*since)))
                }
                (None, None) => ctx.t("webhook.state_active"),
            };
            format!(
                "**W-{}** {}\n{} · {} · {}",
                e.id,
                code(&e.url),
                e.events.join(", "),
                state,
                ctx.m(Msg::new("webhook.counts")
                    .arg("pending", e.pending)
                    .arg("failed", e.failed))
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let embed = Embed::new(ctx.t("webhook.list_title")).description(lines);
    Ok(Reply {
        ephemeral: true,
        ..Reply::default()
    }
    .with_embed(embed))
}
