//! Companies (the accounts contacts and deals belong to): `/company add` and `/company show`,
//! and the company a new contact or deal names, created on the fly when it is new.

use super::{checked, date, lookup, name, name_opt, text};
use crate::domain::refs::CompanyRef;
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
                    let name = checked("company", &name, crate::domain::text::line)?;
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
                    ctx.audit(tx, AuditAction::CompanyAdd, Entity::Company, id, None)
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

pub(super) async fn add(tx: &mut Tx, ctx: &mut Ctx, c: CompanyAdd) -> EngineResult<Reply> {
    let owner = lookup::owner_for(tx, ctx, AuditAction::CompanyAdd, c.owner).await?;
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
                Msg::new("error.company_exists").arg("name", ctx.esc(&c.name)),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.audit(tx, AuditAction::CompanyAdd, Entity::Company, id, None)
        .await?;
    Ok(Reply::text(
        ctx.m(Msg::new("company.added")
            .arg("id", format!("CO-{id}"))
            .arg("name", ctx.esc(&c.name))),
    ))
}

pub(super) async fn show(tx: &mut Tx, ctx: &mut Ctx, r: CompanyRef) -> EngineResult<Reply> {
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
    let embed = Embed::new(format!("CO-{} {}", c.id, ctx.esc(&c.name)))
        .inline(
            ctx.t("field.industry"),
            c.industry
                .as_deref()
                .map_or_else(|| none.clone(), |i| ctx.esc(i)),
        )
        .inline(ctx.t("field.tier"), tier)
        .inline(ctx.t("field.owner"), ctx.esc(&owner))
        .inline(
            ctx.t("field.website"),
            c.website
                .as_deref()
                .map_or_else(|| none.clone(), |w| ctx.esc(w)),
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
