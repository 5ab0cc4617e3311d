//! Outgoing webhooks: endpoints (their secrets kept apart from the audited row), events written
//! in the transaction of the change they report, and one delivery per subscribed endpoint,
//! claimed by workers with `FOR UPDATE SKIP LOCKED` and a lease like the outbox.

use super::{Store, StoreResult, Tx};
use crate::domain::money::{line_value, TotalOverflow};
use crate::domain::webhook::{
    ActivityEvent, CompanyEvent, CompanyRefData, ContactEvent, ContactRefData, DealData, LineData,
    MemberData,
};
use chrono::{DateTime, Utc};

/// An endpoint as the admin sees it (and the API shows it: never its secret).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct EndpointRow {
    /// Id (`W-3` is 3).
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// Event types it asked for.
    pub events: Vec<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When delivery disabled it.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why.
    pub disabled_reason: Option<String>,
    /// Failing without a success since.
    pub failing_since: Option<DateTime<Utc>>,
    /// Deliveries waiting.
    pub pending: i64,
    /// Deliveries given up.
    pub failed: i64,
}

/// How a delivery sent again becomes due (`$3` now, `$4` a fresh random claim): one a worker
/// holds (a claim set: in flight, or cancelled while in flight) keeps its lease, since that
/// worker may be posting it this moment, and gets a claim no worker holds, so that worker's
/// outcome changes nothing and the delivery goes again once the lease ends (not twice at
/// once, and not marked failed by the attempt the redelivery outlived); any other is due now.
/// Every worker's outcome clears the claim.
const AGAIN: &str =
    "next_attempt_at = CASE WHEN d.claim IS NOT NULL THEN greatest(d.next_attempt_at, $3)
                                           ELSE $3 END,
                     claim = CASE WHEN d.claim IS NOT NULL THEN $4 END";

/// A claimed delivery with everything needed to send it.
#[derive(Clone, sqlx::FromRow)]
pub struct WebhookJob {
    /// Workspace.
    pub workspace_id: i64,
    /// Delivery id.
    pub id: i64,
    /// Endpoint id.
    pub endpoint_id: i64,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// `webhook-id`: the same on every attempt.
    pub msg_id: String,
    /// Event type, for logs and metrics.
    pub event_type: String,
    /// The body, byte for byte as first serialized.
    pub body: String,
    /// Where it goes.
    pub url: String,
    /// The signing key (`whsec_...`); never logged.
    pub secret: Option<String>,
    /// The endpoint is neither removed nor disabled.
    pub live: bool,
    /// The endpoint's first failure since its last success.
    pub failing_since: Option<DateTime<Utc>>,
    /// This claim's mark on the row: every outcome recorded names it.
    pub claim: i64,
}

/// The secret stays out of `Debug`, so a logged job never shows it.
impl std::fmt::Debug for WebhookJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookJob")
            .field("workspace_id", &self.workspace_id)
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("attempts", &self.attempts)
            .field("msg_id", &self.msg_id)
            .field("event_type", &self.event_type)
            .field("url", &self.url)
            .field("secret", &"***")
            .finish()
    }
}

/// How a delivery attempt failed.
#[derive(Clone, Copy, Debug)]
pub struct FailedAttempt<'a> {
    /// The HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: &'a str,
    /// The next attempt; `None` gives the delivery up.
    pub next_at: Option<DateTime<Utc>>,
}

/// A delivery's record, for tests and for the admin's list.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Delivery id.
    pub id: i64,
    /// Endpoint.
    pub endpoint_id: i64,
    /// `webhook-id`.
    pub msg_id: String,
    /// Event type.
    pub event_type: String,
    /// pending, delivered, failed or cancelled.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last HTTP status the endpoint answered.
    pub last_status: Option<i32>,
    /// The last error.
    pub last_error: Option<String>,
}

const ENDPOINT_SELECT: &str = "SELECT e.id, e.url, e.events, e.created_at, e.disabled_at, e.disabled_reason, e.failing_since,
        (SELECT count(*) FROM webhook_deliveries d WHERE d.workspace_id = e.workspace_id AND d.endpoint_id = e.id AND d.status = 'pending') AS pending,
        (SELECT count(*) FROM webhook_deliveries d WHERE d.workspace_id = e.workspace_id AND d.endpoint_id = e.id AND d.status = 'failed') AS failed
 FROM webhook_endpoints e WHERE e.workspace_id = $1 AND e.removed_at IS NULL";

#[derive(sqlx::FromRow)]
struct ContactEventRow {
    id: i64,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    company_id: Option<i64>,
    company_name: Option<String>,
    owner_id: i64,
    owner_name: Option<String>,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CompanyEventRow {
    id: i64,
    name: String,
    industry: Option<String>,
    tier: Option<String>,
    website: Option<String>,
    owner_id: i64,
    owner_name: Option<String>,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ActivityEventRow {
    id: i64,
    kind: String,
    summary: String,
    satisfaction: Option<i16>,
    happened_at: DateTime<Utc>,
    contact_id: i64,
    contact_name: String,
    contact_email: Option<String>,
    deal_id: Option<i64>,
    deal_number: Option<i64>,
    member_id: i64,
    member_name: Option<String>,
}

impl Tx {
    /// Serializes the adds of one workspace's endpoints until the transaction ends: two adds
    /// at once would otherwise both count nine and make eleven.
    pub async fn lock_endpoint_adds(&mut self, ws: i64) -> StoreResult<()> {
        self.lock_name(ws, "webhook-endpoints", "").await
    }

    /// Adds an endpoint and keeps its secret apart; returns its id.
    pub async fn insert_webhook_endpoint(
        &mut self,
        ws: i64,
        url: &str,
        events: &[String],
        secret: &str,
        by: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_endpoints (workspace_id, url, events, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(ws)
        .bind(url)
        .bind(events)
        .bind(by)
        .bind(now)
        .fetch_one(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO webhook_secrets (workspace_id, endpoint_id, secret) VALUES ($1, $2, $3)",
        )
        .bind(ws)
        .bind(id)
        .bind(secret)
        .execute(self.conn())
        .await?;
        Ok(id)
    }

    /// The workspace's endpoints (not removed), oldest first.
    pub async fn webhook_endpoints(&mut self, ws: i64) -> StoreResult<Vec<EndpointRow>> {
        let sql = format!("{ENDPOINT_SELECT} ORDER BY e.id");
        Ok(sqlx::query_as(&sql).bind(ws).fetch_all(self.conn()).await?)
    }

    /// One endpoint (not removed).
    pub async fn webhook_endpoint(&mut self, ws: i64, id: i64) -> StoreResult<Option<EndpointRow>> {
        let sql = format!("{ENDPOINT_SELECT} AND e.id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Removes an endpoint: nothing more goes to it; the row stays for `/undo`.
    pub async fn remove_webhook_endpoint(
        &mut self,
        ws: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_endpoints SET removed_at = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The event types some live endpoint of the workspace listens to: a command whose events
    /// nobody wants writes nothing.
    pub async fn webhook_subscriptions(&mut self, ws: i64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT unnest(events) FROM webhook_endpoints
             WHERE workspace_id = $1 AND removed_at IS NULL AND disabled_at IS NULL",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// Writes an event and a due delivery for every live endpoint that asked for its type;
    /// returns how many deliveries.
    pub async fn enqueue_webhook_event(
        &mut self,
        ws: i64,
        msg_id: &str,
        event_type: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "WITH subs AS (
                 SELECT id FROM webhook_endpoints
                 WHERE workspace_id = $1 AND removed_at IS NULL AND disabled_at IS NULL AND $3 = ANY (events)),
             ev AS (
                 INSERT INTO webhook_events (workspace_id, msg_id, event_type, body, created_at)
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM subs)
                 RETURNING id)
             INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, next_attempt_at, created_at)
             SELECT $1, ev.id, subs.id, $5, $5 FROM ev, subs",
        )
        .bind(ws)
        .bind(msg_id)
        .bind(event_type)
        .bind(body)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected())
    }

    /// Sends an event again, under its own `webhook-id`, to every live endpoint it went to (or
    /// is going to); `None` when the workspace has no such event.
    pub async fn redeliver_webhook_event(
        &mut self,
        ws: i64,
        msg_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>> {
        let event: Option<i64> = sqlx::query_scalar(
            // Locked so that the expiry (`Store::expire_webhook_events`) passes over an
            // event being sent again.
            "SELECT id FROM webhook_events WHERE workspace_id = $1 AND msg_id = $2 FOR KEY SHARE",
        )
        .bind(ws)
        .bind(msg_id)
        .fetch_optional(self.conn())
        .await?;
        let Some(event) = event else {
            return Ok(None);
        };
        let done = sqlx::query(
            // See `AGAIN`.
            &format!(
                "UPDATE webhook_deliveries d
                 SET status = 'pending', attempts = 0, last_error = NULL, delivered_at = NULL, {AGAIN}
                 FROM webhook_endpoints e
                 WHERE d.workspace_id = $1 AND d.event_id = $2
                   AND e.workspace_id = d.workspace_id AND e.id = d.endpoint_id
                   AND e.removed_at IS NULL AND e.disabled_at IS NULL"
            ),
        )
        .bind(ws)
        .bind(event)
        .bind(now)
        .bind(rand::random::<i64>())
        .execute(self.conn())
        .await?;
        Ok(Some(done.rows_affected()))
    }

    /// Turns an endpoint back on (clearing a disable and its failure streak) and sends again
    /// what it failed or missed since `since`; returns how many.
    pub async fn redeliver_webhook_endpoint(
        &mut self,
        ws: i64,
        id: i64,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .execute(self.conn())
        .await?;
        let done = sqlx::query(&format!(
            // `$3` is the time here: `AGAIN` names it so.
            "UPDATE webhook_deliveries d
             SET status = 'pending', attempts = 0, last_error = NULL, {AGAIN}
             WHERE d.workspace_id = $1 AND d.endpoint_id = $2 AND d.status IN ('failed', 'cancelled')
               AND d.created_at >= $5"
        ))
        .bind(ws)
        .bind(id)
        .bind(now)
        .bind(rand::random::<i64>())
        .bind(since)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected())
    }

    /// Disables an endpoint that delivery gave up on and cancels what waits for it; its URL
    /// when this call disabled it (so the admins are told once).
    pub async fn disable_webhook_endpoint(
        &mut self,
        ws: i64,
        id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        let url: Option<String> = sqlx::query_scalar(
            "UPDATE webhook_endpoints SET disabled_at = $3, disabled_reason = $4
             WHERE workspace_id = $1 AND id = $2 AND disabled_at IS NULL AND removed_at IS NULL
             RETURNING url",
        )
        .bind(ws)
        .bind(id)
        .bind(now)
        .bind(reason)
        .fetch_optional(self.conn())
        .await?;
        if url.is_some() {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'cancelled', last_error = $3
                 WHERE workspace_id = $1 AND endpoint_id = $2 AND status = 'pending'",
            )
            .bind(ws)
            .bind(id)
            .bind(reason)
            .execute(self.conn())
            .await?;
        }
        Ok(url)
    }

    /// The workspace's admins who take direct messages, with their own language if known;
    /// they are told when an endpoint is disabled.
    pub async fn admins(&mut self, ws: i64) -> StoreResult<Vec<(i64, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT user_id, locale FROM members
             WHERE workspace_id = $1 AND role = 'admin' AND NOT dm_closed ORDER BY user_id",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// A deal as `deal.*` events carry it, with its lines.
    pub async fn webhook_deal(&mut self, ws: i64, id: i64) -> StoreResult<Option<DealData>> {
        let Some(d) = self.deal(ws, id).await? else {
            return Ok(None);
        };
        let lines = self.deal_lines(ws, id).await?;
        let email: Option<String> = match d.contact_id {
            Some(c) => {
                sqlx::query_scalar("SELECT email FROM contacts WHERE workspace_id = $1 AND id = $2")
                    .bind(ws)
                    .bind(c)
                    .fetch_optional(self.conn())
                    .await?
                    .flatten()
            }
            None => None,
        };
        Ok(Some(DealData {
            deal_id: d.id,
            number: d.number,
            reference: format!("D-{}", d.number),
            title: d.title,
            stage: d.stage_name,
            status: d.status.as_str().to_string(),
            amount_minor: d.amount_minor,
            currency: d.currency,
            company: d
                .company_id
                .zip(d.company_name)
                .map(|(company_id, name)| CompanyRefData { company_id, name }),
            contact: d
                .contact_id
                .zip(d.contact_name)
                .map(|(contact_id, name)| ContactRefData {
                    contact_id,
                    name,
                    email,
                }),
            owner: MemberData {
                user_id: d.owner_id,
                name: d.owner_name,
            },
            expected_close: d.expected_close,
            closed_at: d.closed_at,
            lost_reason: d.lost_reason,
            created_at: d.created_at,
            lines: lines
                .into_iter()
                .map(|l| {
                    Ok(LineData {
                        product_id: l.product_id,
                        amount_minor: line_value(l.unit_price_minor, l.quantity)?,
                        name: l.name,
                        quantity: l.quantity,
                        unit_price_minor: l.unit_price_minor,
                        list_price_minor: l.list_price_minor,
                    })
                })
                .collect::<Result<_, TotalOverflow>>()?,
        }))
    }

    /// A member's display name.
    pub async fn member_name(&mut self, ws: i64, user: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT display_name FROM members WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(ws)
        .bind(user)
        .fetch_optional(self.conn())
        .await?)
    }

    /// A contact as `contact.created` carries it.
    pub async fn webhook_contact(
        &mut self,
        ws: i64,
        id: i64,
        by: i64,
    ) -> StoreResult<Option<ContactEvent>> {
        let row: Option<ContactEventRow> = sqlx::query_as(
            "SELECT c.id, c.name, c.email, c.phone, c.title, c.company_id, co.name AS company_name,
                    c.owner_id, m.display_name AS owner_name, c.tags, c.created_at
             FROM contacts c
             LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
             LEFT JOIN members m ON m.workspace_id = c.workspace_id AND m.user_id = c.owner_id
             WHERE c.workspace_id = $1 AND c.id = $2",
        )
        .bind(ws)
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|r| ContactEvent {
            workspace_id: ws,
            contact_id: r.id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            title: r.title,
            company: r
                .company_id
                .zip(r.company_name)
                .map(|(company_id, name)| CompanyRefData { company_id, name }),
            owner: MemberData {
                user_id: r.owner_id,
                name: r.owner_name,
            },
            tags: r.tags,
            created_at: r.created_at,
            changed_by: by,
        }))
    }

    /// A company as `company.created` carries it.
    pub async fn webhook_company(
        &mut self,
        ws: i64,
        id: i64,
        by: i64,
    ) -> StoreResult<Option<CompanyEvent>> {
        let row: Option<CompanyEventRow> = sqlx::query_as(
            "SELECT c.id, c.name, c.industry, c.tier, c.website, c.owner_id, m.display_name AS owner_name,
                    c.tags, c.created_at
             FROM companies c
             LEFT JOIN members m ON m.workspace_id = c.workspace_id AND m.user_id = c.owner_id
             WHERE c.workspace_id = $1 AND c.id = $2",
        )
        .bind(ws)
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|r| CompanyEvent {
            workspace_id: ws,
            company_id: r.id,
            name: r.name,
            industry: r.industry,
            tier: r.tier,
            website: r.website,
            owner: MemberData {
                user_id: r.owner_id,
                name: r.owner_name,
            },
            tags: r.tags,
            created_at: r.created_at,
            changed_by: by,
        }))
    }

    /// An activity as `activity.logged` carries it.
    pub async fn webhook_activity(
        &mut self,
        ws: i64,
        id: i64,
    ) -> StoreResult<Option<ActivityEvent>> {
        let row: Option<ActivityEventRow> = sqlx::query_as(
            "SELECT a.id, a.kind, a.summary, a.satisfaction, a.happened_at,
                    a.contact_id, c.name AS contact_name, c.email AS contact_email,
                    a.deal_id, d.number AS deal_number, a.member_id, m.display_name AS member_name
             FROM activities a
             JOIN contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id
             LEFT JOIN deals d ON d.workspace_id = a.workspace_id AND d.id = a.deal_id
             LEFT JOIN members m ON m.workspace_id = a.workspace_id AND m.user_id = a.member_id
             WHERE a.workspace_id = $1 AND a.id = $2",
        )
        .bind(ws)
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|r| ActivityEvent {
            workspace_id: ws,
            activity_id: r.id,
            kind: r.kind,
            summary: r.summary,
            satisfaction: r.satisfaction,
            happened_at: r.happened_at,
            contact: ContactRefData {
                contact_id: r.contact_id,
                name: r.contact_name,
                email: r.contact_email,
            },
            deal_id: r.deal_id,
            deal_ref: r.deal_number.map(|n| format!("D-{n}")),
            member: MemberData {
                user_id: r.member_id,
                name: r.member_name,
            },
        }))
    }
}

impl Store {
    /// Claims up to `limit` due deliveries for a lease: a claimed row is invisible to other
    /// workers until recorded or until the lease runs out (a worker that died mid-delivery).
    pub async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookJob>> {
        Ok(sqlx::query_as(
            "WITH c AS (
                 UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2, claim = $4
                 FROM (SELECT workspace_id, id FROM webhook_deliveries
                       WHERE status = 'pending' AND next_attempt_at <= $1
                       ORDER BY next_attempt_at LIMIT $3
                       FOR UPDATE SKIP LOCKED) due
                 WHERE d.workspace_id = due.workspace_id AND d.id = due.id
                 RETURNING d.workspace_id, d.id, d.endpoint_id, d.event_id, d.attempts, d.claim)
             SELECT c.workspace_id, c.id, c.endpoint_id, c.attempts, c.claim, ev.msg_id, ev.event_type, ev.body,
                    coalesce(e.url, '') AS url, s.secret,
                    coalesce(e.removed_at IS NULL AND e.disabled_at IS NULL, false) AS live,
                    e.failing_since
             FROM c
             JOIN webhook_events ev ON ev.workspace_id = c.workspace_id AND ev.id = c.event_id
             LEFT JOIN webhook_endpoints e ON e.workspace_id = c.workspace_id AND e.id = c.endpoint_id
             LEFT JOIN webhook_secrets s ON s.workspace_id = c.workspace_id AND s.endpoint_id = c.endpoint_id",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .bind(rand::random::<i64>())
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a delivery the endpoint acknowledged, and ends its failure streak.
    pub async fn webhook_delivered(
        &self,
        job: &WebhookJob,
        status: u16,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (ws, endpoint) = (job.workspace_id, job.endpoint_id);
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'delivered', last_status = $3, delivered_at = $4, last_error = NULL,
                                           claim = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $5",
        )
        .bind(ws)
        .bind(job.id)
        .bind(i32::from(status))
        .bind(at)
        .bind(job.claim)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = NULL
             WHERE workspace_id = $1 AND id = $2 AND failing_since IS NOT NULL",
        )
        .bind(ws)
        .bind(endpoint)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Records a failed attempt: another at `next_at`, or given up (`next_at` `None`). Returns
    /// the endpoint's first failure since its last success.
    pub async fn webhook_attempt_failed(
        &self,
        job: &WebhookJob,
        attempt: FailedAttempt<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>> {
        let FailedAttempt {
            status,
            error,
            next_at,
        } = attempt;
        let (ws, endpoint) = (job.workspace_id, job.endpoint_id);
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE webhook_deliveries
             SET status = CASE WHEN $5::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                 next_attempt_at = coalesce($5, next_attempt_at), last_status = $3, last_error = $4,
                 claim = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $6",
        )
        .bind(ws)
        .bind(job.id)
        .bind(status.map(i32::from))
        .bind(error)
        .bind(next_at)
        .bind(job.claim)
        .execute(tx.conn())
        .await?;
        let since: Option<DateTime<Utc>> = sqlx::query_scalar(
            "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $3)
             WHERE workspace_id = $1 AND id = $2 RETURNING failing_since",
        )
        .bind(ws)
        .bind(endpoint)
        .bind(now)
        .fetch_optional(tx.conn())
        .await?
        .flatten();
        tx.commit().await?;
        Ok(since.unwrap_or(now))
    }

    /// Hands a claimed delivery back unsent, due at `at`: its lease would run out before an
    /// attempt started now could finish, and another worker would send it as well. The claim's
    /// attempt is taken back, so it is not counted.
    pub async fn webhook_unclaimed(&self, job: &WebhookJob, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = $3, claim = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $4",
        )
        .bind(job.workspace_id)
        .bind(job.id)
        .bind(at)
        .bind(job.claim)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Cancels a delivery whose endpoint was removed or disabled meanwhile.
    pub async fn webhook_cancelled(&self, job: &WebhookJob, reason: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'cancelled', last_error = $3, claim = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $4",
        )
        .bind(job.workspace_id)
        .bind(job.id)
        .bind(reason)
        .bind(job.claim)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes the webhook events created before `before` that have nothing left to deliver,
    /// with their deliveries, at most `batch` events a statement, and returns how many events
    /// went. An event with a delivery still pending (retrying, or sent again) is kept, and so
    /// is one a redelivery holds at that moment (`redeliver_webhook_event` locks it). A
    /// redelivery that commits between this statement's snapshot and its lock leaves a
    /// pending delivery the statement does not delete: the event's delete then fails its
    /// foreign key, nothing is deleted, and the next hour's run keeps the event.
    pub async fn expire_webhook_events(
        &self,
        before: DateTime<Utc>,
        batch: i64,
    ) -> StoreResult<u64> {
        self.delete_in_batches(batch, || {
            sqlx::query(
                "WITH old AS (
                     SELECT e.workspace_id, e.id FROM webhook_events e
                     WHERE e.created_at < $1
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                       WHERE d.workspace_id = e.workspace_id AND d.event_id = e.id
                                         AND d.status = 'pending')
                     LIMIT $2
                     FOR UPDATE OF e SKIP LOCKED),
                 deliveries AS (
                     DELETE FROM webhook_deliveries d USING old
                     WHERE d.workspace_id = old.workspace_id AND d.event_id = old.id
                       AND d.status <> 'pending')
                 DELETE FROM webhook_events e USING old
                 WHERE e.workspace_id = old.workspace_id AND e.id = old.id",
            )
            .bind(before)
            .bind(batch)
        })
        .await
    }

    /// A workspace's deliveries, newest first (tests and diagnosis).
    pub async fn webhook_deliveries(&self, ws: i64) -> StoreResult<Vec<DeliveryRow>> {
        Ok(sqlx::query_as(
            "SELECT d.id, d.endpoint_id, ev.msg_id, ev.event_type, d.status, d.attempts, d.last_status, d.last_error
             FROM webhook_deliveries d
             JOIN webhook_events ev ON ev.workspace_id = d.workspace_id AND ev.id = d.event_id
             WHERE d.workspace_id = $1 ORDER BY d.id DESC",
        )
        .bind(ws)
        .fetch_all(self.pool())
        .await?)
    }
}
