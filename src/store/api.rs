//! What the HTTP API reads and keeps: tokens (only their SHA-256), `Idempotency-Key` answers,
//! and records a page at a time for its lists, keyed by `(workspace_id, id) > cursor` like the
//! export, with the list filters. Writes do not live here: they go through the engine's
//! commands like chat's. The row structs are the API's JSON (their field names are the report
//! JSON's: money in minor units beside its currency), so they derive `Serialize` and the
//! OpenAPI schema.

use super::{StoreError, StoreResult, Tx};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// How long an `Idempotency-Key`'s answer is kept.
pub const IDEMPOTENCY_HOURS: i64 = 24;
/// A first request that has not finished after this is taken to have died with its process;
/// its key may be used again.
const IN_FLIGHT_SECONDS: i64 = 60;

/// A token as its owner sees it (never its text or hash).
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct TokenRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an `Idempotency-Key` says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Idempotency {
    /// First use (or a takeover): run the request under this claim, then
    /// [`Tx::finish_idempotency`] with it.
    New(i64),
    /// Answered before: the first answer as it was sent.
    Replay(KeptAnswer),
    /// The key was used with a different request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// An answer kept under an `Idempotency-Key`: status, content type (`None`: it named none) and the
/// body's bytes, so a replay is exactly the first answer.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Where a claimed key stands, seen from a command's transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyState {
    /// The request under the key was applied already, with this reply data.
    Applied(Option<Value>),
    /// Not applied, and the claim is still the caller's: run.
    Held,
    /// Another request took the key over (the caller stalled past the takeover) or it is
    /// gone: the caller must not run.
    Lost,
}

/// Filters of a list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// A stage id (deals).
    pub stage: Option<i64>,
    /// `open`, `won`, `lost` (deals) or `open`, `done` (tasks).
    pub status: Option<String>,
    /// The owner's (assignee's, logger's) user id.
    pub owner: Option<i64>,
    pub updated_since: Option<DateTime<Utc>>,
    /// The last row id of the page before.
    pub after: i64,
    pub limit: i64,
}

/// A deal in the API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ApiDeal {
    /// The deal's number in its workspace: `D-42` is 42.
    #[sqlx(rename = "number")]
    pub id: i64,
    /// As chat shows it: `D-42`.
    pub r#ref: String,
    pub title: String,
    pub stage_id: i64,
    pub stage: String,
    /// `open`, `won` or `lost`.
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub company_id: Option<i64>,
    pub company: Option<String>,
    pub contact_id: Option<i64>,
    pub contact: Option<String>,
    pub owner_id: i64,
    pub owner: Option<String>,
    pub expected_close: Option<NaiveDate>,
    pub lost_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The row id, the list cursor; not shown.
    #[serde(skip)]
    #[schema(ignore)]
    pub row_id: i64,
}

/// A contact in the API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ApiContact {
    pub id: i64,
    pub r#ref: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub company_id: Option<i64>,
    pub company: Option<String>,
    pub owner_id: i64,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A company in the API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ApiCompany {
    pub id: i64,
    pub r#ref: String,
    pub name: String,
    pub industry: Option<String>,
    pub tier: Option<String>,
    pub website: Option<String>,
    pub owner_id: i64,
    pub contract_end: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A logged activity in the API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ApiActivity {
    pub id: i64,
    pub contact_id: i64,
    pub contact: String,
    /// The deal's number, when the activity was logged on one.
    pub deal_id: Option<i64>,
    pub member_id: i64,
    /// `call`, `email`, `meeting`, `visit`, `message` or `note`.
    pub kind: String,
    pub summary: String,
    pub satisfaction: Option<i16>,
    pub happened_at: DateTime<Utc>,
}

/// A product in the API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ApiProduct {
    pub id: i64,
    pub name: String,
    pub list_price_minor: i64,
    pub currency: String,
}

/// A task in the API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ApiTask {
    pub id: i64,
    pub r#ref: String,
    pub title: String,
    pub assignee_id: i64,
    /// `open` or `done`.
    pub status: String,
    pub due_at: DateTime<Utc>,
    /// The deal's number.
    pub deal_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

const DEAL_SELECT: &str =
    "SELECT d.id AS row_id, d.number, 'D-' || d.number AS ref, d.title, d.stage_id,
        s.name AS stage, d.status, d.amount_minor, d.currency, d.company_id, co.name AS company,
        d.contact_id, ct.name AS contact, d.owner_id, m.display_name AS owner, d.expected_close,
        d.lost_reason, d.created_at, d.updated_at, d.closed_at
   FROM deals d
   JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
   LEFT JOIN companies co ON co.workspace_id = d.workspace_id AND co.id = d.company_id
   LEFT JOIN contacts ct ON ct.workspace_id = d.workspace_id AND ct.id = d.contact_id
   LEFT JOIN members m ON m.workspace_id = d.workspace_id AND m.user_id = d.owner_id";

const CONTACT_SELECT: &str = "SELECT c.id, 'C-' || c.id AS ref, c.name, c.email, c.phone, c.title,
        c.company_id, co.name AS company, c.owner_id, c.tags, c.created_at
   FROM contacts c
   LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id";

const COMPANY_SELECT: &str =
    "SELECT id, 'CO-' || id AS ref, name, industry, tier, website, owner_id,
        contract_end, tags, created_at
   FROM companies";

const ACTIVITY_SELECT: &str = "SELECT a.id, a.contact_id, c.name AS contact, d.number AS deal_id,
        a.member_id, a.kind, a.summary, a.satisfaction, a.happened_at
   FROM activities a
   JOIN contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id
   LEFT JOIN deals d ON d.workspace_id = a.workspace_id AND d.id = a.deal_id";

const TASK_SELECT: &str =
    "SELECT t.id, 'T-' || t.id AS ref, t.title, t.assignee_id, t.status, t.due_at,
        d.number AS deal_id, t.contact_id, t.created_at
   FROM tasks t
   LEFT JOIN deals d ON d.workspace_id = t.workspace_id AND d.id = t.deal_id";

impl Tx {
    /// Stores a new token's hash; `None` when the workspace already has a live token of that
    /// name.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_token(
        &mut self,
        ws: i64,
        name: &str,
        scope: &str,
        hash: &[u8],
        created_by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRow>> {
        let row = sqlx::query_as::<_, TokenRow>(
            "INSERT INTO api_tokens (workspace_id, name, scope, hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, workspace_id, name, scope, created_by, created_at, last_used_at, revoked_at",
        )
        .bind(ws)
        .bind(name)
        .bind(scope)
        .bind(hash)
        .bind(created_by)
        .bind(now)
        .fetch_one(self.conn())
        .await;
        match row {
            Ok(r) => Ok(Some(r)),
            Err(e) => match StoreError::from(e) {
                StoreError::Duplicate(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The workspace's live tokens, newest first.
    pub async fn tokens(&mut self, ws: i64) -> StoreResult<Vec<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT id, workspace_id, name, scope, created_by, created_at, last_used_at, revoked_at
               FROM api_tokens WHERE workspace_id = $1 AND revoked_at IS NULL ORDER BY id DESC",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// Revokes one live token: the one of that name, else the one of that id; the revoked
    /// token, if there was one.
    pub async fn revoke_token(
        &mut self,
        ws: i64,
        id: Option<i64>,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRow>> {
        // One token: the one of that name, else the one with that id (a token may be named
        // "7" while another has id 7; both went before).
        Ok(sqlx::query_as(
            "UPDATE api_tokens SET revoked_at = $4
              WHERE workspace_id = $1 AND revoked_at IS NULL AND id = (
                    SELECT id FROM api_tokens
                     WHERE workspace_id = $1 AND revoked_at IS NULL AND (id = $2 OR lower(name) = lower($3))
                     ORDER BY lower(name) = lower($3) DESC LIMIT 1)
              RETURNING id, workspace_id, name, scope, created_by, created_at, last_used_at, revoked_at",
        )
        .bind(ws)
        .bind(id)
        .bind(name)
        .bind(now)
        .fetch_optional(self.conn())
        .await?)
    }

    /// The live token with this hash, in whichever workspace it belongs to, and whether its
    /// maker is an admin of that workspace as the server last showed them (always, for a token
    /// made on the server); notes its use at most once a minute (a write per request would make
    /// every read a write).
    pub async fn token_by_hash(
        &mut self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(TokenRow, bool)>> {
        #[derive(sqlx::FromRow)]
        struct Found {
            #[sqlx(flatten)]
            token: TokenRow,
            maker_admin: bool,
        }
        let row: Option<Found> = sqlx::query_as(
            "SELECT t.id, t.workspace_id, t.name, t.scope, t.created_by, t.created_at, t.last_used_at,
                    t.revoked_at, t.created_by IS NULL OR m.role IS NOT DISTINCT FROM 'admin' AS maker_admin
               FROM api_tokens t
               LEFT JOIN members m ON m.workspace_id = t.workspace_id AND m.user_id = t.created_by
              WHERE t.hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(self.conn())
        .await?;
        let row = row.map(|f| (f.token, f.maker_admin));
        // A token refused for its maker is not noted as used.
        if let Some((t, true)) = &row {
            if t.last_used_at
                .is_none_or(|at| now - at > chrono::TimeDelta::minutes(1))
            {
                sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $3 WHERE workspace_id = $1 AND id = $2",
                )
                .bind(t.workspace_id)
                .bind(t.id)
                .bind(now)
                .execute(self.conn())
                .await?;
            }
        }
        Ok(row)
    }

    /// Claims an `Idempotency-Key` for a request whose method, path and body hash to
    /// `request`, or says how it was used before. Keys older than a day are forgotten here.
    /// A key whose request was applied but never answered (see [`Tx::idempotency_applied`]) is
    /// claimed again at once: the retry is answered from what was applied, not run again.
    pub async fn claim_idempotency(
        &mut self,
        ws: i64,
        token: i64,
        key: &str,
        request: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Idempotency> {
        let expired = now - chrono::TimeDelta::hours(IDEMPOTENCY_HOURS);
        let stale = now - chrono::TimeDelta::seconds(IN_FLIGHT_SECONDS);
        // An expired key, or a first request that died mid-way, is taken over in place.
        let claim: i64 = rand::random();
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (workspace_id, token_id, key, request_hash, created_at, claim)
             VALUES ($1, $2, $3, $4, $5, $8)
             ON CONFLICT (workspace_id, token_id, key) DO UPDATE
                SET request_hash = excluded.request_hash, status = NULL, body = NULL, content_type = NULL,
                    claim = excluded.claim,
                    applied = CASE WHEN idempotency_keys.created_at < $6 THEN NULL
                                   ELSE idempotency_keys.applied END,
                    created_at = excluded.created_at
              WHERE idempotency_keys.created_at < $6
                 OR (idempotency_keys.status IS NULL AND idempotency_keys.request_hash = excluded.request_hash
                     AND (idempotency_keys.created_at < $7 OR idempotency_keys.applied IS NOT NULL))",
        )
        .bind(ws)
        .bind(token)
        .bind(key)
        .bind(request)
        .bind(now)
        .bind(expired)
        .bind(stale)
        .bind(claim)
        .execute(self.conn())
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(Idempotency::New(claim));
        }
        type Row = (Vec<u8>, Option<i16>, Option<String>, Option<Vec<u8>>);
        let (hash, status, content_type, body): Row = sqlx::query_as(
            "SELECT request_hash, status, content_type, body FROM idempotency_keys
              WHERE workspace_id = $1 AND token_id = $2 AND key = $3",
        )
        .bind(ws)
        .bind(token)
        .bind(key)
        .fetch_one(self.conn())
        .await?;
        Ok(if hash != request {
            Idempotency::Mismatch
        } else {
            match status {
                Some(s) => Idempotency::Replay(KeptAnswer {
                    status: u16::try_from(s).unwrap_or(500),
                    content_type,
                    body: body.unwrap_or_default(),
                }),
                None => Idempotency::InFlight,
            }
        })
    }

    /// In a command's transaction: whether the request under this key was applied already,
    /// and if so the reply data it recorded (`Some(None)`: applied, with no data). The key's
    /// row is locked until the transaction ends, so a second request with the key (taken over
    /// while the first still runs) waits for the first to commit or roll back, then sees
    /// which it did.
    pub async fn idempotency_applied(
        &mut self,
        ws: i64,
        token: i64,
        key: &str,
        claim: i64,
    ) -> StoreResult<KeyState> {
        // The key's row lock and its mark must last until the command's writes commit.
        self.open().await?;
        let row: Option<(Option<Value>, Option<i64>)> = sqlx::query_as(
            "SELECT applied, claim FROM idempotency_keys
              WHERE workspace_id = $1 AND token_id = $2 AND key = $3 FOR UPDATE",
        )
        .bind(ws)
        .bind(token)
        .bind(key)
        .fetch_optional(self.conn())
        .await?;
        Ok(match row {
            Some((Some(applied), _)) => {
                KeyState::Applied(applied.get("data").cloned().filter(|d| !d.is_null()))
            }
            Some((None, Some(c))) if c == claim => KeyState::Held,
            _ => KeyState::Lost,
        })
    }

    /// In a command's transaction: records that the request under this key was applied, with
    /// the data its reply named, so the write and the record commit together.
    pub async fn mark_idempotency_applied(
        &mut self,
        ws: i64,
        token: i64,
        key: &str,
        claim: i64,
        data: Option<&Value>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET applied = jsonb_build_object('data', $4::jsonb)
              WHERE workspace_id = $1 AND token_id = $2 AND key = $3 AND claim = $5",
        )
        .bind(ws)
        .bind(token)
        .bind(key)
        .bind(data)
        .bind(claim)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Keeps a request's answer under its key.
    pub async fn finish_idempotency(
        &mut self,
        ws: i64,
        token: i64,
        key: &str,
        claim: i64,
        answer: &KeptAnswer,
    ) -> StoreResult<()> {
        // Only while the claim is still this request's: a request that stalled past the
        // takeover must not answer for its retry.
        sqlx::query(
            "UPDATE idempotency_keys SET status = $4, content_type = $5, body = $6
              WHERE workspace_id = $1 AND token_id = $2 AND key = $3 AND claim = $7",
        )
        .bind(ws)
        .bind(token)
        .bind(key)
        .bind(i16::try_from(answer.status).unwrap_or(500))
        .bind(&answer.content_type)
        .bind(&answer.body)
        .bind(claim)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Lets a key go after its request failed before answering, so a retry runs it; a key
    /// whose command was applied stays, so the retry is answered from it instead.
    pub async fn release_idempotency(
        &mut self,
        ws: i64,
        token: i64,
        key: &str,
        claim: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys
              WHERE workspace_id = $1 AND token_id = $2 AND key = $3 AND claim = $4
                AND status IS NULL AND applied IS NULL",
        )
        .bind(ws)
        .bind(token)
        .bind(key)
        .bind(claim)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Deals of `ws`, a page after `f.after` (row id), filtered.
    ///
    /// The filtered lists are planned with their values on every call (`persistent(false)`: an
    /// unnamed statement). A filter left out is `$n IS NULL`, which a prepared statement's
    /// generic plan cannot see: after five calls it took the page for one row, joined every deal
    /// of the workspace to its names and sorted them for the first 100. On the 1M-deal bench's
    /// workspace of 100,900 deals that was 1.1-1.6 s a page; planned with the values, the first
    /// page takes 1-3 ms and 0.6-0.9 ms of planning: it walks the primary key and stops at the
    /// page.
    pub async fn api_deals(&mut self, ws: i64, f: &ListFilter) -> StoreResult<Vec<ApiDeal>> {
        let sql = format!(
            "{DEAL_SELECT}
              WHERE d.workspace_id = $1 AND d.id > $2
                AND ($3::bigint IS NULL OR d.stage_id = $3)
                AND ($4::text IS NULL OR d.status = $4)
                AND ($5::bigint IS NULL OR d.owner_id = $5)
                AND ($6::timestamptz IS NULL OR d.updated_at >= $6)
              ORDER BY d.id LIMIT $7"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.after)
            .bind(f.stage)
            .bind(&f.status)
            .bind(f.owner)
            .bind(f.updated_since)
            .bind(f.limit)
            .persistent(false)
            .fetch_all(self.conn())
            .await?)
    }

    /// One deal of `ws` by its number.
    pub async fn api_deal(&mut self, ws: i64, number: i64) -> StoreResult<Option<ApiDeal>> {
        let sql = format!("{DEAL_SELECT} WHERE d.workspace_id = $1 AND d.number = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(number)
            .fetch_optional(self.conn())
            .await?)
    }

    /// One deal of `ws` by its row id (what a command's reply names).
    pub async fn api_deal_by_row(&mut self, ws: i64, id: i64) -> StoreResult<Option<ApiDeal>> {
        let sql = format!("{DEAL_SELECT} WHERE d.workspace_id = $1 AND d.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Contacts of `ws`, a page after `f.after`.
    pub async fn api_contacts(&mut self, ws: i64, f: &ListFilter) -> StoreResult<Vec<ApiContact>> {
        let sql = format!(
            "{CONTACT_SELECT}
              WHERE c.workspace_id = $1 AND c.id > $2
                AND ($3::bigint IS NULL OR c.owner_id = $3)
                AND ($4::timestamptz IS NULL OR c.created_at >= $4)
              ORDER BY c.id LIMIT $5"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.after)
            .bind(f.owner)
            .bind(f.updated_since)
            .bind(f.limit)
            .persistent(false)
            .fetch_all(self.conn())
            .await?)
    }

    pub async fn api_contact(&mut self, ws: i64, id: i64) -> StoreResult<Option<ApiContact>> {
        let sql = format!("{CONTACT_SELECT} WHERE c.workspace_id = $1 AND c.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Companies of `ws`, a page after `f.after`.
    pub async fn api_companies(&mut self, ws: i64, f: &ListFilter) -> StoreResult<Vec<ApiCompany>> {
        let sql = format!(
            "{COMPANY_SELECT}
              WHERE workspace_id = $1 AND id > $2
                AND ($3::bigint IS NULL OR owner_id = $3)
                AND ($4::timestamptz IS NULL OR created_at >= $4)
              ORDER BY id LIMIT $5"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.after)
            .bind(f.owner)
            .bind(f.updated_since)
            .bind(f.limit)
            .persistent(false)
            .fetch_all(self.conn())
            .await?)
    }

    pub async fn api_company(&mut self, ws: i64, id: i64) -> StoreResult<Option<ApiCompany>> {
        let sql = format!("{COMPANY_SELECT} WHERE workspace_id = $1 AND id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Activities of `ws`, a page after `f.after`; `owner` is who logged them.
    pub async fn api_activities(
        &mut self,
        ws: i64,
        f: &ListFilter,
    ) -> StoreResult<Vec<ApiActivity>> {
        let sql = format!(
            "{ACTIVITY_SELECT}
              WHERE a.workspace_id = $1 AND a.id > $2
                AND ($3::bigint IS NULL OR a.member_id = $3)
                AND ($4::timestamptz IS NULL OR a.created_at >= $4)
              ORDER BY a.id LIMIT $5"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.after)
            .bind(f.owner)
            .bind(f.updated_since)
            .bind(f.limit)
            .persistent(false)
            .fetch_all(self.conn())
            .await?)
    }

    pub async fn api_activity(&mut self, ws: i64, id: i64) -> StoreResult<Option<ApiActivity>> {
        let sql = format!("{ACTIVITY_SELECT} WHERE a.workspace_id = $1 AND a.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// The workspace's products, a page after `f.after`.
    pub async fn api_products(&mut self, ws: i64, f: &ListFilter) -> StoreResult<Vec<ApiProduct>> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.name, p.list_price_minor, w.currency
               FROM products p JOIN workspaces w ON w.id = p.workspace_id
              WHERE p.workspace_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3",
        )
        .bind(ws)
        .bind(f.after)
        .bind(f.limit)
        .fetch_all(self.conn())
        .await?)
    }

    pub async fn api_product(&mut self, ws: i64, id: i64) -> StoreResult<Option<ApiProduct>> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.name, p.list_price_minor, w.currency
               FROM products p JOIN workspaces w ON w.id = p.workspace_id
              WHERE p.workspace_id = $1 AND p.id = $2",
        )
        .bind(ws)
        .bind(id)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Tasks of `ws`, a page after `f.after`; `owner` is the assignee.
    pub async fn api_tasks(&mut self, ws: i64, f: &ListFilter) -> StoreResult<Vec<ApiTask>> {
        let sql = format!(
            "{TASK_SELECT}
              WHERE t.workspace_id = $1 AND t.id > $2
                AND ($3::text IS NULL OR t.status = $3)
                AND ($4::bigint IS NULL OR t.assignee_id = $4)
                AND ($5::timestamptz IS NULL OR t.created_at >= $5)
              ORDER BY t.id LIMIT $6"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(f.after)
            .bind(&f.status)
            .bind(f.owner)
            .bind(f.updated_since)
            .bind(f.limit)
            .persistent(false)
            .fetch_all(self.conn())
            .await?)
    }

    pub async fn api_task(&mut self, ws: i64, id: i64) -> StoreResult<Option<ApiTask>> {
        let sql = format!("{TASK_SELECT} WHERE t.workspace_id = $1 AND t.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// The workspace's stage ids.
    pub async fn stage_ids(&mut self, ws: i64) -> StoreResult<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM stages WHERE workspace_id = $1")
                .bind(ws)
                .fetch_all(self.conn())
                .await?,
        )
    }

    /// The workspace's stage of that name (case-insensitive), for the `stage` filter.
    pub async fn stage_id_named(&mut self, ws: i64, name: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM stages WHERE workspace_id = $1 AND lower(name) = lower($2)",
        )
        .bind(ws)
        .bind(name)
        .fetch_optional(self.conn())
        .await?)
    }
}

impl super::Store {
    /// Deletes the `Idempotency-Key` records older than [`IDEMPOTENCY_HOURS`] at `now`, at most
    /// `batch` a statement, and returns how many went. A claim treats such a key as unused
    /// already; this keeps the keys no one sends again from piling up. A key claimed again
    /// while it is being deleted is kept: the delete checks its age on the row it finds.
    pub async fn expire_idempotency_keys(
        &self,
        now: DateTime<Utc>,
        batch: i64,
    ) -> StoreResult<u64> {
        let expired = now - chrono::TimeDelta::hours(IDEMPOTENCY_HOURS);
        self.delete_in_batches(batch, || {
            sqlx::query(
                "DELETE FROM idempotency_keys k
                 USING (SELECT workspace_id, token_id, key FROM idempotency_keys
                        WHERE created_at < $1 LIMIT $2) old
                 WHERE k.workspace_id = old.workspace_id AND k.token_id = old.token_id
                   AND k.key = old.key AND k.created_at < $1",
            )
            .bind(expired)
            .bind(batch)
        })
        .await
    }

    /// Messages waiting in the outbox, and how long the oldest due one has waited (seconds).
    pub async fn outbox_gauges(&self, now: DateTime<Utc>) -> StoreResult<(i64, f64)> {
        Ok(sqlx::query_as(
            "SELECT count(*), COALESCE(extract(epoch FROM $1 - min(next_attempt_at)
                                       FILTER (WHERE next_attempt_at <= $1))::float8, 0)
               FROM outbox WHERE status = 'pending'",
        )
        .bind(now)
        .fetch_one(self.pool())
        .await?)
    }

    /// Ready to serve: the database answers and every migration this binary knows is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        use anyhow::Context;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.pool())
                .await
                .context("the database does not answer")?;
        let missing: Vec<i64> = sqlx::migrate!("./migrations")
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        anyhow::ensure!(missing.is_empty(), "migrations not applied: {missing:?}");
        Ok(())
    }
}
