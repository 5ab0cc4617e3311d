//! The audit log and `/undo`. Each audited write stores the row's image before and after
//! (`to_jsonb`), so undo can put back exactly what was there, and refuse when someone has
//! changed the row since.

use super::types::AuditAction;
use super::{StoreResult, Tx};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The tables the audit log knows. Each has fixed SQL, so no statement is built from input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    /// `workspaces`, keyed by id.
    Workspace,
    /// `members`, keyed by user id.
    Member,
    /// `stages`.
    Stage,
    /// `companies`.
    Company,
    /// `contacts`.
    Contact,
    /// `deals`.
    Deal,
    /// `stage_changes`.
    StageChange,
    /// `activities`.
    Activity,
    /// `tasks`.
    Task,
    /// `products`.
    Product,
    /// `deal_products`.
    DealProduct,
    /// `webhook_endpoints` (the secret lives apart, in `webhook_secrets`, unaudited).
    WebhookEndpoint,
}

struct EntitySql {
    name: &'static str,
    snapshot: &'static str,
    delete: &'static str,
    restore: &'static str,
    /// Inserts the audit row with the after-image taken in the same statement; starts a new
    /// change id when `$2` is NULL and returns the change id.
    record: &'static str,
}

/// The column list of every `audit_log` insert: the `record` statements' and those of the
/// statements that audit their own write ([`AUDIT_INSERT`]).
macro_rules! audit_insert {
    () => {
        "INSERT INTO audit_log (workspace_id, change_id, actor_id, action, entity, entity_key, before, after, created_at, via)"
    };
}

/// The part of every `record` statement before the after-image subquery.
macro_rules! record_sql {
    ($image:expr) => {
        concat!(
            audit_insert!(),
            "
             SELECT $1, COALESCE($2, nextval('audit_change_ids')), $3, $4, $5, to_jsonb($6::bigint), $7, (",
            $image,
            "), $8, $9 RETURNING change_id"
        )
    };
}

macro_rules! entity_sql {
    ($table:literal, $key:literal) => {
        EntitySql {
            name: $table,
            snapshot: concat!(
                "SELECT to_jsonb(t) FROM ",
                $table,
                " t WHERE workspace_id = $1 AND ",
                $key,
                " = $2 FOR NO KEY UPDATE"
            ),
            delete: concat!(
                "DELETE FROM ",
                $table,
                " WHERE workspace_id = $1 AND ",
                $key,
                " = $2"
            ),
            restore: concat!(
                "INSERT INTO ",
                $table,
                " SELECT * FROM jsonb_populate_record(NULL::",
                $table,
                ", $1)"
            ),
            record: record_sql!(concat!(
                "SELECT to_jsonb(t) FROM ",
                $table,
                " t WHERE workspace_id = $1 AND ",
                $key,
                " = $6"
            )),
        }
    };
}

/// An audit row as undo reads it back: action, entity, key, before and after images.
type AuditRowRead = (String, String, Value, Option<Value>, Option<Value>);

impl Entity {
    fn sql(self) -> EntitySql {
        match self {
            Entity::Workspace => EntitySql {
                name: "workspaces",
                snapshot: "SELECT to_jsonb(t) FROM workspaces t WHERE id = $1 AND id = $2 FOR NO KEY UPDATE",
                delete: "DELETE FROM workspaces WHERE id = $1 AND id = $2",
                restore: "INSERT INTO workspaces SELECT * FROM jsonb_populate_record(NULL::workspaces, $1)",
                record: record_sql!("SELECT to_jsonb(t) FROM workspaces t WHERE id = $1 AND id = $6"),
            },
            // Whether a member accepts DMs is Discord's fact, not a change anyone made: left
            // out of the images, so a DM refused (or their DMs opened again) after a change
            // to the member does not make its undo refuse as changed since. A member put
            // back is tried by DM again, like one who used the bot.
            Entity::Member => EntitySql {
                name: "members",
                snapshot: "SELECT to_jsonb(t) - 'dm_closed' FROM members t WHERE workspace_id = $1 AND user_id = $2 FOR NO KEY UPDATE",
                delete: "DELETE FROM members WHERE workspace_id = $1 AND user_id = $2",
                restore: "INSERT INTO members SELECT * FROM jsonb_populate_record(NULL::members, jsonb_build_object('dm_closed', false) || $1)",
                record: record_sql!("SELECT to_jsonb(t) - 'dm_closed' FROM members t WHERE workspace_id = $1 AND user_id = $6"),
            },
            Entity::Stage => entity_sql!("stages", "id"),
            Entity::Company => entity_sql!("companies", "id"),
            Entity::Contact => entity_sql!("contacts", "id"),
            Entity::Deal => entity_sql!("deals", "id"),
            Entity::StageChange => entity_sql!("stage_changes", "id"),
            Entity::Activity => entity_sql!("activities", "id"),
            Entity::Task => entity_sql!("tasks", "id"),
            Entity::Product => entity_sql!("products", "id"),
            Entity::DealProduct => entity_sql!("deal_products", "id"),
            Entity::WebhookEndpoint => entity_sql!("webhook_endpoints", "id"),
        }
    }

    fn parse(name: &str) -> Option<Entity> {
        [
            Entity::Workspace,
            Entity::Member,
            Entity::Stage,
            Entity::Company,
            Entity::Contact,
            Entity::Deal,
            Entity::StageChange,
            Entity::Activity,
            Entity::Task,
            Entity::Product,
            Entity::DealProduct,
            Entity::WebhookEndpoint,
        ]
        .into_iter()
        .find(|e| e.sql().name == name)
    }
}

/// Who, what, when and under which change id a command's next audited write is recorded:
/// what [`Tx::audit`] takes, for the statements that write a row and its audit entry at once
/// (a deal move, a logged interaction: the hot paths, one round trip each).
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    /// The command's change id so far; `None` starts a new one.
    pub change: Option<i64>,
    /// Who made the change.
    pub actor: i64,
    /// The command.
    pub action: AuditAction,
    /// When.
    pub at: DateTime<Utc>,
    /// What it came through when not chat (an API token's name).
    pub via: Option<&'a str>,
}

/// The column list of an `audit_log` insert, for the statements that audit their own write.
pub(super) const AUDIT_INSERT: &str = audit_insert!();

impl Entity {
    /// The table's name as the audit log records it.
    pub(super) fn table(self) -> &'static str {
        self.sql().name
    }
}

/// One audited row change of a past command.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// The table.
    pub entity: Entity,
    /// The row key (id, or user id for members).
    pub key: i64,
    /// The command that made it.
    pub action: AuditAction,
    /// The row before; `None` when the command inserted it.
    pub before: Option<Value>,
    /// The row after; `None` when the command deleted it.
    pub after: Option<Value>,
}

/// An after-image as a snapshot now takes it: a member's recorded before `dm_closed` was
/// left out of the images still has it.
fn comparable(entity: Entity, image: &Option<Value>) -> Option<Value> {
    match (entity, image) {
        (Entity::Member, Some(Value::Object(row))) => {
            let mut row = row.clone();
            row.remove("dm_closed");
            Some(Value::Object(row))
        }
        _ => image.clone(),
    }
}

/// Why an undo could not be applied.
#[derive(Debug)]
pub enum UndoOutcome {
    /// Everything put back; the command that was undone and the rows it had changed (now
    /// back to their `before` images, which the rows held as `after` until this undo).
    Undone(AuditAction, Vec<AuditEntry>),
    /// Nothing to undo within the window.
    Nothing,
    /// A row changed since; carries the action and the table.
    Conflict(AuditAction),
    /// The change was made by a newer version (an action or table this one has no name for,
    /// during a rolling upgrade): left as it is for a process that knows it.
    Newer,
}

impl Tx {
    async fn apply_undo(&mut self, ws: i64, entries: &[AuditEntry]) -> Result<(), sqlx::Error> {
        sqlx::query("SET CONSTRAINTS ALL DEFERRED")
            .execute(self.conn())
            .await?;
        for e in entries {
            let sql = e.entity.sql();
            sqlx::query(sql.delete)
                .bind(ws)
                .bind(e.key)
                .execute(self.conn())
                .await?;
            if let Some(before) = &e.before {
                sqlx::query(sql.restore)
                    .bind(before)
                    .execute(self.conn())
                    .await?;
            }
        }
        sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The row's current image, locked until the transaction ends: a write after it, or an
    /// undo that compared it, cannot lose a change another command commits meanwhile (read
    /// committed gives the locked row's newest version). `FOR NO KEY UPDATE`, the lock an
    /// UPDATE takes: foreign-key checks on rows that point at this one still pass.
    pub async fn snapshot(
        &mut self,
        ws: i64,
        entity: Entity,
        key: i64,
    ) -> StoreResult<Option<Value>> {
        Ok(sqlx::query_scalar(entity.sql().snapshot)
            .bind(ws)
            .bind(key)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Records one audited write, taking the after-image in the same statement. The stamp's
    /// `change` groups one command's writes: `None` starts a new group, whose id is returned.
    pub async fn audit(
        &mut self,
        ws: i64,
        stamp: Stamp<'_>,
        entity: Entity,
        key: i64,
        before: Option<Value>,
    ) -> StoreResult<i64> {
        let sql = entity.sql();
        Ok(sqlx::query_scalar(sql.record)
            .bind(ws)
            .bind(stamp.change)
            .bind(stamp.actor)
            .bind(stamp.action)
            .bind(sql.name)
            .bind(key)
            .bind(before)
            .bind(stamp.at)
            .bind(stamp.via)
            .fetch_one(self.conn())
            .await?)
    }

    /// Reverts the actor's latest change made after `since`, if every row it touched is still
    /// as that change left it.
    pub async fn undo_last(
        &mut self,
        ws: i64,
        actor: i64,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<UndoOutcome> {
        let change: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT change_id, created_at FROM audit_log
             WHERE workspace_id = $1 AND actor_id = $2 AND undone_at IS NULL AND created_at >= $3
             ORDER BY id DESC LIMIT 1 FOR UPDATE",
        )
        .bind(ws)
        .bind(actor)
        .bind(since)
        .fetch_optional(self.conn())
        .await?;
        let Some((change, at)) = change else {
            return Ok(UndoOutcome::Nothing);
        };
        // Every row of a change has its actor and its time (one `Stamp` a command,
        // `Ctx::stamp`), so the change's rows are found through the actor's index
        // (`audit_actor`), among that actor's rows of that instant. By the change id alone
        // nothing is indexed: that read the workspace's whole audit log (25 ms and 11,400
        // buffers at 140,000 rows, on the discord benchmark's database), and an index of its
        // own would cost every audited write one more index entry.
        let rows: Vec<AuditRowRead> = sqlx::query_as(
            "SELECT action, entity, entity_key, before, after FROM audit_log
             WHERE workspace_id = $1 AND actor_id = $2 AND created_at = $3 AND change_id = $4
             ORDER BY id DESC",
        )
        .bind(ws)
        .bind(actor)
        .bind(at)
        .bind(change)
        .fetch_all(self.conn())
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for (action, entity, key, before, after) in rows {
            let (Ok(action), Some(entity)) =
                (action.parse::<AuditAction>(), Entity::parse(&entity))
            else {
                return Ok(UndoOutcome::Newer);
            };
            let key = key
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("audit key is not a number"))?;
            entries.push(AuditEntry {
                entity,
                key,
                action,
                before,
                after,
            });
        }
        let Some(action) = entries.first().map(|e| e.action) else {
            return Ok(UndoOutcome::Nothing);
        };
        // Later entries of the same change may rewrite a row an earlier one wrote; only the last
        // image of each row must still be current.
        let mut seen = std::collections::HashSet::new();
        for e in &entries {
            if seen.insert((e.entity, e.key))
                && self.snapshot(ws, e.entity, e.key).await? != comparable(e.entity, &e.after)
            {
                return Ok(UndoOutcome::Conflict(action));
            }
        }
        // Rows refer to each other; the foreign keys are checked once everything is back,
        // inside a savepoint, so that rows added since which point at what we would remove (a
        // task on a new deal, a deal in a new stage) become a refusal, not a failed commit.
        sqlx::query("SAVEPOINT undo").execute(self.conn()).await?;
        match self.apply_undo(ws, &entries).await {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT undo")
                    .execute(self.conn())
                    .await?;
            }
            // 23505: a row put back whose unique name or number was taken since (a stage
            // renamed away and a new stage under the old name).
            Err(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("23503" | "23505")) =>
            {
                sqlx::query("ROLLBACK TO SAVEPOINT undo")
                    .execute(self.conn())
                    .await?;
                return Ok(UndoOutcome::Conflict(action));
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "UPDATE audit_log SET undone_at = $5
             WHERE workspace_id = $1 AND actor_id = $2 AND created_at = $3 AND change_id = $4",
        )
        .bind(ws)
        .bind(actor)
        .bind(at)
        .bind(change)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(UndoOutcome::Undone(action, entries))
    }
}
