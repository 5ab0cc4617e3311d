//! Deals, their stage history and the activity log.

use super::crm::like_prefix;
use super::{StoreResult, Tx};
use crate::domain::stage::StageKind;
use chrono::{DateTime, NaiveDate, Utc};

/// A deal as shown to people, with names joined in.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DealRow {
    /// Row id.
    pub id: i64,
    /// Per-workspace number (`D-42`).
    pub number: i64,
    /// Title.
    pub title: String,
    /// Company.
    pub company_id: Option<i64>,
    /// Company name, joined.
    pub company_name: Option<String>,
    /// Contact.
    pub contact_id: Option<i64>,
    /// Contact name, joined.
    pub contact_name: Option<String>,
    /// The contact's owner, joined: under `visibility own` a rep's deal may name a contact of
    /// another rep, which the card then leaves out.
    pub contact_owner_id: Option<i64>,
    /// Owner.
    pub owner_id: i64,
    /// Owner's display name, joined.
    pub owner_name: Option<String>,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO currency.
    pub currency: String,
    /// Current stage.
    pub stage_id: i64,
    /// Current stage name, joined.
    pub stage_name: String,
    /// Open, won or lost: the kind of its stage.
    pub status: StageKind,
    /// Expected close date.
    pub expected_close: Option<NaiveDate>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was lost.
    pub lost_reason: Option<String>,
    /// Furthest stage position reached.
    pub furthest_position: i32,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// Last logged interaction or change.
    pub last_activity_at: DateTime<Utc>,
}

/// Fields of a new deal.
#[derive(Clone, Debug)]
pub struct NewDeal {
    /// Title.
    pub title: String,
    /// Company.
    pub company_id: Option<i64>,
    /// Contact.
    pub contact_id: Option<i64>,
    /// Owner.
    pub owner_id: i64,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO currency.
    pub currency: String,
    /// Starting stage.
    pub stage_id: i64,
    /// Starting stage's position.
    pub stage_position: i32,
    /// Expected close.
    pub expected_close: Option<NaiveDate>,
}

/// Filters for listing deals.
#[derive(Clone, Debug, Default)]
pub struct DealFilter {
    /// Only this owner's deals.
    pub owner: Option<i64>,
    /// Only deals in this stage.
    pub stage_id: Option<i64>,
    /// Open, won or lost; `None` for all.
    pub status: Option<StageKind>,
    /// Only open deals with no activity since this instant.
    pub stale_before: Option<DateTime<Utc>>,
    /// At most this many.
    pub limit: i64,
}

const DEAL_SELECT: &str = "SELECT d.id, d.number, d.title, d.company_id, co.name AS company_name, d.contact_id,
        ct.name AS contact_name, ct.owner_id AS contact_owner_id, d.owner_id, m.display_name AS owner_name, d.amount_minor, d.currency, d.stage_id,
        s.name AS stage_name, d.status, d.expected_close, d.closed_at, d.lost_reason, d.furthest_position,
        d.created_at, d.last_activity_at
     FROM deals d
     JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
     LEFT JOIN companies co ON co.workspace_id = d.workspace_id AND co.id = d.company_id
     LEFT JOIN contacts ct ON ct.workspace_id = d.workspace_id AND ct.id = d.contact_id
     LEFT JOIN members m ON m.workspace_id = d.workspace_id AND m.user_id = d.owner_id";

/// The conditions of [`DealFilter`] ($1 workspace, $2 owner, $3 stage, $4 status, $5 stale),
/// shared by the list and its count so the two never disagree.
const DEAL_FILTER: &str = "d.workspace_id = $1
               AND ($2::bigint IS NULL OR d.owner_id = $2)
               AND ($3::bigint IS NULL OR d.stage_id = $3)
               AND ($4::text IS NULL OR d.status = $4)
               AND ($5::timestamptz IS NULL OR (d.status = 'open' AND d.last_activity_at < $5))";

impl Tx {
    /// Inserts a deal with its first stage-history row; returns the deal id and the history row id.
    pub async fn insert_deal(
        &mut self,
        ws: i64,
        number: i64,
        d: &NewDeal,
        actor: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deals (workspace_id, number, title, company_id, contact_id, owner_id, amount_minor, currency,
                                stage_id, expected_close, furthest_position, created_at, updated_at, last_activity_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12) RETURNING id",
        )
        .bind(ws)
        .bind(number)
        .bind(&d.title)
        .bind(d.company_id)
        .bind(d.contact_id)
        .bind(d.owner_id)
        .bind(d.amount_minor)
        .bind(&d.currency)
        .bind(d.stage_id)
        .bind(d.expected_close)
        .bind(d.stage_position)
        .bind(now)
        .fetch_one(self.conn())
        .await?;
        let change = self
            .insert_stage_change(ws, id, None, d.stage_id, actor, now, None)
            .await?;
        Ok((id, change))
    }

    /// Records one stage move.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_stage_change(
        &mut self,
        ws: i64,
        deal: i64,
        from: Option<i64>,
        to: i64,
        actor: i64,
        at: DateTime<Utc>,
        note: Option<&str>,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(ws)
        .bind(deal)
        .bind(from)
        .bind(to)
        .bind(actor)
        .bind(at)
        .bind(note)
        .fetch_one(self.conn())
        .await?)
    }

    /// A deal by its number, if visible.
    pub async fn deal_by_number(
        &mut self,
        ws: i64,
        number: i64,
        owner: Option<i64>,
    ) -> StoreResult<Option<DealRow>> {
        let sql = format!("{DEAL_SELECT} WHERE d.workspace_id = $1 AND d.number = $2 AND ($3::bigint IS NULL OR d.owner_id = $3)");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(number)
            .bind(owner)
            .fetch_optional(self.conn())
            .await?)
    }

    /// A deal by id.
    pub async fn deal(&mut self, ws: i64, id: i64) -> StoreResult<Option<DealRow>> {
        let sql = format!("{DEAL_SELECT} WHERE d.workspace_id = $1 AND d.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Deals whose title equals or starts with `title`, exact matches first.
    pub async fn deals_by_title(
        &mut self,
        ws: i64,
        title: &str,
        owner: Option<i64>,
    ) -> StoreResult<Vec<DealRow>> {
        let sql = format!(
            "{DEAL_SELECT} WHERE d.workspace_id = $1 AND lower(d.title) LIKE $2 AND ($4::bigint IS NULL OR d.owner_id = $4)
             ORDER BY (lower(d.title) = lower($3)) DESC, d.number DESC LIMIT 6"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(like_prefix(title))
            .bind(title)
            .bind(owner)
            .fetch_all(self.conn())
            .await?)
    }

    /// Lists deals, newest activity last for stale lists and by number otherwise.
    pub async fn list_deals(&mut self, ws: i64, f: &DealFilter) -> StoreResult<Vec<DealRow>> {
        let sql = format!(
            "{DEAL_SELECT} WHERE {DEAL_FILTER}
             ORDER BY CASE WHEN $5::timestamptz IS NULL THEN 0 ELSE extract(epoch FROM d.last_activity_at) END,
                      d.number DESC
             LIMIT $6"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.owner)
            .bind(f.stage_id)
            .bind(f.status)
            .bind(f.stale_before)
            .bind(f.limit)
            .fetch_all(self.conn())
            .await?)
    }

    /// How many deals match the filter in all, beyond its limit: lists say "15 of 302".
    pub async fn count_deals(&mut self, ws: i64, f: &DealFilter) -> StoreResult<i64> {
        let sql = format!("SELECT count(*) FROM deals d WHERE {DEAL_FILTER}");
        Ok(sqlx::query_scalar(&sql)
            .bind(ws)
            .bind(f.owner)
            .bind(f.stage_id)
            .bind(f.status)
            .bind(f.stale_before)
            .fetch_one(self.conn())
            .await?)
    }

    /// Moves a deal to a stage, keeping status, close time and furthest stage consistent.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_deal_stage(
        &mut self,
        ws: i64,
        id: i64,
        stage_id: i64,
        status: StageKind,
        furthest_position: i32,
        closed_at: Option<DateTime<Utc>>,
        lost_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deals SET stage_id = $3, status = $4, furthest_position = $5, closed_at = $6, lost_reason = $7,
                    updated_at = $8, last_activity_at = GREATEST(last_activity_at, $8)
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .bind(stage_id)
        .bind(status)
        .bind(furthest_position)
        .bind(closed_at)
        .bind(lost_reason)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Changes a deal's amount.
    pub async fn set_deal_amount(
        &mut self,
        ws: i64,
        id: i64,
        amount_minor: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE deals SET amount_minor = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .bind(amount_minor)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Gives a deal to another owner.
    pub async fn set_deal_owner(
        &mut self,
        ws: i64,
        id: i64,
        owner: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deals SET owner_id = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .bind(owner)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The deal's stage history, oldest first, with stage names.
    pub async fn deal_history(
        &mut self,
        ws: i64,
        id: i64,
    ) -> StoreResult<Vec<(DateTime<Utc>, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT sc.changed_at, s.name, sc.changed_by FROM stage_changes sc
             JOIN stages s ON s.workspace_id = sc.workspace_id AND s.id = sc.to_stage_id
             WHERE sc.workspace_id = $1 AND sc.deal_id = $2 ORDER BY sc.changed_at, sc.id",
        )
        .bind(ws)
        .bind(id)
        .fetch_all(self.conn())
        .await?)
    }

    /// Logs an interaction; bumps the deal's last activity when one is named.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_activity(
        &mut self,
        ws: i64,
        contact: i64,
        deal: Option<i64>,
        member: i64,
        kind: &str,
        summary: &str,
        satisfaction: Option<i16>,
        happened_at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO activities (workspace_id, contact_id, deal_id, member_id, kind, summary, satisfaction, happened_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(ws)
        .bind(contact)
        .bind(deal)
        .bind(member)
        .bind(kind)
        .bind(summary)
        .bind(satisfaction)
        .bind(happened_at)
        .fetch_one(self.conn())
        .await?;
        if let Some(deal) = deal {
            sqlx::query(
                "UPDATE deals SET last_activity_at = GREATEST(last_activity_at, $3) WHERE workspace_id = $1 AND id = $2",
            )
            .bind(ws)
            .bind(deal)
            .bind(happened_at)
            .execute(self.conn())
            .await?;
        }
        Ok(id)
    }

    /// The latest interactions with a contact: (when, kind, summary, satisfaction).
    pub async fn recent_activities(
        &mut self,
        ws: i64,
        contact: i64,
        limit: i64,
    ) -> StoreResult<Vec<(DateTime<Utc>, String, String, Option<i16>)>> {
        Ok(sqlx::query_as(
            "SELECT happened_at, kind, summary, satisfaction FROM activities
             WHERE workspace_id = $1 AND contact_id = $2 ORDER BY happened_at DESC, id DESC LIMIT $3",
        )
        .bind(ws)
        .bind(contact)
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }
}

impl Tx {
    /// How many deals the workspace has in all.
    pub async fn deal_count(&mut self, ws: i64) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM deals WHERE workspace_id = $1")
                .bind(ws)
                .fetch_one(self.conn())
                .await?,
        )
    }

    /// Recomputes every deal's furthest stage from its history, after the stage order changed.
    pub async fn recompute_furthest(&mut self, ws: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deals d SET furthest_position = sub.furthest
             FROM (SELECT sc.deal_id, max(s.position) AS furthest
                   FROM stage_changes sc
                   JOIN stages s ON s.workspace_id = sc.workspace_id AND s.id = sc.to_stage_id
                   WHERE sc.workspace_id = $1 AND s.kind <> 'lost'
                   GROUP BY sc.deal_id) sub
             WHERE d.workspace_id = $1 AND d.id = sub.deal_id AND d.furthest_position <> sub.furthest",
        )
        .bind(ws)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
