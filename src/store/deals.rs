//! Deals, their stage history and the activity log.

use super::audit::{Entity, Stamp, AUDIT_INSERT};
use super::crm::like_prefix;
use super::{StoreError, StoreResult, Tx};
use crate::domain::stage::StageKind;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// A deal as shown to people, with names joined in. Also read from JSON: the command
/// prelude brings the deal a command names by number as `to_json` of [`DEAL_SELECT`]'s row.
#[derive(Clone, Debug, sqlx::FromRow, serde::Deserialize)]
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

/// One stage move, as [`Tx::move_deal`] writes it.
#[derive(Clone, Debug)]
pub struct StageMove<'a> {
    /// The deal.
    pub deal: i64,
    /// The stage the command saw the deal in: the move applies only if it is still there.
    pub from_stage: i64,
    /// The stage it goes to.
    pub to_stage: i64,
    /// The kind of that stage.
    pub status: StageKind,
    /// The furthest stage position reached, with this move.
    pub furthest_position: i32,
    /// When it was won or lost; `None` when it is open again.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was lost.
    pub lost_reason: Option<&'a str>,
    /// The note on the stage change.
    pub note: Option<&'a str>,
}

/// What a move wrote.
#[derive(Clone, Debug)]
pub struct Moved {
    /// The command's audit change id.
    pub change: i64,
    /// The stage-history row.
    pub stage_change: i64,
    /// The deal's last activity after the move.
    pub last_activity_at: DateTime<Utc>,
    /// The deal's product lines (a move leaves them as they were), for its card.
    pub lines: Vec<super::products::DealLine>,
}

/// An interaction to log.
#[derive(Clone, Debug)]
pub struct NewActivity<'a> {
    /// With whom.
    pub contact_id: i64,
    /// About which deal, if any.
    pub deal_id: Option<i64>,
    /// Who had it.
    pub member_id: i64,
    /// call, meeting, email, ...
    pub kind: &'a str,
    /// What was said.
    pub summary: &'a str,
    /// 1-5, when rated.
    pub satisfaction: Option<i16>,
    /// When it happened.
    pub happened_at: DateTime<Utc>,
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
    /// Only open deals stale at this instant: no activity for their stage's stale days, or
    /// the workspace's (`stale_days`) where the stage sets none, as the agenda and digest
    /// count them.
    pub stale_at: Option<DateTime<Utc>>,
    /// The workspace's stale days.
    pub stale_days: i32,
    /// At most this many.
    pub limit: i64,
}

/// [`DealRow`]'s columns: the deal `d`, its stage's name from `s`, its company's from `co`,
/// its contact's from `ct` and its owner's from `m`.
macro_rules! deal_columns {
    () => {
        "SELECT d.id, d.number, d.title, d.company_id, co.name AS company_name, d.contact_id,
        ct.name AS contact_name, ct.owner_id AS contact_owner_id, d.owner_id, m.display_name AS owner_name, d.amount_minor, d.currency, d.stage_id,
        s.name AS stage_name, d.status, d.expected_close, d.closed_at, d.lost_reason, d.furthest_position,
        d.created_at, d.last_activity_at"
    };
}

pub(super) const DEAL_SELECT: &str = concat!(
    deal_columns!(),
    "
     FROM deals d
     JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
     LEFT JOIN companies co ON co.workspace_id = d.workspace_id AND co.id = d.company_id
     LEFT JOIN contacts ct ON ct.workspace_id = d.workspace_id AND ct.id = d.contact_id
     LEFT JOIN members m ON m.workspace_id = d.workspace_id AND m.user_id = d.owner_id"
);

/// [`DEAL_SELECT`] for one deal (the condition on `d` names it): each name one probe of its
/// table's key. As joins, a cached plan for a workspace with few contacts hashed all of them
/// for the one deal (and scanned its stages and members): about 12 us more of the server's
/// time on every command that names a deal.
pub(super) const DEAL_SELECT_ONE: &str = concat!(
    deal_columns!(),
    "
     FROM deals d
     JOIN LATERAL (SELECT s.name FROM stages s
                   WHERE s.workspace_id = d.workspace_id AND s.id = d.stage_id OFFSET 0) s ON true
     LEFT JOIN LATERAL (SELECT co.name FROM companies co
                        WHERE co.workspace_id = d.workspace_id AND co.id = d.company_id OFFSET 0) co ON true
     LEFT JOIN LATERAL (SELECT ct.name, ct.owner_id FROM contacts ct
                        WHERE ct.workspace_id = d.workspace_id AND ct.id = d.contact_id OFFSET 0) ct ON true
     LEFT JOIN LATERAL (SELECT m.display_name FROM members m
                        WHERE m.workspace_id = d.workspace_id AND m.user_id = d.owner_id OFFSET 0) m ON true"
);

/// The conditions of [`DealFilter`] ($1 workspace, $2 owner, $3 stage, $4 status, $5 stale at,
/// $6 the workspace's stale days; `s` the deal's stage), shared by the list and its count so
/// the two never disagree.
const DEAL_FILTER: &str = "d.workspace_id = $1
               AND ($2::bigint IS NULL OR d.owner_id = $2)
               AND ($3::bigint IS NULL OR d.stage_id = $3)
               AND ($4::text IS NULL OR d.status = $4)
               AND ($5::timestamptz IS NULL
                    OR (d.status = 'open'
                        AND d.last_activity_at < $5 - make_interval(days => COALESCE(s.stale_days, $6))))";

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
             LIMIT $7"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.owner)
            .bind(f.stage_id)
            .bind(f.status)
            .bind(f.stale_at)
            .bind(f.stale_days)
            .bind(f.limit)
            .fetch_all(self.conn())
            .await?)
    }

    /// How many deals match the filter in all, beyond its limit: lists say "15 of 302".
    pub async fn count_deals(&mut self, ws: i64, f: &DealFilter) -> StoreResult<i64> {
        let sql = format!(
            "SELECT count(*) FROM deals d
             JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
             WHERE {DEAL_FILTER}"
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(ws)
            .bind(f.owner)
            .bind(f.stage_id)
            .bind(f.status)
            .bind(f.stale_at)
            .bind(f.stale_days)
            .fetch_one(self.conn())
            .await?)
    }

    /// Moves a deal to a stage and records the change in its history and the audit log, in
    /// one statement: the deal move is the most frequent write there is. The deal is locked
    /// and its before-image taken in the same statement, so the audit entry is exactly what
    /// the move replaced. [`StoreError::Stale`] when the deal is no longer in the stage the
    /// command saw (someone moved it meanwhile): nothing is written, and running the command
    /// again reads it afresh.
    pub async fn move_deal(
        &mut self,
        ws: i64,
        m: &StageMove<'_>,
        stamp: Stamp<'_>,
    ) -> StoreResult<Moved> {
        // Data-modifying CTEs all see the statement's snapshot, so `old` is the row before
        // the update; FOR UPDATE makes it the latest committed version, which the UPDATE
        // then changes. The audit rows go in with one INSERT, the deal first, so undo (which
        // walks a change backwards) takes the history row out before it restores the deal.
        // Outside a transaction the statement carries the interaction marker ($17): written
        // only when the deal is found, and the deal moved only when the marker is new.
        let marker = self.one_write()?;
        // Built once: sqlx finds its prepared statement by this text on every call.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
            "WITH old AS (
                 SELECT to_jsonb(d) AS image FROM deals d
                 WHERE d.workspace_id = $1 AND d.id = $2 AND d.stage_id = $3 FOR UPDATE
             ), mark AS (
                 INSERT INTO processed_interactions (workspace_id, interaction_id)
                 SELECT $1, $17 FROM old WHERE $17::bigint IS NOT NULL
                 ON CONFLICT DO NOTHING RETURNING 1
             ), moved AS (
                 UPDATE deals d SET stage_id = $4, status = $5, furthest_position = $6, closed_at = $7,
                        lost_reason = $8, updated_at = $9, last_activity_at = GREATEST(d.last_activity_at, $9)
                 FROM old
                 WHERE d.workspace_id = $1 AND d.id = $2 AND d.stage_id = $3
                   AND ($17::bigint IS NULL OR EXISTS (SELECT 1 FROM mark))
                 RETURNING d.*
             ), change AS (
                 INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at, note)
                 SELECT $1, $2, $3, $4, $10, $9, $11 FROM moved
                 RETURNING *
             ), stamp AS (
                 SELECT COALESCE($12, nextval('audit_change_ids')) AS change_id
             ), audited AS (
                 {AUDIT_INSERT}
                 SELECT $1, stamp.change_id, $10, $13, $14, to_jsonb(moved.id), old.image, to_jsonb(moved), $9, $15
                 FROM stamp, old, moved
                 UNION ALL
                 SELECT $1, stamp.change_id, $10, $13, $16, to_jsonb(change.id), NULL, to_jsonb(change), $9, $15
                 FROM stamp, change
             )
             SELECT stamp.change_id, change.id, moved.last_activity_at, {lines}
             FROM stamp, change, moved",
            lines = super::products::LINES_JSON.as_str()
        )
        });
        let row: Option<(i64, i64, DateTime<Utc>, Value)> = sqlx::query_as(SQL.as_str())
            .bind(ws)
            .bind(m.deal)
            .bind(m.from_stage)
            .bind(m.to_stage)
            .bind(m.status)
            .bind(m.furthest_position)
            .bind(m.closed_at)
            .bind(m.lost_reason)
            .bind(stamp.at)
            .bind(stamp.actor)
            .bind(m.note)
            .bind(stamp.change)
            .bind(stamp.action)
            .bind(Entity::Deal.table())
            .bind(stamp.via)
            .bind(Entity::StageChange.table())
            .bind(marker)
            .fetch_optional(self.conn())
            .await?;
        let Some((change, stage_change, last_activity_at, lines)) = row else {
            return Err(self
                .nothing_written(ws, marker, StoreError::Stale("the deal's stage"))
                .await);
        };
        Ok(Moved {
            change,
            stage_change,
            last_activity_at,
            lines: super::products::lines_from_json(lines)?,
        })
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

    /// What the full deal card shows beyond the deal row, in one round trip: its product
    /// lines by name, and its latest `last` stage changes (time, stage name, who) oldest
    /// first. Only those: a deal moved for years has hundreds of changes, and the card
    /// shows a few (on the discord benchmark, whose 200 deals pass 380 changes each, the
    /// whole history cost PostgreSQL 3.5 ms a card and the bot the JSON of all of it).
    /// `/deal show D-42` has them from its prelude ([`super::Named::detail`]); this is for a
    /// deal found otherwise.
    pub async fn deal_detail(&mut self, ws: i64, id: i64, last: i64) -> StoreResult<DealDetail> {
        let sql = format!(
            "SELECT {lines}, {history}",
            lines = super::products::lines_json("$1", "$2"),
            history = history_json("$1", "$2", "$3"),
        );
        let (lines, history): (Value, Value) = sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .bind(last)
            .fetch_one(self.conn())
            .await?;
        DealDetail::from_json(id, lines, history)
    }

    /// Logs an interaction with its audit entry, in one statement; returns the activity id
    /// and the command's audit change id. The deal it names, if any, is not touched here:
    /// see [`Tx::touch_deal`].
    pub async fn log_activity(
        &mut self,
        ws: i64,
        a: &NewActivity<'_>,
        stamp: Stamp<'_>,
    ) -> StoreResult<(i64, i64)> {
        // Outside a transaction the statement carries the interaction marker ($15), and the
        // activity goes in only when the marker is new.
        let marker = self.one_write()?;
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
            "WITH mark AS (
                 INSERT INTO processed_interactions (workspace_id, interaction_id)
                 SELECT $1, $15 WHERE $15::bigint IS NOT NULL
                 ON CONFLICT DO NOTHING RETURNING 1
             ), act AS (
                 INSERT INTO activities (workspace_id, contact_id, deal_id, member_id, kind, summary, satisfaction, happened_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8
                 WHERE $15::bigint IS NULL OR EXISTS (SELECT 1 FROM mark)
                 RETURNING *
             ), stamp AS (
                 SELECT COALESCE($9, nextval('audit_change_ids')) AS change_id
             ), audited AS (
                 {AUDIT_INSERT}
                 SELECT $1, stamp.change_id, $10, $11, $12, to_jsonb(act.id), NULL, to_jsonb(act), $13, $14
                 FROM stamp, act
             )
             SELECT act.id, stamp.change_id FROM act, stamp"
        )
        });
        let row: Option<(i64, i64)> = sqlx::query_as(SQL.as_str())
            .bind(ws)
            .bind(a.contact_id)
            .bind(a.deal_id)
            .bind(a.member_id)
            .bind(a.kind)
            .bind(a.summary)
            .bind(a.satisfaction)
            .bind(a.happened_at)
            .bind(stamp.change)
            .bind(stamp.actor)
            .bind(stamp.action)
            .bind(Entity::Activity.table())
            .bind(stamp.at)
            .bind(stamp.via)
            .bind(marker)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(written) => Ok(written),
            None => Err(self
                .nothing_written(
                    ws,
                    marker,
                    anyhow::anyhow!("an activity insert returned no row").into(),
                )
                .await),
        }
    }

    /// Brings a deal's last activity up to `at` (an interaction about it was logged), with
    /// its audit row under `stamp`, in one statement as [`Tx::move_deal`] does; returns the
    /// deal's image before, for the webhook events.
    pub async fn touch_deal(
        &mut self,
        ws: i64,
        deal: i64,
        at: DateTime<Utc>,
        stamp: Stamp<'_>,
    ) -> StoreResult<Value> {
        let sql = format!(
            "WITH old AS (
                 SELECT to_jsonb(d) AS image FROM deals d WHERE d.workspace_id = $1 AND d.id = $2 FOR UPDATE
             ), touched AS (
                 UPDATE deals d SET last_activity_at = GREATEST(d.last_activity_at, $3)
                 FROM old WHERE d.workspace_id = $1 AND d.id = $2
                 RETURNING d.*
             ), stamp AS (
                 SELECT COALESCE($4, nextval('audit_change_ids')) AS change_id
             ), audited AS (
                 {AUDIT_INSERT}
                 SELECT $1, stamp.change_id, $5, $6, $7, to_jsonb(touched.id), old.image, to_jsonb(touched), $8, $9
                 FROM stamp, old, touched
             )
             SELECT old.image FROM old"
        );
        let before: Option<Value> = sqlx::query_scalar(&sql)
            .bind(ws)
            .bind(deal)
            .bind(at)
            .bind(stamp.change)
            .bind(stamp.actor)
            .bind(stamp.action)
            .bind(Entity::Deal.table())
            .bind(stamp.at)
            .bind(stamp.via)
            .fetch_optional(self.conn())
            .await?;
        before.ok_or(StoreError::Stale("the deal"))
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
    /// Whether the workspace holds an amount in its currency: a deal, a product's list price
    /// or a quota. None of them says its currency, so changing the workspace's would re-read
    /// every one of them in another.
    pub async fn holds_amounts(&mut self, ws: i64) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM deals WHERE workspace_id = $1)
                 OR EXISTS (SELECT 1 FROM products WHERE workspace_id = $1 AND list_price_minor <> 0)
                 OR EXISTS (SELECT 1 FROM members WHERE workspace_id = $1 AND quota_minor <> 0)",
        )
        .bind(ws)
        .fetch_one(self.conn())
        .await?)
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

/// What the full deal card shows beyond the deal row ([`Tx::deal_detail`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DealDetail {
    /// The deal's id.
    pub deal_id: i64,
    /// Its product lines by name.
    pub lines: Vec<super::products::DealLine>,
    /// Its latest stage changes, oldest first: when, the stage's name, who.
    pub history: Vec<(DateTime<Utc>, String, i64)>,
}

impl DealDetail {
    /// Reads the columns [`super::products::lines_json`] and [`history_json`] return.
    pub(super) fn from_json(deal_id: i64, lines: Value, history: Value) -> StoreResult<DealDetail> {
        let history = serde_json::from_value(history)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("unexpected deal history: {e}")))?;
        Ok(DealDetail {
            deal_id,
            lines: super::products::lines_from_json(lines)?,
            history,
        })
    }
}

/// A deal's latest `last` stage changes as one JSON array of `[time, stage name, who]`, oldest
/// first, for the workspace, deal and count given as SQL expressions.
pub(super) fn history_json(ws: &str, deal: &str, last: &str) -> String {
    format!(
        "(SELECT COALESCE(jsonb_agg(jsonb_build_array(h.changed_at, s.name, h.changed_by)
                                    ORDER BY h.changed_at, h.id), '[]'::jsonb)
          FROM (SELECT sc.changed_at, sc.id, sc.to_stage_id, sc.changed_by
                FROM stage_changes sc
                WHERE sc.workspace_id = {ws} AND sc.deal_id = {deal}
                ORDER BY sc.changed_at DESC, sc.id DESC LIMIT {last}) h
          JOIN stages s ON s.workspace_id = {ws} AND s.id = h.to_stage_id)"
    )
}
