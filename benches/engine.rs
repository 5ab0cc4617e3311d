//! Engine benchmark on a realistic scale: 1,000 workspaces, 1 million deals, 5 million
//! activities. Prints p50/p95/p99 of `/deal move`, `/contact log` and `/pipeline stats` for the
//! large workspace, each run through the console and the engine against real Postgres.
//!
//! `cargo bench --bench engine` (the data set is generated once into `salesbot_bench` and
//! kept; set `BENCH_DATABASE_URL` to use another database, `BENCH_ITERATIONS` to change N).

mod common;

use salesbot::console::{Console, ConsoleOptions};
use salesbot::domain::role::Role;
use salesbot::engine::Engine;
use salesbot::store::BulkShape;
use std::time::{Duration, Instant};

const SHAPE: BulkShape = BulkShape {
    workspaces: 1000,
    large_deals: 100_900,
    deals_per_workspace: 900,
    activities_per_deal: 5,
    reps: 20,
};

use common::report;

async fn timed(console: &mut Console, line: &str) -> Duration {
    let start = Instant::now();
    let out = console.handle_line(line).await;
    let took = start.elapsed();
    let first = out
        .first()
        .map(|o| o.reply.content.clone())
        .unwrap_or_default();
    assert!(!first.starts_with("⚠️"), "{line}: {first}");
    took
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(store) = common::bench_store().await? else {
        return Ok(());
    };
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    if !store.bulk_present(&SHAPE).await? {
        println!("generating {SHAPE:?} ...");
        let start = Instant::now();
        store.bulk_generate(&SHAPE).await?;
        println!("generated in {:.1} s", start.elapsed().as_secs_f64());
    }
    let (ws, deals, activities, changes) = store.bulk_counts().await?;
    println!("data: {ws} workspaces, {deals} deals, {activities} activities, {changes} stage changes; cores: {}",
        common::cores());
    let engine = Engine::new(store)?;
    let contacts = engine.store().bulk_contact_ids(1).await?;
    let mut console = Console::new(
        engine,
        ConsoleOptions {
            workspace: 1,
            user: 1,
            role: Role::Manager,
            json: false,
        },
    );

    // Warm the pool and caches.
    for _ in 0..20 {
        timed(&mut console, "/pipeline stats").await;
    }

    let stages = ["Qualified", "Proposal", "Negotiation", "Lead"];
    let mut moves = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let deal = 1 + (i * 97) % 100_000;
        // The benchmark does not know each deal's stage; a target it is already in is refused
        // ("already in that stage"), so try the next one. Only successful moves are timed.
        for attempt in 0..2 {
            let line = format!(
                "/deal move deal:D-{deal} stage:{} note:bench",
                stages[(i + attempt) % stages.len()]
            );
            let start = Instant::now();
            let out = console.handle_line(&line).await;
            let took = start.elapsed();
            if !out
                .first()
                .is_some_and(|o| o.reply.content.starts_with("⚠️"))
            {
                moves.push(took);
                break;
            }
        }
    }
    report("deal move (write)", moves);

    let mut logs = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let contact = contacts[(i * 31) % contacts.len()];
        let line = format!(
            "/contact log contact:C-{contact} kind:call summary:\"bench call {i}\" satisfaction:4"
        );
        logs.push(timed(&mut console, &line).await);
    }
    report("contact log (write)", logs);

    for period in ["this-quarter", "all-time"] {
        let mut stats = Vec::with_capacity(iterations / 5);
        for _ in 0..(iterations / 5).max(50) {
            stats.push(timed(&mut console, &format!("/pipeline stats period:{period}")).await);
        }
        report(&format!("pipeline stats {period} (100k deals)"), stats);
    }
    let mut own = Vec::new();
    for i in 0..100 {
        own.push(
            timed(
                &mut console,
                &format!("/pipeline stats owner:{}", 1 + i % 20),
            )
            .await,
        );
    }
    report("pipeline stats one rep", own);

    // The writes above cleared the all-visible bits of the rollup pages they touched, so the
    // reports' index-only scans also read the heap until a vacuum runs. Migration 9 has
    // autovacuum do that after 1,000 changed rows; if the server runs without autovacuum
    // (`SHOW autovacuum`), do here what it would have done, and say so.
    let pool = sqlx::PgPool::connect(&common::bench_url()).await?;
    let autovacuum: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&pool)
        .await?;
    if autovacuum != "on" {
        println!("autovacuum is {autovacuum} on this server: vacuuming the rollups as it would");
        sqlx::query(
            "VACUUM deal_open_totals, deal_daily_totals, stage_stay_totals, activity_daily_totals,
                    product_daily_totals, product_open_totals",
        )
        .execute(&pool)
        .await?;
        for period in ["this-quarter", "all-time"] {
            let mut stats = Vec::with_capacity(iterations / 5);
            for _ in 0..(iterations / 5).max(50) {
                stats.push(timed(&mut console, &format!("/pipeline stats period:{period}")).await);
            }
            report(&format!("pipeline stats {period}, rollups vacuumed"), stats);
        }
    }

    // Every report, p50/p95 over the large workspace.
    let reports = [
        "/kpi period:this-quarter",
        "/kpi period:all-time",
        "/kpi member:<@3> period:this-quarter",
        "/report trends period:this-quarter by:week",
        "/report trends period:this-year by:month",
        "/report products period:this-quarter",
        "/report products period:all-time",
        "/report customers period:this-quarter",
        "/report customers period:all-time",
        "/forecast show period:this-month",
        "/forecast show period:this-quarter",
        "/forecast what-if stage:Proposal conversion:60 deal_size:10",
    ];
    let n = (iterations / 5).max(50);
    for line in reports {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            samples.push(timed(&mut console, line).await);
        }
        report(line.trim_start_matches('/'), samples);
    }

    // The same funnel as `/pipeline stats period:this-quarter`, as the best single query over
    // the base tables (covering indexes, furthest stage kept on each deal) and from the raw
    // stage history, so the rollups' gain is measured rather than assumed.
    let (from, to) =
        salesbot::domain::period::Period::ThisQuarter.range(chrono::Utc::now(), chrono_tz::Tz::UTC);
    let from = from.unwrap_or_default();
    // The raw history takes over a second a query; fewer samples of it.
    for (name, sql, runs) in [
        ("funnel, hand-written SQL on deals", HAND_WRITTEN_FUNNEL, n),
        (
            "funnel, hand-written SQL from stage history",
            RAW_HISTORY_FUNNEL,
            20,
        ),
    ] {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let row: (serde_json::Value,) = sqlx::query_as(sql)
                .bind(1i64)
                .bind(from)
                .bind(to)
                .fetch_one(&pool)
                .await?;
            samples.push(start.elapsed());
            assert!(!row.0.is_null());
        }
        report(name, samples);
    }
    Ok(())
}

/// Open deals by stage, the quarter's cohort by furthest stage, the quarter's closed deals and
/// stays: the figures `/pipeline stats` gives, in one round trip over `deals` and
/// `stage_changes` without the rollups.
const HAND_WRITTEN_FUNNEL: &str = "
SELECT jsonb_build_object(
  'open', (SELECT jsonb_agg(o) FROM (SELECT stage_id, count(*), sum(amount_minor) FROM deals
           WHERE workspace_id = $1 AND status = 'open' GROUP BY stage_id) o),
  'reached', (SELECT jsonb_agg(r) FROM (SELECT furthest_position, count(*) FROM deals
              WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1) r),
  'closed', (SELECT jsonb_agg(c) FROM (SELECT status, count(*), sum(amount_minor),
                                              sum(extract(epoch FROM closed_at - created_at))
             FROM deals WHERE workspace_id = $1 AND closed_at >= $2 AND closed_at < $3
               AND status IN ('won', 'lost') GROUP BY status) c),
  'stays', (SELECT jsonb_agg(s) FROM (SELECT ended_stage_id AS to_stage_id, count(*),
                                              sum(extract(epoch FROM changed_at - ended_entered_at))
            FROM stage_changes WHERE workspace_id = $1 AND changed_at >= $2 AND changed_at < $3
              AND ended_entered_at IS NOT NULL
            GROUP BY ended_stage_id) s))";

/// The same, with the furthest stage and the stays derived from the raw history (window
/// functions over every stage change of the workspace).
const RAW_HISTORY_FUNNEL: &str = "
WITH history AS (
  SELECT sc.deal_id, sc.to_stage_id, s.position, s.kind, sc.changed_at,
         lead(sc.changed_at) OVER (PARTITION BY sc.deal_id ORDER BY sc.changed_at, sc.id) AS next_at
  FROM stage_changes sc JOIN stages s ON s.workspace_id = sc.workspace_id AND s.id = sc.to_stage_id
  WHERE sc.workspace_id = $1
)
SELECT jsonb_build_object(
  'open', (SELECT jsonb_agg(o) FROM (SELECT stage_id, count(*), sum(amount_minor) FROM deals
           WHERE workspace_id = $1 AND status = 'open' GROUP BY stage_id) o),
  'reached', (SELECT jsonb_agg(r) FROM (SELECT furthest, count(*) FROM (
                SELECT d.id, max(h.position) FILTER (WHERE h.kind <> 'lost') AS furthest
                FROM deals d JOIN history h ON h.deal_id = d.id
                WHERE d.workspace_id = $1 AND d.created_at >= $2 AND d.created_at < $3 GROUP BY d.id) f
              GROUP BY furthest) r),
  'closed', (SELECT jsonb_agg(c) FROM (SELECT status, count(*), sum(amount_minor),
                                              sum(extract(epoch FROM closed_at - created_at))
             FROM deals WHERE workspace_id = $1 AND closed_at >= $2 AND closed_at < $3
               AND status IN ('won', 'lost') GROUP BY status) c),
  'stays', (SELECT jsonb_agg(s) FROM (SELECT to_stage_id, count(*), sum(extract(epoch FROM next_at - changed_at))
            FROM history WHERE next_at >= $2 AND next_at < $3 GROUP BY to_stage_id) s))";
