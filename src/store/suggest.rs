//! Suggestions while someone types (Discord's autocomplete): prefix matches first, then
//! matches anywhere in the name, always within the workspace and the caller's visibility.

use super::crm::like_prefix;
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
    /// Deals by number prefix, title prefix, then title anywhere; open deals first.
    pub async fn suggest_deals(
        &mut self,
        ws: i64,
        q: &str,
        owner: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        let digits: String = q.trim_start_matches(['D', 'd', '-', '#']).to_string();
        let number_prefix = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            Some(digits)
        } else {
            None
        };
        Ok(sqlx::query_as(
            "SELECT 'D-' || d.number || ' ' || d.title || ' · ' || s.name AS label, 'D-' || d.number AS value
             FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
             WHERE d.workspace_id = $1 AND ($3::bigint IS NULL OR d.owner_id = $3)
               AND (($4::text IS NOT NULL AND d.number::text LIKE $4 || '%') OR lower(d.title) LIKE $5)
             ORDER BY (d.status = 'open') DESC, (lower(d.title) LIKE $2) DESC, d.number DESC
             LIMIT $6",
        )
        .bind(ws)
        .bind(like_prefix(q))
        .bind(owner)
        .bind(number_prefix)
        .bind(anywhere(q))
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }

    /// Contacts by name or email, prefix matches first.
    pub async fn suggest_contacts(
        &mut self,
        ws: i64,
        q: &str,
        owner: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        Ok(sqlx::query_as(
            "SELECT 'C-' || c.id || ' ' || c.name || COALESCE(' · ' || co.name, '') AS label, 'C-' || c.id AS value
             FROM contacts c LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
             WHERE c.workspace_id = $1 AND ($3::bigint IS NULL OR c.owner_id = $3)
               AND (lower(c.name) LIKE $4 OR lower(c.email) LIKE $4)
             ORDER BY (lower(c.name) LIKE $2) DESC, c.name
             LIMIT $5",
        )
        .bind(ws)
        .bind(like_prefix(q))
        .bind(owner)
        .bind(anywhere(q))
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }

    /// Companies by name, prefix matches first.
    pub async fn suggest_companies(
        &mut self,
        ws: i64,
        q: &str,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        Ok(sqlx::query_as(
            "SELECT name AS label, name AS value FROM companies
             WHERE workspace_id = $1 AND lower(name) LIKE $3
             ORDER BY (lower(name) LIKE $2) DESC, name LIMIT $4",
        )
        .bind(ws)
        .bind(like_prefix(q))
        .bind(anywhere(q))
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }

    /// The caller's open tasks.
    pub async fn suggest_tasks(
        &mut self,
        ws: i64,
        assignee: i64,
        q: &str,
        limit: i64,
    ) -> StoreResult<Vec<Suggestion>> {
        Ok(sqlx::query_as(
            "SELECT 'T-' || id || ' ' || title AS label, 'T-' || id AS value FROM tasks
             WHERE workspace_id = $1 AND assignee_id = $2 AND status = 'open'
               AND (lower(title) LIKE $3 OR id::text LIKE $4)
             ORDER BY due_at LIMIT $5",
        )
        .bind(ws)
        .bind(assignee)
        .bind(anywhere(q))
        .bind(like_prefix(q.trim_start_matches(['T', 't', '-'])))
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }
}
