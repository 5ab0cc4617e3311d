//! Deals: open, move through the stages, win, lose, reassign, show and list. (Just over 600
//! lines: a deal's whole life, with the two forms its buttons open, reads best in one place.)

use super::{amount, company_ref, contact_ref, date, lookup, name, stage};
use crate::domain::money::{line_value, Amount, TotalOverflow};
use crate::domain::refs::{CompanyRef, ContactRef, DealRef};
use crate::domain::stage::{Stage, StageKind};
use crate::engine::clicks::Click;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::{Embed, Modal, ModalField};
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, DealFilter, DealLine, DealRow, Entity, NewDeal, StageMove, Tx};
use chrono::NaiveDate;

/// Input of `/deal new`.
#[derive(Clone, Debug)]
pub struct DealNew {
    title: String,
    /// The typed amount; the lines' total when absent.
    amount: Option<Amount>,
    /// Product lines as typed.
    lines: Option<Vec<crate::domain::analytics::LineSpec>>,
    company: Option<CompanyRef>,
    contact: Option<ContactRef>,
    stage: Option<Stage>,
    close: Option<NaiveDate>,
    owner: Option<i64>,
}

/// Input of `/deal list`.
#[derive(Clone, Debug)]
pub struct DealList {
    owner: Option<i64>,
    stage: Option<Stage>,
    /// `None` for every status (`status:all`); open when not given.
    status: Option<StageKind>,
    stale: bool,
    limit: i64,
}

impl DealNew {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<DealNew> {
        let stage = stage(args, "stage", ctx)?;
        if let Some(s) = &stage {
            if s.kind != StageKind::Open {
                return Err(errors::option(
                    "stage",
                    Msg::new("problem.closed_stage").arg("given", ctx.esc(&s.name)),
                    Msg::new("accepted.stages").arg("stages", open_stage_names(ctx)),
                ));
            }
        }
        let close = date(args, "close", ctx)?;
        if let Some(d) = close {
            if d < ctx.now.with_timezone(&ctx.tz).date_naive() {
                return Err(errors::option(
                    "close",
                    Msg::new("problem.in_past").arg("given", ctx.date(d)),
                    Msg::new("accepted.date"),
                ));
            }
        }
        if args.str("amount").is_none() && args.str("products").is_none() {
            return Err(errors::option(
                "amount",
                Msg::new("problem.amount_or_products"),
                Msg::new("accepted.amount").arg("currency", ctx.currency.code()),
            ));
        }
        // A deal with product lines is worth their total, on every path: an amount beside
        // them would disagree with the lines from the start.
        if args.str("amount").is_some() && args.str("products").is_some() {
            return Err(errors::option(
                "amount",
                Msg::new("problem.amount_and_products"),
                Msg::new("accepted.amount_or_products").arg("currency", ctx.currency.code()),
            ));
        }
        Ok(DealNew {
            title: name(args, "title")?,
            amount: amount(args, "amount", ctx)?,
            lines: super::product::lines_option(args, ctx)?,
            company: company_ref(args, "company")?,
            contact: contact_ref(args, "contact")?,
            stage,
            close,
            owner: args.user("owner"),
        })
    }
}

impl DealList {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<DealList> {
        Ok(DealList {
            owner: args.user("owner"),
            stage: stage(args, "stage", ctx)?,
            status: match args.str("status") {
                Some("all") => None,
                // The manifest lists the choices, so anything else is open, won or lost.
                Some(s) => Some(StageKind::parse(s).map_err(|_| {
                    errors::option(
                        "status",
                        Msg::new("problem.unrecognized").arg("given", s),
                        Msg::new("accepted.stages").arg("stages", "open, won, lost, all"),
                    )
                })?),
                None => Some(StageKind::Open),
            },
            stale: args.bool("stale").unwrap_or(false),
            limit: args.int("limit").unwrap_or(10),
        })
    }
}

fn open_stage_names(ctx: &Ctx) -> String {
    ctx.stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .map(|s| ctx.esc(&s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The card for one deal, with buttons for the next step. `lines` are the deal's product
/// lines when the caller already has them (a move's statement returns them).
async fn deal_card(
    tx: &mut Tx,
    ctx: &Ctx,
    d: &DealRow,
    headline: Option<String>,
    lines: Option<Vec<DealLine>>,
) -> EngineResult<Reply> {
    let none = ctx.t("common.none");
    // A manager may have linked another rep's contact; under `visibility own` the deal's
    // owner sees the deal but not that contact.
    let contact_name = d.contact_name.clone().filter(|_| {
        ctx.owner_filter()
            .is_none_or(|me| d.contact_owner_id == Some(me))
    });
    let stage = ctx.stage(d.stage_id);
    let probability = stage.map(|s| s.probability).unwrap_or(0);
    let mut embed = Embed::new(lookup::deal_label(d))
        .inline(
            ctx.t("field.stage"),
            format!("{} ({}%)", ctx.esc(&d.stage_name), probability),
        )
        .inline(ctx.t("field.amount"), ctx.money(d.amount_minor))
        .inline(
            ctx.t("field.status"),
            ctx.t(&format!("status.{}", d.status.as_str())),
        )
        .inline(
            ctx.t("field.owner"),
            ctx.esc_or_none(d.owner_name.as_deref()),
        )
        .inline(
            ctx.t("field.company"),
            ctx.esc_or_none(d.company_name.as_deref()),
        )
        .inline(
            ctx.t("field.contact"),
            ctx.esc_or_none(contact_name.as_deref()),
        )
        .inline(
            ctx.t("field.expected_close"),
            d.expected_close
                .map(|c| ctx.date(c))
                .unwrap_or_else(|| none.clone()),
        )
        .inline(ctx.t("field.last_activity"), ctx.time(d.last_activity_at));
    if let Some(reason) = &d.lost_reason {
        embed = embed.field(ctx.t("field.lost_reason"), ctx.esc(reason));
    }
    // The full card (/deal show) carries the stage history, read with the lines in one
    // round trip; a change's reply names the move in its headline and spares that query.
    let (lines, history) = match (lines, &headline) {
        (Some(lines), _) => (lines, None),
        (None, Some(_)) => (tx.deal_lines(ctx.ws_id(), d.id).await?, None),
        (None, None) => {
            let detail = match ctx.take_named_detail(d.id) {
                Some(detail) => detail,
                None => tx.deal_detail(ctx.ws_id(), d.id, CARD_HISTORY).await?,
            };
            (detail.lines, Some(detail.history))
        }
    };
    if !lines.is_empty() {
        let text = lines
            .iter()
            .map(|l| {
                Ok(format!(
                    "• {} × {} @ {} = {}",
                    ctx.esc(&l.name),
                    l.quantity,
                    ctx.money(l.unit_price_minor),
                    ctx.money(line_value(l.unit_price_minor, l.quantity)?)
                ))
            })
            .collect::<Result<Vec<_>, TotalOverflow>>()?
            .join("\n");
        embed = embed.field(ctx.t("field.products"), text);
    }
    if let Some(history) = history {
        let lines = history
            .iter()
            .rev()
            .map(|(at, name, _)| format!("{} → {}", ctx.time(*at), ctx.esc(name)))
            .collect::<Vec<_>>();
        embed = embed.field(ctx.t("field.history"), lines.join("\n"));
    }
    embed = embed.footer(ctx.m(Msg::new("deal.footer").arg("created", ctx.time(d.created_at))));
    let mut reply = Reply::default().with_embed(embed).with_record("deal", d.id);
    reply.content = headline.unwrap_or_default();
    if d.status == StageKind::Open {
        if let Some(next) = next_stage(ctx, d.stage_id) {
            reply = reply.with_button(
                Click::DealNext(d.number, Some(d.stage_id)).to_string(),
                ctx.m(Msg::new("button.next_stage").arg("stage", &next.name)),
            );
        }
        reply = reply.with_button(Click::DealWon(d.number).to_string(), ctx.t("button.won"));
        reply = reply.with_button(Click::DealLost(d.number).to_string(), ctx.t("button.lost"));
        if contact_name.is_some() {
            reply = reply.with_button(Click::DealLog(d.number).to_string(), ctx.t("button.log"));
        }
    }
    Ok(reply)
}

/// How many of a deal's latest stage changes its full card shows, newest first.
pub(crate) const CARD_HISTORY: i64 = 8;

/// The open stage after `current`, if any.
pub(crate) fn next_stage(ctx: &Ctx, current: i64) -> Option<&Stage> {
    let position = ctx.stage(current)?.position;
    ctx.stages
        .iter()
        .filter(|s| s.kind == StageKind::Open && s.position > position)
        .min_by_key(|s| s.position)
}

pub(super) async fn new(tx: &mut Tx, ctx: &mut Ctx, d: DealNew) -> EngineResult<Reply> {
    let owner = lookup::owner_for(tx, ctx, AuditAction::DealNew, d.owner, "owner").await?;
    let contact = match &d.contact {
        Some(r) => Some(lookup::contact(tx, ctx, r).await?),
        None => None,
    };
    let mut created_company = None;
    let company = match d.company {
        Some(r) => super::company::company_id(tx, ctx, Some(r), owner)
            .await?
            .map(|co| {
                created_company = co.created;
                co.id
            }),
        // A deal with a contact belongs to the contact's company unless told otherwise.
        None => contact.as_ref().and_then(|c| c.company_id),
    };
    let stage = match d.stage {
        Some(s) => s,
        None => ctx.stage_of_kind(StageKind::Open)?.clone(),
    };
    let lines = match &d.lines {
        Some(l) => super::product::resolve_lines(tx, ctx, l).await?,
        None => Vec::new(),
    };
    let amount = match d.amount {
        Some(a) => a.minor(),
        None => super::product::lines_total(ctx, "products", &lines)?,
    };
    let number = tx.next_deal_number(ctx.ws_id()).await?;
    let new = NewDeal {
        title: d.title,
        company_id: company,
        contact_id: contact.as_ref().map(|c| c.id),
        owner_id: owner,
        amount_minor: amount,
        currency: ctx.currency.code().to_string(),
        stage_id: stage.id,
        stage_position: stage.position,
        expected_close: d.close,
    };
    let (id, first_change) = tx
        .insert_deal(ctx.ws_id(), number, &new, ctx.actor, ctx.now)
        .await?;
    // The first stage-history row is part of the deal's creation; undo removes both.
    ctx.audit(tx, AuditAction::DealNew, Entity::Deal, id, None)
        .await?;
    ctx.audit(
        tx,
        AuditAction::DealNew,
        Entity::StageChange,
        first_change,
        None,
    )
    .await?;
    super::product::insert_lines(tx, ctx, id, &lines).await?;
    let row = tx
        .deal(ctx.ws_id(), id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("new deal vanished"))?;
    let mut headline = ctx.m(Msg::new("deal.created")
        .arg("deal", lookup::deal_label(&row))
        .arg("amount", ctx.money(row.amount_minor))
        .arg("stage", ctx.esc(&stage.name)));
    if let Some(note) = created_company {
        headline = format!("{headline}\n{note}");
    }
    deal_card(tx, ctx, &row, Some(headline), None).await
}

/// Moves a deal and records the change; shared by move, won, lost and the buttons.
async fn change_stage(
    tx: &mut Tx,
    ctx: &mut Ctx,
    d: &DealRow,
    to: &Stage,
    note: Option<&str>,
    reason: Option<&str>,
    action: AuditAction,
) -> EngineResult<(DealRow, Vec<DealLine>)> {
    ctx.require_owner(d.owner_id, lookup::deal_label(d))?;
    let closed_at = (to.kind != StageKind::Open).then_some(ctx.now);
    let furthest = if to.kind == StageKind::Lost {
        d.furthest_position
    } else {
        d.furthest_position.max(to.position)
    };
    let m = StageMove {
        deal: d.id,
        from_stage: d.stage_id,
        to_stage: to.id,
        status: to.kind,
        furthest_position: furthest,
        closed_at,
        lost_reason: reason,
        note,
    };
    let moved = tx.move_deal(ctx.ws_id(), &m, ctx.stamp(action)).await?;
    // The webhook events read the stage the deal left from the before-image, and the move
    // only happened if the deal was still in `d.stage_id`: that stage is all they need, so
    // the statement does not send the whole image back to be parsed.
    let before = serde_json::json!({ "stage_id": d.stage_id });
    ctx.audited(
        moved.change,
        action,
        &[
            (Entity::Deal, d.id, Some(&before)),
            (Entity::StageChange, moved.stage_change, None),
        ],
    );
    // The row the command holds, as the move left it: the names joined in do not change.
    let row = DealRow {
        stage_id: to.id,
        stage_name: to.name.clone(),
        status: to.kind,
        furthest_position: furthest,
        closed_at,
        lost_reason: reason.map(str::to_string),
        last_activity_at: moved.last_activity_at,
        ..d.clone()
    };
    Ok((row, moved.lines))
}

pub(crate) async fn move_to(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: DealRef,
    to: Stage,
    note: Option<String>,
) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    move_found(tx, ctx, d, to, note).await
}

/// Moves a deal as read: the move statement refuses when the deal has left the stage it was
/// read in, and the request runs again from its own read.
async fn move_found(
    tx: &mut Tx,
    ctx: &mut Ctx,
    d: DealRow,
    to: Stage,
    note: Option<String>,
) -> EngineResult<Reply> {
    match to.kind {
        StageKind::Won => return won(tx, ctx, DealRef::Number(d.number), None, note).await,
        StageKind::Lost => {
            return Err(errors::option(
                "stage",
                Msg::new("problem.lost_needs_reason"),
                Msg::new("accepted.lost_command"),
            ));
        }
        StageKind::Open => {}
    }
    if d.stage_id == to.id {
        return Err(EngineError::Conflict(
            Msg::new("error.already_in_stage")
                .arg("deal", lookup::deal_label(&d))
                .arg("stage", ctx.esc(&to.name)),
        ));
    }
    let from = d.stage_name.clone();
    let reopened = d.status != StageKind::Open;
    let (row, lines) = change_stage(
        tx,
        ctx,
        &d,
        &to,
        note.as_deref(),
        None,
        AuditAction::DealMove,
    )
    .await?;
    let key = if reopened {
        "deal.reopened"
    } else {
        "deal.moved"
    };
    let headline = ctx.m(Msg::new(key)
        .arg("deal", lookup::deal_label(&row))
        .arg("from", ctx.esc(&from))
        .arg("to", ctx.esc(&to.name)));
    deal_card(tx, ctx, &row, Some(headline), Some(lines)).await
}

/// The "next stage" button. `from` is the stage the button's card showed: a deal that has left
/// it since (a second click, an old card, a click that lost a race and is retried) stays where
/// it is, and the card's button never wins a deal.
pub(super) async fn next(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: DealRef,
    from: Option<i64>,
) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    if d.status != StageKind::Open {
        return Err(EngineError::Conflict(
            Msg::new("error.deal_closed").arg("deal", lookup::deal_label(&d)),
        ));
    }
    let next = next_stage(ctx, d.stage_id).cloned();
    if let Some(from) = from {
        if d.stage_id != from || next.is_none() {
            let now_in = ctx
                .stage(d.stage_id)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            return Err(EngineError::Conflict(
                Msg::new("error.card_outdated")
                    .arg("deal", lookup::deal_label(&d))
                    .arg("stage", ctx.esc(&now_in)),
            ));
        }
    }
    match next {
        // The deal as checked against the card: a move since makes this one refuse and run
        // again, and the card is then out of date.
        Some(s) => move_found(tx, ctx, d, s, None).await,
        None => won(tx, ctx, DealRef::Number(d.number), None, None).await,
    }
}

pub(crate) async fn won(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: DealRef,
    amount: Option<Amount>,
    note: Option<String>,
) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    if d.status == StageKind::Won {
        return Err(EngineError::Conflict(
            Msg::new("error.already_won").arg("deal", lookup::deal_label(&d)),
        ));
    }
    let won_stage = ctx.stage_of_kind(StageKind::Won)?.clone();
    if let Some(a) = amount {
        ctx.require_owner(d.owner_id, lookup::deal_label(&d))?;
        if !tx.deal_lines(ctx.ws_id(), d.id).await?.is_empty() {
            return Err(errors::option(
                "amount",
                Msg::new("problem.amount_has_lines")
                    .arg("deal", lookup::deal_label(&d))
                    .arg("total", ctx.money(d.amount_minor)),
                Msg::new("accepted.amount_has_lines"),
            ));
        }
        let before = ctx.before(tx, Entity::Deal, d.id).await?;
        tx.set_deal_amount(ctx.ws_id(), d.id, a.minor(), ctx.now)
            .await?;
        ctx.audit(tx, AuditAction::DealWon, Entity::Deal, d.id, before)
            .await?;
    }
    let d = DealRow {
        amount_minor: amount.map_or(d.amount_minor, |a| a.minor()),
        ..d
    };
    let (row, lines) = change_stage(
        tx,
        ctx,
        &d,
        &won_stage,
        note.as_deref(),
        None,
        AuditAction::DealWon,
    )
    .await?;
    let headline = ctx.m(Msg::new("deal.won")
        .arg("deal", lookup::deal_label(&row))
        .arg("amount", ctx.money(row.amount_minor)));
    deal_card(tx, ctx, &row, Some(headline), Some(lines)).await
}

pub(super) async fn lost(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: DealRef,
    reason: String,
) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    if d.status == StageKind::Lost {
        return Err(EngineError::Conflict(
            Msg::new("error.already_lost").arg("deal", lookup::deal_label(&d)),
        ));
    }
    let lost_stage = ctx.stage_of_kind(StageKind::Lost)?.clone();
    let (row, lines) = change_stage(
        tx,
        ctx,
        &d,
        &lost_stage,
        Some(&reason),
        Some(&reason),
        AuditAction::DealLost,
    )
    .await?;
    let headline = ctx.m(Msg::new("deal.lost")
        .arg("deal", lookup::deal_label(&row))
        .arg("reason", ctx.esc(&reason)));
    deal_card(tx, ctx, &row, Some(headline), Some(lines)).await
}

pub(super) async fn assign(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: DealRef,
    owner: i64,
) -> EngineResult<Reply> {
    ctx.require_manager()?;
    let d = lookup::deal(tx, ctx, &r).await?;
    let member = ctx
        .member_named(tx, AuditAction::DealAssign, owner, "owner")
        .await?;
    if d.owner_id == owner {
        return Err(EngineError::Conflict(
            Msg::new("error.already_owner")
                .arg("deal", lookup::deal_label(&d))
                .arg("owner", ctx.esc(&member.display_name)),
        ));
    }
    let before = ctx.before(tx, Entity::Deal, d.id).await?;
    tx.set_deal_owner(ctx.ws_id(), d.id, owner, ctx.now).await?;
    ctx.audit(tx, AuditAction::DealAssign, Entity::Deal, d.id, before)
        .await?;
    // The record named: the API answers `PATCH /v1/deals/{id}` with the deal as it is now.
    Ok(Reply::text(
        ctx.m(Msg::new("deal.assigned")
            .arg("deal", lookup::deal_label(&d))
            .arg("owner", ctx.esc(&member.display_name))),
    )
    .with_record("deal", d.id))
}

pub(super) async fn show(tx: &mut Tx, ctx: &mut Ctx, r: DealRef) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    deal_card(tx, ctx, &d, None, None).await
}

pub(super) async fn list(tx: &mut Tx, ctx: &mut Ctx, l: DealList) -> EngineResult<Reply> {
    let forced = ctx.owner_filter();
    if let (Some(me), Some(asked)) = (forced, l.owner) {
        if me != asked {
            return Err(EngineError::Forbidden(Msg::new("error.visibility_own")));
        }
    }
    let status = l.status;
    let filter = DealFilter {
        owner: forced.or(l.owner),
        stage_id: l.stage.as_ref().map(|s| s.id),
        status,
        stale_at: l.stale.then_some(ctx.now),
        stale_days: ctx.ws.stale_days,
        limit: l.limit,
    };
    let rows = tx.list_deals(ctx.ws_id(), &filter).await?;
    if rows.is_empty() {
        return Ok(Reply::private(ctx.t("deal.list_none")));
    }
    let lines = rows
        .iter()
        .map(|d| {
            let owner = ctx.esc(d.owner_name.as_deref().unwrap_or_default());
            let mut line = format!(
                "**{}** · {} · {} · {}",
                lookup::deal_label(d),
                ctx.esc(&d.stage_name),
                ctx.money(d.amount_minor),
                owner
            );
            if l.stale {
                let days = (ctx.now - d.last_activity_at).num_days();
                line.push_str(&format!(
                    " · {}",
                    ctx.m(Msg::new("deal.idle_days").count("days", days))
                ));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n");
    let title = if l.stale {
        ctx.m(Msg::new("deal.list_stale_title").count("days", ctx.ws.stale_days))
    } else {
        ctx.t("deal.list_title")
    };
    let total = tx.count_deals(ctx.ws_id(), &filter).await?;
    let embed = Embed::new(title)
        .description(lines)
        .footer(ctx.m(super::list_count(
            "deal.list_footer",
            "deal.list_partial",
            rows.len(),
            total,
        )));
    Ok(Reply::default().with_embed(embed))
}

pub(super) async fn lost_form(tx: &mut Tx, ctx: &mut Ctx, r: DealRef) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    ctx.require_owner(d.owner_id, lookup::deal_label(&d))?;
    if d.status == StageKind::Lost {
        return Err(EngineError::Conflict(
            Msg::new("error.already_lost").arg("deal", lookup::deal_label(&d)),
        ));
    }
    let modal = Modal {
        custom_id: Click::DealLost(d.number).to_string(),
        title: ctx.m(Msg::new("form.lost_title").arg("deal", format!("D-{}", d.number))),
        fields: vec![ModalField {
            custom_id: "reason".into(),
            label: ctx.t("form.lost_reason"),
            paragraph: true,
            max_length: 300,
        }],
    };
    Ok(Reply {
        modal: Some(modal),
        ..Reply::default()
    })
}

pub(super) async fn log_form(tx: &mut Tx, ctx: &mut Ctx, r: DealRef) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    if d.contact_id.is_none() {
        return Err(EngineError::Conflict(
            Msg::new("error.deal_without_contact").arg("deal", lookup::deal_label(&d)),
        ));
    }
    let modal = Modal {
        custom_id: Click::DealLog(d.number).to_string(),
        title: ctx.m(Msg::new("form.log_title").arg("deal", format!("D-{}", d.number))),
        fields: vec![
            ModalField {
                custom_id: "kind".into(),
                label: ctx.t("form.log_kind"),
                paragraph: false,
                max_length: 10,
            },
            ModalField {
                custom_id: "summary".into(),
                label: ctx.t("form.log_summary"),
                paragraph: true,
                max_length: 1000,
            },
        ],
    };
    Ok(Reply {
        modal: Some(modal),
        ..Reply::default()
    })
}

pub(super) async fn log_submit(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: DealRef,
    kind: String,
    summary: String,
) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &r).await?;
    let Some(contact) = d.contact_id else {
        return Err(EngineError::Conflict(
            Msg::new("error.deal_without_contact").arg("deal", lookup::deal_label(&d)),
        ));
    };
    super::contact::log_parsed(
        tx,
        ctx,
        ContactRef::Id(contact),
        Some(DealRef::Number(d.number)),
        kind,
        summary,
    )
    .await
}
