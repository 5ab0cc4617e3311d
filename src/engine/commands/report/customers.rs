//! `/report customers`: the top customers of the period and the RFM segments, with what the
//! customers of each segment have in common.

use crate::domain::analytics::{segment_figures, CustomerProfile, Rfm, SegmentFigures};
use crate::engine::commands::pipeline::{who, Scope};
use crate::engine::ctx::Ctx;
use crate::engine::reply::Embed;
use crate::engine::{EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::Tx;
use serde::Serialize;
use serde_json::json;

/// How many customers the top list shows.
const TOP_CUSTOMERS: usize = 10;

/// A value customers of a segment share, and how many share it.
#[derive(Clone, Debug, Serialize)]
struct Trait {
    value: String,
    count: i64,
}

/// One segment of `/report customers`, as the reply's data carries it.
#[derive(Clone, Debug, Serialize)]
struct SegmentLine {
    /// The segment's key (`champions`, ...).
    segment: &'static str,
    /// Customers in it.
    customers: usize,
    /// Their revenue up to the report's end.
    revenue_minor: i64,
    /// Most common industries, tiers and tags.
    industries: Vec<Trait>,
    tiers: Vec<Trait>,
    tags: Vec<Trait>,
}

impl From<SegmentFigures> for SegmentLine {
    fn from(s: SegmentFigures) -> SegmentLine {
        let traits = |values: Vec<(String, i64)>| -> Vec<Trait> {
            values
                .into_iter()
                .map(|(value, count)| Trait { value, count })
                .collect()
        };
        SegmentLine {
            segment: s.segment.key(),
            customers: s.customers,
            revenue_minor: s.revenue,
            industries: traits(s.industries),
            tiers: traits(s.tiers),
            tags: traits(s.tags),
        }
    }
}

/// `/report customers`: top customers and RFM segments with what they have in common.
pub(crate) async fn customers(tx: &mut Tx, ctx: &mut Ctx, scope: Scope) -> EngineResult<Reply> {
    let owner = scope.owner(ctx)?;
    let (from, to) = scope.range(ctx);
    // Segments look back from the period's end, or from now for a period still running.
    let as_of = to.min(ctx.now);
    let rows = tx.customer_rows(ctx.ws_id(), owner, from, as_of).await?;
    let mut top: Vec<_> = rows.iter().filter(|c| c.period_won_deals > 0).collect();
    top.sort_by(|a, b| {
        b.period_revenue
            .cmp(&a.period_revenue)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    top.truncate(TOP_CUSTOMERS);
    let profiles: Vec<CustomerProfile<'_>> = rows
        .iter()
        .map(|c| CustomerProfile {
            rfm: Rfm::as_of(as_of, c.first_won, c.last_won, c.won_deals, c.revenue),
            industry: c.industry.as_deref(),
            tier: c.tier.as_deref(),
            tags: &c.tags,
        })
        .collect();
    let segments: Vec<SegmentLine> = segment_figures(&profiles)?
        .into_iter()
        .map(SegmentLine::from)
        .collect();
    let who = who(tx, ctx, owner).await?;
    let period_name = scope.label(ctx);
    let title = ctx.m(Msg::new("customers.title")
        .arg("who", ctx.esc(&who))
        .arg("period", &period_name));
    let top_text = top
        .iter()
        .enumerate()
        .map(|(i, c)| {
            ctx.m(Msg::new("customers.top_line")
                .arg("rank", i + 1)
                .arg("name", ctx.esc(&c.name))
                .arg("revenue", ctx.money(c.period_revenue))
                .arg("deals", c.period_won_deals))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut embed = Embed::new(title).description(if top_text.is_empty() {
        ctx.t("customers.no_top")
    } else {
        top_text
    });
    for s in &segments {
        // Tiers are stored as their choice values (`smb`); a reader sees the catalog's words.
        let list = |traits: &[Trait], catalog: Option<&str>| {
            if traits.is_empty() {
                return "—".to_string();
            }
            traits
                .iter()
                .map(|t| {
                    let shown = match catalog {
                        Some(prefix) => ctx.t(&format!("{prefix}.{}", t.value)),
                        None => ctx.esc(&t.value),
                    };
                    format!("{shown} ({})", t.count)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        embed = embed.field(
            ctx.m(Msg::new("customers.segment_title")
                .arg("segment", ctx.t(&format!("segment.{}", s.segment)))
                .arg("count", s.customers)
                .arg("revenue", ctx.money(s.revenue_minor))),
            ctx.m(Msg::new("customers.traits")
                .arg("industries", list(&s.industries, None))
                .arg("tiers", list(&s.tiers, Some("tier")))
                .arg("tags", list(&s.tags, None))),
        );
    }
    let mut reply = Reply::default().with_embed(embed.footer(ctx.t("customers.footer")));
    if rows.is_empty() {
        reply.content = ctx.t("report.empty");
    }
    reply.data = Some(json!({
        "report": "customers",
        "period": scope.json(ctx),
        "currency": ctx.currency.code(),
        "owner": owner,
        "as_of": as_of.to_rfc3339(),
        "top": top.iter().map(|c| json!({
            "company_id": c.company_id,
            "name": c.name,
            "revenue_minor": c.period_revenue,
            "won_deals": c.period_won_deals,
        })).collect::<Vec<_>>(),
        "segments": segments,
    }));
    Ok(reply)
}
