//! Throughput and latency through Discord's path: the bot runs as its own process (release
//! build) against the fake Discord, which dispatches INTERACTION_CREATE events over the gateway
//! and records the REST callbacks. Reports commands per second, p50/p99 from dispatch to
//! callback, the bot's resident memory idle and under load, and pgbench's tpcb-like TPS on
//! the same machine as the ceiling a one-transaction command can approach.
//!
//! `cargo bench --bench discord` (`BENCH_RATE`, `BENCH_SECONDS` change the offered load).

#[allow(dead_code)]
#[path = "../tests/it/fake_discord.rs"]
mod fake_discord;

use fake_discord::{command, Caller, FakeDiscord};
use serde_json::json;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DB: &str = "salesbot_bench_discord";
const STRING: u8 = 3;
const INTEGER: u8 = 4;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn psql(db: &str, sql: &str) {
    let _ = Command::new("psql")
        .args(["-h", "localhost", "-U", "postgres", "-d", db, "-qc", sql])
        .stdout(Stdio::null())
        .status();
}

fn pgbench() -> Option<f64> {
    psql("postgres", "DROP DATABASE IF EXISTS salesbot_pgbench");
    psql("postgres", "CREATE DATABASE salesbot_pgbench");
    let init = Command::new("pgbench")
        .args([
            "-h",
            "localhost",
            "-U",
            "postgres",
            "-i",
            "-s",
            "10",
            "-q",
            "salesbot_pgbench",
        ])
        .output()
        .ok()?;
    if !init.status.success() {
        return None;
    }
    let run = Command::new("pgbench")
        .args([
            "-h",
            "localhost",
            "-U",
            "postgres",
            "-c",
            "8",
            "-j",
            "2",
            "-T",
            "15",
            "-b",
            "tpcb-like",
            "salesbot_pgbench",
        ])
        .output()
        .ok()?;
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    psql("postgres", "DROP DATABASE IF EXISTS salesbot_pgbench");
    out.lines()
        .find(|l| l.starts_with("tps"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let rate: u64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    println!(
        "cores: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    psql("postgres", &format!("DROP DATABASE IF EXISTS {DB}"));
    let fake = FakeDiscord::start().await;
    let child = Command::new(env!("CARGO_BIN_EXE_salesbot"))
        .arg("run")
        .env("DISCORD_TOKEN", "BENCH.TOKEN")
        .env("DISCORD_API_BASE", fake.api_base())
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@localhost:5432/{DB}"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let bot = Bot(child);
    let pid = bot.0.id();
    fake.wait_sessions(1, Duration::from_secs(30)).await;
    fake.wait_request(Duration::from_secs(30), |r| r.method == "PUT")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(pid);

    // Set-up, one at a time: 200 deals and 100 contacts in one workspace.
    let admin = Caller::admin(1001);
    let mut next_id = 1u64;
    let mut setup = Vec::new();
    for k in 1..=200 {
        // Deals belong to 20 reps, as in a real team.
        let owner = json!(format!("{}", 2000 + k % 20));
        setup.push(command(
            next_id,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!(format!("deal {k}"))),
                ("amount", STRING, json!("12k")),
                ("owner", 6, owner),
            ],
        ));
        next_id += 1;
    }
    for k in 1..=100 {
        setup.push(command(
            next_id,
            &admin,
            "contact",
            Some("add"),
            vec![("name", STRING, json!(format!("contact {k}")))],
        ));
        next_id += 1;
    }
    for i in setup {
        let id: u64 = i["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        fake.send_interaction(i).await;
        fake.wait_callback(id, Duration::from_secs(30)).await;
    }
    let idle_after_setup = rss_kib(pid);

    // Open-loop load at `rate` per second: moves, logs, shows and pipeline stats from 20 reps.
    let total = rate * seconds;
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut visits: HashMap<u64, u64> = HashMap::new();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut peak_rss = 0;
    for n in 0..total {
        let target = start + interval * n as u32;
        tokio::time::sleep_until(target.into()).await;
        let caller = Caller::admin(2000 + n % 20);
        let deal = 1 + (n * 7) % 200;
        let i = match n % 10 {
            0..=3 => {
                let v = visits.entry(deal).or_default();
                *v += 1;
                let stage = if *v % 2 == 1 { "Qualified" } else { "Proposal" };
                command(
                    next_id,
                    &caller,
                    "deal",
                    Some("move"),
                    vec![
                        ("deal", STRING, json!(format!("D-{deal}"))),
                        ("stage", STRING, json!(stage)),
                    ],
                )
            }
            4..=6 => command(
                next_id,
                &caller,
                "contact",
                Some("log"),
                vec![
                    ("contact", STRING, json!(format!("C-{}", 1 + n % 100))),
                    ("kind", STRING, json!("call")),
                    ("summary", STRING, json!(format!("call {n}"))),
                    ("satisfaction", INTEGER, json!(4)),
                ],
            ),
            7 | 8 => command(
                next_id,
                &caller,
                "deal",
                Some("show"),
                vec![("deal", STRING, json!(format!("D-{deal}")))],
            ),
            _ => command(next_id, &caller, "pipeline", Some("stats"), vec![]),
        };
        sent.insert(next_id, Instant::now());
        next_id += 1;
        // The fixtures were checked against serenity's types in set-up; skipping the check here
        // keeps the fake's CPU out of the bot's measurement on this 2-core machine.
        fake.dispatch("INTERACTION_CREATE", i).await;
        if n % rate == 0 {
            peak_rss = peak_rss.max(rss_kib(pid));
        }
    }
    let offered_for = start.elapsed();
    // Wait for every callback, then read them all at once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut callbacks = HashMap::new();
    while Instant::now() < deadline {
        peak_rss = peak_rss.max(rss_kib(pid));
        callbacks = fake
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/callback"))
            .filter_map(|r| {
                r.path
                    .split('/')
                    .nth(4)
                    .and_then(|id| id.parse::<u64>().ok())
                    .map(|id| (id, r.at))
            })
            .collect::<HashMap<u64, Instant>>();
        if sent.keys().all(|id| callbacks.contains_key(id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished = callbacks.values().max().copied().unwrap_or(start);
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(id, at)| callbacks.get(id).map(|c| c.duration_since(*at)))
        .collect();
    latencies.sort();
    let answered = latencies.len();
    let errors = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/callback") && r.json["data"]["flags"] == 64)
        .filter(|r| {
            r.path
                .split('/')
                .nth(4)
                .and_then(|id| id.parse::<u64>().ok())
                .is_some_and(|id| sent.contains_key(&id))
        })
        .count();
    println!("offered {total} commands at {rate}/s over {:.1} s; answered {answered} ({errors} private errors)", offered_for.as_secs_f64());
    println!(
        "throughput: {:.0} commands/s",
        answered as f64 / finished.duration_since(start).as_secs_f64()
    );
    if !latencies.is_empty() {
        println!(
            "dispatch -> callback: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0)
        );
    }
    println!(
        "bot RSS: idle {:.1} MiB, after set-up {:.1} MiB, peak under load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        idle_after_setup as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    drop(bot);
    match pgbench() {
        Some(tps) => println!("pgbench tpcb-like (scale 10, 8 clients, 15 s): {tps:.0} TPS"),
        None => println!("pgbench not available"),
    }
    Ok(())
}
