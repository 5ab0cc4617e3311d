//! Import and export at scale: a generated CSV of 100,000 deals with their companies and
//! contacts (`BENCH_IMPORT_ROWS` to change) imported through the engine's importer into an
//! empty workspace, against the same file loaded with Postgres `COPY` into a staging table in
//! the same run, as a ratio; then the workspace's deals exported; last, the database's floor
//! (the rows the import wrote copied table to table on two connections, see `floor`). Prints
//! rows/s, the ratios, CPU a row, peak resident memory and the core count.
//!
//! `cargo bench --bench import` (uses `salesbot_bench_import`, dropped and made afresh each
//! run; `BENCH_DATABASE_URL` is not used, so the engine benchmark's data set stays).

// The core count and CPU readings are shared: this benchmark makes its own database.
#[allow(dead_code)]
mod common;

use std::io::Write as _;
use std::time::Instant;

use salesbot::console::{Console, ConsoleOptions};
use salesbot::domain::role::Role;
use salesbot::engine::export::{export, ExportKind, ExportOptions};
use salesbot::engine::import::{self, ImportRequest, Input};
use salesbot::engine::Engine;
use salesbot::store::Store;
use sqlx::{Connection, Executor};

const STAGES: [&str; 6] = [
    "Lead",
    "Qualified",
    "Proposal",
    "Negotiation",
    "Closed Won",
    "Closed Lost",
];

/// Peak resident memory of this process, in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Where the export goes: its bytes counted, not kept, so that the peak memory printed is the
/// exporter's and not a copy of the file.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A deals file the way a CRM export looks: one deal per row with its company, website,
/// contact and email; 1 company per 10 deals, 1 contact per 2. `changed` is the next export
/// of the same deals: every amount a unit higher, and the deals in the first stage (one in
/// six) a stage further.
fn generate(path: &std::path::Path, rows: usize, changed: bool) -> anyhow::Result<u64> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        w,
        "Deal ID,Deal Name,Company,Website,Contact,Email,Amount,Stage,Owner,Close Date,Create Date"
    )?;
    for i in 0..rows {
        let company = i / 10;
        let contact = i / 2;
        let stage = STAGES[(i + usize::from(changed && i % STAGES.len() == 0)) % STAGES.len()];
        let day = 1 + i % 28;
        writeln!(
            w,
            "D{i},Deal {i},Company {company},https://www.company{company}.example/,Contact {contact},c{contact}@company{company}.example,{}.{:02},{stage},{},2025-{:02}-{day:02},2024-{:02}-{day:02}",
            1000 + (i * 37) % 90_000 + usize::from(changed),
            i % 100,
            1 + i % 20,
            1 + i % 12,
            1 + i % 12,
        )?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// The tables an import of deals writes, in the order their keys need.
const WRITTEN: [&str; 6] = [
    "companies",
    "contacts",
    "deals",
    "stage_changes",
    "deal_products",
    "external_ids",
];

/// The database's own floor for this schema: the rows the import wrote into workspace 1,
/// copied table by table with one `INSERT .. SELECT` each (bulk mode, rollups not added),
/// into two new workspaces (`first` and the next) at once on two connections, as the
/// importer's two batches in flight write. No parsing, matching, round trips or statistics:
/// only the heap, every index and, unless `checks_aside`, PostgreSQL's foreign-key check of
/// every row. The importer checks its rows' keys a statement at a time and puts the
/// row-by-row checks aside (`Tx::check_parents`), so the copy with them aside, which checks
/// nothing, is what it can go no faster than; the copy with them shows what they cost.
async fn floor(
    url: &str,
    rows: usize,
    import_secs: f64,
    first: i64,
    checks_aside: bool,
) -> anyhow::Result<()> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    let mut scripts = Vec::new();
    for ws in [first, first + 1] {
        // What a workspace needs before its records: itself, its members, stages and counter.
        let mut setup = vec![format!(
            "INSERT INTO workspaces (id, {cols}) SELECT {ws}, {cols} FROM workspaces WHERE id = 1",
            cols = columns(&mut c, "workspaces", &["id"]).await?
        )];
        let mut copy = Vec::new();
        for table in ["members", "stages", "deal_counters"]
            .iter()
            .chain(&WRITTEN)
        {
            let cols = columns(&mut c, table, &["workspace_id"]).await?;
            let statement = format!(
                "INSERT INTO {table} (workspace_id, {cols}) SELECT {ws}, {cols} FROM {table} WHERE workspace_id = 1"
            );
            if WRITTEN.contains(table) {
                copy.push(statement);
            } else {
                setup.push(statement);
            }
        }
        for statement in &setup {
            c.execute(statement.as_str()).await?;
        }
        scripts.push(copy);
    }
    c.execute("CHECKPOINT").await?;
    let start = Instant::now();
    let cpu_before = common::postgres_cpu_secs();
    let copies = scripts.into_iter().map(|script| async move {
        let mut c = sqlx::PgConnection::connect(url).await?;
        let mut tx = c.begin().await?;
        tx.execute("SET LOCAL salesbot.bulk = 'on'").await?;
        if checks_aside {
            tx.execute("SET LOCAL session_replication_role = replica")
                .await?;
        }
        for statement in &script {
            tx.execute(statement.as_str()).await?;
        }
        tx.commit().await?;
        anyhow::Ok(c)
    });
    // The connections stay open until their backends' CPU is read: a backend that exited
    // is no longer counted.
    let mut open = Vec::new();
    for done in futures_util::future::join_all(copies).await {
        open.push(done?);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = common::postgres_cpu_secs() - cpu_before;
    drop(open);
    let label = if checks_aside {
        "the database alone           "
    } else {
        "  with a key check a row     "
    };
    let what = if checks_aside {
        "the same rows copied table to table, twice at once on two connections, no key checks: the floor"
    } else {
        "the same copy with PostgreSQL's foreign-key check of every row"
    };
    println!(
        "  {label}{secs:>7.2} s  {:>9.0} rows/s  ({what}; the import takes {:.1}x its time a row)",
        2.0 * rows as f64 / secs,
        import_secs / (secs / 2.0),
    );
    println!(
        "    CPU: PostgreSQL {cpu:.2} s ({:.0} us a row, {:.1} cores busy)",
        cpu * 1e6 / (2.0 * rows as f64),
        cpu / secs
    );
    Ok(())
}

/// A table's columns but the ones named, comma-separated, for copying its rows.
async fn columns(
    c: &mut sqlx::PgConnection,
    table: &str,
    except: &[&str],
) -> anyhow::Result<String> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(column_name) FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER'
           AND column_name <> ALL($2)
         ORDER BY ordinal_position",
    )
    .bind(table)
    .bind(except)
    .fetch_all(&mut *c)
    .await?;
    Ok(names.join(", "))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let rows: usize = std::env::var("BENCH_IMPORT_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let admin_url = "postgres://postgres@localhost:5432/postgres";
    let url = "postgres://postgres@localhost:5432/salesbot_bench_import";
    {
        let mut c = sqlx::PgConnection::connect(admin_url).await?;
        c.execute("DROP DATABASE IF EXISTS salesbot_bench_import")
            .await?;
    }
    let store = Store::connect(url).await?;
    let engine = Engine::new(store.clone())?;
    // The workspace and its 20 reps, the way people join: each acts once.
    for user in (1..=20).rev() {
        let mut console = Console::new(
            engine.clone(),
            ConsoleOptions {
                workspace: 1,
                user,
                role: Role::Admin,
                json: true,
            },
        );
        console.handle_line("/tasks list").await;
    }
    let file = std::env::temp_dir().join("salesbot-bench-import.csv");
    let size = generate(&file, rows, false)?;
    println!(
        "import benchmark: {rows} deals ({:.1} MB CSV), {} cores",
        size as f64 / 1e6,
        common::cores()
    );
    // The tests' streaming replica (`.ci/replica`) replays every byte of WAL this writes, on
    // the same cores: about a third more PostgreSQL CPU a row when measured.
    let replicas: i64 = {
        let mut c = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_replication")
            .fetch_one(&mut c)
            .await?
    };
    if replicas > 0 {
        println!(
            "  note: {replicas} streaming replica(s) replay this run's writes on this machine"
        );
    }

    // Postgres COPY of the same file into a staging table: the floor for getting these bytes
    // into the database at all.
    let mut c = sqlx::PgConnection::connect(url).await?;
    c.execute(
        "CREATE TABLE staging (deal_id text, deal_name text, company text, website text, contact text,
                               email text, amount numeric, stage text, owner int, close_date date, create_date date)",
    )
    .await?;
    // Sent a megabyte at a time, as the file is read: the peak memory printed after the
    // import is then the importer's, not a copy of the file.
    let start = Instant::now();
    let mut copy = c
        .copy_in_raw("COPY staging FROM STDIN (FORMAT csv, HEADER true)")
        .await?;
    let mut source = std::fs::File::open(&file)?;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut source, &mut chunk)?;
        if n == 0 {
            break;
        }
        copy.send(&chunk[..n]).await?;
    }
    copy.finish().await?;
    let copy_secs = start.elapsed().as_secs_f64();
    println!(
        "  COPY into a staging table     {copy_secs:>7.2} s  {:>9.0} rows/s",
        rows as f64 / copy_secs
    );

    let request = ImportRequest {
        workspace: 1,
        actor: 1,
        default_owner: Some(1),
        inputs: vec![Input::Path(file.clone())],
        source: None,
        kind: None,
        overrides: Vec::new(),
        stage_map: Vec::new(),
        date_order: None,
        sheet: None,
        dry_run: false,
    };
    let start = Instant::now();
    let cpu_before = (
        common::cpu_secs(std::process::id()),
        common::postgres_cpu_secs(),
    );
    let summary = import::run(&store, request.clone(), chrono::Utc::now(), |_| {}).await?;
    let import_secs = start.elapsed().as_secs_f64();
    let cpu = (
        common::cpu_secs(std::process::id()) - cpu_before.0,
        common::postgres_cpu_secs() - cpu_before.1,
    );
    assert_eq!(
        summary.refused,
        0,
        "{:?}",
        summary.files[0].refusals.first()
    );
    assert_eq!(summary.files[0].created, rows as u64);
    println!(
        "  salesbot import               {import_secs:>7.2} s  {:>9.0} rows/s  ({:.1}x COPY's time; {} deals, {} companies, {} contacts created)",
        rows as f64 / import_secs,
        import_secs / copy_secs,
        summary.files[0].created,
        rows / 10,
        rows / 2,
    );
    // Where the time goes: this process reads, matches and builds the batches; PostgreSQL
    // writes them (its CPU includes the WAL writer and checkpointer during the import).
    println!(
        "    CPU: this process {:.2} s, PostgreSQL {:.2} s ({:.0} + {:.0} us a row, {:.1} cores busy)",
        cpu.0,
        cpu.1,
        cpu.0 * 1e6 / rows as f64,
        cpu.1 * 1e6 / rows as f64,
        (cpu.0 + cpu.1) / import_secs
    );
    // Before the export below, whose bytes this benchmark counts rather than keeps.
    println!(
        "    peak resident memory of this process after the import: {:.0} MB",
        peak_rss_mb()
    );
    let start = Instant::now();
    let again = import::run(&store, request.clone(), chrono::Utc::now(), |_| {}).await?;
    let again_secs = start.elapsed().as_secs_f64();
    assert_eq!(again.matched, rows as u64);
    println!(
        "  the same file again           {again_secs:>7.2} s  {:>9.0} rows/s  (all {} rows matched, nothing written)",
        rows as f64 / again_secs,
        again.matched
    );

    let start = Instant::now();
    let mut out = Counted(0);
    let exported = export(
        &store,
        1,
        ExportKind::Deals,
        ExportOptions::default(),
        &mut out,
    )
    .await?
    .rows;
    let export_secs = start.elapsed().as_secs_f64();
    println!(
        "  export of {exported} deals          {export_secs:>7.2} s  {:>9.0} rows/s  ({:.1} MB)",
        exported as f64 / export_secs,
        out.0 as f64 / 1e6
    );
    println!(
        "  peak resident memory of this process: {:.0} MB",
        peak_rss_mb()
    );
    // After the runs above, so that they meet the tables as the benchmark always left them.
    floor(url, rows, import_secs, 2, true).await?;
    floor(url, rows, import_secs, 4, false).await?;
    changed_export(&store, &request, rows).await?;
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// The next export of the same deals imported over them: every deal updated (one statement a
/// table for each batch), one in six moved a stage with a history row; then that import taken
/// back, which restores every deal's image and takes the history rows out.
async fn changed_export(store: &Store, first: &ImportRequest, rows: usize) -> anyhow::Result<()> {
    let file = std::env::temp_dir().join("salesbot-bench-import-changed.csv");
    generate(&file, rows, true)?;
    let request = ImportRequest {
        inputs: vec![Input::Path(file.clone())],
        ..first.clone()
    };
    let start = Instant::now();
    let summary = import::run(store, request, chrono::Utc::now(), |_| {}).await?;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        summary.updated,
        rows as u64,
        "{:?}",
        summary.files[0].refusals.first()
    );
    println!(
        "  a changed export over it      {secs:>7.2} s  {:>9.0} rows/s  (every deal updated, {} moved a stage)",
        rows as f64 / secs,
        rows.div_ceil(STAGES.len()),
    );
    let id = summary
        .import_id
        .ok_or_else(|| anyhow::anyhow!("the import has no id"))?;
    let start = Instant::now();
    let report = import::undo(store, 1, id, chrono::Utc::now())
        .await?
        .map_err(|refused| anyhow::anyhow!("undo refused: {refused:?}"))?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  that import taken back        {secs:>7.2} s  {:>9.0} rows/s  ({} records restored)",
        rows as f64 / secs,
        report.restored
    );
    let _ = std::fs::remove_file(&file);
    Ok(())
}
