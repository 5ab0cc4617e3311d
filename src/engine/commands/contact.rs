//! Customers: contacts, companies and the interaction log.

use super::{
    company_ref, contact_ref, date, deal_ref, lookup, present, required, text, when, Command,
};
use crate::domain::refs::{parse_tags, CompanyRef, ContactRef, DealRef, Email};
use crate::domain::when::parse_birthday;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{ContactRow, Entity, NewCompany, NewContact, NewTask, StoreError, Tx};
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
}

/// Input of `/company add`.
#[derive(Clone, Debug)]
pub struct CompanyAdd {
    name: String,
    industry: Option<String>,
    tier: Option<String>,
    website: Option<String>,
    tags: Vec<String>,
    contract_end: Option<NaiveDate>,
    owner: Option<i64>,
}

fn tags(args: &Args, name: &str) -> EngineResult<Vec<String>> {
    match args.str(name) {
        None => Ok(Vec::new()),
        Some(s) => parse_tags(s).map_err(|e| errors::reference(name, e, "accepted.tags")),
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
            Msg::new("problem.unrecognized").arg("given", &p),
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
            name: required(args, "name"),
            email,
            phone: phone(args)?,
            company: company_ref(args, "company")?,
            title: text(args, "title"),
            birthday,
            tags: tags(args, "tags")?,
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
        let next_step = text(args, "next_step");
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
            summary: required(args, "summary"),
            deal: deal_ref(args, "deal")?,
            satisfaction: args.int("satisfaction").map(|s| s as i16),
            next_step,
            due,
            happened_at,
        })
    }
}

impl CompanyAdd {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<CompanyAdd> {
        let website = match text(args, "website") {
            None => None,
            Some(w) => {
                let ok = !w.contains(char::is_whitespace)
                    && w.contains('.')
                    && !w.starts_with("javascript:");
                if !ok {
                    return Err(errors::option(
                        "website",
                        Msg::new("problem.unrecognized").arg("given", &w),
                        Msg::new("accepted.website"),
                    ));
                }
                Some(w)
            }
        };
        Ok(CompanyAdd {
            name: required(args, "name"),
            industry: text(args, "industry"),
            tier: text(args, "tier"),
            website,
            tags: tags(args, "tags")?,
            contract_end: date(args, "contract_end", ctx)?,
            owner: args.user("owner"),
        })
    }
}

pub(super) fn parse_tag(args: &Args) -> EngineResult<Command> {
    let add = tags(args, "add")?;
    let remove = tags(args, "remove")?;
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

/// The owner of a new record: the caller, or someone else when a manager says so.
pub(super) async fn owner_for(
    tx: &mut Tx,
    ctx: &mut Ctx,
    action: &str,
    owner: Option<i64>,
) -> EngineResult<i64> {
    match owner {
        Some(o) if o != ctx.actor => {
            ctx.require_manager()?;
            ctx.ensure_member(tx, action, o).await?;
            Ok(o)
        }
        _ => Ok(ctx.actor),
    }
}

pub(super) async fn company_id(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: Option<CompanyRef>,
) -> EngineResult<Option<(i64, String)>> {
    match r {
        None => Ok(None),
        Some(CompanyRef::Name(name)) => {
            // Naming a company that does not exist yet creates it: the way people work is to
            // add the contact first and let the account follow.
            match lookup::company(tx, ctx, &CompanyRef::Name(name.clone())).await {
                Ok(c) => Ok(Some((c.id, c.name))),
                Err(EngineError::NotFound(_)) => {
                    let id = tx
                        .insert_company(
                            ctx.ws_id(),
                            &NewCompany {
                                name: name.clone(),
                                owner_id: ctx.actor,
                                industry: None,
                                tier: None,
                                website: None,
                                tags: Vec::new(),
                                contract_end: None,
                            },
                        )
                        .await?;
                    ctx.audit(tx, "company.add", Entity::Company, id, None)
                        .await?;
                    Ok(Some((id, name)))
                }
                Err(e) => Err(e),
            }
        }
        Some(r) => {
            let c = lookup::company(tx, ctx, &r).await?;
            Ok(Some((c.id, c.name)))
        }
    }
}

pub(super) async fn add(tx: &mut Tx, ctx: &mut Ctx, c: ContactAdd) -> EngineResult<Reply> {
    let owner = owner_for(tx, ctx, "contact.add", c.owner).await?;
    if let Some(email) = &c.email {
        if let Some(existing) = tx
            .contact_by_email(ctx.ws_id(), email.as_str(), None)
            .await?
        {
            // Refuse either way (emails are unique per workspace), but name the holder only to
            // someone allowed to see it.
            let visible = ctx.owner_filter().is_none_or(|me| me == existing.owner_id);
            let msg = if visible {
                Msg::new("error.contact_email_taken")
                    .arg("email", email.as_str())
                    .arg("contact", format!("C-{} {}", existing.id, existing.name))
            } else {
                Msg::new("error.contact_email_taken_hidden").arg("email", email.as_str())
            };
            return Err(EngineError::Conflict(msg));
        }
    }
    let company = company_id(tx, ctx, c.company).await?;
    let new = NewContact {
        name: c.name.clone(),
        company_id: company.as_ref().map(|(id, _)| *id),
        owner_id: owner,
        email: c.email.as_ref().map(|e| e.as_str().to_string()),
        phone: c.phone,
        title: c.title,
        birthday: c.birthday,
        tags: c.tags,
    };
    let id = tx.insert_contact(ctx.ws_id(), &new).await?;
    ctx.audit(tx, "contact.add", Entity::Contact, id, None)
        .await?;
    let mut msg = Msg::new("contact.added")
        .arg("id", format!("C-{id}"))
        .arg("name", &c.name);
    if let Some((_, name)) = company {
        msg = Msg::new("contact.added_at")
            .arg("id", format!("C-{id}"))
            .arg("name", &c.name)
            .arg("company", name);
    }
    Ok(Reply::text(ctx.m(msg)))
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
    let deal_before = match &deal {
        Some(d) => ctx.before(tx, Entity::Deal, d.id).await?,
        None => None,
    };
    let id = tx
        .insert_activity(
            ctx.ws_id(),
            contact.id,
            deal.as_ref().map(|d| d.id),
            ctx.actor,
            &c.kind,
            &c.summary,
            c.satisfaction,
            happened,
        )
        .await?;
    ctx.audit(tx, "contact.log", Entity::Activity, id, None)
        .await?;
    if let Some(d) = &deal {
        ctx.audit(tx, "contact.log", Entity::Deal, d.id, deal_before)
            .await?;
    }
    let kind = ctx.t(&format!("activity.{}", c.kind));
    let mut lines = vec![ctx.m(Msg::new("contact.logged")
        .arg("kind", kind)
        .arg("name", &contact.name))];
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
            assignee_id: ctx.actor,
            created_by: ctx.actor,
            title: title.clone(),
            due_at: due,
            source: "follow_up",
            deal_id: deal.as_ref().map(|d| d.id),
            contact_id: Some(contact.id),
            activity_id: Some(id),
        };
        let task_id = tx.insert_task(ctx.ws_id(), &task, ctx.now).await?;
        ctx.audit(tx, "contact.log", Entity::Task, task_id, None)
            .await?;
        lines.push(
            ctx.m(Msg::new("contact.next_step")
                .arg("id", format!("T-{task_id}"))
                .arg("title", title)
                .arg("due", ctx.time(due))),
        );
        reply = reply.with_button(format!("task:done:{task_id}"), ctx.t("button.done"));
    }
    reply.content = lines.join("\n");
    Ok(reply)
}

fn birthday_text(ctx: &Ctx, c: &ContactRow) -> Option<String> {
    let (m, d) = (c.birthday_month? as u32, c.birthday_day? as u32);
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
    let mut embed = Embed::new(format!("C-{} {}", c.id, c.name))
        .inline(
            ctx.t("field.company"),
            c.company_name.clone().unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.title"),
            c.title.clone().unwrap_or_else(|| none.clone()),
        )
        .inline(ctx.t("field.owner"), owner)
        .inline(
            ctx.t("field.email"),
            c.email.clone().unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.phone"),
            c.phone.clone().unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.birthday"),
            birthday_text(ctx, &c).unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.tags"),
            if c.tags.is_empty() {
                none.clone()
            } else {
                c.tags.join(", ")
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
                    summary,
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
    let rows = tx
        .find_contacts(ctx.ws_id(), &q, ctx.owner_filter())
        .await?;
    if rows.is_empty() {
        return Ok(Reply::private(
            ctx.m(Msg::new("contact.find_none").arg("query", &q)),
        ));
    }
    let lines = rows
        .iter()
        .map(|c| {
            let company = c
                .company_name
                .as_deref()
                .map(|n| format!(" · {n}"))
                .unwrap_or_default();
            let email = c
                .email
                .as_deref()
                .map(|e| format!(" · {e}"))
                .unwrap_or_default();
            format!("C-{} {}{}{}", c.id, c.name, company, email)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let embed = Embed::new(
        ctx.m(Msg::new("contact.find_title")
            .arg("query", &q)
            .arg("count", rows.len())),
    )
    .description(lines);
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
    ctx.require_owner(c.owner_id, format!("C-{} {}", c.id, c.name))?;
    let mut tags = c.tags.clone();
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
    let before = ctx.before(tx, Entity::Contact, c.id).await?;
    tx.set_contact_tags(ctx.ws_id(), c.id, &tags).await?;
    ctx.audit(tx, "contact.tag", Entity::Contact, c.id, before)
        .await?;
    let shown = if tags.is_empty() {
        ctx.t("common.none")
    } else {
        tags.join(", ")
    };
    Ok(Reply::text(
        ctx.m(Msg::new("contact.tagged")
            .arg("name", &c.name)
            .arg("tags", shown)),
    ))
}

pub(super) async fn company_add(tx: &mut Tx, ctx: &mut Ctx, c: CompanyAdd) -> EngineResult<Reply> {
    let owner = owner_for(tx, ctx, "company.add", c.owner).await?;
    let new = NewCompany {
        name: c.name.clone(),
        owner_id: owner,
        industry: c.industry,
        tier: c.tier,
        website: c.website,
        tags: c.tags,
        contract_end: c.contract_end,
    };
    let id = match tx.insert_company(ctx.ws_id(), &new).await {
        Ok(id) => id,
        Err(StoreError::Duplicate(_)) => {
            return Err(EngineError::Conflict(
                Msg::new("error.company_exists").arg("name", &c.name),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.audit(tx, "company.add", Entity::Company, id, None)
        .await?;
    Ok(Reply::text(
        ctx.m(Msg::new("company.added")
            .arg("id", format!("CO-{id}"))
            .arg("name", &c.name)),
    ))
}

pub(super) async fn company_show(tx: &mut Tx, ctx: &mut Ctx, r: CompanyRef) -> EngineResult<Reply> {
    let c = lookup::company(tx, ctx, &r).await?;
    let (contacts, open_deals, won) = tx
        .company_counts(ctx.ws_id(), c.id, ctx.owner_filter())
        .await?;
    let owner = tx
        .member(ctx.ws_id(), c.owner_id)
        .await?
        .map(|m| m.display_name)
        .unwrap_or_default();
    let none = ctx.t("common.none");
    let tier = c
        .tier
        .as_deref()
        .map(|t| ctx.t(&format!("tier.{t}")))
        .unwrap_or_else(|| none.clone());
    let embed = Embed::new(format!("CO-{} {}", c.id, c.name))
        .inline(
            ctx.t("field.industry"),
            c.industry.clone().unwrap_or_else(|| none.clone()),
        )
        .inline(ctx.t("field.tier"), tier)
        .inline(ctx.t("field.owner"), owner)
        .inline(
            ctx.t("field.website"),
            c.website.clone().unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.contract_end"),
            c.contract_end
                .map(|d| ctx.date(d))
                .unwrap_or_else(|| none.clone()),
        )
        .inline(
            ctx.t("field.tags"),
            if c.tags.is_empty() {
                none.clone()
            } else {
                c.tags.join(", ")
            },
        )
        .inline(ctx.t("field.contacts"), contacts.to_string())
        .inline(ctx.t("field.open_deals"), open_deals.to_string())
        .inline(ctx.t("field.won_revenue"), ctx.money(won));
    Ok(Reply::default().with_embed(embed))
}
