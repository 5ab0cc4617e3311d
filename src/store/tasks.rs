//! Reminders and follow-ups.

use super::{StoreResult, Tx};
use chrono::{DateTime, Utc};

/// A task with the names it refers to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TaskRow {
    /// Row id (`T-5`).
    pub id: i64,
    /// Who is reminded.
    pub assignee_id: i64,
    /// What to do.
    pub title: String,
    /// When.
    pub due_at: DateTime<Utc>,
    /// manual, follow_up, birthday, contract_end, stale_deal.
    pub source: String,
    /// open, done, cancelled.
    pub status: String,
    /// Related deal number.
    pub deal_number: Option<i64>,
    /// Related contact name.
    pub contact_name: Option<String>,
}

/// Fields of a new task.
#[derive(Clone, Debug)]
pub struct NewTask {
    /// Who is reminded.
    pub assignee_id: i64,
    /// Who asked.
    pub created_by: i64,
    /// What to do.
    pub title: String,
    /// When.
    pub due_at: DateTime<Utc>,
    /// Where it came from.
    pub source: &'static str,
    /// Related deal id.
    pub deal_id: Option<i64>,
    /// Related contact id.
    pub contact_id: Option<i64>,
    /// The interaction whose next step this is.
    pub activity_id: Option<i64>,
}

/// A task names its deal and contact only where its assignee may see them: under
/// `visibility own` a rep's task may point at another rep's record (the deal was reassigned
/// since), and their list and reminder then leave it out. Needs `w` (the workspace) and `m`
/// (the assignee's member row) joined.
pub(super) const TASK_LINKS: &str =
    "LEFT JOIN deals d ON d.workspace_id = t.workspace_id AND d.id = t.deal_id
        AND (w.visibility = 'all' OR m.role IN ('manager', 'admin') OR d.owner_id = t.assignee_id)
     LEFT JOIN contacts c ON c.workspace_id = t.workspace_id AND c.id = t.contact_id
        AND (w.visibility = 'all' OR m.role IN ('manager', 'admin') OR c.owner_id = t.assignee_id)";

const TASK_SELECT: &str =
    "SELECT t.id, t.assignee_id, t.title, t.due_at, t.source, t.status, d.number AS deal_number,
        c.name AS contact_name
     FROM tasks t
     JOIN workspaces w ON w.id = t.workspace_id
     LEFT JOIN members m ON m.workspace_id = t.workspace_id AND m.user_id = t.assignee_id";

/// One assignee's tasks ($1 workspace, $2 assignee, $3 status or all): the list and its count.
const TASK_FILTER: &str =
    "t.workspace_id = $1 AND t.assignee_id = $2 AND ($3::text IS NULL OR t.status = $3)";

impl Tx {
    /// Inserts a task and returns its id.
    pub async fn insert_task(
        &mut self,
        ws: i64,
        t: &NewTask,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO tasks (workspace_id, assignee_id, created_by, title, due_at, source, deal_id, contact_id,
                                activity_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(ws)
        .bind(t.assignee_id)
        .bind(t.created_by)
        .bind(&t.title)
        .bind(t.due_at)
        .bind(t.source)
        .bind(t.deal_id)
        .bind(t.contact_id)
        .bind(t.activity_id)
        .bind(now)
        .fetch_one(self.conn())
        .await?)
    }

    /// A task by id.
    pub async fn task(&mut self, ws: i64, id: i64) -> StoreResult<Option<TaskRow>> {
        let sql = format!("{TASK_SELECT} {TASK_LINKS} WHERE t.workspace_id = $1 AND t.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// A member's tasks with the given status (`None` for all), soonest first.
    pub async fn list_tasks(
        &mut self,
        ws: i64,
        assignee: i64,
        status: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<TaskRow>> {
        let sql = format!(
            "{TASK_SELECT} {TASK_LINKS} WHERE {TASK_FILTER}
             ORDER BY t.status = 'open' DESC, t.due_at LIMIT $4"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(assignee)
            .bind(status)
            .bind(limit)
            .fetch_all(self.conn())
            .await?)
    }

    /// How many tasks [`Tx::list_tasks`] would show without its limit.
    pub async fn count_tasks(
        &mut self,
        ws: i64,
        assignee: i64,
        status: Option<&str>,
    ) -> StoreResult<i64> {
        let sql = format!("SELECT count(*) FROM tasks t WHERE {TASK_FILTER}");
        Ok(sqlx::query_scalar(&sql)
            .bind(ws)
            .bind(assignee)
            .bind(status)
            .fetch_one(self.conn())
            .await?)
    }

    /// Marks a task done.
    pub async fn complete_task(&mut self, ws: i64, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE tasks SET status = 'done', done_at = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Moves a task's due time.
    pub async fn snooze_task(&mut self, ws: i64, id: i64, due: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE tasks SET due_at = $3, snooze_count = snooze_count + 1 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .bind(due)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
