//! Two real bot processes (the built binary, `salesbot run`) over one database, each running
//! one of two gateway shards of the fake Discord. Process B is SIGKILLed in the middle of a
//! load of commands in both guilds, the load goes on, B is started again, and the driver sends
//! again, with the same interaction id, every interaction B never answered, and replays the
//! ones the killed B had answered (as a RESUME would). Then: every interaction is answered once
//! and applied once, and every reminder and digest that fell due went out once. The fake
//! enforces Discord's start limit (one IDENTIFY per 5 s in the one bucket of
//! `max_concurrency` 1): the processes' starts wait for each other instead of being refused.
//!
//! The one outcome Discord itself cannot avoid is allowed and counted: the killed B committed
//! a command but died before its callback left. Its effect is in the database once; the replay
//! finds the interaction id taken and stays silent, so that interaction has no callback at all
//! (on Discord the user sees "The application did not respond").

use crate::fake_discord::{command, Caller, Delivery, FakeDiscord, Recorded, APP_ID};
use chrono::{Datelike, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STRING: u8 = 3;
const CHANNEL: u8 = 7;
/// Long: two debug-build processes, Postgres and the test share a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(60);
/// The outbox lease is 120 s: a message the killed process had claimed goes out after it runs
/// out, at the next 5-second delivery tick.
const DELIVERY_WAIT: Duration = Duration::from_secs(150);
/// Guilds on shard 0 and shard 1 of 2: Discord's shard of a guild is `(id >> 22) % total`.
const GUILD_A: u64 = 800000000000000001 + (1 << 22);
const GUILD_B: u64 = 800000000000000001;
/// Each guild's digest channel.
const DIGEST_A: u64 = 810000000000000101;
const DIGEST_B: u64 = 810000000000000102;
/// The member who acts (an admin) and gets the reminders.
const USER: u64 = 1001;
/// Deals created in set-up, each moved once during the load.
const BASE_DEALS: usize = 6;
/// Reminders created in set-up and made due before the load.
const DUE_REMINDERS: usize = 4;
/// Commands of each kind per guild in the load.
const LOAD_DEALS: usize = 16;
const LOAD_CONTACTS: usize = 10;
const LOAD_REMINDERS: usize = 4;
/// Once this many of B's guild's load commands were sent, a burst of `BURST` more goes to B at
/// once, and B is killed a moment later (0 to 40 ms, at random): with commands unread, running,
/// and committed but not yet answered.
const KILL_AFTER: usize = 12;
const BURST: usize = 8;
/// Between two load commands (alternating guilds): a steady load, not a flood.
const PACE: Duration = Duration::from_millis(40);

/// A `salesbot run` child process; killed (SIGKILL) and reaped when dropped.
struct BotProcess {
    child: Option<Child>,
}

impl BotProcess {
    /// Starts `salesbot run` for shard `shard` of 2, its output appended to `log`.
    fn spawn(name: &str, shard: u32, fake: &FakeDiscord, database_url: &str, log: &Path) -> Self {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let _ = writeln!(
            file,
            "===== process {name} (shard {shard} of 2) starts ====="
        );
        let stderr = file.try_clone().expect("log file handle");
        let child = Command::new(env!("CARGO_BIN_EXE_salesbot"))
            .arg("run")
            .env("DISCORD_TOKEN", "TEST.TOKEN")
            .env("DISCORD_API_BASE", fake.api_base())
            .env("SHARD_TOTAL", "2")
            .env("SHARD_IDS", shard.to_string())
            .env("DATABASE_URL", database_url)
            // Any free port: two processes (and other tests) must not fight over 8080.
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn,salesbot=info")
            .env("NO_COLOR", "1")
            .env_remove("DISCORD_GUILD_ID")
            .env_remove("SHARD_START")
            .env_remove("SHARD_END")
            .env_remove("LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start process {name}: {e}"));
        BotProcess { child: Some(child) }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap it: no chance to finish anything.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a log file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Prints the tail of the processes' logs (and where the full logs are) when the test panics.
struct LogsOnFailure(Vec<(&'static str, PathBuf)>);

impl LogsOnFailure {
    fn dump(&self) -> String {
        self.0
            .iter()
            .map(|(name, path)| {
                format!(
                    "----- process {name}, last lines of {} -----\n{}",
                    path.display(),
                    tail(path, 40)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

/// The test database's URL for the child processes: `DATABASE_URL` (what `sqlx::test` used)
/// with the database `sqlx::test` made for this test.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_string());
    let options = pool.connect_options();
    let name = options
        .get_database()
        .expect("sqlx::test names the test's database");
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// What an interaction of the load asks for, to check its effect.
#[derive(Clone, Debug)]
enum Effect {
    Deal(String),
    Contact(String),
    Move(String),
    Reminder(String),
}

/// Sends one interaction of the load and notes it.
async fn send(
    fake: &FakeDiscord,
    sent: &mut Vec<Sent>,
    guild: u64,
    (payload, effect): (Value, Effect),
) {
    let delivery = fake.send_interaction(payload.clone()).await;
    sent.push(Sent {
        id: id_of(&payload),
        guild,
        payload,
        effect,
        delivery,
    });
}

/// An interaction the driver sent.
struct Sent {
    id: u64,
    guild: u64,
    payload: Value,
    effect: Effect,
    /// Written to a live session, or held for the shard's next one.
    delivery: Delivery,
}

/// What Discord saw of one interaction's answer.
#[derive(Default, Debug)]
struct Answer {
    /// Initial callbacks, in order (arrival, response type); only the first is accepted.
    callbacks: Vec<(Instant, u64)>,
    /// A deferral was completed (the original edited, or a follow-up posted).
    completed: bool,
    /// A message of the answer was a refusal (the engine's "⚠️" prefix).
    refused: bool,
}

impl Answer {
    /// Answered for good: a message, or a deferral that was completed.
    fn done(&self) -> bool {
        match self.callbacks.first() {
            Some((_, 5)) => self.completed,
            Some(_) => true,
            None => false,
        }
    }
}

/// The answers of every interaction so far, by id.
fn answers(fake: &FakeDiscord) -> HashMap<u64, Answer> {
    let mut by_id: HashMap<u64, Answer> = HashMap::new();
    let token_id = |t: &str| t.strip_prefix("tok-").and_then(|n| n.parse::<u64>().ok());
    let refusal = |content: &Value| content.as_str().is_some_and(|c| c.starts_with("⚠️"));
    for r in fake.requests() {
        let path = r.path.split('?').next().unwrap_or_default().to_string();
        let parts: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
        match (r.method.as_str(), parts.as_slice()) {
            ("POST", ["interactions", id, _, "callback"]) => {
                if let Ok(id) = id.parse() {
                    let kind = r.json["type"].as_u64().unwrap_or(0);
                    let answer = by_id.entry(id).or_default();
                    answer.refused |= refusal(&r.json["data"]["content"]);
                    answer.callbacks.push((r.at, kind));
                }
            }
            ("PATCH", ["webhooks", app, token, "messages", "@original"])
            | ("POST", ["webhooks", app, token])
                if *app == APP_ID.to_string() =>
            {
                if let Some(id) = token_id(token) {
                    let answer = by_id.entry(id).or_default();
                    answer.refused |= refusal(&r.json["content"]);
                    answer.completed = true;
                }
            }
            _ => {}
        }
    }
    by_id
}

fn id_of(interaction: &Value) -> u64 {
    interaction["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("interaction id")
}

/// Sends an interaction and waits for its answer (set-up, one at a time).
async fn interact(fake: &FakeDiscord, interaction: Value) -> Recorded {
    let id = id_of(&interaction);
    fake.send_interaction(interaction).await;
    let callback = fake.wait_callback(id, WAIT).await;
    assert_eq!(callback.json["type"], 4, "{}", callback.json);
    let content = callback.json["data"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!content.starts_with("⚠️"), "refused: {}", callback.json);
    callback
}

/// A zone where it is about noon now (`Etc/GMT-3` is UTC+3), and today's weekday there, so a
/// digest "today at 00:00" is due and still within its day however long the test takes.
fn noon_zone() -> (String, &'static str) {
    let now = Utc::now();
    let offset = 12 - i64::from(now.format("%H").to_string().parse::<u32>().unwrap_or(12));
    let zone = match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let local = now + chrono::Duration::hours(offset);
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [local.weekday().num_days_from_monday() as usize];
    (zone, day)
}

async fn scalar(pool: &PgPool, sql: &str, ws: u64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(ws as i64)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[sqlx::test]
async fn two_processes_lose_and_double_nothing_when_one_is_killed(pool: PgPool) {
    assert_eq!((GUILD_A >> 22) % 2, 0, "GUILD_A is on shard 0");
    assert_eq!((GUILD_B >> 22) % 2, 1, "GUILD_B is on shard 1");
    let started = Instant::now();
    let db_url = database_url(&pool);
    let db_name = pool
        .connect_options()
        .get_database()
        .unwrap_or("test")
        .to_string();
    let dir = std::env::temp_dir().join(format!("salesbot-processes-{db_name}"));
    std::fs::create_dir_all(&dir).expect("log directory");
    let (log_a, log_b) = (dir.join("A.log"), dir.join("B.log"));
    let _ = std::fs::remove_file(&log_a);
    let _ = std::fs::remove_file(&log_b);
    let logs = LogsOnFailure(vec![("A", log_a.clone()), ("B", log_b.clone())]);

    let fake = FakeDiscord::start().await;
    let mut a = BotProcess::spawn("A", 0, &fake, &db_url, &log_a);
    let mut b = BotProcess::spawn("B", 1, &fake, &db_url, &log_b);
    fake.wait_shard(0, WAIT).await;
    fake.wait_shard(1, WAIT).await;
    // Started together, the two share Discord's start limit (max_concurrency 1: one bucket):
    // one waited for the other's slot instead of being refused.
    assert_eq!(
        fake.identifies_refused(),
        0,
        "an IDENTIFY broke the start limit; gateway log:\n  {}\n{}",
        fake.gateway_log(),
        logs.dump()
    );

    // ---- Set-up, one command at a time: zone, digest, deals to move, reminders.
    let (zone, today) = noon_zone();
    let mut next_id = 1_000_000u64;
    let mut id = || {
        next_id += 1;
        next_id
    };
    for (guild, digest) in [(GUILD_A, DIGEST_A), (GUILD_B, DIGEST_B)] {
        let admin = Caller::admin(USER).in_guild(guild);
        interact(
            &fake,
            command(
                id(),
                &admin,
                "settings",
                Some("timezone"),
                vec![
                    ("zone", STRING, json!(zone)),
                    ("scope", STRING, json!("workspace")),
                ],
            ),
        )
        .await;
        interact(
            &fake,
            command(
                id(),
                &admin,
                "settings",
                Some("digest"),
                vec![
                    ("channel", CHANNEL, json!(digest.to_string())),
                    ("day", STRING, json!(today)),
                    ("time", STRING, json!("00:00")),
                ],
            ),
        )
        .await;
        for k in 0..BASE_DEALS {
            interact(
                &fake,
                command(
                    id(),
                    &admin,
                    "deal",
                    Some("new"),
                    vec![
                        ("title", STRING, json!(format!("base {guild} {k}"))),
                        ("amount", STRING, json!("5k")),
                    ],
                ),
            )
            .await;
        }
        for k in 0..DUE_REMINDERS {
            interact(
                &fake,
                command(
                    id(),
                    &admin,
                    "remind",
                    None,
                    vec![
                        ("what", STRING, json!(format!("due reminder {guild} {k}"))),
                        ("when", STRING, json!("in 2 hours")),
                    ],
                ),
            )
            .await;
        }
    }
    // Time passes for the set-up reminders: they are due from now on, so the next scan (a
    // minute tick of either process, or B's catch-up when it starts again) sends them, and so
    // does the digest, due since midnight.
    sqlx::query(
        "UPDATE tasks SET due_at = now() - interval '1 minute' WHERE title LIKE 'due reminder %'",
    )
    .execute(&pool)
    .await
    .expect("reminders made due");

    // ---- The load: both guilds alternately, B killed in the middle of it.
    let mut plans: HashMap<u64, Vec<(Value, Effect)>> = HashMap::new();
    for guild in [GUILD_A, GUILD_B] {
        let admin = Caller::admin(USER).in_guild(guild);
        let mut plan = Vec::new();
        for k in 0..LOAD_DEALS {
            let title = format!("load deal {guild} {k}");
            plan.push((
                command(
                    id(),
                    &admin,
                    "deal",
                    Some("new"),
                    vec![
                        ("title", STRING, json!(title)),
                        ("amount", STRING, json!(format!("{}k", k + 1))),
                    ],
                ),
                Effect::Deal(title),
            ));
            if k < LOAD_CONTACTS {
                let name = format!("Contact {guild} {k}");
                plan.push((
                    command(
                        id(),
                        &admin,
                        "contact",
                        Some("add"),
                        vec![("name", STRING, json!(name))],
                    ),
                    Effect::Contact(name),
                ));
            }
            if k < BASE_DEALS {
                let title = format!("base {guild} {k}");
                plan.push((
                    command(
                        id(),
                        &admin,
                        "deal",
                        Some("move"),
                        vec![
                            ("deal", STRING, json!(format!("D-{}", k + 1))),
                            ("stage", STRING, json!("Qualified")),
                        ],
                    ),
                    Effect::Move(title),
                ));
            }
            if k < LOAD_REMINDERS {
                let what = format!("load reminder {guild} {k}");
                plan.push((
                    command(
                        id(),
                        &admin,
                        "remind",
                        None,
                        vec![
                            ("what", STRING, json!(what)),
                            ("when", STRING, json!("in 3 hours")),
                        ],
                    ),
                    Effect::Reminder(what),
                ));
            }
        }
        plans.insert(guild, plan);
    }
    let load_a = plans.remove(&GUILD_A).unwrap_or_default();
    let load_b = plans.remove(&GUILD_B).unwrap_or_default();
    let mut sent: Vec<Sent> = Vec::new();
    let mut killed_at = None;
    let mut kill_db_time: Option<chrono::DateTime<Utc>> = None;
    let (mut it_a, mut it_b) = (load_a.into_iter(), load_b.into_iter());
    let mut sent_b = 0;
    let kill_delay = Duration::from_millis(rand::random::<u64>() % 41);
    loop {
        let mut any = false;
        for guild in [GUILD_A, GUILD_B] {
            let next = if guild == GUILD_A {
                it_a.next()
            } else {
                it_b.next()
            };
            let Some(item) = next else {
                continue;
            };
            any = true;
            send(&fake, &mut sent, guild, item).await;
            if guild == GUILD_B {
                sent_b += 1;
            }
            tokio::time::sleep(PACE).await;
        }
        if sent_b == KILL_AFTER && killed_at.is_none() {
            for item in it_b.by_ref().take(BURST) {
                send(&fake, &mut sent, GUILD_B, item).await;
            }
            tokio::time::sleep(kill_delay).await;
            b.kill();
            killed_at = Some(Instant::now());
            // Every transaction of the killed process began before this instant.
            kill_db_time = Some(
                sqlx::query_scalar("SELECT clock_timestamp()")
                    .fetch_one(&pool)
                    .await
                    .expect("database clock"),
            );
        }
        if !any {
            break;
        }
    }
    let killed_at = killed_at.expect("B was killed during the load");
    let kill_db_time = kill_db_time.expect("kill time");
    let held = fake.held();
    assert!(
        sent.iter()
            .all(|s| s.guild == GUILD_B || s.delivery != Delivery::Held),
        "A's shard was live throughout"
    );

    // ---- B again: its shard's held events arrive on its new session; its start-up catches up
    // on due work.
    let mut b2 = BotProcess::spawn("B (restarted)", 1, &fake, &db_url, &log_b);
    fake.wait_shard(1, WAIT).await;
    // A answers all of its guild's load, the new B all it was handed on its new session (the
    // held events). What was written to the old B is answered or lost with it. Waiting for
    // this first means no replay below races its own original in one process.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let by_id = answers(&fake);
        let waiting: Vec<u64> = sent
            .iter()
            .filter(|s| s.guild == GUILD_A || s.delivery == Delivery::Held)
            .filter(|s| !by_id.get(&s.id).is_some_and(Answer::done))
            .map(|s| s.id)
            .collect();
        if waiting.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {WAIT:?}, {} live or held interactions are not answered: {waiting:?}\n{}",
            waiting.len(),
            fake.gateway_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // ---- The replay, to the new B: every interaction of B's guild again, same id, as a
    // RESUME replays what a session missed: the ones lost with the old B (written to its dead
    // socket, or killed mid-command) are applied now; the ones already applied (by the old B
    // or from the held events) are neither applied nor answered again.
    let by_id = answers(&fake);
    let mut replayed_unanswered = 0;
    let mut replayed_answered = 0;
    for s in sent.iter().filter(|s| s.guild == GUILD_B) {
        match by_id.get(&s.id) {
            Some(a) if a.done() => replayed_answered += 1,
            _ => replayed_unanswered += 1,
        }
        fake.send_interaction(s.payload.clone()).await;
    }

    // ---- Wait until every interaction is answered, or is explained by the kill: committed
    // by the old B (its marker predates the kill) with the answer lost with the process.
    let marker_time = |ws: u64, id: u64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, chrono::DateTime<Utc>>(
                "SELECT processed_at FROM processed_interactions \
                 WHERE workspace_id = $1 AND interaction_id = $2",
            )
            .bind(ws as i64)
            .bind(id as i64)
            .fetch_optional(&pool)
            .await
            .expect("processed_interactions")
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let (lost_answers, lost_completions) = loop {
        let by_id = answers(&fake);
        let mut open = Vec::new();
        let mut lost_answers = Vec::new();
        let mut lost_completions = Vec::new();
        for s in &sent {
            let answer = by_id.get(&s.id);
            if answer.is_some_and(Answer::done) {
                continue;
            }
            let before_kill = marker_time(s.guild, s.id)
                .await
                .is_some_and(|t| t < kill_db_time);
            match answer.and_then(|a| a.callbacks.first()) {
                None if before_kill && s.guild == GUILD_B => lost_answers.push(s.id),
                Some((at, 5)) if *at < killed_at && s.guild == GUILD_B => {
                    lost_completions.push(s.id)
                }
                _ => open.push(s.id),
            }
        }
        if open.is_empty() {
            break (lost_answers, lost_completions);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {WAIT:?}, {} interactions have no answer and no explanation: {open:?}\n{}\n{}",
            open.len(),
            fake.gateway_log(),
            logs.dump()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // ---- Reminders and digests: every outbox row that is due goes out once.
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')
                  + (SELECT count(*) FROM tasks WHERE title LIKE 'due reminder %'
                       AND reminded_due_at IS DISTINCT FROM due_at)
                  + (2 - (SELECT count(*) FROM outbox WHERE kind = 'digest' AND target = 'channel'
                            AND status <> 'skipped'))",
        )
        .fetch_one(&pool)
        .await
        .expect("outbox");
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {DELIVERY_WAIT:?}, {pending} reminders or digests are not delivered"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A last moment for anything late (a second answer, a second post) to show.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // ---- Every interaction: one answer, or (explained above) none because the old B died
    // between its commit and its callback; never two. Every one applied exactly once.
    let by_id = answers(&fake);
    let mut problems = Vec::new();
    for s in &sent {
        let answer = by_id.get(&s.id);
        let callbacks = answer.map_or(0, |a| a.callbacks.len());
        let allowed = if lost_answers.contains(&s.id) {
            0..=0
        } else if lost_completions.contains(&s.id) {
            // The new B may try once more and be told it was acknowledged already.
            1..=2
        } else {
            1..=1
        };
        if !allowed.contains(&callbacks) {
            let kinds: Vec<u64> =
                answer.map_or(vec![], |a| a.callbacks.iter().map(|c| c.1).collect());
            problems.push(format!(
                "interaction {} ({:?}): {callbacks} callbacks (types {kinds:?})",
                s.id, s.effect
            ));
        }
        if answer.is_some_and(|a| a.refused) {
            problems.push(format!("interaction {} ({:?}) was refused", s.id, s.effect));
        }
        if marker_time(s.guild, s.id).await.is_none() {
            problems.push(format!(
                "interaction {} ({:?}) was never applied",
                s.id, s.effect
            ));
        }
        let (sql, key): (&str, &str) = match &s.effect {
            Effect::Deal(t) => (
                "SELECT count(*) FROM deals WHERE workspace_id = $1 AND title = $2",
                t,
            ),
            Effect::Contact(n) => (
                "SELECT count(*) FROM contacts WHERE workspace_id = $1 AND name = $2",
                n,
            ),
            Effect::Reminder(w) => (
                "SELECT count(*) FROM tasks WHERE workspace_id = $1 AND title = $2",
                w,
            ),
            Effect::Move(t) => (
                "SELECT count(*) FROM stage_changes sc
                   JOIN deals d ON d.workspace_id = sc.workspace_id AND d.id = sc.deal_id
                   JOIN stages st ON st.workspace_id = sc.workspace_id AND st.id = sc.to_stage_id
                  WHERE sc.workspace_id = $1 AND d.title = $2 AND st.name = 'Qualified'",
                t,
            ),
        };
        let n: i64 = sqlx::query_scalar(sql)
            .bind(s.guild as i64)
            .bind(key)
            .fetch_one(&pool)
            .await
            .expect(sql);
        if n != 1 {
            problems.push(format!(
                "{:?} in guild {}: {n} rows, not 1",
                s.effect, s.guild
            ));
        }
    }
    for guild in [GUILD_A, GUILD_B] {
        let deals = scalar(
            &pool,
            "SELECT count(*) FROM deals WHERE workspace_id = $1",
            guild,
        )
        .await;
        if deals != (BASE_DEALS + LOAD_DEALS) as i64 {
            problems.push(format!("guild {guild}: {deals} deals"));
        }
    }
    let distinct: HashSet<u64> = sent.iter().map(|s| s.id).collect();
    assert_eq!(distinct.len(), sent.len(), "the driver used each id once");

    // ---- Every due outbox message: delivered once, as one Discord message with its nonce.
    let rows: Vec<(
        i64,
        String,
        Option<i64>,
        Option<i64>,
        String,
        Option<i64>,
        String,
    )> = sqlx::query_as(
        "SELECT workspace_id, dedupe_key, user_id, channel_id, status, delivered_message_id, kind
               FROM outbox WHERE status <> 'skipped' ORDER BY workspace_id, id",
    )
    .fetch_all(&pool)
    .await
    .expect("outbox rows");
    let posted = fake.posted();
    let mut reminders_out = 0;
    let mut digests_out = 0;
    for (ws, key, user, channel, status, message_id, kind) in &rows {
        let nonce = salesbot::discord::send::nonce(*ws, key);
        let channel = match (user, channel) {
            (Some(u), _) => FakeDiscord::dm_channel_id(*u as u64),
            (None, Some(c)) => *c as u64,
            _ => 0,
        };
        let copies: Vec<_> = posted
            .iter()
            .filter(|p| p.nonce.as_deref() == Some(nonce.as_str()))
            .collect();
        if status != "delivered" || copies.len() != 1 {
            problems.push(format!(
                "outbox {key} ({status}): {} Discord messages with its nonce",
                copies.len()
            ));
            continue;
        }
        if copies[0].channel != channel || Some(copies[0].id as i64) != *message_id {
            problems.push(format!("outbox {key}: posted as {:?}", copies[0]));
        }
        match kind.as_str() {
            "task" => reminders_out += 1,
            "digest" if key.starts_with("digest:") => digests_out += 1,
            _ => {}
        }
    }
    // By content too: each reminder that fell due was said once.
    let due: Vec<String> =
        sqlx::query_scalar("SELECT title FROM tasks WHERE title LIKE 'due reminder %'")
            .fetch_all(&pool)
            .await
            .expect("tasks");
    for title in &due {
        let n = posted.iter().filter(|p| p.content.contains(title)).count();
        if n != 1 {
            problems.push(format!("'{title}' was said in {n} messages"));
        }
    }
    if let Some(p) = posted.iter().find(|p| p.nonce.is_none()) {
        problems.push(format!("a message was posted without a nonce: {p:?}"));
    }
    let mut nonces = HashSet::new();
    for p in &posted {
        if let Some(n) = &p.nonce {
            if !nonces.insert(n.clone()) {
                problems.push(format!("two Discord messages with nonce {n}"));
            }
        }
    }
    // The fake, as Discord, answers a repeated nonce with the first message wherever it was
    // sent: a repeat to another channel would hide a message moved mid-flight, so the
    // requests themselves are checked.
    let mut sent_to: HashMap<String, u64> = HashMap::new();
    for r in fake.requests().iter().filter(|r| r.method == "POST") {
        let channel = r
            .path
            .strip_prefix("/api/v10/channels/")
            .and_then(|p| p.strip_suffix("/messages"))
            .and_then(|c| c.parse::<u64>().ok());
        if let (Some(channel), Some(n)) = (channel, r.json["nonce"].as_str()) {
            if let Some(first) = sent_to.insert(n.to_string(), channel) {
                if first != channel {
                    problems.push(format!("nonce {n} sent to channels {first} and {channel}"));
                }
            }
        }
    }
    if reminders_out != 2 * DUE_REMINDERS || digests_out != 2 {
        problems.push(format!(
            "{reminders_out} reminders and {digests_out} digests went out, not {} and 2",
            2 * DUE_REMINDERS
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}\n\ngateway log:\n  {}\n\n{}",
        problems.len(),
        problems.join("\n"),
        fake.gateway_log(),
        logs.dump()
    );
    let delivered_before_kill: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE status = 'delivered' AND delivered_at < $1",
    )
    .bind(kill_db_time)
    .fetch_one(&pool)
    .await
    .expect("outbox");
    eprintln!(
        "processes: B killed {kill_delay:?} after a burst; {delivered_before_kill} outbox \
         messages out before the kill; {} interactions, {} held while B was down, {} replayed unanswered and {} \
         answered ones to the new B; answers lost with the old B: {} (+{} deferrals never \
         completed); {} reminders and {} digests out once; {:.1} s",
        sent.len(),
        held,
        replayed_unanswered,
        replayed_answered,
        lost_answers.len(),
        lost_completions.len(),
        reminders_out,
        digests_out,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        fake.identifies_refused(),
        0,
        "the restarted B's IDENTIFY broke the start limit; gateway log:\n  {}",
        fake.gateway_log()
    );
    b2.kill();
    a.kill();
    drop(logs);
    let _ = std::fs::remove_dir_all(&dir);
}
