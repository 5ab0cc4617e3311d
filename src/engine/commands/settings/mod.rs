//! `/settings`: the workspace's and the member's own settings; the stages live in `stages.rs`.

mod api;
mod stages;
pub(super) mod webhook;

use super::{amount, stage, text};
use crate::domain::locale::Locale;
use crate::domain::money::{Amount, Currency};
use crate::domain::role::Visibility;
use crate::domain::stage::StageName;
use crate::domain::when::{parse_clock, parse_tz};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, Tx, WorkspaceRow};
pub use api::ApiAction;
use chrono::NaiveTime;
use chrono_tz::Tz;
pub use stages::StagesAction;
use stages::{stages, stages_text};
pub use webhook::WebhookAction;

/// The parsed `/settings` subcommands.
#[derive(Clone, Debug)]
pub enum SettingsCommand {
    /// Show everything.
    Show,
    /// Set the workspace's or the caller's time zone.
    Timezone { tz: Tz, me: bool },
    /// Set the workspace currency.
    Currency(Currency),
    /// Set the workspace's fallback language.
    Language(Locale),
    /// Change the pipeline.
    Stages(StagesAction),
    /// Digest channel and schedule.
    Digest {
        channel: Option<i64>,
        weekday: Option<i16>,
        time: Option<NaiveTime>,
        preview: bool,
    },
    /// The caller's daily agenda time.
    Agenda(NaiveTime),
    /// Days without activity before a deal is stale.
    Stale(i32),
    /// Which Discord role makes managers.
    ManagerRole(i64),
    /// A member's monthly quota.
    Quota { member: i64, amount: Amount },
    /// Who sees what.
    Visibility(Visibility),
    /// API tokens.
    Api(ApiAction),
    /// Outgoing webhook endpoints.
    Webhook(WebhookAction),
}

fn need(option: &str, action: &str) -> EngineError {
    errors::option(
        option,
        Msg::new("problem.needed_for").arg("action", action),
        Msg::new("accepted.stage_options"),
    )
}

fn stage_name(args: &Args) -> EngineResult<Option<StageName>> {
    match args.str("name") {
        None => Ok(None),
        Some(s) => StageName::parse(s)
            .map(Some)
            .map_err(|e| errors::stage("name", e)),
    }
}

impl SettingsCommand {
    pub(super) fn parse(sub: &str, args: &Args, ctx: &Ctx) -> EngineResult<SettingsCommand> {
        Ok(match sub {
            "timezone" => {
                let zone = args.str("zone").unwrap_or_default();
                let tz =
                    parse_tz(zone).map_err(|e| errors::when("zone", e, "accepted.timezone"))?;
                SettingsCommand::Timezone {
                    tz,
                    me: args.str("scope") == Some("me"),
                }
            }
            "currency" => {
                let code = args.str("code").unwrap_or_default();
                SettingsCommand::Currency(
                    Currency::parse(code).map_err(|_| errors::currency_code("code", code))?,
                )
            }
            "language" => SettingsCommand::Language(
                Locale::from_tag(args.str("locale").unwrap_or_default()).unwrap_or_default(),
            ),
            "stages" => {
                let action = args.str("action").unwrap_or("list");
                let stage = stage(args, "stage", ctx)?;
                let name = stage_name(args)?;
                let probability = args.int("probability").map(|p| p as i16);
                let position = args.int("position").map(|p| p as i32);
                SettingsCommand::Stages(match action {
                    "add" => StagesAction::Add {
                        name: name.ok_or_else(|| need("name", action))?,
                        probability: probability.ok_or_else(|| need("probability", action))?,
                        position,
                    },
                    "rename" => StagesAction::Rename {
                        stage: stage.ok_or_else(|| need("stage", action))?,
                        name: name.ok_or_else(|| need("name", action))?,
                    },
                    "probability" => StagesAction::Probability {
                        stage: stage.ok_or_else(|| need("stage", action))?,
                        probability: probability.ok_or_else(|| need("probability", action))?,
                    },
                    "move" => StagesAction::Move {
                        stage: stage.ok_or_else(|| need("stage", action))?,
                        position: position.ok_or_else(|| need("position", action))?,
                    },
                    "remove" => StagesAction::Remove {
                        stage: stage.ok_or_else(|| need("stage", action))?,
                    },
                    "stale" => StagesAction::Stale {
                        stage: stage.ok_or_else(|| need("stage", action))?,
                        days: args
                            .int("days")
                            .map(|d| d as i32)
                            .ok_or_else(|| need("days", action))?,
                    },
                    _ => StagesAction::List,
                })
            }
            "digest" => {
                let weekday = args.str("day").map(|d| match d {
                    "mon" => 1,
                    "tue" => 2,
                    "wed" => 3,
                    "thu" => 4,
                    "fri" => 5,
                    "sat" => 6,
                    _ => 7,
                });
                let time = match text(args, "time") {
                    None => None,
                    Some(t) => Some(
                        parse_clock(&t).map_err(|e| errors::when("time", e, "accepted.clock"))?,
                    ),
                };
                let channel = args.channel("channel");
                let preview = args.bool("preview").unwrap_or(false);
                if channel.is_none() && weekday.is_none() && time.is_none() && !preview {
                    return Err(errors::option(
                        "channel",
                        Msg::new("problem.empty"),
                        Msg::new("accepted.digest"),
                    ));
                }
                SettingsCommand::Digest {
                    channel,
                    weekday,
                    time,
                    preview,
                }
            }
            "agenda" => {
                let t = text(args, "time").unwrap_or_default();
                SettingsCommand::Agenda(
                    parse_clock(&t).map_err(|e| errors::when("time", e, "accepted.clock"))?,
                )
            }
            "stale" => SettingsCommand::Stale(args.int("days").unwrap_or(14) as i32),
            "manager-role" => SettingsCommand::ManagerRole(args.role("role").unwrap_or_default()),
            "quota" => SettingsCommand::Quota {
                member: args.user("member").unwrap_or_default(),
                amount: super::present(amount(args, "amount", ctx)?, "amount")?,
            },
            "api" => SettingsCommand::Api(ApiAction::parse(args)?),
            "visibility" => SettingsCommand::Visibility(
                Visibility::parse(args.str("mode").unwrap_or("all")).unwrap_or(Visibility::All),
            ),
            "webhook" => SettingsCommand::Webhook(WebhookAction::parse(args, ctx)?),
            _ => SettingsCommand::Show,
        })
    }
}

/// Changes the workspace row with an audit entry. The row is read again once locked and only
/// `change` is applied to it: the settings the request began with may be older than another
/// admin's change committed since, which writing them back would undo.
async fn save_ws(
    tx: &mut Tx,
    ctx: &mut Ctx,
    action: AuditAction,
    change: impl FnOnce(&mut WorkspaceRow),
) -> EngineResult<()> {
    let before = lock_ws(tx, ctx).await?;
    change(&mut ctx.ws);
    write_ws(tx, ctx, action, before).await
}

/// Locks the workspace row and reads it again into `ctx.ws`; returns its before-image.
async fn lock_ws(tx: &mut Tx, ctx: &mut Ctx) -> EngineResult<Option<serde_json::Value>> {
    let before = ctx.before(tx, Entity::Workspace, ctx.ws_id()).await?;
    if let Some(newest) = tx.workspace(ctx.ws_id()).await? {
        ctx.ws = newest;
    }
    Ok(before)
}

/// Writes `ctx.ws` locked by [`lock_ws`], with an audit entry.
async fn write_ws(
    tx: &mut Tx,
    ctx: &mut Ctx,
    action: AuditAction,
    before: Option<serde_json::Value>,
) -> EngineResult<()> {
    tx.save_workspace(&ctx.ws).await?;
    ctx.audit(tx, action, Entity::Workspace, ctx.ws_id(), before)
        .await
}

fn weekday_key(d: i16) -> &'static str {
    [
        "weekday.mon",
        "weekday.tue",
        "weekday.wed",
        "weekday.thu",
        "weekday.fri",
        "weekday.sat",
        "weekday.sun",
    ][usize::try_from(d - 1).unwrap_or(0).min(6)]
}

pub(super) async fn run(tx: &mut Tx, ctx: &mut Ctx, cmd: SettingsCommand) -> EngineResult<Reply> {
    match cmd {
        SettingsCommand::Show => show(tx, ctx).await,
        SettingsCommand::Timezone { tz, me: true } => {
            let before = ctx.before(tx, Entity::Member, ctx.actor).await?;
            tx.set_member_timezone(ctx.ws_id(), ctx.actor, tz.name())
                .await?;
            ctx.audit(
                tx,
                AuditAction::SettingsTimezone,
                Entity::Member,
                ctx.actor,
                before,
            )
            .await?;
            Ok(Reply::private(
                ctx.m(Msg::new("settings.timezone_me").arg("tz", tz.name())),
            ))
        }
        SettingsCommand::Timezone { tz, me: false } => {
            ctx.require_admin()?;
            save_ws(tx, ctx, AuditAction::SettingsTimezone, |ws| {
                ws.timezone = tz.name().to_string()
            })
            .await?;
            Ok(Reply::text(
                ctx.m(Msg::new("settings.timezone").arg("tz", tz.name())),
            ))
        }
        SettingsCommand::Currency(c) => {
            ctx.require_admin()?;
            // Compared with the currency as locked, not as the request found it: another
            // admin may have changed it since, and amounts been written in the new one.
            let before = lock_ws(tx, ctx).await?;
            currency_may_change(tx, ctx.ws_id(), &ctx.ws.currency, c.code()).await?;
            ctx.ws.currency = c.code().to_string();
            write_ws(tx, ctx, AuditAction::SettingsCurrency, before).await?;
            Ok(Reply::text(ctx.m(
                Msg::new("settings.currency").arg("currency", c.code()),
            )))
        }
        SettingsCommand::Language(l) => {
            ctx.require_admin()?;
            save_ws(tx, ctx, AuditAction::SettingsLanguage, |ws| {
                ws.locale = l.tag().to_string()
            })
            .await?;
            Ok(Reply::text(
                ctx.m(Msg::new("settings.language").arg("locale", l.tag())),
            ))
        }
        SettingsCommand::Stages(a) => stages(tx, ctx, a).await,
        SettingsCommand::Api(a) => api::run(tx, ctx, a).await,
        SettingsCommand::Webhook(a) => webhook::run(tx, ctx, a).await,
        SettingsCommand::Digest {
            channel,
            weekday,
            time,
            preview: true,
        } if channel.is_none() && weekday.is_none() && time.is_none() => {
            digest_preview(tx, ctx).await
        }
        SettingsCommand::Agenda(time) => {
            let before = ctx.before(tx, Entity::Member, ctx.actor).await?;
            tx.set_agenda_time(ctx.ws_id(), ctx.actor, time).await?;
            ctx.audit(
                tx,
                AuditAction::SettingsAgenda,
                Entity::Member,
                ctx.actor,
                before,
            )
            .await?;
            Ok(Reply::private(ctx.m(
                Msg::new("settings.agenda").arg("time", time.format("%H:%M")),
            )))
        }
        SettingsCommand::Digest {
            channel,
            weekday,
            time,
            preview,
        } => {
            ctx.require_admin()?;
            save_ws(tx, ctx, AuditAction::SettingsDigest, |ws| {
                if let Some(c) = channel {
                    ws.digest_channel_id = Some(c);
                }
                if let Some(d) = weekday {
                    ws.digest_weekday = d;
                }
                if let Some(t) = time {
                    ws.digest_time = t;
                }
            })
            .await?;
            let confirmation = Reply::text(digest_text(ctx, "settings.digest"));
            if preview {
                let mut reply = digest_preview(tx, ctx).await?;
                reply.content = confirmation.content;
                return Ok(reply);
            }
            Ok(confirmation)
        }
        SettingsCommand::Stale(days) => {
            ctx.require_admin()?;
            save_ws(tx, ctx, AuditAction::SettingsStale, |ws| {
                ws.stale_days = days
            })
            .await?;
            Ok(Reply::text(
                ctx.m(Msg::new("settings.stale").count("days", days)),
            ))
        }
        SettingsCommand::ManagerRole(role) => {
            ctx.require_admin()?;
            save_ws(tx, ctx, AuditAction::SettingsManagerRole, |ws| {
                ws.manager_role_id = Some(role)
            })
            .await?;
            Ok(Reply::text(ctx.m(
                Msg::new("settings.manager_role").arg("role", format!("<@&{role}>")),
            )))
        }
        SettingsCommand::Quota { member, amount } => {
            ctx.require_manager()?;
            let m = ctx
                .member_named(tx, AuditAction::SettingsQuota, member, "member")
                .await?;
            let before = ctx.before(tx, Entity::Member, member).await?;
            tx.set_member_quota(ctx.ws_id(), member, amount.minor())
                .await?;
            ctx.audit(
                tx,
                AuditAction::SettingsQuota,
                Entity::Member,
                member,
                before,
            )
            .await?;
            Ok(Reply::text(
                ctx.m(Msg::new("settings.quota")
                    .arg("member", ctx.esc(&m.display_name))
                    .arg("amount", ctx.money(amount.minor()))),
            ))
        }
        SettingsCommand::Visibility(v) => {
            ctx.require_admin()?;
            save_ws(tx, ctx, AuditAction::SettingsVisibility, |ws| {
                ws.visibility = v.as_str().to_string()
            })
            .await?;
            Ok(Reply::text(
                ctx.t(&format!("settings.visibility_{}", v.as_str())),
            ))
        }
    }
}

fn digest_text(ctx: &Ctx, key: &'static str) -> String {
    let channel = ctx
        .ws
        .digest_channel_id
        .map(|c| format!("<#{c}>"))
        .unwrap_or_else(|| ctx.t("settings.no_channel"));
    ctx.m(Msg::new(key)
        .arg("channel", channel)
        .arg_msg("day", Msg::new(weekday_key(ctx.ws.digest_weekday)))
        .arg("time", ctx.ws.digest_time.format("%H:%M")))
}

async fn show(tx: &mut Tx, ctx: &mut Ctx) -> EngineResult<Reply> {
    let members = tx.members(ctx.ws_id()).await?;
    // Under `visibility own` a rep's figures are their own, quota included.
    let mine = ctx.owner_filter();
    let quotas = members
        .iter()
        .filter(|m| mine.is_none_or(|me| me == m.user_id))
        .filter_map(|m| {
            m.quota_minor
                .map(|q| format!("{}: {}", ctx.esc(&m.display_name), ctx.money(q)))
        })
        .collect::<Vec<_>>();
    let none = ctx.t("common.none");
    let embed = Embed::new(ctx.t("settings.title"))
        .inline(ctx.t("field.timezone"), ctx.ws.timezone.clone())
        .inline(ctx.t("field.currency"), ctx.ws.currency.clone())
        .inline(ctx.t("field.language"), ctx.ws.locale.clone())
        .inline(
            ctx.t("field.visibility"),
            // As the setting is applied: one this version does not know reads as own.
            ctx.t(&format!("visibility.{}", ctx.visibility.as_str())),
        )
        .inline(
            ctx.t("field.stale"),
            ctx.m(Msg::new("pipeline.days").count("days", ctx.ws.stale_days)),
        )
        .inline(
            ctx.t("field.manager_role"),
            ctx.ws
                .manager_role_id
                .map(|r| format!("<@&{r}>"))
                .unwrap_or_else(|| none.clone()),
        )
        .field(
            ctx.t("field.digest"),
            digest_text(ctx, "settings.digest_value"),
        )
        .field(ctx.t("field.stages"), stages_text(ctx))
        .field(
            ctx.t("field.quotas"),
            if quotas.is_empty() {
                none
            } else {
                quotas.join("\n")
            },
        );
    Ok(Reply {
        ephemeral: true,
        ..Reply::default()
    }
    .with_embed(embed))
}

/// The digest as it would be posted now (this week's), shown only to the admin who asked.
async fn digest_preview(tx: &mut Tx, ctx: &mut Ctx) -> EngineResult<Reply> {
    ctx.require_admin()?;
    let w = crate::store::DigestWorkspace {
        id: ctx.ws_id(),
        timezone: ctx.ws.timezone.clone(),
        locale: ctx.locale.tag().to_string(),
        currency: ctx.ws.currency.clone(),
        digest_channel_id: ctx.ws.digest_channel_id.unwrap_or_default(),
        digest_weekday: ctx.ws.digest_weekday,
        digest_time: ctx.ws.digest_time,
        stale_days: ctx.ws.stale_days,
        visibility: ctx.ws.visibility.clone(),
    };
    let today = ctx.now.with_timezone(&ctx.ws_tz).date_naive();
    let mut reply = crate::engine::notices::digest(tx, &w, ctx.now, today).await?;
    reply.ephemeral = true;
    Ok(reply)
}

/// A workspace's currency changes only while nothing holds an amount: prices, deals and quotas
/// are minor units of the currency they were written in, and a change would read them at
/// another scale. `/settings currency` and the undo of one both ask here.
pub(super) async fn currency_may_change(
    tx: &mut Tx,
    ws: i64,
    current: &str,
    given: &str,
) -> EngineResult<()> {
    if current != given && tx.holds_amounts(ws).await? {
        return Err(EngineError::Conflict(
            Msg::new("error.currency_in_use")
                .arg("current", current)
                .arg("given", given),
        ));
    }
    Ok(())
}
