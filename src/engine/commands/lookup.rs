//! Turning a reference someone typed into one row of this workspace, or a clear answer why not.
//! Every lookup is scoped to the workspace and to what the caller may see, so an id from
//! another workspace is simply "not found".

use crate::domain::refs::{CompanyRef, ContactRef, DealRef};
use crate::engine::ctx::Ctx;
use crate::engine::format::escape;
use crate::engine::{EngineError, EngineResult};
use crate::i18n::Msg;
use crate::store::{CompanyRow, ContactRow, DealRow, Tx};

/// How a deal is named in replies, its title escaped for chat markup.
pub fn deal_label(d: &DealRow) -> String {
    format!("D-{} {}", d.number, escape(&d.title))
}

fn pick<T>(
    mut rows: Vec<T>,
    exact: impl Fn(&T) -> bool,
    label: impl Fn(&T) -> String,
    given: &str,
    not_found: &'static str,
    ambiguous: &'static str,
) -> EngineResult<T> {
    if rows.is_empty() {
        return Err(EngineError::NotFound(
            Msg::new(not_found).arg("given", escape(given)),
        ));
    }
    let exact_count = rows.iter().filter(|r| exact(r)).count();
    if rows.len() == 1 || exact_count == 1 {
        // Exact matches sort first.
        return Ok(rows.swap_remove(0));
    }
    let candidates = rows
        .iter()
        .take(5)
        .map(label)
        .collect::<Vec<_>>()
        .join("; ");
    Err(EngineError::Invalid(
        Msg::new(ambiguous)
            .arg("given", escape(given))
            .arg("candidates", candidates),
    ))
}

/// Finds a visible deal.
pub async fn deal(tx: &mut Tx, ctx: &Ctx, r: &DealRef) -> EngineResult<DealRow> {
    // Read with the prelude, whoever owns it: the caller's visibility is applied here, as
    // the statement below applies it.
    if let DealRef::Number(n) = r {
        if let Some(d) = ctx.take_named_deal(*n) {
            return match ctx.owner_filter() {
                Some(owner) if d.owner_id != owner => Err(EngineError::NotFound(
                    Msg::new("error.deal_not_found").arg("given", format!("D-{n}")),
                )),
                _ => Ok(d),
            };
        }
    }
    match r {
        DealRef::Number(n) => tx
            .deal_by_number(ctx.ws_id(), *n, ctx.owner_filter())
            .await?
            .ok_or_else(|| {
                EngineError::NotFound(
                    Msg::new("error.deal_not_found").arg("given", format!("D-{n}")),
                )
            }),
        DealRef::Title(t) => {
            let rows = tx
                .deals_by_title(ctx.ws_id(), t, ctx.owner_filter())
                .await?;
            let lower = t.to_lowercase();
            pick(
                rows,
                |d| d.title.to_lowercase() == lower,
                deal_label,
                t,
                "error.deal_not_found",
                "error.deal_ambiguous",
            )
        }
    }
}

/// Finds a visible contact.
pub async fn contact(tx: &mut Tx, ctx: &Ctx, r: &ContactRef) -> EngineResult<ContactRow> {
    let not_found = |given: String| {
        EngineError::NotFound(Msg::new("error.contact_not_found").arg("given", escape(&given)))
    };
    // Read with the prelude, as `deal` above.
    if let ContactRef::Id(id) = r {
        if let Some(c) = ctx.take_named_contact(*id) {
            return match ctx.owner_filter() {
                Some(owner) if c.owner_id != owner => Err(not_found(format!("C-{id}"))),
                _ => Ok(c),
            };
        }
    }
    match r {
        ContactRef::Id(id) => tx
            .contact(ctx.ws_id(), *id, ctx.owner_filter())
            .await?
            .ok_or_else(|| not_found(format!("C-{id}"))),
        ContactRef::Email(e) => {
            // One per owner: several only for a reader who sees more than one rep's book.
            let rows = tx
                .contacts_by_email(ctx.ws_id(), e, ctx.owner_filter())
                .await?;
            pick(
                rows,
                |_| false,
                |c| format!("C-{} {}", c.id, escape(&c.name)),
                e,
                "error.contact_not_found",
                "error.contact_ambiguous",
            )
        }
        ContactRef::Name(n) => {
            let rows = tx
                .contacts_by_name(ctx.ws_id(), n, ctx.owner_filter())
                .await?;
            let lower = n.to_lowercase();
            pick(
                rows,
                |c| c.name.to_lowercase() == lower,
                |c| format!("C-{} {}", c.id, escape(&c.name)),
                n,
                "error.contact_not_found",
                "error.contact_ambiguous",
            )
        }
    }
}

/// Finds a visible company: under `visibility own` a rep's own accounts and those where they
/// hold a contact or a deal.
pub async fn company(tx: &mut Tx, ctx: &Ctx, r: &CompanyRef) -> EngineResult<CompanyRow> {
    match r {
        CompanyRef::Id(id) => tx
            .company(ctx.ws_id(), *id, ctx.owner_filter())
            .await?
            .ok_or_else(|| {
                EngineError::NotFound(
                    Msg::new("error.company_not_found").arg("given", format!("CO-{id}")),
                )
            }),
        CompanyRef::Name(n) => {
            let rows = tx
                .companies_by_name(ctx.ws_id(), n, ctx.owner_filter())
                .await?;
            let lower = n.to_lowercase();
            pick(
                rows,
                |c| c.name.to_lowercase() == lower,
                |c| format!("CO-{} {}", c.id, escape(&c.name)),
                n,
                "error.company_not_found",
                "error.company_ambiguous",
            )
        }
    }
}

/// The visible company of exactly this name (any case), for the commands that create the
/// company when there is none: a prefix would attach the record to "Acme Corporation" when
/// "Acme" is meant to be a new one (the reply then offers the close name).
pub async fn company_named(tx: &mut Tx, ctx: &Ctx, name: &str) -> EngineResult<CompanyRow> {
    let lower = name.to_lowercase();
    let rows: Vec<CompanyRow> = tx
        .companies_by_name(ctx.ws_id(), name, ctx.owner_filter())
        .await?
        .into_iter()
        .filter(|c| c.name.to_lowercase() == lower)
        .collect();
    pick(
        rows,
        |_| true,
        |c| format!("CO-{} {}", c.id, escape(&c.name)),
        name,
        "error.company_not_found",
        "error.company_ambiguous",
    )
}

/// The owner of a new record: the caller, or another member when a manager says so.
pub(crate) async fn owner_for(
    tx: &mut Tx,
    ctx: &mut Ctx,
    action: crate::store::AuditAction,
    owner: Option<i64>,
    option: &str,
) -> EngineResult<i64> {
    match owner {
        Some(o) if o != ctx.actor => {
            ctx.require_manager()?;
            ctx.member_named(tx, action, o, option).await?;
            Ok(o)
        }
        _ => Ok(ctx.actor),
    }
}

/// How alike two names must be (normalized Damerau-Levenshtein, case folded) to be offered
/// as "did you mean"; the stage matcher uses the same measure.
const SIMILAR: f64 = 0.7;

/// The name among `names` closest to `given`, if one is close enough to be a likely typo.
pub(crate) fn closest<'a>(given: &str, names: &'a [String]) -> Option<&'a str> {
    let wanted = given.to_lowercase();
    names
        .iter()
        .map(|n| {
            (
                strsim::normalized_damerau_levenshtein(&wanted, &n.to_lowercase()),
                n,
            )
        })
        .filter(|(score, _)| *score >= SIMILAR)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.as_str())
}
