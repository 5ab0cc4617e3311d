//! Search at scale (issue 13): `/contact find` (anywhere in a name, email, company or tag) in a
//! workspace of 100,000 contacts at 10,000 companies, and deal lookup by title (`/deal show`
//! with a title) among 100,000 deals, through the console and the engine. Each is measured with
//! the trigram indexes and again, in the same run, with them dropped (then rebuilt), so the
//! two figures compare on the same machine state.
//!
//! `cargo bench --bench search` (the workspace is generated once into the bench database;
//! `BENCH_DATABASE_URL` names another one, `BENCH_ITERATIONS` changes N).

mod common;

use salesbot::console::{Console, ConsoleOptions};
use salesbot::domain::role::Role;
use salesbot::engine::Engine;
use sqlx::{Connection, Executor};
use std::time::Instant;

/// The workspace the benchmark owns in the bench database.
const WS: i64 = 990_001;
const CONTACTS: i64 = 100_000;

const FIRST: [&str; 24] = [
    "anna", "ben", "chen", "dmitri", "elena", "fatima", "george", "hana", "ivan", "julia", "kenji",
    "lars", "maria", "noah", "olga", "pedro", "qiang", "rosa", "sven", "tomas", "ursula", "victor",
    "wei", "yusuf",
];
const LAST: [&str; 20] = [
    "smith", "garcia", "müller", "okafor", "tanaka", "kowalski", "nguyen", "rossi", "berg",
    "ivanova", "silva", "dubois", "haddad", "kim", "larsen", "novak", "patel", "schmidt", "wang",
    "zhang",
];
const WORDS: [&str; 16] = [
    "acme", "birch", "cobalt", "delta", "ember", "fjord", "granite", "harbor", "iris", "juniper",
    "kestrel", "lumen", "maple", "nimbus", "orchid", "pinnacle",
];

use common::report;

/// The searches people type: parts of names, surnames, company words, mail domains.
fn queries(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            0 => FIRST[i % FIRST.len()].to_string(),
            1 => LAST[(i / 5) % LAST.len()][..4.min(LAST[(i / 5) % LAST.len()].len())].to_string(),
            2 => format!(
                "{} {}",
                FIRST[(i * 7) % FIRST.len()],
                LAST[(i * 3) % LAST.len()]
            ),
            3 => WORDS[i % WORDS.len()].to_string(),
            _ => format!(
                "{}.{}",
                FIRST[(i * 5) % FIRST.len()],
                LAST[(i * 11) % LAST.len()]
            ),
        })
        .collect()
}

async fn generate(url: &str) -> anyhow::Result<()> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE workspace_id = $1")
        .bind(WS)
        .fetch_one(&mut c)
        .await?;
    if have >= CONTACTS {
        return Ok(());
    }
    println!(
        "generating {CONTACTS} contacts, 10,000 companies and 100,000 deals in workspace {WS} ..."
    );
    let started = Instant::now();
    let mut tx = c.begin().await?;
    let first = format!("ARRAY['{}']", FIRST.join("','"));
    let last = format!("ARRAY['{}']", LAST.join("','"));
    let words = format!("ARRAY['{}']", WORDS.join("','"));
    for sql in [
        format!("INSERT INTO workspaces (id, name) VALUES ({WS}, 'search bench') ON CONFLICT DO NOTHING"),
        format!("INSERT INTO members (workspace_id, user_id, display_name, role)
                 SELECT {WS}, u, 'rep ' || u, CASE WHEN u = 1 THEN 'admin' ELSE 'rep' END
                 FROM generate_series(1, 20) u ON CONFLICT DO NOTHING"),
        format!("INSERT INTO stages (workspace_id, name, position, probability, kind)
                 VALUES ({WS}, 'Lead', 1, 10, 'open'), ({WS}, 'Won', 2, 100, 'won'), ({WS}, 'Lost', 3, 0, 'lost')
                 ON CONFLICT DO NOTHING"),
        format!("INSERT INTO companies (workspace_id, name, owner_id, website)
                 SELECT {WS}, initcap(w1) || ' ' || initcap(w2) || ' ' || k, 1 + k % 20, w1 || w2 || k || '.example'
                 FROM generate_series(1, 10000) k,
                      LATERAL (SELECT ({words})[1 + k % 16] AS w1, ({words})[1 + (k / 16) % 16] AS w2) n"),
        // The companies by their number, so each contact and deal finds its own by a join.
        format!("CREATE TEMP TABLE bench_companies ON COMMIT DROP AS
                 SELECT id, name, website, row_number() OVER (ORDER BY id) AS seq
                 FROM companies WHERE workspace_id = {WS}"),
        "CREATE INDEX ON bench_companies (seq)".to_string(),
        format!("INSERT INTO contacts (workspace_id, name, company_id, owner_id, email, tags)
                 SELECT {WS}, initcap(f) || ' ' || initcap(l), co.id, 1 + k % 20,
                        f || '.' || l || k || '@' || co.website,
                        CASE WHEN k % 10 = 0 THEN ARRAY['high-value'] ELSE ARRAY['potential'] END
                 FROM generate_series(1, {CONTACTS}) k
                 JOIN LATERAL (SELECT ({first})[1 + k % 24] AS f, ({last})[1 + (k / 24) % 20] AS l) n ON true
                 JOIN bench_companies co ON co.seq = 1 + k % 10000"),
        format!("INSERT INTO deals (workspace_id, number, title, company_id, owner_id, amount_minor, currency,
                                    stage_id, status, furthest_position, created_at)
                 SELECT {WS}, k, co.name || ' - ' || (ARRAY['GTX Pro', 'MG Special', 'GTK 500', 'Renewal'])[1 + k % 4],
                        co.id, 1 + k % 20, 100000, 'USD',
                        (SELECT id FROM stages WHERE workspace_id = {WS} AND name = 'Lead'), 'open', 1, now()
                 FROM generate_series(1, 100000) k
                 JOIN bench_companies co ON co.seq = 1 + k % 10000"),
        format!("INSERT INTO deal_counters (workspace_id, next_number) VALUES ({WS}, 100001)
                 ON CONFLICT (workspace_id) DO UPDATE SET next_number = 100001"),
    ] {
        tx.execute(sql.as_str()).await?;
    }
    tx.commit().await?;
    // Autovacuum vacuums a table after this many inserts (and sets the visibility map that
    // index-only and bitmap scans lean on); on a server without it, do what it would have.
    // Without it the first run measured p95 233 ms for what is 18 ms once vacuumed.
    for table in ["contacts", "companies", "deals"] {
        c.execute(format!("VACUUM ANALYZE {table}").as_str())
            .await?;
    }
    println!("generated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

const TRIGRAM: [(&str, &str); 6] = [
    ("contacts_company", "contacts (workspace_id, company_id)"),
    (
        "contacts_name_trgm",
        "contacts USING gin (workspace_id, lower(name) gin_trgm_ops)",
    ),
    (
        "contacts_email_trgm",
        "contacts USING gin (workspace_id, lower(email) gin_trgm_ops)",
    ),
    (
        "contacts_tags",
        "contacts USING gin (workspace_id, tags) WHERE tags <> '{}'",
    ),
    (
        "companies_name_trgm",
        "companies USING gin (workspace_id, lower(name) gin_trgm_ops)",
    ),
    (
        "deals_title_trgm",
        "deals USING gin (workspace_id, lower(title) gin_trgm_ops)",
    ),
];

async fn measure(console: &mut Console, iterations: usize, label: &str) {
    let qs = queries(iterations);
    // Warm the caches and the prepared statements.
    for q in qs.iter().take(20) {
        console
            .handle_line(&format!("/contact find query:\"{q}\""))
            .await;
    }
    let mut finds = Vec::with_capacity(iterations);
    let mut found = 0usize;
    for q in &qs {
        let started = Instant::now();
        let out = console
            .handle_line(&format!("/contact find query:\"{q}\""))
            .await;
        finds.push(started.elapsed());
        let text = out
            .first()
            .map(|o| o.reply.content.clone())
            .unwrap_or_default();
        assert!(!text.starts_with("⚠️"), "{q}: {text}");
        found += usize::from(!out.is_empty());
    }
    report(&format!("contact find, 100,000 contacts ({label})"), finds);
    let mut lookups = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let title = format!(
            "{} {} {}",
            WORDS[i % 16],
            WORDS[(i / 16) % 16],
            1 + (i * 37) % 10000
        );
        let started = Instant::now();
        console
            .handle_line(&format!("/deal show deal:\"{title}\""))
            .await;
        lookups.push(started.elapsed());
    }
    report(
        &format!("deal lookup by title, 100,000 deals ({label})"),
        lookups,
    );
    let _ = found;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(store) = common::bench_store().await? else {
        return Ok(());
    };
    let url = common::bench_url();
    generate(&url).await?;
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    println!("cores: {}", common::cores());
    let engine = Engine::new(store)?;
    let mut console = Console::new(
        engine,
        ConsoleOptions {
            workspace: WS,
            user: 1,
            role: Role::Admin,
            json: false,
        },
    );
    let mut c = sqlx::PgConnection::connect(&url).await?;
    for (name, def) in TRIGRAM {
        c.execute(format!("CREATE INDEX IF NOT EXISTS {name} ON {def}").as_str())
            .await?;
    }
    c.execute("ANALYZE contacts; ANALYZE companies; ANALYZE deals")
        .await?;
    measure(&mut console, iterations, "trigram indexes").await;

    for (name, _) in TRIGRAM {
        c.execute(format!("DROP INDEX IF EXISTS {name}").as_str())
            .await?;
    }
    measure(&mut console, iterations, "without them").await;
    for (name, def) in TRIGRAM {
        c.execute(format!("CREATE INDEX {name} ON {def}").as_str())
            .await?;
    }
    c.execute("ANALYZE contacts; ANALYZE companies; ANALYZE deals")
        .await?;
    Ok(())
}
