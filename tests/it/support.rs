//! The test driver: a console session in JSON mode over a fresh database, plus helpers to
//! read replies and to fingerprint the whole database.

use salesbot::console::{render_json, Console, ConsoleOptions};
use salesbot::domain::role::Role;
use salesbot::engine::Engine;
use salesbot::store::Store;
use serde_json::Value;
use sqlx::PgPool;

/// Every table the schema creates (command_registrations aside, which only the bot writes).
pub const TABLES: [&str; 32] = [
    "workspaces",
    "deal_counters",
    "members",
    "stages",
    "companies",
    "contacts",
    "deals",
    "stage_changes",
    "activities",
    "tasks",
    "outbox",
    "audit_log",
    "processed_interactions",
    "deal_open_totals",
    "deal_daily_totals",
    "products",
    "deal_products",
    "stage_stay_totals",
    "activity_daily_totals",
    "product_daily_totals",
    "product_open_totals",
    "imports",
    "external_ids",
    "import_rows",
    "import_created",
    "pending_imports",
    "api_tokens",
    "idempotency_keys",
    "webhook_endpoints",
    "webhook_secrets",
    "webhook_events",
    "webhook_deliveries",
];

/// The clock every test starts at: a Tuesday morning, well away from DST changes.
pub const START: &str = "2026-12-01T09:00:00Z";

/// A console session acting as user 1 (admin) in workspace 1.
pub struct Harness {
    /// The session under test.
    pub console: Console,
    /// The test's database, for independent checks.
    pub pool: PgPool,
}

impl Harness {
    pub async fn new(pool: PgPool) -> Harness {
        let engine = Engine::new(Store::from_pool(pool.clone())).expect("manifests load");
        Harness::with_engine(engine, pool).await
    }

    /// The same session over an engine set up by the test (say, one that accepts private
    /// webhook addresses).
    pub async fn with_engine(engine: Engine, pool: PgPool) -> Harness {
        let console = Console::new(
            engine,
            ConsoleOptions {
                workspace: 1,
                user: 1,
                role: Role::Admin,
                json: true,
            },
        );
        let mut h = Harness { console, pool };
        h.run(&format!(":now {START}")).await;
        h
    }

    /// Runs one line; returns every message as the console's JSON.
    pub async fn run(&mut self, line: &str) -> Vec<Value> {
        self.console
            .handle_line(line)
            .await
            .iter()
            .map(render_json)
            .collect()
    }

    /// Makes `users` members of the current workspace the way a person joins a team: each
    /// acts once, as a rep (a later `:as` gives another role). Options that name a member accept
    /// only members the workspace knows. Then runs `back` (say `:as 1 admin`).
    pub async fn join(&mut self, users: &[i64], back: &str) {
        for u in users {
            self.run(&format!(":as {u} rep")).await;
            self.ok("/tasks list").await;
        }
        self.run(back).await;
    }

    /// Runs one line that must produce exactly one reply.
    pub async fn one(&mut self, line: &str) -> Value {
        let mut out = self.run(line).await;
        assert_eq!(out.len(), 1, "{line}: expected one message, got {out:?}");
        out.remove(0)
    }

    /// Runs a line that must succeed; returns the reply.
    pub async fn ok(&mut self, line: &str) -> Value {
        let reply = self.one(line).await;
        assert!(!is_error(&reply), "{line}: expected success, got {reply}");
        reply
    }

    /// Runs `/undo`, which must take something back.
    pub async fn undone(&mut self) {
        let undo = self.one("/undo").await;
        assert!(
            undo["content"]
                .as_str()
                .unwrap_or_default()
                .starts_with("↩️"),
            "{undo}"
        );
    }

    /// Runs each line at its time (`:now`); every one must succeed.
    pub async fn ok_at(&mut self, script: &[(&str, &str)]) {
        for (time, line) in script {
            self.run(&format!(":now {time}")).await;
            self.ok(line).await;
        }
    }

    /// Runs a line that must fail with an ephemeral error; returns its text.
    pub async fn err(&mut self, line: &str) -> String {
        let reply = self.one(line).await;
        assert!(is_error(&reply), "{line}: expected an error, got {reply}");
        assert_eq!(reply["ephemeral"], true, "{line}: errors are ephemeral");
        reply["content"].as_str().unwrap_or_default().to_string()
    }

    /// A fingerprint of every row of every table, to prove a failed command wrote nothing.
    pub async fn fingerprint(&self) -> String {
        self.fingerprint_of(&TABLES).await
    }

    /// The fingerprint of every table but the import records themselves (a second import of
    /// the same file is recorded, and changes nothing else).
    pub async fn fingerprint_without_imports(&self) -> String {
        let tables: Vec<&str> = TABLES
            .iter()
            .copied()
            .filter(|t| {
                !matches!(
                    *t,
                    "imports" | "import_rows" | "import_created" | "external_ids"
                )
            })
            .collect();
        self.fingerprint_of(&tables).await
    }

    /// The fingerprint of every table but `skip` (an API token's `last_used_at` moves as it is
    /// used, and is not data).
    pub async fn fingerprint_except(&self, skip: &[&str]) -> String {
        let tables: Vec<&str> = TABLES
            .iter()
            .copied()
            .filter(|t| !skip.contains(t))
            .collect();
        self.fingerprint_of(&tables).await
    }

    async fn fingerprint_of(&self, tables: &[&str]) -> String {
        let mut out = String::new();
        for t in tables {
            let sql = format!("SELECT coalesce(string_agg(to_jsonb(x)::text, '\n' ORDER BY to_jsonb(x)::text), '') FROM {t} x");
            let rows: String = sqlx::query_scalar(&sql)
                .fetch_one(&self.pool)
                .await
                .expect("fingerprint");
            out.push_str(t);
            out.push('\n');
            out.push_str(&rows);
            out.push('\n');
        }
        out
    }

    /// One number from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }
}

/// The URL of the test's own database, for running the `salesbot` binary against it.
pub async fn database_url(pool: &PgPool) -> String {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("database name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let base = base.split('?').next().unwrap_or_default();
    let slash = base.rfind('/').expect("a database URL with a path");
    format!("{}/{db}", &base[..slash])
}

/// Runs the `salesbot` binary with `args` against the database at `url`: exit code, stdout,
/// stderr.
pub async fn salesbot_at(url: &str, args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let url = url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_salesbot"))
            .args(&args)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "error")
            .output()
    })
    .await
    .expect("join")
    .expect("run salesbot");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`salesbot_at`] the test's own database.
pub async fn salesbot(pool: &PgPool, args: &[&str]) -> (i32, String, String) {
    salesbot_at(&database_url(pool).await, args).await
}

/// A slash command as a front-end hands it to the engine (options as typed text), from
/// `user` of workspace `ws` with Discord's view of their `role`, under interaction id
/// `interaction` (so a repeat of it is applied once).
pub fn command_request(
    ws: i64,
    user: i64,
    role: Role,
    interaction: i64,
    command: &str,
    subcommand: &str,
    options: &[(&str, &str)],
) -> salesbot::engine::Request {
    use salesbot::engine::{Action, Invocation, OptionValue, Request, RoleSource};
    Request {
        workspace_id: ws,
        user_id: user,
        display_name: None,
        role: RoleSource::Known(role),
        locale: None,
        channel_id: Some(1),
        interaction_id: Some(interaction),
        idempotency: None,
        now: chrono::Utc::now(),
        in_dm: false,
        guild_members: Vec::new(),
        action: Action::Command(Invocation {
            command: command.into(),
            subcommand: Some(subcommand.into()),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), OptionValue::String(v.to_string())))
                .collect(),
        }),
    }
}

/// Whether a reply is an error.
pub fn is_error(reply: &Value) -> bool {
    reply["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("⚠️"))
}

/// All text of a reply (content, embed titles, descriptions, fields, footers, buttons), for searching.
pub fn text(reply: &Value) -> String {
    let mut parts = vec![reply["content"].as_str().unwrap_or_default().to_string()];
    for e in reply["embeds"].as_array().into_iter().flatten() {
        for key in ["title", "description", "footer"] {
            parts.push(e[key].as_str().unwrap_or_default().to_string());
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            parts.push(format!(
                "{}: {}",
                f["name"].as_str().unwrap_or_default(),
                f["value"].as_str().unwrap_or_default()
            ));
        }
    }
    for b in reply["components"].as_array().into_iter().flatten() {
        parts.push(format!(
            "[{}]({})",
            b["label"].as_str().unwrap_or_default(),
            b["custom_id"].as_str().unwrap_or_default()
        ));
    }
    parts.join("\n")
}

impl Harness {
    /// The running totals the report reads equal a fresh aggregation of the deals.
    pub async fn assert_totals_match_deals(&self) {
        let drift = self.totals_drift().await;
        assert!(drift.is_empty(), "{}", drift.join("; "));
    }

    /// The id of workspace 1's stage called `name`.
    pub async fn stage_id(&self, name: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM stages WHERE workspace_id = 1 AND name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("stage {name}: {e}"))
    }

    /// Which trigger-kept rollups differ from a recount of the raw rows (empty when all agree).
    pub async fn totals_drift(&self) -> Vec<&'static str> {
        let mut drift = Vec::new();
        let differences: i64 = sqlx::query_scalar(
            "WITH kept AS (
                 SELECT workspace_id, owner_id, stage_id, deals, amount_minor FROM deal_open_totals WHERE deals <> 0
             ), fresh AS (
                 SELECT workspace_id, owner_id, stage_id, count(*) AS deals, sum(amount_minor) AS amount_minor
                 FROM deals WHERE status = 'open' GROUP BY 1, 2, 3
             ), daily_kept AS (
                 SELECT workspace_id, day, owner_id, kind, key, deals, amount_minor, cycle_seconds
                 FROM deal_daily_totals WHERE deals <> 0
             ), daily_fresh AS (
                 SELECT workspace_id, (created_at AT TIME ZONE 'UTC')::date AS day, owner_id, 1::smallint AS kind,
                        furthest_position AS key, count(*) AS deals, sum(amount_minor) AS amount_minor, 0::bigint AS cycle_seconds
                 FROM deals GROUP BY 1, 2, 3, 5
                 UNION ALL
                 SELECT workspace_id, (closed_at AT TIME ZONE 'UTC')::date, owner_id,
                        CASE status WHEN 'won' THEN 2 ELSE 3 END::smallint, 0, count(*), sum(amount_minor),
                        sum(floor(extract(epoch FROM closed_at - created_at)))::bigint
                 FROM deals WHERE status IN ('won', 'lost') GROUP BY 1, 2, 3, 4
             )
             SELECT (SELECT count(*) FROM ((SELECT * FROM kept EXCEPT SELECT * FROM fresh)
                                           UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM kept)) x)
                  + (SELECT count(*) FROM ((SELECT * FROM daily_kept EXCEPT SELECT * FROM daily_fresh)
                                           UNION ALL (SELECT * FROM daily_fresh EXCEPT SELECT * FROM daily_kept)) y)",
        )
        .fetch_one(&self.pool)
        .await
        .expect("totals check");
        if differences != 0 {
            drift.push("deal totals drifted from the deals");
        }

        // Each change ends the stay its predecessor began, and the stay and activity rollups
        // equal a fresh aggregation of the raw rows.
        let differences: i64 = sqlx::query_scalar(
            "WITH ends AS (
                 SELECT workspace_id, id, ended_stage_id, ended_entered_at,
                        lag(to_stage_id) OVER w AS prev_stage, lag(changed_at) OVER w AS prev_at,
                        lead(changed_at) OVER w AS next_at
                 FROM stage_changes
                 WINDOW w AS (PARTITION BY workspace_id, deal_id ORDER BY changed_at, id)
             ), stays_kept AS (
                 SELECT workspace_id, day, owner_id, stage_id, stays, seconds FROM stage_stay_totals WHERE stays <> 0
             ), stays_fresh AS (
                 SELECT sc.workspace_id, (e.next_at AT TIME ZONE 'UTC')::date, d.owner_id, sc.to_stage_id,
                        count(*), sum(floor(extract(epoch FROM e.next_at - sc.changed_at)))::bigint
                 FROM stage_changes sc
                 JOIN ends e ON e.workspace_id = sc.workspace_id AND e.id = sc.id
                 JOIN deals d ON d.workspace_id = sc.workspace_id AND d.id = sc.deal_id
                 WHERE e.next_at IS NOT NULL GROUP BY 1, 2, 3, 4
             ), acts_kept AS (
                 SELECT workspace_id, day, member_id, kind, activities, satisfaction_sum, satisfaction_count
                 FROM activity_daily_totals WHERE activities <> 0
             ), acts_fresh AS (
                 SELECT workspace_id, (happened_at AT TIME ZONE 'UTC')::date, member_id, kind, count(*),
                        COALESCE(sum(satisfaction), 0), count(satisfaction)
                 FROM activities GROUP BY 1, 2, 3, 4
             )
             SELECT (SELECT count(*) FROM ends
                     WHERE (ended_stage_id, ended_entered_at) IS DISTINCT FROM (prev_stage, prev_at))
                  + (SELECT count(*) FROM ((SELECT * FROM stays_kept EXCEPT SELECT * FROM stays_fresh)
                                           UNION ALL (SELECT * FROM stays_fresh EXCEPT SELECT * FROM stays_kept)) x)
                  + (SELECT count(*) FROM ((SELECT * FROM acts_kept EXCEPT SELECT * FROM acts_fresh)
                                           UNION ALL (SELECT * FROM acts_fresh EXCEPT SELECT * FROM acts_kept)) y)",
        )
        .fetch_one(&self.pool)
        .await
        .expect("stay and activity totals check");
        if differences != 0 {
            drift.push("stay or activity totals drifted from the raw rows");
        }

        let differences: i64 = sqlx::query_scalar(
            "WITH closed_kept AS (
                 SELECT workspace_id, day, owner_id, product_id, kind, deals, units, revenue, list_value
                 FROM product_daily_totals WHERE deals <> 0
             ), closed_fresh AS (
                 SELECT l.workspace_id, (d.closed_at AT TIME ZONE 'UTC')::date, d.owner_id, l.product_id,
                        CASE d.status WHEN 'won' THEN 2 ELSE 3 END::smallint, count(*), sum(l.quantity)::bigint,
                        sum(l.quantity::bigint * l.unit_price_minor)::bigint, sum(l.quantity::bigint * l.list_price_minor)::bigint
                 FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
                 WHERE d.status IN ('won', 'lost') AND d.closed_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5
             ), open_kept AS (
                 SELECT workspace_id, owner_id, product_id, deals FROM product_open_totals WHERE deals <> 0
             ), open_fresh AS (
                 SELECT l.workspace_id, d.owner_id, l.product_id, count(*)
                 FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
                 WHERE d.status = 'open' GROUP BY 1, 2, 3
             )
             SELECT (SELECT count(*) FROM ((SELECT * FROM closed_kept EXCEPT SELECT * FROM closed_fresh)
                                           UNION ALL (SELECT * FROM closed_fresh EXCEPT SELECT * FROM closed_kept)) x)
                  + (SELECT count(*) FROM ((SELECT * FROM open_kept EXCEPT SELECT * FROM open_fresh)
                                           UNION ALL (SELECT * FROM open_fresh EXCEPT SELECT * FROM open_kept)) y)",
        )
        .fetch_one(&self.pool)
        .await
        .expect("product totals check");
        if differences != 0 {
            drift.push("product totals drifted from the lines");
        }
        drift
    }
}

/// A tiny deterministic generator (Knuth's MMIX LCG); the high bits are the good ones.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
