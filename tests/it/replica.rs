//! Reports off the primary (issue 13): with a replica (`DATABASE_READ_URL`), reports, exports
//! and autocomplete read from it and say "as of" when it lags; writes and the lookups a rep
//! reads their own writes with stay on the primary. Against a real streaming replica of the
//! machine's PostgreSQL: `.ci/replica` sets it up (`pg_basebackup -R`, port 5433) and these
//! tests run it when they find none, so a plain `cargo test` works on a fresh machine.

use crate::support::{text, Harness};
use salesbot::engine::{AutocompleteRequest, Engine, RoleSource};
use salesbot::store::Store;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// The replica's port (`REPLICA_PORT`, as `.ci/replica` reads it).
fn replica_port() -> u16 {
    std::env::var("REPLICA_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5433)
}

/// Pausing replay stops the whole replica, so the tests that do it take turns.
static REPLICA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts the replica, or makes it again when it does not stream, once per test run.
async fn ensure_replica() {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let port = replica_port();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/replica");
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new("bash")
                    .arg(script)
                    .env("REPLICA_PORT", port.to_string())
                    .output()
            })
            .await
            .expect("join")
            .expect("run .ci/replica");
            assert!(
                out.status.success(),
                ".ci/replica failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .await;
}

/// A pool on the replica's copy of the test's database, once the replica has it.
async fn replica_of(primary: &PgPool) -> PgPool {
    ensure_replica().await;
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(primary)
        .await
        .expect("database name");
    let options = PgConnectOptions::from_str(&format!(
        "postgres://postgres@127.0.0.1:{}/{db}",
        replica_port()
    ))
    .expect("replica url");
    // The database was created on the primary a moment ago; the replica replays it shortly.
    for _ in 0..300 {
        if let Ok(pool) = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
        {
            return pool;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replica never got database {db}");
}

/// Waits until the replica has replayed everything the primary has written so far.
async fn caught_up(primary: &PgPool, replica: &PgPool) {
    let want: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        .fetch_one(primary)
        .await
        .expect("primary position");
    for _ in 0..600 {
        let have: Option<i64> =
            sqlx::query_scalar("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
                .fetch_one(replica)
                .await
                .expect("replica position");
        if have.is_some_and(|h| h >= want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the replica did not catch up in 30 s");
}

/// The answer to `line` once the replica has caught up with the primary. The engine waits for
/// the replica at most 250 ms; on a machine busy with the other tests the replica's replay can
/// be starved for longer than that, and the answer then rightly says "as of". So an answer with
/// that note is asked for again, after the replica caught up, a few times: the test checks that
/// a caught-up replica gives a plain answer, not how fast it replays under load.
async fn once_caught_up(h: &mut Harness, primary: &PgPool, replica: &PgPool, line: &str) -> Value {
    let mut answer = Value::Null;
    for _ in 0..5 {
        caught_up(primary, replica).await;
        answer = h.ok(line).await;
        if !text(&answer).contains("as of") {
            break;
        }
    }
    answer
}

/// Pauses the replica's replay; resumes it when dropped, also when the test fails.
struct Paused(u16);

impl Paused {
    async fn start(replica: &PgPool) -> Paused {
        sqlx::query("SELECT pg_wal_replay_pause()")
            .execute(replica)
            .await
            .expect("pause replay");
        Paused(replica_port())
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // Drop cannot wait on the pool; psql is on every machine with PostgreSQL.
        let _ = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.0.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-Atc", "SELECT pg_wal_replay_resume()"])
            .output();
    }
}

/// Resumes replay and waits until the replica has replayed everything the primary (`pool`)
/// has flushed, so that what follows reads a caught-up replica however loaded the machine is
/// (the engine itself waits only 250 ms before it reads anyway and says "as of").
async fn resume(replica: &PgPool, pool: &PgPool) {
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(replica)
        .await
        .expect("resume replay");
    let flushed: String = sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
        .fetch_one(pool)
        .await
        .expect("primary position");
    for _ in 0..600 {
        let caught_up: bool = sqlx::query_scalar(
            "SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
        )
        .bind(&flushed)
        .fetch_one(replica)
        .await
        .expect("replica position");
        if caught_up {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the replica did not replay {flushed} within 30 s");
}

/// A console session whose engine reads reports from `replica`, its clock at the real now
/// (the replica's "as of" is a real time).
async fn session(pool: &PgPool, replica: PgPool) -> (Harness, Engine) {
    let store = Store::from_pool(pool.clone()).with_replica(replica);
    let engine = Engine::new(store).expect("manifests load");
    let mut h = Harness::with_engine(engine.clone(), pool.clone()).await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    h.run(&format!(":now {now}")).await;
    (h, engine)
}

fn data(reply: &Value, key: &str) -> i64 {
    reply["data"][key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} in {reply}"))
}

async fn suggestions(engine: &Engine, typed: &str) -> Vec<String> {
    engine
        .autocomplete(AutocompleteRequest {
            workspace_id: 1,
            user_id: 1,
            role: RoleSource::Known(salesbot::domain::role::Role::Admin),
            command: "deal".into(),
            subcommand: Some("show".into()),
            option: "deal".into(),
            value: typed.into(),
        })
        .await
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn reports_exports_and_autocomplete_read_the_replica_and_say_as_of(pool: PgPool) {
    let _turn = REPLICA.lock().await;
    let replica = replica_of(&pool).await;
    resume(&replica, &pool).await;
    let (mut h, engine) = session(&pool, replica.clone()).await;
    h.ok(r#"/deal new title:"Alpha" amount:1000"#).await;
    h.ok("/deal won deal:D-1").await;
    h.ok(r#"/deal new title:"Beta" amount:250"#).await;

    // Caught up: the report waits for what the request saw and says nothing about lag.
    let stats = once_caught_up(&mut h, &pool, &replica, "/pipeline stats").await;
    assert_eq!(data(&stats, "won_amount_minor"), 100_000, "{stats}");
    assert_eq!(data(&stats, "open_count"), 1, "{stats}");
    assert!(stats["data"].get("as_of").is_none(), "{stats}");
    assert!(!text(&stats).contains("as of"), "{}", text(&stats));

    caught_up(&pool, &replica).await;
    let paused = Paused::start(&replica).await;
    // Writes and single-record lookups stay on the primary: the rep sees their own write.
    h.ok("/deal won deal:D-2").await;
    h.ok(r#"/deal new title:"Gamma" amount:70"#).await;
    let shown = h.ok("/deal show deal:D-3").await;
    assert!(text(&shown).contains("Gamma"), "{}", text(&shown));

    // The report reads the replica, which has neither write, and says how old it is.
    let stale = h.ok("/pipeline stats").await;
    assert_eq!(data(&stale, "won_amount_minor"), 100_000, "{stale}");
    assert_eq!(data(&stale, "open_count"), 1, "{stale}");
    assert!(stale["data"]["as_of"].is_string(), "{stale}");
    assert!(text(&stale).contains("Figures as of"), "{}", text(&stale));
    let kpi = h.ok("/kpi").await;
    assert!(text(&kpi).contains("Figures as of"), "{}", text(&kpi));

    // The export too: two deals, not three, and the note.
    let export = h.ok("/export kind:deals").await;
    assert!(text(&export).contains("2 rows"), "{}", text(&export));
    assert!(text(&export).contains("Figures as of"), "{}", text(&export));

    // Autocomplete reads the replica without waiting: Gamma is not there yet.
    assert!(
        !suggestions(&engine, "gam")
            .await
            .iter()
            .any(|s| s.contains("Gamma")),
        "autocomplete read the primary"
    );

    drop(paused);
    resume(&replica, &pool).await;
    let fresh = once_caught_up(&mut h, &pool, &replica, "/pipeline stats").await;
    assert_eq!(data(&fresh, "won_amount_minor"), 125_000, "{fresh}");
    assert_eq!(data(&fresh, "open_count"), 1, "{fresh}");
    assert!(fresh["data"].get("as_of").is_none(), "{fresh}");
    let export = once_caught_up(&mut h, &pool, &replica, "/export kind:deals").await;
    assert!(text(&export).contains("3 rows"), "{}", text(&export));
    assert!(!text(&export).contains("as of"), "{}", text(&export));
    let mut found = false;
    for _ in 0..100 {
        if suggestions(&engine, "gam")
            .await
            .iter()
            .any(|s| s.contains("Gamma"))
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "autocomplete never saw the replica catch up");
}

/// How many reads found the replica behind and read anyway, by how they waited (`full`: the
/// whole 250 ms; `stalled`: not at all, the replica had replayed nothing since a read last
/// waited for it in vain), from the process's metrics.
fn stale_reads(waited: &str) -> u64 {
    let rendered = salesbot::http::metrics_handle().render();
    let line = format!("salesbot_replica_stale_reads_total{{waited=\"{waited}\"}} ");
    rendered
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A replica that has stopped replaying is waited for once: the reads after that one read it
/// at once with their "as of" note instead of each holding a command slot for 250 ms (under
/// load that would slow every command, not only reports); once it replays again, reads wait
/// for it as before and see what the request saw.
#[sqlx::test(migrations = "./migrations")]
async fn a_stopped_replica_is_waited_for_once_then_read_at_once(pool: PgPool) {
    let _turn = REPLICA.lock().await;
    salesbot::http::metrics_handle();
    let replica = replica_of(&pool).await;
    resume(&replica, &pool).await;
    let (mut h, _) = session(&pool, replica.clone()).await;
    h.ok(r#"/deal new title:"Alpha" amount:1000"#).await;
    caught_up(&pool, &replica).await;
    let paused = Paused::start(&replica).await;
    h.ok(r#"/deal new title:"Beta" amount:250"#).await;
    let (full, stalled) = (stale_reads("full"), stale_reads("stalled"));
    let first = h.ok("/pipeline stats").await;
    assert!(first["data"]["as_of"].is_string(), "{first}");
    assert_eq!(data(&first, "open_count"), 1, "{first}");
    assert_eq!(
        stale_reads("full"),
        full + 1,
        "the first read waits for the replica"
    );
    for command in ["/kpi", "/pipeline stats", "/report customers"] {
        let r = h.ok(command).await;
        assert!(
            text(&r).contains("Figures as of"),
            "{command}: {}",
            text(&r)
        );
    }
    assert_eq!(stale_reads("full"), full + 1, "no read waits again");
    assert_eq!(
        stale_reads("stalled"),
        stalled + 3,
        "the next ones read at once"
    );

    drop(paused);
    resume(&replica, &pool).await;
    let fresh = once_caught_up(&mut h, &pool, &replica, "/pipeline stats").await;
    assert_eq!(data(&fresh, "open_count"), 2, "{fresh}");
    assert!(fresh["data"].get("as_of").is_none(), "{fresh}");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_replica_that_cannot_be_reached_is_passed_over_for_the_primary(pool: PgPool) {
    // Nothing listens on port 1: every read falls back to the primary and still answers.
    let nowhere = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(
            PgConnectOptions::from_str("postgres://postgres@127.0.0.1:1/none").expect("url"),
        );
    let (mut h, engine) = session(&pool, nowhere).await;
    h.ok(r#"/deal new title:"Alpha" amount:1000"#).await;
    h.ok("/deal won deal:D-1").await;
    let stats = h.ok("/pipeline stats").await;
    assert_eq!(data(&stats, "won_amount_minor"), 100_000, "{stats}");
    assert!(stats["data"].get("as_of").is_none(), "{stats}");
    let export = h.ok("/export kind:deals").await;
    assert!(text(&export).contains("1 row"), "{}", text(&export));
    assert!(suggestions(&engine, "alp")
        .await
        .iter()
        .any(|s| s.contains("Alpha")));
}

#[sqlx::test(migrations = "./migrations")]
async fn the_binary_reads_reports_from_database_read_url(pool: PgPool) {
    let _turn = REPLICA.lock().await;
    let replica = replica_of(&pool).await;
    resume(&replica, &pool).await;
    let (mut h, _) = session(&pool, replica.clone()).await;
    h.ok(r#"/deal new title:"Alpha" amount:1000"#).await;
    h.ok("/deal won deal:D-1").await;
    let url = crate::support::database_url(&pool).await;
    let db = url.rsplit('/').next().unwrap_or_default().to_string();
    let read_url = format!("postgres://postgres@127.0.0.1:{}/{db}", replica_port());
    caught_up(&pool, &replica).await;
    let paused = Paused::start(&replica).await;
    h.ok(r#"/deal new title:"Beta" amount:5"#).await;
    let run = |read_url: String| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_salesbot"))
                    .args(["report", "pipeline", "--workspace", "1", "--json"])
                    .env("DATABASE_URL", url)
                    .env("DATABASE_READ_URL", read_url)
                    .env("RUST_LOG", "error")
                    .output()
            })
            .await
            .expect("join")
            .expect("run salesbot")
        }
    };
    let out = run(read_url.clone()).await;
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["open_count"], 0, "{report}");
    assert!(report["as_of"].is_string(), "{report}");
    drop(paused);
    resume(&replica, &pool).await;
    let out = run(read_url).await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["open_count"], 1, "{report}");
}
