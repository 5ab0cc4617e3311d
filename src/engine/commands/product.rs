//! `/product add|list` and the product lines of a deal (`/deal product`, `products:` on
//! `/deal new`). A deal with lines is worth its lines' total.

use super::{amount, lookup, name, present, required};
use crate::domain::analytics::{self, parse_lines, LineError, LineSpec, LineValue};
use crate::domain::money::{Amount, MoneyError, MAX_MINOR};
use crate::domain::refs::DealRef;
use crate::domain::stage::StageKind;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, ProductInfo, StoreError, Tx};

/// Input of `/product add`.
#[derive(Clone, Debug)]
pub struct ProductAdd {
    name: String,
    price: Amount,
}

impl ProductAdd {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<ProductAdd> {
        Ok(ProductAdd {
            name: name(args, "name")?,
            price: present(amount(args, "price", ctx)?, "price")?,
        })
    }
}

/// Input of `/deal product`.
#[derive(Clone, Debug)]
pub struct DealProduct {
    deal: DealRef,
    product: String,
    quantity: i32,
    price: Option<Amount>,
}

impl DealProduct {
    pub(super) fn parse(args: &Args, ctx: &Ctx) -> EngineResult<DealProduct> {
        Ok(DealProduct {
            deal: present(super::deal_ref(args, "deal")?, "deal")?,
            product: required(args, "product"),
            // The manifest bounds it to 0..=100,000.
            quantity: args.int("quantity").unwrap_or(0) as i32,
            price: amount(args, "price", ctx)?,
        })
    }
}

/// Parses the `products` option of `/deal new`.
pub(super) fn lines_option(args: &Args, ctx: &Ctx) -> EngineResult<Option<Vec<LineSpec>>> {
    let Some(text) = args.str("products") else {
        return Ok(None);
    };
    parse_lines(text, ctx.currency).map(Some).map_err(|e| {
        let problem = match e {
            LineError::Empty => Msg::new("problem.line_empty"),
            LineError::Quantity(q) => Msg::new("problem.line_quantity").arg("given", ctx.esc(&q)),
            LineError::Price(_, MoneyError::TooLarge { .. }) => {
                Msg::new("problem.too_large").arg("max", ctx.money(MAX_MINOR))
            }
            LineError::Price(p, _) => Msg::new("problem.line_price").arg("given", ctx.esc(&p)),
            LineError::TooMany => {
                Msg::new("problem.line_too_many").arg("max", crate::domain::analytics::MAX_LINES)
            }
            LineError::Repeated(n) => Msg::new("problem.line_repeated").arg("given", ctx.esc(&n)),
        };
        errors::option(
            "products",
            problem,
            Msg::new("accepted.products").arg("currency", ctx.currency.code()),
        )
    })
}

/// Finds a product by name, or says which exist.
async fn product(tx: &mut Tx, ctx: &Ctx, name: &str) -> EngineResult<ProductInfo> {
    if let Some(p) = tx.product_named(ctx.ws_id(), name).await? {
        return Ok(p);
    }
    let known = tx
        .products(ctx.ws_id())
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect::<Vec<_>>();
    let hint = known
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&k.to_lowercase(), &name.to_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone());
    Err(EngineError::NotFound(
        Msg::new("error.unknown_product")
            .arg("given", ctx.esc(name))
            .arg(
                "known",
                if known.is_empty() {
                    ctx.t("products.catalogue_empty")
                } else {
                    ctx.esc(&known.join(", "))
                },
            )
            .arg(
                "hint",
                hint.map(|h| ctx.m(Msg::new("error.did_you_mean").arg("name", ctx.esc(&h))))
                    .unwrap_or_default(),
            ),
    ))
}

/// Resolves typed lines against the catalogue: (product, quantity, unit price).
pub(super) async fn resolve_lines(
    tx: &mut Tx,
    ctx: &Ctx,
    lines: &[LineSpec],
) -> EngineResult<Vec<(ProductInfo, i32, i64)>> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let p = product(tx, ctx, &l.name).await?;
        if out
            .iter()
            .any(|(q, _, _): &(ProductInfo, i32, i64)| q.id == p.id)
        {
            return Err(errors::option(
                "products",
                Msg::new("problem.line_repeated").arg("given", ctx.esc(&p.name)),
                Msg::new("accepted.products").arg("currency", ctx.currency.code()),
            ));
        }
        let price = l.price.map_or(p.list_price_minor, |a| a.minor());
        out.push((p, l.quantity, price));
    }
    Ok(out)
}

/// The lines' total, refusing lines whose value at their price or at list price, or whose
/// total, goes past the cap that every amount is held to.
pub(super) fn lines_total(
    ctx: &Ctx,
    option: &str,
    lines: &[(ProductInfo, i32, i64)],
) -> EngineResult<i64> {
    let values = lines
        .iter()
        .map(|(p, quantity, price)| LineValue {
            quantity: *quantity,
            unit_price: *price,
            list_price: p.list_price_minor,
        })
        .collect::<Vec<_>>();
    analytics::lines_total(&values).map_err(|e| {
        let names = lines
            .iter()
            .map(|(p, _, _)| p.name.as_str())
            .collect::<Vec<_>>();
        errors::lines_too_large(
            option,
            e,
            &names,
            &ctx.money(MAX_MINOR),
            ctx.currency.code(),
        )
    })
}

/// Writes a new deal's lines, audited with its creation.
pub(super) async fn insert_lines(
    tx: &mut Tx,
    ctx: &mut Ctx,
    deal: i64,
    lines: &[(ProductInfo, i32, i64)],
) -> EngineResult<()> {
    for (p, quantity, price) in lines {
        let id = tx
            .upsert_deal_line(
                ctx.ws_id(),
                deal,
                p.id,
                *quantity,
                *price,
                p.list_price_minor,
            )
            .await?;
        ctx.audit(tx, AuditAction::DealNew, Entity::DealProduct, id, None)
            .await?;
    }
    Ok(())
}

pub(super) async fn add(tx: &mut Tx, ctx: &mut Ctx, p: ProductAdd) -> EngineResult<Reply> {
    ctx.require_manager()?;
    let id = match tx
        .insert_product(ctx.ws_id(), &p.name, p.price.minor())
        .await
    {
        Ok(id) => id,
        Err(StoreError::Duplicate(_)) => {
            return Err(EngineError::Conflict(
                Msg::new("error.product_exists").arg("name", ctx.esc(&p.name)),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    ctx.audit(tx, AuditAction::ProductAdd, Entity::Product, id, None)
        .await?;
    Ok(Reply::text(
        ctx.m(Msg::new("products.added")
            .arg("name", ctx.esc(&p.name))
            .arg("price", ctx.money(p.price.minor()))),
    )
    .with_record("product", id))
}

pub(super) async fn list(tx: &mut Tx, ctx: &mut Ctx) -> EngineResult<Reply> {
    let products = tx.products(ctx.ws_id()).await?;
    if products.is_empty() {
        return Ok(Reply::private(ctx.t("products.none")));
    }
    let lines = products
        .iter()
        .map(|p| format!("• {} — {}", ctx.esc(&p.name), ctx.money(p.list_price_minor)))
        .collect::<Vec<_>>()
        .join("\n");
    let mut reply = Reply::default().with_embed(
        Embed::new(ctx.m(Msg::new("products.list_title").arg("count", products.len())))
            .description(lines),
    );
    reply.ephemeral = true;
    Ok(reply)
}

/// `/deal product`: sets (or with quantity 0 removes) one line; the deal's amount follows.
pub(super) async fn set_line(
    tx: &mut Tx,
    ctx: &mut Ctx,
    input: DealProduct,
) -> EngineResult<Reply> {
    let d = lookup::deal(tx, ctx, &input.deal).await?;
    ctx.require_owner(d.owner_id, lookup::deal_label(&d))?;
    if d.status != StageKind::Open {
        return Err(EngineError::Conflict(
            Msg::new("error.deal_closed").arg("deal", lookup::deal_label(&d)),
        ));
    }
    let p = product(tx, ctx, &input.product).await?;
    let existing = tx.deal_line_id(ctx.ws_id(), d.id, p.id).await?;
    let deal_before = ctx.before(tx, Entity::Deal, d.id).await?;
    // A quantity of 0 removes the line; either way the line's old state is kept for /undo.
    let before = match existing {
        Some(line) => ctx.before(tx, Entity::DealProduct, line).await?,
        None => None,
    };
    let (line, headline) = if input.quantity == 0 {
        let Some(line) = existing else {
            return Err(EngineError::NotFound(
                Msg::new("error.no_such_line")
                    .arg("deal", lookup::deal_label(&d))
                    .arg("product", ctx.esc(&p.name)),
            ));
        };
        tx.delete_deal_line(ctx.ws_id(), line).await?;
        (
            line,
            Msg::new("deal.line_removed").arg("product", ctx.esc(&p.name)),
        )
    } else {
        let price = input.price.map_or(p.list_price_minor, |a| a.minor());
        // The deal's lines as they would be, checked against the cap before anything is written.
        let mut lines = tx
            .deal_lines(ctx.ws_id(), d.id)
            .await?
            .into_iter()
            .filter(|l| l.product_id != p.id)
            .map(|l| {
                let info = ProductInfo {
                    id: l.product_id,
                    name: l.name,
                    list_price_minor: l.list_price_minor,
                };
                (info, l.quantity, l.unit_price_minor)
            })
            .collect::<Vec<_>>();
        lines.insert(0, (p.clone(), input.quantity, price));
        let option = if input.price.is_some() {
            "price"
        } else {
            "quantity"
        };
        lines_total(ctx, option, &lines)?;
        let line = tx
            .upsert_deal_line(
                ctx.ws_id(),
                d.id,
                p.id,
                input.quantity,
                price,
                p.list_price_minor,
            )
            .await?;
        let headline = Msg::new("deal.line_set")
            .arg("product", ctx.esc(&p.name))
            .arg("quantity", input.quantity)
            .arg("price", ctx.money(price));
        (line, headline)
    };
    ctx.audit(
        tx,
        AuditAction::DealProduct,
        Entity::DealProduct,
        line,
        before,
    )
    .await?;
    let total = tx.amount_from_lines(ctx.ws_id(), d.id, ctx.now).await?;
    ctx.audit(
        tx,
        AuditAction::DealProduct,
        Entity::Deal,
        d.id,
        deal_before,
    )
    .await?;
    Ok(Reply::text(format!(
        "{}\n{}",
        ctx.m(headline.arg("deal", lookup::deal_label(&d))),
        ctx.m(Msg::new("deal.amount_now").arg("amount", ctx.money(total)))
    )))
}
