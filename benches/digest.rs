//! The weekly digest at scale: 1,000 workspaces holding 1 million deals (the data set of the
//! engine benchmark, generated once into `salesbot_bench`). Times enqueueing every digest
//! (figures, leaderboard, funnel, forecast, at-risk deals and the funnel chart) and delivering
//! them through the fake Discord.
//!
//! `cargo bench --bench digest` (run `cargo bench --bench engine` first to generate the data;
//! `BENCH_DIGEST_WEEKS=10` for 10,000 digests).

mod common;
#[allow(dead_code)]
#[path = "../tests/it/fake_discord.rs"]
mod fake_discord;

use chrono::{Datelike, NaiveTime, Utc};
use salesbot::discord::send::Sender;
use salesbot::discord::DiscordConfig;
use salesbot::outbox::deliver_due;
use salesbot::scheduler::jobs;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(store) = common::bench_store().await? else {
        return Ok(());
    };
    let (workspaces, deals, activities, _) = store.bulk_counts().await?;
    println!(
        "data: {workspaces} workspaces, {deals} deals, {activities} activities; cores: {}",
        common::cores()
    );
    anyhow::ensure!(
        workspaces >= 1000,
        "run `cargo bench --bench engine` first to generate the data set"
    );
    let now = Utc::now();
    // Today's weekday at midnight: every digest is due now and still within its day.
    store
        .bulk_schedule_digests(
            555,
            now.weekday().number_from_monday() as i16,
            NaiveTime::MIN,
        )
        .await?;

    // BENCH_DIGEST_WEEKS=10 composes each workspace's digest for ten consecutive weeks (the
    // latest last): 10,000 digests of 900-deal workspaces, the work of one week's digest for
    // 10,000 workspaces.
    let weeks: i64 = std::env::var("BENCH_DIGEST_WEEKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let start = Instant::now();
    let mut enqueued = 0;
    for back in (0..weeks).rev() {
        enqueued += jobs::digests(&store, now - chrono::Duration::weeks(back)).await?;
    }
    let enqueue_secs = start.elapsed().as_secs_f64();
    println!(
        "enqueued {enqueued} digests ({weeks} week(s) of every workspace) in {enqueue_secs:.1} s ({:.1} ms each)",
        enqueue_secs * 1000.0 / enqueued.max(1) as f64
    );

    let fake = fake_discord::FakeDiscord::start().await;
    // Discord's global limit, enforced with 429s as Discord does.
    fake.enforce_global_limit(50);
    let config = DiscordConfig {
        api_base: Some(fake.api_base()),
        ..DiscordConfig::new("BENCH.TOKEN")
    };
    let sender = Sender::new(&config, store.clone())?;
    let start = Instant::now();
    loop {
        let pass = deliver_due(&store, &sender, Utc::now(), 100).await?;
        if pass.settled() == 0 {
            break;
        }
    }
    let deliver_secs = start.elapsed().as_secs_f64();
    let (pending, delivered) = store.bulk_digest_counts().await?;
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .count();
    println!(
        "delivered {delivered} digests ({posts} posts with a PNG each, {pending} pending) through the fake Discord in {deliver_secs:.1} s ({:.1}/s; global 429s: {})",
        delivered as f64 / deliver_secs,
        fake.global_429s()
    );
    Ok(())
}
