//! Companies (the accounts contacts and deals belong to): `/company add` and `/company show`,
//! and the company a new contact or deal names, created on the fly when it is new.

use super::{checked, date, lookup, name, name_opt, text};
use crate::domain::refs::CompanyRef;
use crate::domain::role::Role;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, NewCompany, StoreError, Tx};
use chrono::NaiveDate;

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
                        Msg::new("problem.unrecognized").arg("given", ctx.esc(&w)),
                        Msg::new("accepted.website"),
                    ));
                }
                Some(w)
            }
        };
        Ok(CompanyAdd {
            name: name(args, "name")?,
            industry: name_opt(args, "industry")?,
            tier: text(args, "tier"),
            website,
            tags: super::tags(args, "tags")?,
            contract_end: date(args, "contract_end", ctx)?,
            owner: args.user("owner"),
        })
    }
}

/// The company a contact or deal names, and the line the reply adds when naming it created it.
pub(super) struct Named {
    /// Row id.
    pub id: i64,
    /// As stored.
    pub name: String,
    /// "New company X created (did you mean Y?)", when it was created here.
    pub created: Option<String>,
}

/// The company a new record names, created when it does not exist yet, then owned by `owner`
/// (the new record's owner, who will work the account).
pub(super) async fn company_id(
    tx: &mut Tx,
    ctx: &mut Ctx,
    r: Option<CompanyRef>,
    owner: i64,
) -> EngineResult<Option<Named>> {
    match r {
        None => Ok(None),
        Some(CompanyRef::Name(name)) => {
            // Naming a company that does not exist yet creates it: the way people work is to
            // add the contact first and let the account follow. A typo would make a second
            // account silently, so the reply says so and offers the closest existing name.
            tx.lock_name(ctx.ws_id(), "company", &name).await?;
            match lookup::company_named(tx, ctx, &name).await {
                Ok(c) => Ok(Some(Named {
                    id: c.id,
                    name: c.name,
                    created: None,
                })),
                Err(EngineError::NotFound(_)) => {
                    let name = checked("company", &name, crate::domain::text::line)?;
                    let known = tx.company_names(ctx.ws_id(), ctx.owner_filter()).await?;
                    let id = tx
                        .insert_company(
                            ctx.ws_id(),
                            &NewCompany {
                                name: name.clone(),
                                owner_id: owner,
                                industry: None,
                                tier: None,
                                website: None,
                                tags: Vec::new(),
                                contract_end: None,
                            },
                        )
                        .await?;
                    ctx.audit(tx, AuditAction::CompanyAdd, Entity::Company, id, None)
                        .await?;
                    let label = format!("CO-{id} {}", ctx.esc(&name));
                    let created = match lookup::closest(&name, &known) {
                        Some(close) => Msg::new("company.created_on_the_fly_suggest")
                            .arg("company", label)
                            .arg("suggestion", ctx.esc(close)),
                        None => Msg::new("company.created_on_the_fly").arg("company", label),
                    };
                    Ok(Some(Named {
                        id,
                        name,
                        created: Some(ctx.m(created)),
                    }))
                }
                Err(e) => Err(e),
            }
        }
        Some(r) => {
            let c = lookup::company(tx, ctx, &r).await?;
            Ok(Some(Named {
                id: c.id,
                name: c.name,
                created: None,
            }))
        }
    }
}

pub(super) async fn add(tx: &mut Tx, ctx: &mut Ctx, c: CompanyAdd) -> EngineResult<Reply> {
    let owner = lookup::owner_for(tx, ctx, AuditAction::CompanyAdd, c.owner, "owner").await?;
    let new = NewCompany {
        name: c.name.clone(),
        owner_id: owner,
        industry: c.industry,
        tier: c.tier,
        website: c.website,
        tags: c.tags,
        contract_end: c.contract_end,
    };
    let exists =
        || EngineError::Conflict(Msg::new("error.company_exists").arg("name", ctx.esc(&c.name)));
    // Names are unique among what the caller sees (the database keeps them unique per owner):
    // under `visibility own` a rep's new account never tells them another rep has one.
    tx.lock_name(ctx.ws_id(), "company", &c.name).await?;
    let same = tx
        .companies_by_name(ctx.ws_id(), &c.name, ctx.owner_filter())
        .await?;
    if same
        .iter()
        .any(|co| co.name.to_lowercase() == c.name.to_lowercase())
    {
        return Err(exists());
    }
    let id = match tx.insert_company(ctx.ws_id(), &new).await {
        Ok(id) => id,
        Err(StoreError::Duplicate(_)) => return Err(exists()),
        Err(e) => return Err(e.into()),
    };
    ctx.audit(tx, AuditAction::CompanyAdd, Entity::Company, id, None)
        .await?;
    Ok(Reply::text(
        ctx.m(Msg::new("company.added")
            .arg("id", format!("CO-{id}"))
            .arg("name", ctx.esc(&c.name))),
    )
    .with_record("company", id))
}

pub(super) async fn show(tx: &mut Tx, ctx: &mut Ctx, r: CompanyRef) -> EngineResult<Reply> {
    let c = lookup::company(tx, ctx, &r).await?;
    let (contacts, open_deals, won) = tx
        .company_counts(ctx.ws_id(), c.id, ctx.owner_filter())
        .await?;
    // A rep under `visibility own` sees an account they work on, but not which other rep owns
    // it; the team's accounts (a manager's or an admin's) say whose they are.
    let owner = tx
        .member(ctx.ws_id(), c.owner_id)
        .await?
        .filter(|m| {
            ctx.owner_filter()
                .is_none_or(|me| me == c.owner_id || m.role != Role::Rep.as_str())
        })
        .map(|m| m.display_name);
    let none = ctx.t("common.none");
    let tier = c
        .tier
        .as_deref()
        .map(|t| ctx.t(&format!("tier.{t}")))
        .unwrap_or_else(|| none.clone());
    let mut embed = Embed::new(format!("CO-{} {}", c.id, ctx.esc(&c.name)))
        .inline(
            ctx.t("field.industry"),
            ctx.esc_or_none(c.industry.as_deref()),
        )
        .inline(ctx.t("field.tier"), tier);
    if let Some(owner) = owner {
        embed = embed.inline(ctx.t("field.owner"), ctx.esc(&owner));
    }
    embed = embed
        .inline(
            ctx.t("field.website"),
            ctx.esc_or_none(c.website.as_deref()),
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
                ctx.esc(&c.tags.join(", "))
            },
        )
        .inline(ctx.t("field.contacts"), contacts.to_string())
        .inline(ctx.t("field.open_deals"), open_deals.to_string())
        .inline(ctx.t("field.won_revenue"), ctx.money(won));
    Ok(Reply::default().with_embed(embed))
}
