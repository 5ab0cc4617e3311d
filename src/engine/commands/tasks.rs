//! Reminders and follow-ups: `/remind` and `/tasks`.

use super::lookup;
use crate::domain::refs::{ContactRef, DealRef, TaskRef};
use crate::domain::role::Role;
use crate::engine::clicks::Click;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, NewTask, TaskRow, Tx};
use chrono::{DateTime, Utc};

#[allow(clippy::too_many_arguments)]
pub(super) async fn remind(
    tx: &mut Tx,
    ctx: &mut Ctx,
    what: String,
    due: DateTime<Utc>,
    deal: Option<DealRef>,
    contact: Option<ContactRef>,
    assignee: Option<i64>,
) -> EngineResult<Reply> {
    let (assignee, hidden_from) = match assignee {
        Some(a) if a != ctx.actor => {
            ctx.require_manager()?;
            let m = ctx.member_named(tx, AuditAction::Remind, a, "for").await?;
            // What the reminder names must be what its reader may see.
            let role = Role::stored(&m.role);
            let limited = ctx.visibility.owner_filter(role, a).is_some();
            (a, limited.then_some(m.display_name))
        }
        _ => (ctx.actor, None),
    };
    let deal = match &deal {
        Some(r) => Some(lookup::deal(tx, ctx, r).await?),
        None => None,
    };
    let contact = match &contact {
        Some(r) => Some(lookup::contact(tx, ctx, r).await?),
        None => None,
    };
    if let Some(member) = hidden_from {
        let hidden = [
            deal.as_ref()
                .filter(|d| d.owner_id != assignee)
                .map(|d| ("deal", lookup::deal_label(d))),
            contact
                .as_ref()
                .filter(|c| c.owner_id != assignee)
                .map(|c| ("contact", format!("C-{} {}", c.id, ctx.esc(&c.name)))),
        ];
        if let Some((option, record)) = hidden.into_iter().flatten().next() {
            return Err(errors::option(
                option,
                Msg::new("problem.hidden_from_assignee")
                    .arg("record", record)
                    .arg("member", ctx.esc(&member)),
                Msg::new("accepted.assignee_record"),
            ));
        }
    }
    let task = NewTask {
        assignee_id: assignee,
        created_by: ctx.actor,
        title: what.clone(),
        due_at: due,
        source: "manual",
        deal_id: deal.as_ref().map(|d| d.id),
        contact_id: contact.as_ref().map(|c| c.id),
        activity_id: None,
    };
    let id = tx.insert_task(ctx.ws_id(), &task, ctx.now).await?;
    ctx.audit(tx, AuditAction::Remind, Entity::Task, id, None)
        .await?;
    let who = if assignee == ctx.actor {
        ctx.t("task.you")
    } else {
        tx.member(ctx.ws_id(), assignee)
            .await?
            .map(|m| ctx.esc(&m.display_name))
            .unwrap_or_default()
    };
    let text = ctx.m(Msg::new("task.created")
        .arg("id", format!("T-{id}"))
        .arg("who", who)
        .arg("due", ctx.time(due))
        .arg("title", ctx.esc(&what)));
    Ok(Reply::private(text).with_button(Click::TaskDone(id).to_string(), ctx.t("button.done")))
}

fn task_line(ctx: &Ctx, t: &TaskRow) -> String {
    let mut line = format!(
        "**T-{}** · {} · {}",
        t.id,
        ctx.time(t.due_at),
        ctx.esc(&t.title)
    );
    if let Some(n) = t.deal_number {
        line.push_str(&format!(" · D-{n}"));
    }
    if let Some(c) = &t.contact_name {
        line.push_str(&format!(" · {}", ctx.esc(c)));
    }
    if t.status == "open" && t.due_at < ctx.now {
        line.push_str(&format!(" · {}", ctx.t("task.overdue")));
    } else if t.status != "open" {
        line.push_str(&format!(
            " · {}",
            ctx.t(&format!("task.status.{}", t.status))
        ));
    }
    line
}

pub(super) async fn list(
    tx: &mut Tx,
    ctx: &mut Ctx,
    status: Option<String>,
    member: Option<i64>,
) -> EngineResult<Reply> {
    let member = match member {
        Some(m) if m != ctx.actor => {
            ctx.require_manager()?;
            m
        }
        _ => ctx.actor,
    };
    let status = match status.as_deref() {
        Some("all") => None,
        Some(s) => Some(s),
        None => Some("open"),
    };
    let rows = tx.list_tasks(ctx.ws_id(), member, status, 25).await?;
    if rows.is_empty() {
        return Ok(Reply::private(ctx.t("task.none")));
    }
    let total = tx.count_tasks(ctx.ws_id(), member, status).await?;
    let body = rows
        .iter()
        .map(|t| task_line(ctx, t))
        .collect::<Vec<_>>()
        .join("\n");
    let title = if member == ctx.actor {
        ctx.t("task.list_title")
    } else {
        let name = tx
            .member(ctx.ws_id(), member)
            .await?
            .map(|m| ctx.esc(&m.display_name))
            .unwrap_or_else(|| member.to_string());
        ctx.m(Msg::new("task.list_title_of").arg("member", name))
    };
    let embed = Embed::new(title)
        .description(body)
        .footer(ctx.m(super::list_count(
            "task.list_footer",
            "task.list_partial",
            rows.len(),
            total,
        )));
    Ok(Reply {
        ephemeral: true,
        ..Reply::default()
    }
    .with_embed(embed))
}

async fn load(tx: &mut Tx, ctx: &Ctx, r: &TaskRef) -> EngineResult<TaskRow> {
    let TaskRef::Id(id) = *r;
    let t = tx.task(ctx.ws_id(), id).await?.ok_or_else(|| {
        EngineError::NotFound(Msg::new("error.task_not_found").arg("given", format!("T-{id}")))
    })?;
    // Someone else's task is not theirs to see unless they manage the team.
    if t.assignee_id != ctx.actor && !ctx.role.is_manager() {
        return Err(EngineError::NotFound(
            Msg::new("error.task_not_found").arg("given", format!("T-{id}")),
        ));
    }
    if t.status != "open" {
        return Err(EngineError::Conflict(
            Msg::new("error.task_closed").arg("id", format!("T-{id}")),
        ));
    }
    Ok(t)
}

pub(crate) async fn done(tx: &mut Tx, ctx: &mut Ctx, r: TaskRef) -> EngineResult<Reply> {
    let t = load(tx, ctx, &r).await?;
    let before = ctx.before(tx, Entity::Task, t.id).await?;
    tx.complete_task(ctx.ws_id(), t.id, ctx.now).await?;
    ctx.audit(tx, AuditAction::TasksDone, Entity::Task, t.id, before)
        .await?;
    Ok(Reply::private(
        ctx.m(Msg::new("task.done")
            .arg("id", format!("T-{}", t.id))
            .arg("title", ctx.esc(&t.title))),
    ))
}

pub(crate) async fn snooze(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: TaskRef,
    until: DateTime<Utc>,
) -> EngineResult<Reply> {
    let t = load(tx, ctx, &r).await?;
    let before = ctx.before(tx, Entity::Task, t.id).await?;
    tx.snooze_task(ctx.ws_id(), t.id, until).await?;
    ctx.audit(tx, AuditAction::TasksSnooze, Entity::Task, t.id, before)
        .await?;
    Ok(Reply::private(
        ctx.m(Msg::new("task.snoozed")
            .arg("id", format!("T-{}", t.id))
            .arg("due", ctx.time(until))),
    )
    .with_button(Click::TaskDone(t.id).to_string(), ctx.t("button.done")))
}
