//! Delivering webhooks, beside the outbox: claim due deliveries, POST each event signed as the
//! Standard Webhooks specification has it (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), and record the outcome. A `2xx` is delivered; `410 Gone` disables the
//! endpoint; anything else (another status, a timeout, a refused connection) is tried again on
//! the specification's schedule with jitter, under the same `webhook-id`, until it is spent.
//! An endpoint that has failed every delivery for five days is disabled too, and either way
//! the workspace's admins are told by DM (`engine::webhooks::disable_endpoint`).
//!
//! Only public addresses are reached unless the operator allows others
//! (`WEBHOOK_ALLOW_PRIVATE`): a literal address is checked before sending, and a host name is
//! resolved through [`PublicOnly`], which drops every address that is not public, so a name
//! that points inside the network (or is re-pointed there between checks) is never connected.

use crate::domain::webhook::{disable_after, public_address, retry_delay, Secret};
use crate::engine::webhooks::{disable_endpoint, DisableReason};
use crate::store::{FailedAttempt, Store, WebhookJob};
use chrono::{DateTime, Duration, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;

/// How long an endpoint has to answer: the specification recommends 15 to 30 s.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// How long a claim holds, so a dead worker's rows come back. A pass sends its deliveries one
/// after another: one that could not finish within the lease (with [`RECORD_MARGIN`] to record
/// it) is handed back unsent instead of being sent while another worker may claim it too.
pub const LEASE: Duration = Duration::seconds(60);
/// Time kept back from the lease to record an attempt's outcome.
const RECORD_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);
/// Deliveries one pass claims at most.
pub const BATCH: i64 = 50;
/// The longest `Retry-After` honoured: the schedule's own next step is used when it is later.
const MAX_RETRY_AFTER: i64 = 24 * 3600;

/// Sends webhook requests.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    client: reqwest::Client,
    allow_private: bool,
    timeout: std::time::Duration,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Acknowledged with a `2xx`.
    pub delivered: usize,
    /// Failed, another attempt scheduled.
    pub retried: usize,
    /// Failed with the schedule spent, or answered `410`.
    pub failed: usize,
    /// Not sent: the endpoint was removed or disabled meanwhile.
    pub cancelled: usize,
    /// Handed back unsent, due at once: the pass's earlier attempts (slow endpoints) left too
    /// little of the lease for it.
    pub handed_back: usize,
}

impl Pass {
    fn total(&self) -> usize {
        self.delivered + self.retried + self.failed + self.cancelled + self.handed_back
    }
}

/// How one attempt went.
#[derive(Debug)]
enum Outcome {
    Delivered(u16),
    Gone,
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// A resolver that keeps only public addresses.
#[derive(Debug)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| public_address(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

impl WebhookSender {
    /// A sender with the specification's 15 s timeout. `allow_private` lets deliveries reach
    /// loopback, private and link-local addresses (an operator's choice; the tests').
    pub fn new(allow_private: bool) -> anyhow::Result<WebhookSender> {
        Self::with_timeout(allow_private, TIMEOUT)
    }

    /// A sender with another timeout (tests of a receiver that never answers).
    pub fn with_timeout(
        allow_private: bool,
        timeout: std::time::Duration,
    ) -> anyhow::Result<WebhookSender> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect could lead anywhere, inside the network included; it is a failure.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the endpoint's name itself, past the
            // public-address check below.
            .no_proxy()
            .user_agent(concat!("salesbot-webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(WebhookSender {
            client: builder.build()?,
            allow_private,
            timeout,
        })
    }

    /// One signed POST of a job's event.
    async fn send(&self, job: &WebhookJob, now: DateTime<Utc>) -> Outcome {
        let failed = |error: String| Outcome::Failed {
            status: None,
            error,
            retry_after: None,
        };
        let url = match reqwest::Url::parse(&job.url) {
            Ok(u) => u,
            Err(e) => return failed(format!("bad url: {e}")),
        };
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal {
            if !self.allow_private && !public_address(ip) {
                return failed(format!("refused: {ip} is not a public address"));
            }
        }
        let Some(secret) = job.secret.as_deref().and_then(|s| Secret::parse(s).ok()) else {
            return failed("the endpoint has no usable secret".into());
        };
        let ts = now.timestamp();
        let signature = secret.sign(&job.msg_id, ts, job.body.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &job.msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(job.body.clone())
            .send()
            .await;
        match sent {
            Err(e) if e.is_timeout() => failed("timed out".into()),
            Err(e) => failed(error_chain(&e)),
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    Outcome::Delivered(status.as_u16())
                } else if status == reqwest::StatusCode::GONE {
                    Outcome::Gone
                } else {
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<i64>().ok())
                        .map(|s| Duration::seconds(s.clamp(0, MAX_RETRY_AFTER)));
                    Outcome::Failed {
                        status: Some(status.as_u16()),
                        error: format!("answered {status}"),
                        retry_after,
                    }
                }
            }
        }
    }
}

/// An error with its causes, without the URL (it is in the delivery's row already).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        cause = c.source();
    }
    text.replace(e.url().map(|u| u.as_str()).unwrap_or("\u{0}"), "endpoint")
}

fn count(outcome: &'static str) {
    metrics::counter!("salesbot_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// Claims and delivers what is due at `now`, up to `batch` deliveries.
pub async fn deliver_due(
    store: &Store,
    sender: &WebhookSender,
    now: DateTime<Utc>,
    batch: i64,
) -> anyhow::Result<Pass> {
    let claimed = std::time::Instant::now();
    let jobs = store
        .claim_webhook_deliveries(now, now + LEASE, batch)
        .await?;
    let lease = LEASE.to_std().unwrap_or_default();
    let mut pass = Pass::default();
    for job in jobs {
        // `now` moved on by the time the pass has taken: each attempt is signed, and its
        // retry scheduled, at the time it is made (a signature a batch of slow endpoints had
        // aged past the receivers' five minutes would be refused as stale).
        let elapsed = claimed.elapsed();
        let at = now + Duration::from_std(elapsed).unwrap_or(Duration::zero());
        if elapsed + sender.timeout + RECORD_MARGIN > lease {
            // One that cannot be handed back is left to its lease, like one not recorded.
            if let Err(e) = store.webhook_unclaimed(&job, at).await {
                tracing::error!(workspace = job.workspace_id, msg_id = %job.msg_id, error = %e, "webhook delivery not handed back; retried when its lease ends");
            }
            pass.handed_back += 1;
            continue;
        }
        // One delivery that cannot be recorded is logged and left to its lease, which runs
        // out and brings it back; the rest of the batch goes on.
        if let Err(e) = deliver_one(store, sender, &job, at, &mut pass).await {
            tracing::error!(
                workspace = job.workspace_id,
                endpoint = job.endpoint_id,
                msg_id = %job.msg_id,
                error = format!("{e:#}"),
                "webhook delivery not recorded; retried when its lease ends"
            );
        }
    }
    Ok(pass)
}

/// Delivers until nothing more is due (one tick of the worker).
pub async fn drain(store: &Store, sender: &WebhookSender) -> anyhow::Result<()> {
    loop {
        let pass = deliver_due(store, sender, Utc::now(), BATCH).await?;
        // A pass that only handed deliveries back made no progress (a sender whose timeout
        // does not fit in the lease): the next tick tries again rather than this loop.
        if pass.total() < BATCH as usize || pass.handed_back == pass.total() {
            return Ok(());
        }
    }
}

async fn deliver_one(
    store: &Store,
    sender: &WebhookSender,
    job: &WebhookJob,
    now: DateTime<Utc>,
    pass: &mut Pass,
) -> anyhow::Result<()> {
    let (ws, endpoint) = (job.workspace_id, job.endpoint_id);
    if !job.live {
        store
            .webhook_cancelled(job, "the endpoint was removed or disabled")
            .await?;
        count("cancelled");
        pass.cancelled += 1;
        return Ok(());
    }
    match sender.send(job, now).await {
        Outcome::Delivered(status) => {
            store.webhook_delivered(job, status, now).await?;
            count("delivered");
            pass.delivered += 1;
        }
        Outcome::Gone => {
            store
                .webhook_attempt_failed(
                    job,
                    FailedAttempt {
                        status: Some(410),
                        error: "answered 410 Gone",
                        next_at: None,
                    },
                    now,
                )
                .await?;
            if disable_endpoint(store, ws, endpoint, DisableReason::Gone, now).await? {
                tracing::info!(
                    workspace = ws,
                    endpoint,
                    "webhook endpoint answered 410; disabled"
                );
            }
            count("gone");
            pass.failed += 1;
        }
        Outcome::Failed {
            status,
            error,
            retry_after,
        } => {
            let next = retry_delay(job.attempts, rand::random::<f64>())
                .map(|wait| now + retry_after.map_or(wait, |after| after.max(wait)));
            let since = store
                .webhook_attempt_failed(
                    job,
                    FailedAttempt {
                        status,
                        error: &error,
                        next_at: next,
                    },
                    now,
                )
                .await?;
            tracing::info!(
                workspace = ws,
                endpoint,
                msg_id = %job.msg_id,
                attempts = job.attempts,
                %error,
                retry = next.is_some(),
                "webhook delivery failed"
            );
            if next.is_some() {
                count("retry");
                pass.retried += 1;
            } else {
                count("failed");
                pass.failed += 1;
            }
            if now - since >= disable_after()
                && disable_endpoint(store, ws, endpoint, DisableReason::Failing, now).await?
            {
                tracing::info!(
                    workspace = ws,
                    endpoint,
                    "webhook endpoint failing for days; disabled"
                );
            }
        }
    }
    Ok(())
}
