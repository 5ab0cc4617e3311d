//! The clock: a few fixed system jobs on tokio-cron-scheduler (a minute tick for due work, a
//! short tick for delivery, an hourly expiry of interaction markers, idempotency keys and
//! finished outbox messages and webhook events).
//! Per-workspace schedules (digest day and time, agenda time) are not cron jobs: the minute
//! tick evaluates them in each workspace's or member's IANA zone with chrono-tz, because
//! tokio-cron-scheduler 0.15 keeps the UTC offset a job had when it was created, so a job made
//! in winter would fire an hour off after a daylight-saving change.

pub mod jobs;

use crate::outbox::{deliver_due, Deliver};
use crate::store::Store;
use crate::webhooks::WebhookSender;
use anyhow::Context as _;
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Messages one delivery pass claims at most.
const DELIVERY_BATCH: i64 = 100;

/// Runs `work` unless the previous run is still going (a slow digest must not pile up ticks).
/// The flag is cleared by a guard: a run that panics (tokio-cron-scheduler's task absorbs the
/// panic) must not leave its job marked busy, which would stop that tick for good.
async fn exclusive<F: std::future::Future<Output = ()>>(busy: &AtomicBool, work: F) {
    struct Release<'a>(&'a AtomicBool);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    if busy.swap(true, Ordering::SeqCst) {
        return;
    }
    let _release = Release(busy);
    work.await;
}

/// A cron job that runs `work` at `schedule`, never two runs at once, and logs `failed` with
/// the error when a run fails (the next tick tries again).
fn tick<F, Fut>(schedule: &str, failed: &'static str, work: F) -> anyhow::Result<Job>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let busy = Arc::new(AtomicBool::new(false));
    let work = Arc::new(work);
    Ok(Job::new_async(schedule, move |_, _| {
        let (busy, work) = (busy.clone(), work.clone());
        Box::pin(async move {
            exclusive(&busy, async {
                if let Err(e) = work().await {
                    tracing::error!(error = ?e, "{failed}");
                }
            })
            .await
        })
    })?)
}

/// Finds and enqueues due work once, then delivers until nothing is due; used at start-up
/// (catch-up after downtime) and by each tick.
pub async fn catch_up<D: Deliver>(store: &Store, deliverer: &D) -> anyhow::Result<()> {
    jobs::run_due(store, Utc::now()).await?;
    drain(store, deliverer).await
}

async fn drain<D: Deliver>(store: &Store, deliverer: &D) -> anyhow::Result<()> {
    loop {
        let pass = deliver_due(store, deliverer, Utc::now(), DELIVERY_BATCH).await?;
        // A pass that only handed messages back made no progress (rate limited, halted): the
        // next tick tries again rather than this loop.
        if pass.total() < DELIVERY_BATCH as usize || pass.halted || pass.handed_back == pass.total()
        {
            return Ok(());
        }
    }
}

/// The running scheduler.
pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Catches up on what fell due while the bot was down, then starts the ticks.
    pub async fn start<D>(store: Store, deliverer: D) -> anyhow::Result<Scheduler>
    where
        D: Deliver + Send + Sync + 'static,
    {
        let deliverer = Arc::new(deliverer);
        if let Err(e) = catch_up(&store, deliverer.as_ref()).await {
            tracing::error!(error = ?e, "catching up on due work failed; the ticks will retry");
        }
        let inner = Scheduler::due_work(&store).await?;
        inner
            .add(tick("*/5 * * * * *", "delivery failed", move || {
                let (store, deliverer) = (store.clone(), deliverer.clone());
                async move { drain(&store, deliverer.as_ref()).await }
            })?)
            .await?;
        inner
            .start()
            .await
            .context("failed to start the job scheduler")?;
        Ok(Scheduler { inner })
    }

    /// For a process without Discord (`salesbot serve`): it scans for due work, whose DMs and
    /// posts wait in the outbox for a process with Discord to deliver, runs the hourly expiry,
    /// and (with [`Scheduler::with_webhooks`]) delivers webhooks.
    pub async fn start_without_discord(store: Store) -> anyhow::Result<Scheduler> {
        if let Err(e) = jobs::run_due(&store, Utc::now()).await {
            tracing::error!(error = ?e, "catching up on due work failed; the ticks will retry");
        }
        let inner = Scheduler::due_work(&store).await?;
        inner
            .start()
            .await
            .context("failed to start the job scheduler")?;
        Ok(Scheduler { inner })
    }

    /// The scheduler with its minute tick that scans for due work and its hourly expiry
    /// (`jobs::expire`).
    async fn due_work(store: &Store) -> anyhow::Result<JobScheduler> {
        let inner = JobScheduler::new()
            .await
            .context("failed to create the job scheduler")?;
        let due_store = store.clone();
        inner
            .add(tick("0 * * * * *", "scheduled work failed", move || {
                let store = due_store.clone();
                async move { jobs::run_due(&store, Utc::now()).await.map(|_| ()) }
            })?)
            .await?;
        // Once an hour, half a minute away from the minute tick's scan.
        let expire_store = store.clone();
        inner
            .add(tick(
                "30 17 * * * *",
                "expiring what is kept only for a while failed",
                move || {
                    let store = expire_store.clone();
                    async move { jobs::expire(&store, Utc::now()).await.map(|_| ()) }
                },
            )?)
            .await?;
        Ok(inner)
    }

    /// Adds webhook delivery: what is due now, then a pass every 5 seconds (the first retry
    /// of the specification's schedule), never two passes at once.
    pub async fn with_webhooks(self, store: Store, sender: WebhookSender) -> anyhow::Result<Self> {
        if let Err(e) = crate::webhooks::drain(&store, &sender).await {
            tracing::error!(error = ?e, "webhook catch-up failed; the ticks will retry");
        }
        self.inner
            .add(tick(
                "*/5 * * * * *",
                "webhook delivery failed",
                move || {
                    let (store, sender) = (store.clone(), sender.clone());
                    async move { crate::webhooks::drain(&store, &sender).await }
                },
            )?)
            .await?;
        Ok(self)
    }

    /// Stops the ticks.
    pub async fn stop(mut self) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!(error = %e, "scheduler shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_that_panics_leaves_the_job_free_to_run_again() {
        let busy = Arc::new(AtomicBool::new(false));
        let held = busy.clone();
        let run =
            tokio::spawn(
                async move { exclusive(&held, async { panic!("a run that panics") }).await },
            )
            .await;
        assert!(run.is_err(), "the run panicked");
        assert!(!busy.load(Ordering::SeqCst), "and left the job free");
        let ran = AtomicBool::new(false);
        exclusive(&busy, async { ran.store(true, Ordering::SeqCst) }).await;
        assert!(ran.load(Ordering::SeqCst), "the next tick runs");
        // While a run is going, another tick does nothing.
        busy.store(true, Ordering::SeqCst);
        let skipped = AtomicBool::new(true);
        exclusive(&busy, async { skipped.store(false, Ordering::SeqCst) }).await;
        assert!(skipped.load(Ordering::SeqCst));
    }
}
