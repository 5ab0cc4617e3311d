//! The reads behind `salesbot export`: one page of a workspace's records at a time, keyed by
//! `(workspace_id, id) > last`, so an export of any size holds one page in memory and never
//! skips or repeats a row the way OFFSET pages do while the table changes.

use super::{StoreResult, Tx};
use chrono::{DateTime, NaiveDate, Utc};

/// One deal as the export writes it: names resolved, amount still in minor units.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportDealRow {
    /// Row id, the page key.
    pub id: i64,
    /// The per-workspace deal number (`D-42`).
    pub number: i64,
    pub title: String,
    /// The stage's name.
    pub stage: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub company: Option<String>,
    pub contact: Option<String>,
    pub contact_email: Option<String>,
    pub owner_id: i64,
    pub expected_close: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
}

/// One contact as the export writes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportContactRow {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub owner_id: i64,
    pub birthday_year: Option<i32>,
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    pub contract_end: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// One company as the export writes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportCompanyRow {
    pub id: i64,
    pub name: String,
    pub industry: Option<String>,
    pub tier: Option<String>,
    pub website: Option<String>,
    pub owner_id: i64,
    pub contract_end: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// One logged activity as the export writes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportActivityRow {
    pub id: i64,
    pub happened_at: DateTime<Utc>,
    pub kind: String,
    pub contact: Option<String>,
    pub contact_email: Option<String>,
    /// The contact's company: with the name, it tells two people of one name apart.
    pub contact_company: Option<String>,
    pub deal_number: Option<i64>,
    pub member_id: i64,
    pub summary: String,
    pub satisfaction: Option<i16>,
}

impl Tx {
    /// One page: every export query reads `$1` workspace, `$2` the last id of the page
    /// before, `$3` the owner it is limited to (NULL for all), `$4` the page size.
    async fn page<T>(
        &mut self,
        sql: &'static str,
        ws: i64,
        owner: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        Ok(sqlx::query_as(sql)
            .bind(ws)
            .bind(after)
            .bind(owner)
            .bind(limit)
            .fetch_all(self.conn())
            .await?)
    }

    /// Up to `limit` deals of workspace `ws` with id above `after`, in id order; `owner` keeps
    /// only that member's (a rep's own view). A rep's deal may name another rep's contact (a
    /// manager linked it, or the deal was reassigned): the deal card hides that contact, and so
    /// does the rep's file.
    pub async fn export_deals_page(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<ExportDealRow>> {
        let sql =
            "SELECT d.id, d.number, d.title, s.name AS stage, d.status, d.amount_minor, d.currency,
                    co.name AS company,
                    CASE WHEN $3::bigint IS NULL OR ct.owner_id = $3 THEN ct.name END AS contact,
                    CASE WHEN $3::bigint IS NULL OR ct.owner_id = $3 THEN ct.email END AS contact_email,
                    d.owner_id,
                    d.expected_close, d.created_at, d.closed_at, d.lost_reason
               FROM deals d
               JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
               LEFT JOIN companies co ON co.workspace_id = d.workspace_id AND co.id = d.company_id
               LEFT JOIN contacts ct ON ct.workspace_id = d.workspace_id AND ct.id = d.contact_id
              WHERE d.workspace_id = $1 AND d.id > $2 AND ($3::bigint IS NULL OR d.owner_id = $3)
              ORDER BY d.id
              LIMIT $4";
        self.page(sql, ws, owner, after, limit).await
    }

    /// Up to `limit` contacts of `ws` with id above `after`, in id order.
    pub async fn export_contacts_page(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<ExportContactRow>> {
        let sql = "SELECT c.id, c.name, c.email, c.phone, c.title, co.name AS company, c.owner_id,
                    c.birthday_year, c.birthday_month, c.birthday_day, c.contract_end, c.tags,
                    c.created_at
               FROM contacts c
               LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
              WHERE c.workspace_id = $1 AND c.id > $2 AND ($3::bigint IS NULL OR c.owner_id = $3)
              ORDER BY c.id
              LIMIT $4";
        self.page(sql, ws, owner, after, limit).await
    }

    /// Up to `limit` companies of `ws` with id above `after`, in id order; with an `owner`, the
    /// ones that member may see under `visibility own` (theirs, the team's, and those they hold
    /// a contact or deal at).
    pub async fn export_companies_page(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<ExportCompanyRow>> {
        // A rep's export holds the companies their lookups find: the same rule, spliced in.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT id, name, industry, tier, website, owner_id, contract_end, tags, created_at
                   FROM companies co
                  WHERE workspace_id = $1 AND id > $2 AND {}
                  ORDER BY id
                  LIMIT $4",
                super::crm::COMPANY_VISIBLE
            )
        });
        self.page(SQL.as_str(), ws, owner, after, limit).await
    }

    /// Up to `limit` activities of `ws` with id above `after`, in id order; `owner` keeps the
    /// ones that member logged. The contact or deal of one may since have gone to another rep
    /// (reassigned, or an import logged it so): as in the deals' file, the rep's file then
    /// leaves them out.
    pub async fn export_activities_page(
        &mut self,
        ws: i64,
        owner: Option<i64>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<ExportActivityRow>> {
        // The contact's company only where the rep's lookups would show it.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT a.id, a.happened_at, a.kind,
                        CASE WHEN $3::bigint IS NULL OR ct.owner_id = $3 THEN ct.name END AS contact,
                        CASE WHEN $3::bigint IS NULL OR ct.owner_id = $3 THEN ct.email END AS contact_email,
                        CASE WHEN {} THEN co.name END AS contact_company,
                        CASE WHEN $3::bigint IS NULL OR d.owner_id = $3 THEN d.number END AS deal_number,
                        a.member_id, a.summary, a.satisfaction
                   FROM activities a
                   JOIN contacts ct ON ct.workspace_id = a.workspace_id AND ct.id = a.contact_id
                   LEFT JOIN companies co ON co.workspace_id = ct.workspace_id AND co.id = ct.company_id
                   LEFT JOIN deals d ON d.workspace_id = a.workspace_id AND d.id = a.deal_id
                  WHERE a.workspace_id = $1 AND a.id > $2 AND ($3::bigint IS NULL OR a.member_id = $3)
                  ORDER BY a.id
                  LIMIT $4",
                super::crm::COMPANY_VISIBLE
            )
        });
        self.page(SQL.as_str(), ws, owner, after, limit).await
    }
}
