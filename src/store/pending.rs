//! Uploads waiting for their Import button: `/import` keeps the file here between the preview
//! and the click, scoped to the workspace and to the member who sent it.

use super::{StoreResult, Tx};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A file waiting to be imported.
#[derive(Clone, sqlx::FromRow)]
pub struct PendingImport {
    pub id: i64,
    pub actor_id: i64,
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// What the command asked for (source, kind), as the engine wrote it.
    pub options: Value,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingImport")
            .field("id", &self.id)
            .field("actor_id", &self.actor_id)
            .field("file_name", &self.file_name)
            .field("bytes", &self.bytes.len())
            .field("options", &self.options)
            .finish()
    }
}

impl Tx {
    /// Clears the workspace's uploads older than `expired_before`, so that abandoned previews
    /// do not pile up.
    pub async fn clear_expired_pending_imports(
        &mut self,
        ws: i64,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM pending_imports WHERE workspace_id = $1 AND created_at < $2")
            .bind(ws)
            .bind(expired_before)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Keeps an upload for its Import button. Returns the new id.
    pub async fn insert_pending_import(
        &mut self,
        ws: i64,
        actor: i64,
        file_name: &str,
        bytes: &[u8],
        options: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO pending_imports (workspace_id, actor_id, file_name, bytes, options, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(ws)
        .bind(actor)
        .bind(file_name)
        .bind(bytes)
        .bind(options)
        .bind(now)
        .fetch_one(self.conn())
        .await?)
    }

    /// Removes and returns upload `id` of workspace `ws` if `actor` sent it and it is not
    /// older than `expired_before`; `None` otherwise (another member's, expired, already
    /// taken). Taking it in the click's transaction makes a double click import once.
    pub async fn take_pending_import(
        &mut self,
        ws: i64,
        id: i64,
        actor: i64,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<Option<PendingImport>> {
        Ok(sqlx::query_as(
            "DELETE FROM pending_imports
              WHERE workspace_id = $1 AND id = $2 AND actor_id = $3 AND created_at >= $4
              RETURNING id, actor_id, file_name, bytes, options, created_at",
        )
        .bind(ws)
        .bind(id)
        .bind(actor)
        .bind(expired_before)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Import `id` of `ws`, if there is one.
    pub async fn import_record(
        &mut self,
        ws: i64,
        id: i64,
    ) -> StoreResult<Option<super::ImportRow>> {
        Ok(sqlx::query_as(
            "SELECT id, actor_id, files, status, created, updated, matched, refused, started_at, heartbeat_at,
                    finished_at, undone_at
             FROM imports WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .fetch_optional(self.conn())
        .await?)
    }
}
