//! Bulk loading for the demo workspace and the benchmarks: arrays in, one statement per table
//! (UNNEST), so thousands of rows cost a few round trips instead of thousands.

use super::{StoreResult, Tx};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A member to create.
#[derive(Clone, Debug)]
pub struct SeedMember {
    /// Discord user id.
    pub user_id: i64,
    /// Display name.
    pub name: String,
    /// rep, manager or admin.
    pub role: &'static str,
    /// Monthly quota, minor units.
    pub quota_minor: Option<i64>,
}

/// A company to create.
#[derive(Clone, Debug)]
pub struct SeedCompany {
    /// Unique name.
    pub name: String,
    /// Owner's user id.
    pub owner_id: i64,
    /// Industry.
    pub industry: String,
    /// Tier.
    pub tier: &'static str,
}

/// A contact to create.
#[derive(Clone, Debug)]
pub struct SeedContact {
    /// Name.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Company name.
    pub company: String,
    /// Owner.
    pub owner_id: i64,
    /// Job title.
    pub title: String,
    /// Birthday month and day.
    pub birthday: Option<(i16, i16)>,
}

/// A deal with its whole history.
#[derive(Clone, Debug)]
pub struct SeedDeal {
    /// Per-workspace number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Company name.
    pub company: String,
    /// Contact email.
    pub contact_email: String,
    /// Owner.
    pub owner_id: i64,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Stage names entered, with times, in order; the first is where it opened.
    pub moves: Vec<(String, DateTime<Utc>)>,
    /// Why it was lost, if it was.
    pub lost_reason: Option<String>,
    /// Interactions: (kind, summary, satisfaction, when).
    pub activities: Vec<(&'static str, String, Option<i16>, DateTime<Utc>)>,
}

impl Tx {
    /// Whether the workspace already holds deals (the demo seeds only once).
    pub async fn has_deals(&mut self, ws: i64) -> StoreResult<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM deals WHERE workspace_id = $1)")
                .bind(ws)
                .fetch_one(self.conn())
                .await?,
        )
    }

    /// Loads members, companies, contacts and deals with their histories in a few statements.
    pub async fn seed(
        &mut self,
        ws: i64,
        currency: &str,
        members: &[SeedMember],
        companies: &[SeedCompany],
        contacts: &[SeedContact],
        deals: &[SeedDeal],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO members (workspace_id, user_id, display_name, role, quota_minor)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[])
             ON CONFLICT (workspace_id, user_id) DO UPDATE SET display_name = excluded.display_name,
                 role = excluded.role, quota_minor = excluded.quota_minor",
        )
        .bind(ws)
        .bind(members.iter().map(|m| m.user_id).collect::<Vec<_>>())
        .bind(members.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
        .bind(
            members
                .iter()
                .map(|m| m.role.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(members.iter().map(|m| m.quota_minor).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO companies (workspace_id, name, owner_id, industry, tier)
             SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[])",
        )
        .bind(ws)
        .bind(companies.iter().map(|c| c.name.clone()).collect::<Vec<_>>())
        .bind(companies.iter().map(|c| c.owner_id).collect::<Vec<_>>())
        .bind(
            companies
                .iter()
                .map(|c| c.industry.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            companies
                .iter()
                .map(|c| c.tier.to_string())
                .collect::<Vec<_>>(),
        )
        .execute(self.conn())
        .await?;
        let company_ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT name, id FROM companies WHERE workspace_id = $1",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?
        .into_iter()
        .collect();
        sqlx::query(
            "INSERT INTO contacts (workspace_id, name, email, company_id, owner_id, title, birthday_month, birthday_day)
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::smallint[], $8::smallint[])",
        )
        .bind(ws)
        .bind(contacts.iter().map(|c| c.name.clone()).collect::<Vec<_>>())
        .bind(contacts.iter().map(|c| c.email.clone()).collect::<Vec<_>>())
        .bind(contacts.iter().map(|c| company_ids.get(&c.company).copied()).collect::<Vec<_>>())
        .bind(contacts.iter().map(|c| c.owner_id).collect::<Vec<_>>())
        .bind(contacts.iter().map(|c| c.title.clone()).collect::<Vec<_>>())
        .bind(contacts.iter().map(|c| c.birthday.map(|b| b.0)).collect::<Vec<_>>())
        .bind(contacts.iter().map(|c| c.birthday.map(|b| b.1)).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        let contact_ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT email, id FROM contacts WHERE workspace_id = $1 AND email IS NOT NULL",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?
        .into_iter()
        .collect();
        let stages = self.stages(ws).await?;
        let stage = |name: &str| stages.iter().find(|s| s.name == name);
        // Per deal: final stage, status, furthest open/won position, close time.
        let mut cols = DealColumns::default();
        for d in deals {
            let Some((last_name, last_at)) = d.moves.last() else {
                continue;
            };
            let Some(last) = stage(last_name) else {
                continue;
            };
            let furthest = d
                .moves
                .iter()
                .filter_map(|(n, _)| stage(n))
                .filter(|s| s.kind != "lost")
                .map(|s| s.position)
                .max()
                .unwrap_or(last.position);
            let last_activity = d
                .activities
                .iter()
                .map(|a| a.3)
                .chain(std::iter::once(*last_at))
                .max()
                .unwrap_or(d.created_at);
            cols.number.push(d.number);
            cols.title.push(d.title.clone());
            cols.company.push(company_ids.get(&d.company).copied());
            cols.contact
                .push(contact_ids.get(&d.contact_email).copied());
            cols.owner.push(d.owner_id);
            cols.amount.push(d.amount_minor);
            cols.stage.push(last.id);
            cols.status.push(last.kind.clone());
            cols.closed_at
                .push((last.kind != "open").then_some(*last_at));
            cols.lost_reason.push(d.lost_reason.clone());
            cols.furthest.push(furthest);
            cols.created_at.push(d.created_at);
            cols.last_activity.push(last_activity);
        }
        sqlx::query(
            "INSERT INTO deals (workspace_id, currency, number, title, company_id, contact_id, owner_id, amount_minor,
                                stage_id, status, closed_at, lost_reason, furthest_position, created_at, updated_at,
                                last_activity_at)
             SELECT $1, $2, n, t, co, ct, o, a, s, st, ca, lr, f, cr, la, la
             FROM UNNEST($3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                         $10::text[], $11::timestamptz[], $12::text[], $13::int[], $14::timestamptz[], $15::timestamptz[])
                  AS u(n, t, co, ct, o, a, s, st, ca, lr, f, cr, la)",
        )
        .bind(ws)
        .bind(currency)
        .bind(&cols.number)
        .bind(&cols.title)
        .bind(&cols.company)
        .bind(&cols.contact)
        .bind(&cols.owner)
        .bind(&cols.amount)
        .bind(&cols.stage)
        .bind(&cols.status)
        .bind(&cols.closed_at)
        .bind(&cols.lost_reason)
        .bind(&cols.furthest)
        .bind(&cols.created_at)
        .bind(&cols.last_activity)
        .execute(self.conn())
        .await?;
        let max_number = deals.iter().map(|d| d.number).max().unwrap_or(0);
        sqlx::query("UPDATE deal_counters SET next_number = GREATEST(next_number, $2 + 1) WHERE workspace_id = $1")
            .bind(ws)
            .bind(max_number)
            .execute(self.conn())
            .await?;
        let deal_ids: HashMap<i64, i64> =
            sqlx::query_as::<_, (i64, i64)>("SELECT number, id FROM deals WHERE workspace_id = $1")
                .bind(ws)
                .fetch_all(self.conn())
                .await?
                .into_iter()
                .collect();
        let (mut sc_deal, mut sc_from, mut sc_to, mut sc_by, mut sc_at) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (
            mut a_contact,
            mut a_deal,
            mut a_member,
            mut a_kind,
            mut a_summary,
            mut a_sat,
            mut a_at,
        ) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for d in deals {
            let Some(&deal_id) = deal_ids.get(&d.number) else {
                continue;
            };
            let mut previous: Option<i64> = None;
            for (name, at) in &d.moves {
                let Some(s) = stage(name) else { continue };
                sc_deal.push(deal_id);
                sc_from.push(previous);
                sc_to.push(s.id);
                sc_by.push(d.owner_id);
                sc_at.push(*at);
                previous = Some(s.id);
            }
            let Some(&contact_id) = contact_ids.get(&d.contact_email) else {
                continue;
            };
            for (kind, summary, sat, at) in &d.activities {
                a_contact.push(contact_id);
                a_deal.push(deal_id);
                a_member.push(d.owner_id);
                a_kind.push(kind.to_string());
                a_summary.push(summary.clone());
                a_sat.push(*sat);
                a_at.push(*at);
            }
        }
        sqlx::query(
            "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])",
        )
        .bind(ws)
        .bind(&sc_deal)
        .bind(&sc_from)
        .bind(&sc_to)
        .bind(&sc_by)
        .bind(&sc_at)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO activities (workspace_id, contact_id, deal_id, member_id, kind, summary, satisfaction, happened_at)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::smallint[],
                                      $8::timestamptz[])",
        )
        .bind(ws)
        .bind(&a_contact)
        .bind(&a_deal)
        .bind(&a_member)
        .bind(&a_kind)
        .bind(&a_summary)
        .bind(&a_sat)
        .bind(&a_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct DealColumns {
    number: Vec<i64>,
    title: Vec<String>,
    company: Vec<Option<i64>>,
    contact: Vec<Option<i64>>,
    owner: Vec<i64>,
    amount: Vec<i64>,
    stage: Vec<i64>,
    status: Vec<String>,
    closed_at: Vec<Option<DateTime<Utc>>>,
    lost_reason: Vec<Option<String>>,
    furthest: Vec<i32>,
    created_at: Vec<DateTime<Utc>>,
    last_activity: Vec<DateTime<Utc>>,
}

impl Tx {
    /// The demo's catalogue (the sample data's products and list prices, in whole currency
    /// units), one product line per deal taken from its title (`Company - Product`), expected
    /// close dates on open deals (a tenth without, a tenth overdue) and tags on companies, so
    /// every report has something to show.
    pub async fn seed_demo_extras(
        &mut self,
        ws: i64,
        products: &[(&str, i64)],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO products (workspace_id, name, list_price_minor)
             SELECT $1, n, p * 100 FROM UNNEST($2::text[], $3::bigint[]) AS u(n, p)
             ON CONFLICT DO NOTHING",
        )
        .bind(ws)
        .bind(
            products
                .iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(products.iter().map(|(_, p)| *p).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        // Quantity: the deal's amount in list prices; the unit price never above list.
        sqlx::query(
            "INSERT INTO deal_products (workspace_id, deal_id, product_id, quantity, unit_price_minor, list_price_minor)
             SELECT d.workspace_id, d.id, p.id, q.quantity, LEAST(p.list_price_minor, d.amount_minor / q.quantity),
                    p.list_price_minor
             FROM deals d
             JOIN products p ON p.workspace_id = d.workspace_id AND p.name = split_part(d.title, ' - ', 2)
             CROSS JOIN LATERAL (SELECT GREATEST(1, round(d.amount_minor::numeric / NULLIF(p.list_price_minor, 0)))::int
                                 AS quantity) q
             WHERE d.workspace_id = $1",
        )
        .bind(ws)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "UPDATE deals d SET amount_minor = l.quantity::bigint * l.unit_price_minor
             FROM deal_products l
             WHERE d.workspace_id = $1 AND l.workspace_id = d.workspace_id AND l.deal_id = d.id",
        )
        .bind(ws)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "UPDATE deals SET expected_close = CASE WHEN number % 10 = 1 THEN ($2 - interval '5 days')::date
                                                    ELSE ($2 + (number % 75) * interval '1 day')::date END
             WHERE workspace_id = $1 AND status = 'open' AND number % 10 <> 0",
        )
        .bind(ws)
        .bind(now)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "UPDATE companies SET tags = CASE WHEN tier = 'enterprise' THEN ARRAY['high-value']
                                              WHEN id % 3 = 0 THEN ARRAY['potential'] ELSE '{}' END
             WHERE workspace_id = $1",
        )
        .bind(ws)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
