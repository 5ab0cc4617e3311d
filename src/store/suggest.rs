//! Suggestions while someone types (Discord's autocomplete): prefix matches first, then
//! matches anywhere in the name, always within the workspace and the caller's visibility.

use super::crm::{like_prefix, COMPANY_VISIBLE};
use super::{StoreResult, Tx};

/// One suggestion: what is shown, and the reference typed when it is picked.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Suggestion {
    /// Shown in the list.
    pub label: String,
    /// Put into the option when picked.
    pub value: String,
}

fn anywhere(q: &str) -> String {
    format!("%{}", like_prefix(q))
}

impl Tx {
    /// Every suggestion query takes the same parameters: `$1` workspace, `$2` the typed text as
    /// a prefix pattern, `$3` as an anywhere pattern, `$4` the member it is limited to (owner
    /// or assignee; NULL for all), `$5` the limit, `$6` a reference number's prefix if typed.
    async fn suggest(
        &mut self,
        sql: &str,
        ws: i64,
        q: &str,
        member: Option<i64>,
        limit: i64,
        number: Option<String>,
    ) -> StoreResult<Vec<Suggestion>> {
        Ok(sqlx::query_as(sql)
            .bind(ws)
            .bind(like_prefix(q))
            .bind(anywhere(q))
            .bind(member)
            .bind(limit)
            .bind(number)
            .fetch_all(self.conn())
            .await?)
    }

    /// Deals by number prefix, title prefix, then title anywhere; open deals first.
    pub async fn suggest_deals(
        &mut self,
        ws: i64,
        q: &str,
        owner: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        let sql = "SELECT 'D-' || d.number || ' ' || d.title || ' · ' || s.name AS label, 'D-' || d.number AS value
             FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
             WHERE d.workspace_id = $1 AND ($4::bigint IS NULL OR d.owner_id = $4)
               AND d.id IN (SELECT x.id FROM deals x WHERE x.workspace_id = $1 AND lower(x.title) LIKE $3
                            UNION ALL
                            SELECT x.id FROM deals x WHERE $6::text IS NOT NULL AND x.workspace_id = $1
                               AND x.number::text LIKE $6 || '%')
             ORDER BY (d.status = 'open') DESC, (lower(d.title) LIKE $2) DESC, d.number DESC
             LIMIT $5";
        let number = number_prefix(q, &['D', 'd', '-', '#']);
        self.suggest(sql, ws, q, owner, limit, number).await
    }

    /// Contacts by name or email, prefix matches first.
    pub async fn suggest_contacts(
        &mut self,
        ws: i64,
        q: &str,
        owner: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        let sql = "SELECT 'C-' || c.id || ' ' || c.name || COALESCE(' · ' || co.name, '') AS label, 'C-' || c.id AS value
             FROM contacts c LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
             WHERE c.workspace_id = $1 AND ($4::bigint IS NULL OR c.owner_id = $4)
               AND (lower(c.name) LIKE $3 OR lower(c.email) LIKE $3)
             ORDER BY (lower(c.name) LIKE $2) DESC, c.name
             LIMIT $5";
        self.suggest(sql, ws, q, owner, limit, None).await
    }

    /// Visible companies by name (see `crm::COMPANY_VISIBLE`), prefix matches first.
    pub async fn suggest_companies(
        &mut self,
        ws: i64,
        q: &str,
        owner: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        let visible = COMPANY_VISIBLE.replace("$3", "$4");
        let sql = format!(
            "SELECT co.name AS label, co.name AS value FROM companies co
             WHERE co.workspace_id = $1 AND lower(co.name) LIKE $3 AND {visible}
             ORDER BY (lower(co.name) LIKE $2) DESC, co.name LIMIT $5"
        );
        self.suggest(&sql, ws, q, owner, limit, None).await
    }

    /// The caller's open tasks.
    pub async fn suggest_tasks(
        &mut self,
        ws: i64,
        assignee: i64,
        q: &str,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        let sql = "SELECT 'T-' || id || ' ' || title AS label, 'T-' || id AS value FROM tasks
             WHERE workspace_id = $1 AND assignee_id = $4 AND status = 'open'
               AND (lower(title) LIKE $3 OR ($6::text IS NOT NULL AND id::text LIKE $6 || '%'))
             ORDER BY due_at LIMIT $5";
        let number = number_prefix(q, &['T', 't', '-']);
        self.suggest(sql, ws, q, Some(assignee), limit, number)
            .await
    }
}

/// The digits of a reference typed so far (`D-12` -> `12`), if that is what was typed.
fn number_prefix(q: &str, marks: &[char]) -> Option<String> {
    let digits = q.trim_start_matches(marks);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then(|| digits.to_string())
}
