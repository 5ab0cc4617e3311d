//! Contacts and the interaction log.

use super::{
    company, company_ref, contact_ref, deal_ref, lookup, name, name_opt, note, present, required,
    text, when, Command,
};
use crate::domain::refs::{CompanyRef, ContactRef, DealRef, Email};
use crate::domain::when::parse_birthday;
use crate::engine::clicks::Click;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::format::escape;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{
    AuditAction, ContactRow, Entity, NewActivity, NewContact, NewTask, Tx, CONTACT_COUNT_CAP,
};
use chrono::{DateTime, NaiveDate, Utc};

/// Input of `/contact add`.
#[derive(Clone, Debug)]
pub struct ContactAdd {
    name: String,
    email: Option<Email>,
    phone: Option<String>,
    company: Option<CompanyRef>,
    title: Option<String>,
    birthday: Option<(Option<i32>, u32, u32)>,
    tags: Vec<String>,
    owner: Option<i64>,
}

/// Input of `/contact log`.
#[derive(Clone, Debug)]
pub struct ContactLog {
    contact: ContactRef,
    kind: String,
    summary: String,
    deal: Option<DealRef>,
    satisfaction: Option<i16>,
    next_step: Option<String>,
    due: Option<DateTime<Utc>>,
    happened_at: Option<DateTime<Utc>>,
    /// Who had the interaction, when the caller names someone else (a manager, or the API
    /// acting for a member).
    owner: Option<i64>,
}

impl ContactLog {
    /// Whether logging it writes one statement, the activity with its audit entry
    /// ([`super::Command::one_write`]): no deal to touch, no follow-up task, and no member to
    /// name but the caller (`actor`).
    pub(super) fn one_write(&self, actor: i64) -> bool {
        self.deal.is_none() && self.due.is_none() && self.owner.is_none_or(|o| o == actor)
    }
}

fn phone(args: &Args) -> EngineResult<Option<String>> {
    let Some(p) = text(args, "phone") else {
        return Ok(None);
    };
    let digits = p.chars().filter(char::is_ascii_digit).count();
    let allowed = p
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(5..=20).contains(&digits) {
        return Err(errors::option(
            "phone",
            Msg::new("problem.unrecognized").arg("given", escape(&p)),
            Msg::new("accepted.phone"),
        ));
    }
    Ok(Some(p))
}

impl ContactAdd {
    pub(super) fn parse(args: &Args, _ctx: &Ctx) -> EngineResult<ContactAdd> {
        let email = match text(args, "email") {
            None => None,
            Some(e) => Some(
                Email::parse(&e)
                    .map_err(|err| errors::reference("email", err, "accepted.email"))?,
            ),
        };
        let birthday = match text(args, "birthday") {
            None => None,
            Some(b) => Some(
                parse_birthday(&b).map_err(|e| errors::when("birthday", e, "accepted.birthday"))?,
            ),
        };
        Ok(ContactAdd {
            name: name(args, "name")?,
            email,
            phone: phone(args)?,
            company: company_ref(args, "company")?,
            title: name_opt(args, "title")?,
            birthday,
            tags: super::tags(args, "tags")?,
            owner: args.user("owner"),
        })
    }
}

impl ContactLog {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<ContactLog> {
        let happened_at = match args.str("when") {
            None => None,
            Some(s) => Some(
                crate::domain::when::parse_past(s, ctx.now, ctx.tz)
                    .map_err(|e| errors::when("when", e, "accepted.past"))?,
            ),
        };
        let next_step = name_opt(args, "next_step")?;
        let due = when(args, "due", ctx)?;
        if next_step.is_some() && due.is_none() {
            return Err(errors::option(
                "due",
                Msg::new("problem.needed_with").arg("other", "next_step"),
                Msg::new("accepted.when"),
            ));
        }
        Ok(ContactLog {
            contact: present(contact_ref(args, "contact")?, "contact")?,
            kind: required(args, "kind"),
            summary: note(args, "summary")?,
            deal: deal_ref(args, "deal")?,
            satisfaction: args.int("satisfaction").map(|s| s as i16),
            next_step,
            due,
            happened_at,
            owner: args.user("owner"),
        })
    }
}

pub(super) fn parse_tag(args: &Args) -> EngineResult<Command> {
    let add = super::tags(args, "add")?;
    let remove = super::tags(args, "remove")?;
    if add.is_empty() && remove.is_empty() {
        return Err(errors::option(
            "add",
            Msg::new("problem.empty"),
            Msg::new("accepted.tags"),
        ));
    }
    Ok(Command::ContactTag {
        contact: present(contact_ref(args, "contact")?, "contact")?,
        add,
        remove,
    })
}

pub(super) async fn add(tx: &mut Tx, ctx: &mut Ctx, c: ContactAdd) -> EngineResult<Reply> {
    let owner = lookup::owner_for(tx, ctx, AuditAction::ContactAdd, c.owner, "owner").await?;
    if let Some(email) = &c.email {
        // Emails are unique among the contacts the caller sees (the database keeps them unique
        // per owner): under `visibility own` a rep may add a contact another rep already has,
        // since refusing would tell them that contact exists.
        tx.lock_name(ctx.ws_id(), "email", email.as_str()).await?;
        let taken = tx
            .contacts_by_email(ctx.ws_id(), email.as_str(), ctx.owner_filter())
            .await?;
        if let Some(existing) = taken.first() {
            return Err(EngineError::Conflict(
                Msg::new("error.contact_email_taken")
                    .arg("email", ctx.esc(email.as_str()))
                    .arg(
                        "contact",
                        format!("C-{} {}", existing.id, ctx.esc(&existing.name)),
                    ),
            ));
        }
    }
    let company = company::company_id(tx, ctx, c.company, owner).await?;
    let new = NewContact {
        name: c.name.clone(),
        company_id: company.as_ref().map(|co| co.id),
        owner_id: owner,
        email: c.email.as_ref().map(|e| e.as_str().to_string()),
        phone: c.phone,
        title: c.title,
        birthday: c.birthday,
        tags: c.tags,
    };
    let id = tx.insert_contact(ctx.ws_id(), &new).await?;
    ctx.audit(tx, AuditAction::ContactAdd, Entity::Contact, id, None)
        .await?;
    let mut msg = Msg::new("contact.added")
        .arg("id", format!("C-{id}"))
        .arg("name", ctx.esc(&c.name));
    let mut lines = Vec::new();
    if let Some(co) = company {
        msg = Msg::new("contact.added_at")
            .arg("id", format!("C-{id}"))
            .arg("name", ctx.esc(&c.name))
            .arg("company", ctx.esc(&co.name));
        lines.extend(co.created);
    }
    lines.insert(0, ctx.m(msg));
    Ok(Reply::text(lines.join("\n")).with_record("contact", id))
}

/// Logs an interaction given as plain values (the deal card's form).
pub(super) async fn log_parsed(
    tx: &mut Tx,
    ctx: &mut Ctx,
    contact: ContactRef,
    deal: Option<DealRef>,
    kind: String,
    summary: String,
) -> EngineResult<Reply> {
    let c = ContactLog {
        contact,
        kind,
        summary,
        deal,
        satisfaction: None,
        next_step: None,
        due: None,
        happened_at: None,
        owner: None,
    };
    log(tx, ctx, c).await
}

pub(super) async fn log(tx: &mut Tx, ctx: &mut Ctx, c: ContactLog) -> EngineResult<Reply> {
    let contact = lookup::contact(tx, ctx, &c.contact).await?;
    let deal = match &c.deal {
        Some(r) => Some(lookup::deal(tx, ctx, r).await?),
        None => None,
    };
    let happened = c.happened_at.unwrap_or(ctx.now);
    let member = lookup::owner_for(tx, ctx, AuditAction::ContactLog, c.owner, "owner").await?;
    let activity = NewActivity {
        contact_id: contact.id,
        deal_id: deal.as_ref().map(|d| d.id),
        member_id: member,
        kind: &c.kind,
        summary: &c.summary,
        satisfaction: c.satisfaction,
        happened_at: happened,
    };
    let action = AuditAction::ContactLog;
    let (id, change) = tx
        .log_activity(ctx.ws_id(), &activity, ctx.stamp(action))
        .await?;
    ctx.audited(change, action, &[(Entity::Activity, id, None)]);
    if let Some(d) = &deal {
        let before = tx
            .touch_deal(ctx.ws_id(), d.id, happened, ctx.stamp(action))
            .await?;
        ctx.audited(change, action, &[(Entity::Deal, d.id, Some(&before))]);
    }
    let kind = ctx.t(&format!("activity_a.{}", c.kind));
    let mut lines = vec![ctx.m(Msg::new("contact.logged")
        .arg("kind", kind)
        .arg("name", ctx.esc(&contact.name)))];
    if let Some(d) = &deal {
        lines.push(ctx.m(Msg::new("contact.logged_deal").arg("deal", lookup::deal_label(d))));
    }
    let mut reply = Reply::default();
    if let Some(due) = c.due {
        let title = c
            .next_step
            .clone()
            .unwrap_or_else(|| ctx.m(Msg::new("task.follow_up_title").arg("name", &contact.name)));
        let task = NewTask {
            assignee_id: member,
            created_by: ctx.actor,
            title: title.clone(),
            due_at: due,
            source: "follow_up",
            deal_id: deal.as_ref().map(|d| d.id),
            contact_id: Some(contact.id),
            activity_id: Some(id),
        };
        let task_id = tx.insert_task(ctx.ws_id(), &task, ctx.now).await?;
        ctx.audit(tx, AuditAction::ContactLog, Entity::Task, task_id, None)
            .await?;
        lines.push(
            ctx.m(Msg::new("contact.next_step")
                .arg("id", format!("T-{task_id}"))
                .arg("title", ctx.esc(&title))
                .arg("due", ctx.time(due))),
        );
        reply = reply.with_button(Click::TaskDone(task_id).to_string(), ctx.t("button.done"));
    }
    reply.content = lines.join("\n");
    Ok(reply.with_record("activity", id))
}

fn birthday_text(ctx: &Ctx, c: &ContactRow) -> Option<String> {
    // Checked rather than cast: the columns have no constraint of their own, and a stored
    // value out of range is shown as none rather than wrapped into a wrong date.
    let m = u32::try_from(c.birthday_month?).ok()?;
    let d = u32::try_from(c.birthday_day?).ok()?;
    // A leap year, so 29 February without a year stands.
    NaiveDate::from_ymd_opt(2000, m, d)?;
    match c.birthday_year {
        Some(y) => NaiveDate::from_ymd_opt(y, m, d).map(|date| ctx.date(date)),
        None => Some(
            ctx.m(Msg::new("contact.birthday_no_year")
                .arg("month", m)
                .arg("day", d)),
        ),
    }
}

pub(super) async fn show(tx: &mut Tx, ctx: &mut Ctx, r: ContactRef) -> EngineResult<Reply> {
    let c = lookup::contact(tx, ctx, &r).await?;
    let owner = tx
        .member(ctx.ws_id(), c.owner_id)
        .await?
        .map(|m| m.display_name)
        .unwrap_or_default();
    let none = ctx.t("common.none");
    let mut embed = Embed::new(format!("C-{} {}", c.id, ctx.esc(&c.name)))
        .inline(
            ctx.t("field.company"),
            ctx.esc_or_none(c.company_name.as_deref()),
        )
        .inline(ctx.t("field.title"), ctx.esc_or_none(c.title.as_deref()))
        .inline(ctx.t("field.owner"), ctx.esc(&owner))
        .inline(ctx.t("field.email"), ctx.esc_or_none(c.email.as_deref()))
        .inline(ctx.t("field.phone"), ctx.esc_or_none(c.phone.as_deref()))
        .inline(
            ctx.t("field.birthday"),
            birthday_text(ctx, &c).unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.tags"),
            if c.tags.is_empty() {
                none.clone()
            } else {
                ctx.esc(&c.tags.join(", "))
            },
        );
    let recent = tx.recent_activities(ctx.ws_id(), c.id, 5).await?;
    let history = if recent.is_empty() {
        ctx.t("contact.no_activity")
    } else {
        recent
            .iter()
            .map(|(at, kind, summary, sat)| {
                let stars = sat.map(|s| format!(" ({s}/5)")).unwrap_or_default();
                format!(
                    "{} · {} · {}{}",
                    ctx.time(*at),
                    ctx.t(&format!("activity.{kind}")),
                    ctx.esc(summary),
                    stars
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    embed = embed.field(ctx.t("field.recent_activity"), history);
    Ok(Reply::default().with_embed(embed))
}

pub(super) async fn find(tx: &mut Tx, ctx: &mut Ctx, q: String) -> EngineResult<Reply> {
    let (rows, total) = tx
        .find_contacts(ctx.ws_id(), &q, ctx.owner_filter())
        .await?;
    if rows.is_empty() {
        return Ok(Reply::private(
            ctx.m(Msg::new("contact.find_none").arg("query", ctx.esc(&q))),
        ));
    }
    let lines = rows
        .iter()
        .map(|c| {
            let company = c
                .company_name
                .as_deref()
                .map(|n| format!(" · {}", ctx.esc(n)))
                .unwrap_or_default();
            let email = c
                .email
                .as_deref()
                .map(|e| format!(" · {}", ctx.esc(e)))
                .unwrap_or_default();
            format!("C-{} {}{}{}", c.id, ctx.esc(&c.name), company, email)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let shown = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let many = total > CONTACT_COUNT_CAP;
    let mut embed = Embed::new(
        ctx.m(Msg::new("contact.find_title")
            .arg("query", ctx.esc(&q))
            .arg(
                "count",
                match many {
                    true => format!("{CONTACT_COUNT_CAP}+"),
                    false => total.to_string(),
                },
            )),
    )
    .description(lines);
    if many {
        embed = embed.footer(
            ctx.m(Msg::new("contact.find_many")
                .arg("shown", shown)
                .arg("count", CONTACT_COUNT_CAP)),
        );
    } else if total > shown {
        embed = embed.footer(ctx.m(super::list_count(
            "contact.find_title",
            "contact.find_partial",
            rows.len(),
            total,
        )));
    }
    Ok(Reply {
        ephemeral: true,
        ..Reply::default()
    }
    .with_embed(embed))
}

pub(super) async fn tag(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: ContactRef,
    add: Vec<String>,
    remove: Vec<String>,
) -> EngineResult<Reply> {
    let c = lookup::contact(tx, ctx, &r).await?;
    ctx.require_owner(c.owner_id, format!("C-{} {}", c.id, ctx.esc(&c.name)))?;
    // The tags as the locked row has them: two tag commands at once each add to the other's.
    let before = ctx.before(tx, Entity::Contact, c.id).await?;
    let mut tags = before
        .as_ref()
        .and_then(|b| serde_json::from_value::<Vec<String>>(b["tags"].clone()).ok())
        .unwrap_or_else(|| c.tags.clone());
    for t in add {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    tags.retain(|t| !remove.contains(t));
    if tags.len() > 20 {
        return Err(errors::option(
            "add",
            Msg::new("problem.too_many_tags").arg("max", 20),
            Msg::new("accepted.tags"),
        ));
    }
    tx.set_contact_tags(ctx.ws_id(), c.id, &tags).await?;
    ctx.audit(tx, AuditAction::ContactTag, Entity::Contact, c.id, before)
        .await?;
    let shown = if tags.is_empty() {
        ctx.t("common.none")
    } else {
        ctx.esc(&tags.join(", "))
    };
    Ok(Reply::text(
        ctx.m(Msg::new("contact.tagged")
            .arg("name", ctx.esc(&c.name))
            .arg("tags", shown)),
    ))
}
