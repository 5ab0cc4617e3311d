//! The scheduler and the outbox with an injected clock. Workspaces, members and reminders are
//! made through the console; the scheduled work is then run by calling the jobs with the instant
//! to pretend it is (`jobs::run_due` and friends, `outbox::deliver_due`), and what they decided
//! is read back from the `outbox` table and from what a delivering test double (or the fake
//! Discord, through the real `Sender`) received.
//!
//! Expected instants are worked out by hand in UTC (the comments show the local time and the
//! offset in force), and local times in the checks over all rows are computed by Postgres's own
//! time zone database, so no expectation comes from the code under test.

use crate::fake_discord::FakeDiscord;
use crate::support::{Harness, Lcg};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use salesbot::discord::send::Sender;
use salesbot::discord::DiscordConfig;
use salesbot::engine::Reply;
use salesbot::outbox::{
    backoff, deliver_due, Deliver, DeliveryError, Outgoing, Pass, Target, LEASE, MAX_ATTEMPTS,
    NONCE_RETRY, TASK_GONE,
};
use salesbot::scheduler::jobs;
use salesbot::store::Store;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

// ---------------------------------------------------------------------------------------------
// A deliverer that records what it was given
// ---------------------------------------------------------------------------------------------

/// One message the recorder accepted.
#[derive(Clone, Debug)]
struct Delivery {
    /// The outbox slot.
    key: String,
    /// Where it went.
    target: Target,
    /// What it said.
    reply: Reply,
    /// The message id the recorder answered with.
    id: u64,
}

/// Records every delivery; can be told to fail a message (by slot key) a given way, once per
/// queued error.
#[derive(Default)]
struct Recorder {
    /// Accepted messages, in order.
    sent: Mutex<Vec<Delivery>>,
    /// Errors to answer with, per slot key, first one next.
    failures: Mutex<HashMap<String, VecDeque<DeliveryError>>>,
    /// Every call, failed or not.
    calls: AtomicUsize,
    /// Message ids handed out.
    next_id: AtomicU64,
}

impl Recorder {
    fn fail_next(&self, key: &str, errors: Vec<DeliveryError>) {
        self.failures
            .lock()
            .expect("recorder lock")
            .entry(key.to_string())
            .or_default()
            .extend(errors);
    }

    fn sent(&self) -> Vec<Delivery> {
        self.sent.lock().expect("recorder lock").clone()
    }

    fn len(&self) -> usize {
        self.sent.lock().expect("recorder lock").len()
    }

    /// The deliveries of one slot.
    fn of(&self, key: &str) -> Vec<Delivery> {
        self.sent().into_iter().filter(|d| d.key == key).collect()
    }

    /// The one delivery of a slot; panics unless there was exactly one.
    fn one(&self, key: &str) -> Delivery {
        let mut all = self.of(key);
        assert_eq!(
            all.len(),
            1,
            "{key}: expected one delivery, got {}",
            all.len()
        );
        all.remove(0)
    }

    /// The synchronous part of a delivery (no lock is held across an await).
    fn record(&self, m: &Outgoing) -> Result<u64, DeliveryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let scripted = self
            .failures
            .lock()
            .expect("recorder lock")
            .get_mut(&m.dedupe_key)
            .and_then(|q| q.pop_front());
        if let Some(e) = scripted {
            return Err(e);
        }
        let id = 1 + self.next_id.fetch_add(1, Ordering::SeqCst);
        self.sent.lock().expect("recorder lock").push(Delivery {
            key: m.dedupe_key.clone(),
            target: m.target.clone(),
            reply: m.reply.clone(),
            id,
        });
        Ok(id)
    }
}

impl Deliver for Recorder {
    async fn deliver(&self, m: &Outgoing) -> Result<u64, DeliveryError> {
        // Give a concurrent worker the chance to run between a claim and its outcome.
        tokio::task::yield_now().await;
        self.record(m)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn total(a: Pass, b: Pass) -> Pass {
    Pass {
        delivered: a.delivered + b.delivered,
        retried: a.retried + b.retried,
        failed: a.failed + b.failed,
        skipped: a.skipped + b.skipped,
        handed_back: a.handed_back + b.handed_back,
        halted: a.halted || b.halted,
    }
}

/// Delivers at `now` until a pass finds nothing; the sum of the passes.
async fn drain<D: Deliver>(store: &Store, d: &D, now: DateTime<Utc>, batch: i64) -> Pass {
    let mut sum = Pass::default();
    loop {
        let pass = deliver_due(store, d, now, batch)
            .await
            .expect("deliver_due");
        if pass == Pass::default() {
            return sum;
        }
        sum = total(sum, pass);
    }
}

/// An outbox row as the tests read it.
#[derive(Clone, Debug, sqlx::FromRow)]
struct Row {
    workspace_id: i64,
    dedupe_key: String,
    kind: String,
    target: String,
    user_id: Option<i64>,
    channel_id: Option<i64>,
    status: String,
    due_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
    attempts: i32,
    last_error: Option<String>,
    delivered_message_id: Option<i64>,
}

const ROW_COLUMNS: &str =
    "workspace_id, dedupe_key, kind, target, user_id, channel_id, status, due_at, \
                           next_attempt_at, attempts, last_error, delivered_message_id";

async fn rows(pool: &PgPool) -> HashMap<String, Row> {
    sqlx::query_as::<_, Row>(&format!("SELECT {ROW_COLUMNS} FROM outbox"))
        .fetch_all(pool)
        .await
        .expect("outbox rows")
        .into_iter()
        .map(|r| (r.dedupe_key.clone(), r))
        .collect()
}

async fn row(pool: &PgPool, key: &str) -> Option<Row> {
    sqlx::query_as::<_, Row>(&format!(
        "SELECT {ROW_COLUMNS} FROM outbox WHERE dedupe_key = $1"
    ))
    .bind(key)
    .fetch_optional(pool)
    .await
    .expect("outbox row")
}

async fn must_row(pool: &PgPool, key: &str) -> Row {
    match row(pool, key).await {
        Some(r) => r,
        None => {
            let keys: Vec<String> = rows(pool).await.into_keys().collect();
            panic!("no outbox row {key}; rows: {keys:?}")
        }
    }
}

/// The slot key of a task's reminder, from the task's row (found by title).
async fn task_key(pool: &PgPool, ws: i64, title: &str) -> (String, DateTime<Utc>) {
    let (id, due): (i64, DateTime<Utc>) =
        sqlx::query_as("SELECT id, due_at FROM tasks WHERE workspace_id = $1 AND title = $2")
            .bind(ws)
            .bind(title)
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("task {title:?} in {ws}: {e}"));
    (format!("task:{ws}:{id}:{}", due.timestamp()), due)
}

fn agenda_key(ws: i64, user: i64, date: &str) -> String {
    format!("agenda:{ws}:{user}:{date}")
}

/// The slot key of the digest posted on `date` (its ISO week).
fn digest_key(ws: i64, date: &str) -> String {
    let d: NaiveDate = date.parse().expect("date");
    let w = d.iso_week();
    format!("digest:{ws}:{}-W{:02}", w.year(), w.week())
}

fn field<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .embeds
        .iter()
        .flat_map(|e| e.fields.iter())
        .find(|f| f.name == name)
        .map(|f| f.value.as_str())
        .unwrap_or_else(|| panic!("no field {name:?} in {reply:?}"))
}

fn title(reply: &Reply) -> &str {
    reply
        .embeds
        .first()
        .map(|e| e.title.as_str())
        .unwrap_or_else(|| panic!("no embed in {reply:?}"))
}

fn has_field(reply: &Reply, name: &str) -> bool {
    reply
        .embeds
        .iter()
        .flat_map(|e| e.fields.iter())
        .any(|f| f.name == name)
}

/// `$12,000` / `$1,250.50` / `$0` → minor units.
fn money(s: &str) -> i64 {
    let digits = s
        .trim()
        .strip_prefix('$')
        .unwrap_or_else(|| panic!("not a dollar amount: {s:?}"))
        .replace(',', "");
    let (major, cents) = match digits.split_once('.') {
        Some((m, c)) => (m.to_string(), format!("{c:0<2}")),
        None => (digits.clone(), "00".to_string()),
    };
    let major: i64 = major.parse().unwrap_or_else(|_| panic!("bad amount {s:?}"));
    let cents: i64 = cents.parse().unwrap_or_else(|_| panic!("bad amount {s:?}"));
    major * 100 + cents
}

// ---------------------------------------------------------------------------------------------
// 1. Each kind of message at the right local time, across DST changes
// ---------------------------------------------------------------------------------------------

/// One message that must be enqueued at exactly `at` (and not one second earlier).
struct Check {
    label: &'static str,
    key: String,
    kind: &'static str,
    at: DateTime<Utc>,
    /// DM recipient, or the channel of a post.
    to: Target,
}

#[sqlx::test(migrations = "./migrations")]
async fn each_kind_fires_at_its_local_time_across_daylight_saving_changes(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    // Everything is set up on Sunday 2026-03-01 before any of it is due; the console's clock is
    // not moved again, so only the calls below run the scheduled work.
    h.run(":now 2026-03-01T00:00:00Z").await;

    // Workspace 1 in New York (EST -5 until 2026-03-08 02:00, EDT -4 until 2026-11-01 02:00).
    h.ok("/settings timezone zone:America/New_York").await;
    h.ok("/settings digest channel:<#551> day:mon time:09:00")
        .await;
    h.ok(r#"/remind what:"ny early" when:"2026-03-01 12:00""#)
        .await; // EST: 17:00Z
    h.ok(r#"/remind what:"ny gap" when:"2026-03-08 02:30""#)
        .await; // no such time: 03:30 EDT = 07:30Z
    h.ok(r#"/remind what:"ny spring" when:"2026-03-09 09:00""#)
        .await; // EDT: 13:00Z
    h.ok(r#"/remind what:"ny twice" when:"2026-11-01 01:30""#)
        .await; // twice: the first, EDT = 05:30Z
    h.ok(r#"/remind what:"ny autumn" when:"2026-11-02 09:00""#)
        .await; // EST: 14:00Z
                // A member of the New York workspace who lives in Berlin.
    h.run(":as 12 rep").await;
    h.ok("/settings timezone zone:Europe/Berlin scope:me").await;
    h.ok("/settings agenda time:07:45").await; // their own agenda time
    h.ok(r#"/remind what:"berliner in ny" when:"2026-03-02 10:00""#)
        .await; // CET: 09:00Z

    // Workspace 2 in Berlin (CET +1 until 2026-03-29 02:00, CEST +2 until 2026-10-25 03:00).
    h.run(":workspace 2").await;
    h.run(":as 2 admin").await;
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.ok("/settings digest channel:<#552> day:mon time:09:00")
        .await;
    h.ok(r#"/remind what:"berlin early" when:"2026-03-02 12:00""#)
        .await; // CET: 11:00Z
    h.ok(r#"/remind what:"berlin gap" when:"2026-03-29 02:30""#)
        .await; // no such time: 03:30 CEST = 01:30Z
    h.ok(r#"/remind what:"berlin twice" when:"2026-10-25 02:30""#)
        .await; // twice: the first, CEST = 00:30Z
                // A member of the Berlin workspace who lives in Shanghai.
    h.run(":as 22 rep").await;
    h.ok("/settings timezone zone:Asia/Shanghai scope:me").await;
    h.ok(r#"/remind what:"shanghai in berlin" when:"2026-03-02 12:00""#)
        .await; // +8: 04:00Z

    // Workspace 3 in Shanghai (+8 all year).
    h.run(":workspace 3").await;
    h.run(":as 3 admin").await;
    h.ok("/settings timezone zone:Asia/Shanghai").await;
    h.ok("/settings digest channel:<#553> day:mon time:09:00")
        .await;
    h.ok(r#"/remind what:"shanghai early" when:"2026-03-02 09:00""#)
        .await; // 01:00Z
    h.ok(r#"/remind what:"shanghai nov" when:"2026-11-02 09:00""#)
        .await; // 01:00Z

    // Workspace 4 in Berlin with its digest at a local time the changes skip and repeat.
    h.run(":workspace 4").await;
    h.run(":as 4 admin").await;
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.ok("/settings digest channel:<#554> day:sun time:02:30")
        .await;

    let task = |ws: i64, title: &'static str, expected: &str, to: i64| {
        let pool = pool.clone();
        let expected = at(expected);
        async move {
            let (key, due) = task_key(&pool, ws, title).await;
            assert_eq!(due, expected, "{title}: stored due time");
            Check {
                label: title,
                key,
                kind: "task",
                at: expected,
                to: Target::Dm(to as u64),
            }
        }
    };
    let mut checks = vec![
        task(1, "ny early", "2026-03-01T17:00:00Z", 1).await,
        task(1, "ny gap", "2026-03-08T07:30:00Z", 1).await,
        task(1, "ny spring", "2026-03-09T13:00:00Z", 1).await,
        task(1, "ny twice", "2026-11-01T05:30:00Z", 1).await,
        task(1, "ny autumn", "2026-11-02T14:00:00Z", 1).await,
        task(1, "berliner in ny", "2026-03-02T09:00:00Z", 12).await,
        task(2, "berlin early", "2026-03-02T11:00:00Z", 2).await,
        task(2, "berlin gap", "2026-03-29T01:30:00Z", 2).await,
        task(2, "berlin twice", "2026-10-25T00:30:00Z", 2).await,
        task(2, "shanghai in berlin", "2026-03-02T04:00:00Z", 22).await,
        task(3, "shanghai early", "2026-03-02T01:00:00Z", 3).await,
        task(3, "shanghai nov", "2026-11-02T01:00:00Z", 3).await,
    ];
    let digest = |label: &'static str, ws: i64, date: &str, expected: &str| Check {
        label,
        key: digest_key(ws, date),
        kind: "digest",
        at: at(expected),
        to: Target::Channel(550 + ws as u64),
    };
    let agenda = |label: &'static str, ws: i64, user: i64, date: &str, expected: &str| Check {
        label,
        key: agenda_key(ws, user, date),
        kind: "agenda",
        at: at(expected),
        to: Target::Dm(user as u64),
    };
    #[rustfmt::skip]
    checks.extend([
        // Monday 09:00 digests.
        digest("ny digest, last EST Monday", 1, "2026-03-02", "2026-03-02T14:00:00Z"),
        digest("ny digest, first EDT Monday", 1, "2026-03-09", "2026-03-09T13:00:00Z"),
        digest("ny digest, last EDT Monday", 1, "2026-10-26", "2026-10-26T13:00:00Z"),
        digest("ny digest, first EST Monday", 1, "2026-11-02", "2026-11-02T14:00:00Z"),
        digest("berlin digest, last CET Monday", 2, "2026-03-23", "2026-03-23T08:00:00Z"),
        digest("berlin digest, first CEST Monday", 2, "2026-03-30", "2026-03-30T07:00:00Z"),
        digest("berlin digest, last CEST Monday", 2, "2026-10-19", "2026-10-19T07:00:00Z"),
        digest("berlin digest, first CET Monday", 2, "2026-10-26", "2026-10-26T08:00:00Z"),
        digest("shanghai digest, March", 3, "2026-03-09", "2026-03-09T01:00:00Z"),
        digest("shanghai digest, November", 3, "2026-11-02", "2026-11-02T01:00:00Z"),
        // Sunday 02:30 in Berlin: skipped by the spring change (read as 03:30 CEST), then
        // there twice in autumn (the first, CEST, and only once).
        digest("berlin 02:30 digest, in the gap", 4, "2026-03-29", "2026-03-29T01:30:00Z"),
        digest("berlin 02:30 digest, Sunday before (CET)", 4, "2026-03-22", "2026-03-22T01:30:00Z"),
        digest("berlin 02:30 digest, twice", 4, "2026-10-25", "2026-10-25T00:30:00Z"),
        digest("berlin 02:30 digest, Sunday after (CET)", 4, "2026-11-01", "2026-11-01T01:30:00Z"),
        // 08:30 agendas on workdays, in the member's own zone when they set one.
        agenda("ny agenda, Friday before", 1, 1, "2026-03-06", "2026-03-06T13:30:00Z"),
        agenda("ny agenda, Monday after", 1, 1, "2026-03-09", "2026-03-09T12:30:00Z"),
        agenda("ny agenda, Friday before autumn", 1, 1, "2026-10-30", "2026-10-30T12:30:00Z"),
        agenda("ny agenda, Monday after autumn", 1, 1, "2026-11-02", "2026-11-02T13:30:00Z"),
        agenda("berliner in ny at 07:45, US on DST, EU not", 1, 12, "2026-03-09", "2026-03-09T06:45:00Z"),
        agenda("berliner in ny at 07:45, EU on DST", 1, 12, "2026-03-30", "2026-03-30T05:45:00Z"),
        agenda("berliner in ny at 07:45, EU off DST", 1, 12, "2026-10-26", "2026-10-26T06:45:00Z"),
        agenda("berlin agenda, Friday before", 2, 2, "2026-03-27", "2026-03-27T07:30:00Z"),
        agenda("berlin agenda, Monday after", 2, 2, "2026-03-30", "2026-03-30T06:30:00Z"),
        agenda("berlin agenda, Friday before autumn", 2, 2, "2026-10-23", "2026-10-23T06:30:00Z"),
        agenda("berlin agenda, Monday after autumn", 2, 2, "2026-10-26", "2026-10-26T07:30:00Z"),
        agenda("shanghai member of berlin", 2, 22, "2026-03-30", "2026-03-30T00:30:00Z"),
        agenda("shanghai agenda, March", 3, 3, "2026-03-09", "2026-03-09T00:30:00Z"),
        agenda("shanghai agenda, November", 3, 3, "2026-11-02", "2026-11-02T00:30:00Z"),
    ]);

    // Probe one second before and at each expected instant, plus weekend afternoons everywhere.
    let mut probes: BTreeSet<DateTime<Utc>> =
        checks.iter().flat_map(|c| [c.at - secs(1), c.at]).collect();
    for weekend in [
        "2026-03-07T04:00:00Z", // Saturday noon in Shanghai
        "2026-03-07T18:00:00Z", // Saturday afternoon in New York and Berlin
        "2026-03-08T04:00:00Z",
        "2026-03-08T18:00:00Z",
        "2026-03-28T18:00:00Z",
        "2026-03-29T18:00:00Z",
        "2026-10-24T18:00:00Z",
        "2026-10-25T18:00:00Z",
        "2026-10-31T04:00:00Z",
        "2026-10-31T18:00:00Z",
        "2026-11-01T04:00:00Z",
        "2026-11-01T18:00:00Z",
        "2026-10-25T01:30:00Z", // 02:30 CET, the second 02:30 in Berlin
    ] {
        probes.insert(at(weekend));
    }

    let rec = Recorder::default();
    let mut delivered_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    for &t in &probes {
        jobs::run_due(&store, t).await.expect("run_due");
        let before = rec.len();
        drain(&store, &rec, t, 100).await;
        for d in &rec.sent()[before..] {
            let again = delivered_at.insert(d.key.clone(), t);
            assert!(again.is_none(), "{} delivered twice", d.key);
        }
        let now = rows(&pool).await;
        for c in &checks {
            match now.get(&c.key) {
                Some(r) => {
                    assert!(
                        t >= c.at,
                        "{}: {} enqueued by the run at {t}, before its time {}",
                        c.label,
                        c.key,
                        c.at
                    );
                    assert_eq!(r.due_at, c.at, "{}: due_at of {}", c.label, c.key);
                    assert_eq!(r.kind, c.kind, "{}: kind", c.label);
                }
                None => assert!(
                    t < c.at,
                    "{}: nothing enqueued as {} by the run at {t} (due {})",
                    c.label,
                    c.key,
                    c.at
                ),
            }
        }
    }

    // Each was delivered once, at the run of its instant, where it belongs.
    let all = rows(&pool).await;
    for c in &checks {
        let r = &all[&c.key];
        assert_eq!(r.status, "delivered", "{}: {r:?}", c.label);
        assert_eq!(
            delivered_at.get(&c.key),
            Some(&c.at),
            "{}: delivered when",
            c.label
        );
        let d = rec.one(&c.key);
        assert_eq!(d.target, c.to, "{}: recipient", c.label);
        let stored = match c.to {
            Target::Dm(u) => ("dm", Some(u as i64), None),
            Target::Channel(ch) => ("channel", None, Some(ch as i64)),
        };
        assert_eq!(
            (r.target.as_str(), r.user_id, r.channel_id),
            stored,
            "{}: stored recipient",
            c.label
        );
        assert!(
            c.key.contains(&format!(":{}:", r.workspace_id)),
            "{}: in workspace {}",
            c.label,
            r.workspace_id
        );
        assert_eq!(r.delivered_message_id, Some(d.id as i64), "{}", c.label);
    }
    // Nothing was delivered before it was due, or that was not pending.
    for (key, t) in &delivered_at {
        let r = &all[key];
        assert!(*t >= r.due_at, "{key} delivered at {t}, due {}", r.due_at);
        assert_eq!(r.status, "delivered", "{key}");
    }
    assert_eq!(
        all.values().filter(|r| r.status == "delivered").count(),
        rec.len()
    );

    // Every agenda row, not only the probed ones: the member's agenda time on a workday in their
    // zone, the key naming that local date. Local times are Postgres's reading of the zone.
    let agendas: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT o.dedupe_key,
                to_char(o.due_at AT TIME ZONE COALESCE(m.timezone, w.timezone), 'YYYY-MM-DD HH24:MI:SS ID'),
                m.agenda_time::text
         FROM outbox o JOIN workspaces w ON w.id = o.workspace_id
         JOIN members m ON m.workspace_id = o.workspace_id AND m.user_id = o.user_id
         WHERE o.kind = 'agenda'",
    )
    .fetch_all(&pool)
    .await
    .expect("agenda rows");
    assert!(agendas.len() >= 14, "only {} agenda rows", agendas.len());
    for (key, local, agenda_time) in &agendas {
        let date = key.rsplit(':').next().expect("date in key");
        let (day, rest) = local.split_once(' ').expect("local");
        assert_eq!(day, date, "{key}: local date {local}");
        let (time, dow) = rest.split_once(' ').expect("local");
        let want = if key.starts_with("agenda:1:12:") {
            "07:45:00"
        } else {
            "08:30:00"
        };
        assert_eq!(
            (time, agenda_time.as_str()),
            (want, want),
            "{key}: local time {local}"
        );
        assert!(("1"..="5").contains(&dow), "{key}: on a weekend ({local})");
    }
    // Every Monday digest row: 09:00 in the workspace's zone, keyed by that ISO week.
    let digests: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.dedupe_key, to_char(o.due_at AT TIME ZONE w.timezone, 'IYYY-\"W\"IW ID HH24:MI:SS')
         FROM outbox o JOIN workspaces w ON w.id = o.workspace_id
         WHERE o.kind = 'digest' AND w.digest_weekday = 1",
    )
    .fetch_all(&pool)
    .await
    .expect("digest rows");
    assert!(digests.len() >= 10, "only {} digest rows", digests.len());
    for (key, local) in &digests {
        let week = key.rsplit(':').next().expect("week in key");
        assert_eq!(local, &format!("{week} 1 09:00:00"), "{key}");
    }
    // Every task has one reminder row, keyed and timed by its due time.
    let bad: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks t
         WHERE (SELECT count(*) FROM outbox o
                WHERE o.workspace_id = t.workspace_id AND o.kind = 'task'
                  AND o.dedupe_key = 'task:' || t.workspace_id || ':' || t.id || ':' || extract(epoch FROM t.due_at)::bigint
                  AND o.due_at = t.due_at AND o.user_id = t.assignee_id) <> 1",
    )
    .fetch_one(&pool)
    .await
    .expect("task rows");
    assert_eq!(bad, 0, "tasks without exactly one reminder row");

    // What the messages say, in the recipient's zone.
    let due = |title: &str, key: &str| {
        let d = rec.one(key);
        assert_eq!(d.reply.content, format!("⏰ Reminder: {title}"));
        field(&d.reply, "Due").to_string()
    };
    let key = |label: &str| {
        checks
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.key.clone())
            .expect("check")
    };
    assert_eq!(due("ny gap", &key("ny gap")), "Sun, Mar 8, 2026 03:30");
    assert_eq!(due("ny twice", &key("ny twice")), "Sun, Nov 1, 2026 01:30");
    assert_eq!(
        due("berlin gap", &key("berlin gap")),
        "Sun, Mar 29, 2026 03:30"
    );
    assert_eq!(
        due("berliner in ny", &key("berliner in ny")),
        "Mon, Mar 2, 2026 10:00"
    );
    assert_eq!(
        due("shanghai in berlin", &key("shanghai in berlin")),
        "Mon, Mar 2, 2026 12:00"
    );
    let first_title = |k: &str| title(&rec.one(k).reply).to_string();
    assert_eq!(
        first_title(&key("berliner in ny at 07:45, US on DST, EU not")),
        "Your agenda for Mar 9, 2026"
    );
    assert_eq!(
        first_title(&key("shanghai member of berlin")),
        "Your agenda for Mar 30, 2026"
    );
    assert_eq!(
        first_title(&key("berlin digest, first CEST Monday")),
        "Weekly KPIs · 2026-W13 (Mar 23, 2026 – Mar 29, 2026)"
    );
    assert_eq!(
        first_title(&key("ny digest, first EST Monday")),
        "Weekly KPIs · 2026-W44 (Oct 26, 2026 – Nov 1, 2026)"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The digest's figures against an independent recomputation
// ---------------------------------------------------------------------------------------------

/// What happens at one moment of the digest's history.
#[derive(Clone, Debug)]
enum Ev {
    /// A deal (by index) is opened by its owner.
    New { deal: usize, amount: String },
    /// Won, at its amount or a new one.
    Won { deal: usize, amount: Option<String> },
    /// Lost.
    Lost { deal: usize },
    /// Moved back to an open stage after being closed.
    Reopen { deal: usize },
    /// An interaction logged with a contact (C-1 or C-2).
    Log {
        contact: u8,
        satisfaction: Option<u8>,
    },
}

struct Timed {
    at: DateTime<Utc>,
    actor: i64,
    ev: Ev,
}

/// One "value (delta vs before)" field, parsed.
#[derive(Debug, PartialEq)]
struct Change {
    value: i64,
    delta: String,
    before: i64,
}

fn parse_change(s: &str, number: fn(&str) -> i64) -> Change {
    let (value, rest) = s
        .split_once(" (")
        .unwrap_or_else(|| panic!("not 'value (delta vs before)': {s:?}"));
    let (delta, before) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(" vs "))
        .unwrap_or_else(|| panic!("not 'value (delta vs before)': {s:?}"));
    Change {
        value: number(value),
        delta: delta.to_string(),
        before: number(before),
    }
}

fn count(s: &str) -> i64 {
    s.parse().unwrap_or_else(|_| panic!("not a count: {s:?}"))
}

/// The change as a reader should see it: "new", "±0", or an arrow and a whole percentage.
fn expected_delta(now: i64, before: i64) -> String {
    if before == 0 {
        return if now == 0 { "±0" } else { "new" }.to_string();
    }
    let pct = (now - before) as f64 * 100.0 / before as f64;
    let arrow = if pct >= 0.0 { "▲" } else { "▼" };
    format!("{arrow}{:.0}%", pct.abs())
}

/// The week's team totals, recomputed with Postgres's reading of the zone: a deal counts in
/// the week when the local date of its close (or creation) is Monday..Sunday.
#[derive(Debug, PartialEq)]
struct Week {
    won_count: i64,
    won_amount: i64,
    lost_count: i64,
    new_amount: i64,
    activities: i64,
    satisfaction: Option<f64>,
}

async fn week(pool: &PgPool, ws: i64, tz: &str, monday: &str) -> Week {
    let (won_count, won_amount, lost_count, new_amount): (i64, i64, i64, i64) = sqlx::query_as(
        "WITH d AS (
             SELECT status, amount_minor,
                    (closed_at AT TIME ZONE $2)::date BETWEEN $3::date AND $3::date + 6 AS closed_in,
                    (created_at AT TIME ZONE $2)::date BETWEEN $3::date AND $3::date + 6 AS created_in
             FROM deals WHERE workspace_id = $1)
         SELECT count(*) FILTER (WHERE status = 'won' AND closed_in),
                COALESCE(sum(amount_minor) FILTER (WHERE status = 'won' AND closed_in), 0)::bigint,
                count(*) FILTER (WHERE status = 'lost' AND closed_in),
                COALESCE(sum(amount_minor) FILTER (WHERE created_in), 0)::bigint
         FROM d",
    )
    .bind(ws)
    .bind(tz)
    .bind(monday)
    .fetch_one(pool)
    .await
    .expect("week deals");
    let (activities, satisfaction): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), avg(satisfaction)::float8 FROM activities
         WHERE workspace_id = $1 AND (happened_at AT TIME ZONE $2)::date BETWEEN $3::date AND $3::date + 6",
    )
    .bind(ws)
    .bind(tz)
    .bind(monday)
    .fetch_one(pool)
    .await
    .expect("week activities");
    Week {
        won_count,
        won_amount,
        lost_count,
        new_amount,
        activities,
        satisfaction,
    }
}

/// The leaderboard, recomputed: (name, revenue won, deals won, activities), best first.
async fn leaderboard(
    pool: &PgPool,
    ws: i64,
    tz: &str,
    monday: &str,
) -> Vec<(String, i64, i64, i64)> {
    let mut lines: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT m.display_name,
                (SELECT COALESCE(sum(d.amount_minor), 0) FROM deals d
                 WHERE d.workspace_id = m.workspace_id AND d.owner_id = m.user_id AND d.status = 'won'
                   AND (d.closed_at AT TIME ZONE $2)::date BETWEEN $3::date AND $3::date + 6)::bigint,
                (SELECT count(*) FROM deals d
                 WHERE d.workspace_id = m.workspace_id AND d.owner_id = m.user_id AND d.status = 'won'
                   AND (d.closed_at AT TIME ZONE $2)::date BETWEEN $3::date AND $3::date + 6),
                (SELECT count(*) FROM activities a
                 WHERE a.workspace_id = m.workspace_id AND a.member_id = m.user_id
                   AND (a.happened_at AT TIME ZONE $2)::date BETWEEN $3::date AND $3::date + 6)
         FROM members m WHERE m.workspace_id = $1",
    )
    .bind(ws)
    .bind(tz)
    .bind(monday)
    .fetch_all(pool)
    .await
    .expect("leaderboard");
    lines.retain(|(_, _, won, acts)| *won > 0 || *acts > 0);
    lines.sort_by(|a, b| b.1.cmp(&a.1).then(b.3.cmp(&a.3)).then(a.0.cmp(&b.0)));
    lines.truncate(10);
    lines
}

fn json_field<'a>(reply: &'a Value, name: &str) -> &'a str {
    reply["embeds"][0]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_else(|| panic!("no field {name:?} in {reply}"))
}

/// The digest history: edges of the local weeks (New York, with the spring change inside the
/// week before), wins with a new amount, a win turned into a loss, a win reopened, another
/// workspace's figures (set up by the test), and a generated spread of deals and interactions.
fn digest_history() -> Vec<Timed> {
    let mut events = Vec::new();
    let deal = |events: &mut Vec<Timed>, d: usize, owner: i64, created: &str, amount: &str| {
        events.push(Timed {
            at: at(created),
            actor: owner,
            ev: Ev::New {
                deal: d,
                amount: amount.to_string(),
            },
        });
    };
    let close = |events: &mut Vec<Timed>, owner: i64, when: &str, ev: Ev| {
        events.push(Timed {
            at: at(when),
            actor: owner,
            ev,
        });
    };
    // Local week before: Mon 2026-03-02 00:00 EST (05:00Z) to Mon 2026-03-09 00:00 EDT (04:00Z).
    // Week: to Mon 2026-03-16 00:00 EDT (04:00Z). The digest goes out then at 09:00 EDT (13:00Z).
    deal(&mut events, 0, 10, "2026-02-27T15:00:00Z", "1000.00");
    close(
        &mut events,
        10,
        "2026-03-02T04:59:59Z",
        Ev::Won {
            deal: 0,
            amount: None,
        },
    ); // Sun 23:59:59 EST: too early
    close(
        &mut events,
        10,
        "2026-03-14T16:00:00Z",
        Ev::Lost { deal: 0 },
    ); // the old win becomes this week's loss
    deal(&mut events, 1, 11, "2026-03-02T05:00:00Z", "2500.00"); // first second of the week before
    close(
        &mut events,
        11,
        "2026-03-05T14:00:00Z",
        Ev::Lost { deal: 1 },
    );
    deal(&mut events, 2, 10, "2026-03-03T15:00:00Z", "4000.00");
    close(
        &mut events,
        10,
        "2026-03-04T16:00:00Z",
        Ev::Won {
            deal: 2,
            amount: Some("4200.00".into()),
        },
    );
    deal(&mut events, 3, 12, "2026-03-06T18:00:00Z", "800.50");
    close(
        &mut events,
        12,
        "2026-03-09T03:59:59Z",
        Ev::Won {
            deal: 3,
            amount: None,
        },
    ); // Sun 23:59:59 EDT: week before
    deal(&mut events, 4, 10, "2026-03-09T04:00:00Z", "3000.00"); // first second of the week
    close(
        &mut events,
        10,
        "2026-03-11T15:00:00Z",
        Ev::Won {
            deal: 4,
            amount: None,
        },
    );
    deal(&mut events, 5, 11, "2026-03-09T15:00:00Z", "1500.00");
    close(
        &mut events,
        11,
        "2026-03-10T15:00:00Z",
        Ev::Won {
            deal: 5,
            amount: Some("1750.00".into()),
        },
    );
    deal(&mut events, 6, 12, "2026-03-12T15:00:00Z", "600.00");
    close(
        &mut events,
        12,
        "2026-03-13T15:00:00Z",
        Ev::Lost { deal: 6 },
    );
    deal(&mut events, 7, 10, "2026-03-13T15:00:00Z", "900.00");
    close(
        &mut events,
        10,
        "2026-03-14T15:00:00Z",
        Ev::Won {
            deal: 7,
            amount: None,
        },
    );
    close(
        &mut events,
        10,
        "2026-03-15T15:00:00Z",
        Ev::Reopen { deal: 7 },
    ); // no longer won
    deal(&mut events, 8, 12, "2026-03-15T15:00:00Z", "2000.00");
    close(
        &mut events,
        12,
        "2026-03-16T03:59:59Z",
        Ev::Won {
            deal: 8,
            amount: None,
        },
    ); // last second of the week
    deal(&mut events, 9, 11, "2026-03-16T04:00:00Z", "5000.00"); // the digest's own week: not counted
    close(
        &mut events,
        11,
        "2026-03-16T05:00:00Z",
        Ev::Won {
            deal: 9,
            amount: None,
        },
    );
    deal(&mut events, 10, 11, "2026-03-08T06:30:00Z", "700.00"); // 01:30 EST, just before the change
    close(
        &mut events,
        11,
        "2026-03-08T07:30:00Z",
        Ev::Lost { deal: 10 },
    ); // 03:30 EDT
    let log = |when: &str, by: i64, contact: u8, satisfaction: Option<u8>| Timed {
        at: at(when),
        actor: by,
        ev: Ev::Log {
            contact,
            satisfaction,
        },
    };
    events.extend([
        log("2026-03-02T04:59:59Z", 12, 1, Some(1)), // too early
        log("2026-03-03T15:30:00Z", 10, 1, Some(4)),
        log("2026-03-05T14:30:00Z", 11, 2, Some(2)),
        log("2026-03-06T18:30:00Z", 12, 1, None),
        log("2026-03-09T03:59:59Z", 12, 2, Some(5)), // week before
        log("2026-03-09T04:00:00Z", 10, 1, Some(3)), // week
        log("2026-03-10T16:00:00Z", 11, 2, Some(5)),
        log("2026-03-11T16:00:00Z", 11, 1, Some(4)),
        log("2026-03-12T16:00:00Z", 12, 2, None),
        log("2026-03-14T16:00:00Z", 13, 1, Some(1)), // a rep with interactions only
        log("2026-03-16T03:59:59Z", 10, 2, Some(5)),
        log("2026-03-16T04:00:00Z", 11, 1, Some(5)), // too late
    ]);
    // A generated spread over both weeks and around them.
    let mut rng = Lcg(0xD16E_5701);
    let start = at("2026-02-28T00:00:00Z");
    let end = at("2026-03-16T12:00:00Z");
    let span = (end - start).num_seconds() as u64;
    for d in 11..31 {
        let owner = 10 + rng.below(4) as i64;
        let created = start + secs(rng.below(span) as i64);
        let amount = format!("{}.{:02}", 100 + rng.below(9_900), rng.below(100));
        deal(&mut events, d, owner, &created.to_rfc3339(), &amount);
        let closed = created + secs(3_600 + rng.below(5 * 86_400) as i64);
        if closed < end && rng.below(100) < 70 {
            let ev = match rng.below(3) {
                0 => Ev::Lost { deal: d },
                1 => Ev::Won {
                    deal: d,
                    amount: Some(format!("{}.00", 50 + rng.below(9_000))),
                },
                _ => Ev::Won {
                    deal: d,
                    amount: None,
                },
            };
            close(&mut events, owner, &closed.to_rfc3339(), ev);
        }
    }
    for _ in 0..24 {
        let when = start + secs(rng.below(span) as i64);
        let by = 10 + rng.below(4) as i64;
        let satisfaction = match rng.below(6) {
            0 => None,
            s => Some(s as u8),
        };
        events.push(log(
            &when.to_rfc3339(),
            by,
            1 + rng.below(2) as u8,
            satisfaction,
        ));
    }
    events.sort_by_key(|e| e.at);
    events
}

#[sqlx::test(migrations = "./migrations")]
async fn a_digest_equals_an_independent_recomputation(pool: PgPool) {
    const TZ: &str = "America/New_York";
    let mut h = Harness::new(pool.clone()).await;
    h.run(":now 2026-02-20T15:00:00Z").await;
    h.ok(&format!("/settings timezone zone:{TZ}")).await;
    h.ok("/contact add name:Ann email:ann@example.com").await; // C-1
    h.ok("/contact add name:Bob email:bob@example.com").await; // C-2
                                                               // Another workspace with figures in the same weeks, under the same member ids.
    h.run(":workspace 2").await;
    h.run(":as 10 admin").await;
    h.ok("/contact add name:Other").await;
    h.run(":now 2026-03-10T15:00:00Z").await;
    h.ok("/deal new title:Elsewhere amount:99999").await;
    h.ok("/deal won deal:D-1").await;
    // Contact ids are numbered across workspaces: this one is not C-1.
    let other: i64 = sqlx::query_scalar("SELECT id FROM contacts WHERE workspace_id = 2")
        .fetch_one(&pool)
        .await
        .expect("contact in workspace 2");
    h.ok(&format!(
        "/contact log contact:C-{other} kind:call summary:elsewhere satisfaction:1"
    ))
    .await;
    h.run(":workspace 1").await;

    let events = digest_history();
    let mut numbers: HashMap<usize, usize> = HashMap::new();
    for e in &events {
        h.run(&format!(":now {}", e.at.to_rfc3339())).await;
        h.run(&format!(":as {} rep", e.actor)).await;
        let line = match &e.ev {
            Ev::New { deal, amount } => {
                let n = numbers.len() + 1;
                numbers.insert(*deal, n);
                format!(r#"/deal new title:"Deal {deal}" amount:{amount}"#)
            }
            Ev::Won { deal, amount: None } => format!("/deal won deal:D-{}", numbers[deal]),
            Ev::Won {
                deal,
                amount: Some(a),
            } => format!("/deal won deal:D-{} amount:{a}", numbers[deal]),
            Ev::Lost { deal } => format!(
                r#"/deal lost deal:D-{} reason:"went elsewhere""#,
                numbers[deal]
            ),
            Ev::Reopen { deal } => format!("/deal move deal:D-{} stage:Proposal", numbers[deal]),
            Ev::Log {
                contact,
                satisfaction,
            } => {
                let s = satisfaction
                    .map(|s| format!(" satisfaction:{s}"))
                    .unwrap_or_default();
                format!(r#"/contact log contact:C-{contact} kind:call summary:"talked"{s}"#)
            }
        };
        h.ok(&line).await;
    }

    let this = week(&pool, 1, TZ, "2026-03-09").await;
    let prev = week(&pool, 1, TZ, "2026-03-02").await;
    // The history has what the figures must cope with.
    assert!(
        this.won_count >= 3 && this.lost_count >= 2 && prev.won_count >= 2 && prev.lost_count >= 2,
        "{this:?} {prev:?}"
    );
    assert!(this.satisfaction.is_some() && prev.satisfaction.is_some());

    h.run(":as 1 admin").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    // Open deals expected to close this month (and one later): the forecast counts the first
    // two, weighted; they were opened after the digest's week, so no weekly figure moves.
    h.run(":now 2026-03-16T12:00:00Z").await;
    h.ok("/settings quota member:<@1> amount:100k").await;
    h.ok("/deal new title:Soon amount:10k stage:Proposal close:2026-03-31")
        .await;
    h.ok("/deal new title:Sooner amount:3k close:2026-03-20")
        .await;
    h.ok("/deal new title:Later amount:50k stage:Negotiation close:2026-04-02")
        .await;
    // Monday 2026-03-16 09:00 EDT is 13:00Z.
    let early = h.run(":now 2026-03-16T12:59:59Z").await;
    assert!(
        early.iter().all(|o| o["to"] != "channel"),
        "posted before its time: {early:?}"
    );
    let out = h.run(":now 2026-03-16T13:00:00Z").await;
    let posts: Vec<&Value> = out.iter().filter(|o| o["to"] == "channel").collect();
    assert_eq!(posts.len(), 1, "one digest: {out:?}");
    let digest = posts[0];
    assert_eq!(digest["channel"], 555);
    assert_eq!(
        digest["embeds"][0]["title"],
        "Weekly KPIs · 2026-W11 (Mar 9, 2026 – Mar 15, 2026)"
    );
    assert_eq!(digest["attachments"][0]["filename"], "funnel.png");

    // "▼-12%" and "▼12%" both say a 12% fall; the sign is checked in its own test.
    let normal = |d: &str| d.replace("▼-", "▼");
    let check_change = |name: &str, number: fn(&str) -> i64, now: i64, before: i64| {
        let got = parse_change(json_field(digest, name), number);
        assert_eq!(
            (got.value, got.before),
            (now, before),
            "{name}: {:?}",
            json_field(digest, name)
        );
        assert_eq!(
            normal(&got.delta),
            expected_delta(now, before),
            "{name}: {:?}",
            json_field(digest, name)
        );
    };
    check_change("Revenue won", money, this.won_amount, prev.won_amount);
    check_change("Deals won", count, this.won_count, prev.won_count);
    check_change("Deals lost", count, this.lost_count, prev.lost_count);
    check_change("New pipeline", money, this.new_amount, prev.new_amount);
    check_change("Activities logged", count, this.activities, prev.activities);
    let rate = |w: &Week| {
        let closed = w.won_count + w.lost_count;
        if closed == 0 {
            "—".to_string()
        } else {
            format!("{:.1}%", w.won_count as f64 / closed as f64 * 100.0)
        }
    };
    assert_eq!(
        json_field(digest, "Win rate"),
        format!("{} (week before: {})", rate(&this), rate(&prev))
    );
    let sat = json_field(digest, "Avg. satisfaction");
    let (now_s, before_s) = sat
        .strip_suffix(')')
        .and_then(|s| s.split_once(" (week before: "))
        .unwrap_or_else(|| panic!("satisfaction {sat:?}"));
    for (shown, want) in [(now_s, this.satisfaction), (before_s, prev.satisfaction)] {
        let shown: f64 = shown.parse().unwrap_or_else(|_| panic!("{sat:?}"));
        let want = want.expect("some satisfaction");
        assert!(
            (shown - want).abs() <= 0.05 + 1e-9,
            "{sat:?}: recomputed {want}"
        );
    }

    let board: Vec<(String, i64, i64, i64)> = json_field(digest, "Leaderboard")
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let parts: Vec<&str> = line.split(" · ").collect();
            assert_eq!(parts.len(), 4, "leaderboard line {line:?}");
            let name = parts[0]
                .strip_prefix(&format!("{}. ", i + 1))
                .unwrap_or_else(|| panic!("rank in {line:?}"));
            let won = parts[2]
                .strip_suffix(" won")
                .map(count)
                .unwrap_or_else(|| panic!("{line:?}"));
            let acts = parts[3]
                .strip_suffix(" activities")
                .map(count)
                .unwrap_or_else(|| panic!("{line:?}"));
            (name.to_string(), money(parts[1]), won, acts)
        })
        .collect();
    assert_eq!(board, leaderboard(&pool, 1, TZ, "2026-03-09").await);
    assert!(board.len() >= 3, "{board:?}");

    // The forecast line is /forecast show's for this month: won in March, the weighted open
    // deals closing in March (Proposal $10k at 50% + Lead $3k at 10% = $5,300), the quota.
    let f = h.ok("/forecast show period:this-month").await;
    let data = &f["data"];
    assert_eq!(data["weighted_minor"], 530_000, "{data}");
    let won = data["won_minor"].as_i64().expect("won");
    let quota = data["quota_minor"].as_i64().expect("quota");
    assert_eq!(
        json_field(digest, "Forecast this month"),
        format!(
            "won {} + weighted open deals closing this month $5,300, quota {} ({:.0}%)",
            fmt_money(won),
            fmt_money(quota),
            (won + 530_000) as f64 * 100.0 / quota as f64
        )
    );
}

/// Whole dollars or cents as the digest shows them ($1,234 or $1,234.50).
fn fmt_money(minor: i64) -> String {
    let dollars = minor / 100;
    let cents = minor % 100;
    let mut grouped = String::new();
    for (i, c) in dollars.to_string().chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let grouped: String = grouped.chars().rev().collect();
    if cents == 0 {
        format!("${grouped}")
    } else {
        format!("${grouped}.{cents:02}")
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn a_falling_figure_reads_as_a_fall_without_a_double_minus(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.run(":now 2026-03-03T12:00:00Z").await; // Tuesday, UTC workspace
    h.ok("/deal new title:Big amount:1000").await;
    h.ok("/deal won deal:D-1").await;
    h.run(":now 2026-03-10T12:00:00Z").await;
    h.ok("/deal new title:Small amount:500").await;
    h.ok("/deal won deal:D-2").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    let out = h.run(":now 2026-03-16T09:00:00Z").await;
    let digest = out
        .iter()
        .find(|o| o["to"] == "channel")
        .unwrap_or_else(|| panic!("no digest: {out:?}"));
    // Revenue won went from $1,000 to $500: down 50%.
    assert_eq!(
        json_field(digest, "Revenue won"),
        "$500 (▼50% vs $1,000)",
        "the arrow already says it fell"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Exactly once with two schedulers and two workers
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrations = "./migrations")]
async fn two_schedulers_and_two_workers_deliver_each_message_exactly_once(pool: PgPool) {
    const DUE: i64 = 1234;
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let now = at("2026-03-02T12:00:00Z"); // Monday
    h.run(":now 2026-03-01T12:00:00Z").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    for rep in 10..15 {
        h.run(&format!(":as {rep} rep")).await;
        h.ok("/tasks list").await;
    }
    h.run(":workspace 2").await;
    for rep in 20..23 {
        h.run(&format!(":as {rep} rep")).await;
        h.ok("/tasks list").await;
    }
    // Fixtures: due reminders spread over two workspaces and eight members, and a few not due.
    sqlx::query(
        "INSERT INTO tasks (workspace_id, assignee_id, created_by, title, due_at, source)
         SELECT CASE WHEN g % 4 = 0 THEN 2 ELSE 1 END,
                CASE WHEN g % 4 = 0 THEN 20 + g % 3 ELSE 10 + g % 5 END,
                1, 'load ' || g, $1 - make_interval(secs => g * 7), 'manual'
         FROM generate_series(1, $2) g
         UNION ALL
         SELECT 1, 10, 1, 'later ' || g, $1 + make_interval(secs => g), 'manual'
         FROM generate_series(1, 10) g",
    )
    .bind(now)
    .bind(DUE as i32)
    .execute(&pool)
    .await
    .expect("fixtures");

    // Two schedulers at once: one scans (the scan lease), the other skips the tick; together
    // they enqueue every due message once.
    let (a, b) = tokio::join!(jobs::run_due(&store, now), jobs::run_due(&store, now));
    let (a, b) = (a.expect("scheduler a"), b.expect("scheduler b"));
    assert_eq!(a.reminders + b.reminders, DUE as usize, "{a:?} {b:?}");
    assert_eq!(a.digests + b.digests, 1, "{a:?} {b:?}");
    // And a second scan, had two overlapped anyway, finds nothing left to enqueue.
    let again = jobs::run_due(&store, now).await.expect("again");
    assert_eq!(again, jobs::Enqueued::default());
    let pending = h
        .count("SELECT count(*) FROM outbox WHERE status = 'pending'")
        .await;
    assert_eq!(pending as usize, DUE as usize + a.agendas + b.agendas + 1);
    let bad = h
        .count(
            "SELECT count(*) FROM tasks t
             WHERE (SELECT count(*) FROM outbox o
                    WHERE o.workspace_id = t.workspace_id
                      AND o.dedupe_key = 'task:' || t.workspace_id || ':' || t.id || ':' || extract(epoch FROM t.due_at)::bigint)
                   <> CASE WHEN t.due_at <= '2026-03-02T12:00:00Z' THEN 1 ELSE 0 END",
        )
        .await;
    assert_eq!(
        bad, 0,
        "tasks without exactly one reminder row (or a row not yet due)"
    );

    // Two workers at once, with the same deliverer, until neither finds anything.
    let rec = Recorder::default();
    let worker = || async {
        let mut mine = 0;
        loop {
            let pass = deliver_due(&store, &rec, now, 50).await.expect("worker");
            assert_eq!((pass.retried, pass.failed), (0, 0));
            if pass.delivered == 0 {
                return mine;
            }
            mine += pass.delivered;
        }
    };
    let (x, y) = tokio::join!(worker(), worker());
    assert_eq!(x + y, pending as usize, "worker a {x}, worker b {y}");
    assert!(x > 0 && y > 0, "both workers delivered: {x} and {y}");
    let sent = rec.sent();
    assert_eq!(sent.len(), pending as usize);
    let keys: HashSet<&str> = sent.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys.len(), sent.len(), "a message was delivered twice");
    let all = rows(&pool).await;
    for d in &sent {
        let r = &all[&d.key];
        assert_eq!(r.status, "delivered", "{r:?}");
        assert_eq!(r.delivered_message_id, Some(d.id as i64), "{r:?}");
        assert_eq!(r.attempts, 1, "{r:?}");
    }
    assert_eq!(
        h.count("SELECT count(*) FROM outbox WHERE status <> 'delivered' AND status <> 'skipped'")
            .await,
        0
    );

    // Running everything again, twice at once, finds nothing more.
    let (a, b) = tokio::join!(jobs::run_due(&store, now), jobs::run_due(&store, now));
    assert_eq!(a.expect("a"), jobs::Enqueued::default());
    assert_eq!(b.expect("b"), jobs::Enqueued::default());
    let (x, y) = tokio::join!(worker(), worker());
    assert_eq!((x, y), (0, 0));
    assert_eq!(rec.len(), pending as usize);
}

// ---------------------------------------------------------------------------------------------
// 4. A worker that dies between claiming and delivering
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrations = "./migrations")]
async fn a_message_claimed_by_a_dead_worker_is_delivered_by_another_once(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    for (i, when) in ["2026-03-02 09:00", "2026-03-02 09:01", "2026-03-02 09:02"]
        .iter()
        .enumerate()
    {
        h.ok(&format!(r#"/remind what:"call {i}" when:"{when}""#))
            .await;
    }
    let now = at("2026-03-02T09:05:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 3);

    // The dead worker claims the two oldest and never comes back.
    let claimed = store
        .claim_outbox(now, now + LEASE, 2)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let claimed: HashSet<String> = claimed.into_iter().map(|r| r.envelope.dedupe_key).collect();
    let (free, _) = task_key(&pool, 1, "call 2").await;
    assert!(!claimed.contains(&free), "the oldest are claimed first");

    // Another worker delivers the one left at once, and not the claimed ones while leased.
    let rec = Recorder::default();
    assert_eq!(drain(&store, &rec, now, 10).await.delivered, 1);
    assert_eq!(rec.one(&free).target, Target::Dm(1));
    let before_expiry = now + LEASE - secs(1);
    assert_eq!(
        drain(&store, &rec, before_expiry, 10).await,
        Pass::default()
    );
    assert_eq!(rec.len(), 1);

    // Once the lease has run out, each is delivered once.
    let after = now + LEASE + secs(1);
    assert_eq!(drain(&store, &rec, after, 10).await.delivered, 2);
    assert_eq!(
        drain(&store, &rec, after + secs(3600), 10).await,
        Pass::default()
    );
    for key in &claimed {
        let d = rec.one(key);
        let r = must_row(&pool, key).await;
        assert_eq!(r.status, "delivered");
        assert_eq!(r.attempts, 2, "the dead worker's claim counts: {r:?}");
        assert_eq!(r.delivered_message_id, Some(d.id as i64));
    }
    assert_eq!(rec.len(), 3);
}

/// A worker whose lease ran out, and whose message another worker claimed since, changes
/// nothing with its late outcome: it cannot give the message up or hand it back (due at once,
/// for a third worker to send beside the second) under the other's send.
#[sqlx::test(migrations = "./migrations")]
async fn a_late_worker_cannot_record_over_the_claim_that_replaced_its_own(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    h.ok(r#"/remind what:"call" when:"2026-03-02 09:00""#).await;
    let now = at("2026-03-02T09:05:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 1);
    let first = store
        .claim_outbox(now, now + LEASE, 1)
        .await
        .expect("claim");
    let later = now + LEASE + secs(1);
    let second = store
        .claim_outbox(later, later + LEASE, 1)
        .await
        .expect("claim");
    assert_eq!((first.len(), second.len()), (1, 1));
    let (stale, live) = (&first[0], &second[0]);
    assert_ne!(stale.claim, live.claim);

    store.outbox_failed(stale, "late").await.expect("failed");
    store.outbox_hand_back(stale, now).await.expect("hand back");
    store.outbox_retry(stale, now, "late").await.expect("retry");
    let r = must_row(&pool, &live.envelope.dedupe_key).await;
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 2), "{r:?}");
    assert!(
        store
            .claim_outbox(later + secs(1), later + secs(1) + LEASE, 1)
            .await
            .expect("claim")
            .is_empty(),
        "still the second worker's"
    );
    store
        .outbox_delivered(live, 42, later)
        .await
        .expect("delivered");
    let r = must_row(&pool, &live.envelope.dedupe_key).await;
    assert_eq!(r.status, "delivered");
    assert_eq!(r.delivered_message_id, Some(42));
}

/// A pending DM to member 1 of workspace 1 as a newer version would enqueue it: `(key, kind,
/// target)` and the payload as stored, due at `due`, after `attempts` attempts.
async fn newer_row(
    pool: &PgPool,
    (key, kind, target): (&str, &str, &str),
    payload: &str,
    due: DateTime<Utc>,
    attempts: i32,
) {
    sqlx::query(
        "INSERT INTO outbox (workspace_id, dedupe_key, kind, target, user_id, payload, due_at, next_attempt_at, attempts)
         VALUES (1, $1, $2, $3, 1, $4::jsonb, $5, $5, $6)",
    )
    .bind(key)
    .bind(kind)
    .bind(target)
    .bind(payload)
    .bind(due)
    .bind(attempts)
    .execute(pool)
    .await
    .expect("a newer version's row");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_message_of_a_kind_this_version_does_not_know_waits_for_one_that_does(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    h.ok(r#"/remind what:"call Ada" when:"2026-03-02 09:00""#)
        .await;
    let now = at("2026-03-02T09:05:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 1);
    // A newer process enqueued these: a kind and a target this binary has no name for, due
    // before the reminder, so a claim that took them would take them first. A new target
    // comes with a migration that widens the column's check; this one stands in for it.
    sqlx::query("ALTER TABLE outbox DROP CONSTRAINT outbox_target_check")
        .execute(&pool)
        .await
        .expect("a newer schema");
    for (key, kind, target) in [("survey:1", "survey", "dm"), ("thread:1", "task", "thread")] {
        newer_row(&pool, (key, kind, target), "{}", now - secs(3600), 0).await;
    }

    let rec = Recorder::default();
    let pass = drain(&store, &rec, now, 10).await;
    assert_eq!(
        pass,
        Pass {
            delivered: 1,
            ..Pass::default()
        }
    );
    let (reminder, _) = task_key(&pool, 1, "call Ada").await;
    assert_eq!(rec.one(&reminder).target, Target::Dm(1));
    assert_eq!(rec.len(), 1);
    for key in ["survey:1", "thread:1"] {
        let r = must_row(&pool, key).await;
        // Never claimed: a claim moves the next attempt to the lease's end, and a hand-back
        // moves it too.
        assert_eq!(
            (r.status.as_str(), r.attempts, r.next_attempt_at),
            ("pending", 0, now - secs(3600)),
            "left for a process that knows it: {r:?}"
        );
    }
    let (depth, _) = store.outbox_gauges(now).await.expect("gauges");
    assert_eq!(depth, 2, "still owed, so still counted");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_message_whose_payload_this_version_cannot_read_is_tried_again_not_given_up(
    pool: PgPool,
) {
    let store = Store::from_pool(pool.clone());
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/tasks list").await;
    let now = at("2026-03-02T09:05:00Z");
    // A newer version's replies: one whose content is no longer text, one whose text moved
    // to a field this version does not know (so it reads as saying nothing), one that leaves
    // out the fields it has nothing in, and an unreadable one on its last attempt.
    for (key, payload, attempts) in [
        ("task:new:1", r#"{"content": {"text": "call Ada"}}"#, 0),
        ("task:new:2", r#"{"text": "call Cy"}"#, 0),
        ("task:new:3", r#"{"content": "call Bo"}"#, 0),
        (
            "task:new:4",
            r#"{"content": ["call Di"]}"#,
            MAX_ATTEMPTS - 1,
        ),
    ] {
        newer_row(&pool, (key, "task", "dm"), payload, now, attempts).await;
    }
    let rec = Recorder::default();
    let pass = drain(&store, &rec, now, 10).await;
    assert_eq!(
        pass,
        Pass {
            delivered: 1,
            retried: 2,
            failed: 1,
            ..Pass::default()
        }
    );
    assert_eq!(rec.one("task:new:3").reply.content, "call Bo");
    assert_eq!(rec.len(), 1, "nothing unreadable reached Discord");
    for key in ["task:new:1", "task:new:2"] {
        let r = must_row(&pool, key).await;
        assert_eq!((r.status.as_str(), r.attempts), ("pending", 1), "{r:?}");
        // The backoff counts from the attempt's end, a moment after `now`.
        let wait = r.next_attempt_at - now;
        assert!(
            wait >= salesbot::outbox::backoff(1) && wait < salesbot::outbox::backoff(1) + secs(60),
            "{r:?}"
        );
        let error = r.last_error.clone().unwrap_or_default();
        assert!(error.contains("unreadable payload"), "{r:?}");
    }
    let r = must_row(&pool, "task:new:4").await;
    assert_eq!(r.status, "failed", "{r:?}");
    let error = r.last_error.unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "gave up after {MAX_ATTEMPTS} attempts: unreadable payload"
        )),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Discord failures through the real Sender
// ---------------------------------------------------------------------------------------------

/// The id the fake gives the first message it creates (it counts from there).
const FAKE_FIRST_MESSAGE_ID: i64 = 840000000000000001;

fn sender(fake: &FakeDiscord, store: &Store) -> Sender {
    let config = DiscordConfig {
        api_base: Some(fake.api_base()),
        ..DiscordConfig::new("TEST.TOKEN")
    };
    Sender::new(&config, store.clone()).expect("sender")
}

fn posts_to(fake: &FakeDiscord, channel: u64) -> usize {
    let path = format!("/api/v10/channels/{channel}/messages");
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .count()
}

fn rate_limited(retry_after: &str) -> (u16, Value, Vec<(String, String)>) {
    rate_limited_scope(retry_after, false)
}

/// Discord's 429, for one route or (`global`) the whole bot.
fn rate_limited_scope(retry_after: &str, global: bool) -> (u16, Value, Vec<(String, String)>) {
    let mut headers = vec![("retry-after".to_string(), retry_after.to_string())];
    if global {
        headers.push(("x-ratelimit-global".to_string(), "true".to_string()));
    }
    (
        429,
        json!({"message": "You are being rate limited.", "retry_after": retry_after.parse::<f64>().expect("seconds"), "global": global}),
        headers,
    )
}

#[sqlx::test(migrations = "./migrations")]
async fn discord_failures_delay_a_message_or_fail_it_without_losing_doubling_or_blocking(
    pool: PgPool,
) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    h.run(":now 2026-03-01T12:00:00Z").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    h.run(":as 7 rep").await;
    h.ok(r#"/remind what:"closed dms" when:"2026-03-02 10:00""#)
        .await;
    h.ok(r#"/remind what:"later again" when:"2026-03-03 10:00""#)
        .await;
    h.run(":as 8 rep").await;
    h.ok(r#"/remind what:"open dms" when:"2026-03-02 10:01""#)
        .await;
    h.run(":workspace 2").await;
    h.run(":as 2 admin").await;
    h.ok("/settings digest channel:<#666> day:mon time:10:00")
        .await;

    // A post that meets a 500, then a 429 with retry-after, then goes through.
    fake.script(
        "POST",
        "/api/v10/channels/555/messages",
        vec![
            (
                500,
                json!({"message": "Internal Server Error", "code": 0}),
                vec![],
            ),
            rate_limited("3"),
        ],
    );
    let t0 = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::digests(&store, t0).await.expect("digests"), 1);
    let key = digest_key(1, "2026-03-02");
    let mut now = t0;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let pass = deliver_due(&store, &sender, now, 10)
            .await
            .expect("deliver");
        outcomes.push(pass);
        let r = must_row(&pool, &key).await;
        if r.status != "pending" {
            break;
        }
        assert!(r.next_attempt_at > now, "a retry waits: {r:?}");
        assert!(
            r.last_error
                .as_deref()
                .is_some_and(|e| e.contains("temporary failure: status")),
            "{r:?}"
        );
        // Not a moment before the time the outbox set.
        let early = r.next_attempt_at - secs(1);
        assert_eq!(
            deliver_due(&store, &sender, early, 10)
                .await
                .expect("deliver"),
            Pass::default()
        );
        now = r.next_attempt_at;
    }
    let retried = Pass {
        retried: 1,
        ..Pass::default()
    };
    let delivered = Pass {
        delivered: 1,
        ..Pass::default()
    };
    // The 429 is no failure of the message: it waits, handed back uncounted.
    let rate_limited = Pass {
        handed_back: 1,
        ..Pass::default()
    };
    assert_eq!(outcomes, vec![retried, rate_limited, delivered]);
    assert!(now > t0, "the message was delayed");
    assert_eq!(
        posts_to(&fake, 555),
        3,
        "500, 429, then the one that went through"
    );
    let r = must_row(&pool, &key).await;
    assert_eq!(r.status, "delivered");
    assert_eq!(
        r.attempts, 2,
        "the 500 and the delivery; the 429 is not an attempt"
    );
    assert_eq!(r.last_error, None);
    assert_eq!(r.delivered_message_id, Some(FAKE_FIRST_MESSAGE_ID));
    let post = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST" && r.path == "/api/v10/channels/555/messages")
        .expect("post");
    assert!(
        post.json["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Weekly KPIs")),
        "{}",
        post.json
    );
    assert_eq!(post.files.len(), 1);
    assert_eq!(post.files[0].filename, "funnel.png");
    // Nothing more goes out for it, however late.
    assert_eq!(
        drain(&store, &sender, now + secs(86_400), 10).await,
        Pass::default()
    );
    assert_eq!(posts_to(&fake, 555), 3);

    // Permanent failures: closed DMs, an unknown channel; the message due after them still goes.
    fake.close_dms(7);
    fake.unknown_channel(666);
    let t1 = at("2026-03-02T10:01:00Z");
    assert_eq!(jobs::reminders(&store, t1).await.expect("reminders"), 2);
    assert_eq!(jobs::digests(&store, t1).await.expect("digests"), 1);
    let mut passes = Vec::new();
    loop {
        // One at a time, oldest first: the failures come before the good one.
        let pass = deliver_due(&store, &sender, t1, 1).await.expect("deliver");
        if pass == Pass::default() {
            break;
        }
        passes.push(pass);
    }
    let failed = Pass {
        failed: 1,
        ..Pass::default()
    };
    // The closed DMs fail; the channel that is gone waits an hour for an admin to act.
    assert_eq!(passes.len(), 3, "{passes:?}");
    assert_eq!(
        passes.iter().filter(|p| **p == failed).count(),
        1,
        "{passes:?}"
    );
    assert_eq!(
        passes.iter().filter(|p| **p == retried).count(),
        1,
        "{passes:?}"
    );
    assert_eq!(passes[2], delivered, "{passes:?}");

    let (closed_key, _) = task_key(&pool, 1, "closed dms").await;
    let r = must_row(&pool, &closed_key).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref(), r.attempts),
        (
            "failed",
            Some("the member does not accept direct messages"),
            1
        )
    );
    let dm_closed: bool =
        sqlx::query_scalar("SELECT dm_closed FROM members WHERE workspace_id = 1 AND user_id = 7")
            .fetch_one(&pool)
            .await
            .expect("member 7");
    assert!(dm_closed, "closed DMs are recorded on the member");
    let r = must_row(&pool, &digest_key(2, "2026-03-02")).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref(), r.attempts),
        ("pending", Some("unknown channel"), 1)
    );
    assert!(r.next_attempt_at >= t1 + Duration::hours(1), "{r:?}");
    let (open_key, _) = task_key(&pool, 1, "open dms").await;
    let r = must_row(&pool, &open_key).await;
    assert_eq!(r.status, "delivered");
    let dm = FakeDiscord::dm_channel_id(8);
    assert_eq!(posts_to(&fake, dm), 1);
    assert_eq!(r.delivered_message_id, Some(FAKE_FIRST_MESSAGE_ID + 1));

    // Workspace 2's admin is told that its channel is gone, and turns the digest off: the
    // post waiting for a channel is dropped.
    let told = drain(&store, &sender, t1 + secs(60), 10).await;
    assert_eq!((told.delivered, told.failed), (1, 0), "{told:?}");
    assert_eq!(posts_to(&fake, FakeDiscord::dm_channel_id(2)), 1);
    sqlx::query("UPDATE workspaces SET digest_channel_id = NULL WHERE id = 2")
        .execute(&pool)
        .await
        .expect("digest off");
    let r = must_row(&pool, &digest_key(2, "2026-03-02")).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref()),
        ("skipped", Some("the digest was turned off"))
    );
    let later = t1 + secs(86_400);
    // Failed messages are not tried again, and the member with closed DMs is not written to.
    assert_eq!(drain(&store, &sender, later, 10).await, Pass::default());
    assert_eq!(jobs::reminders(&store, later).await.expect("reminders"), 0);
    let (again_key, _) = task_key(&pool, 1, "later again").await;
    let r = must_row(&pool, &again_key).await;
    assert_eq!(r.status, "skipped");
    assert_eq!(
        r.last_error.as_deref(),
        Some("the member does not accept direct messages")
    );
    assert_eq!(drain(&store, &sender, later, 10).await, Pass::default());
    assert_eq!(posts_to(&fake, FakeDiscord::dm_channel_id(7)), 1);
    assert_eq!(posts_to(&fake, 666), 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_rate_limited_message_waits_as_long_as_discord_asks(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    h.run(":now 2026-03-01T12:00:00Z").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    fake.script(
        "POST",
        "/api/v10/channels/555/messages",
        vec![rate_limited("30")],
    );
    let t0 = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::digests(&store, t0).await.expect("digests"), 1);
    let pass = deliver_due(&store, &sender, t0, 10).await.expect("deliver");
    assert_eq!(pass.handed_back, 1, "{pass:?}");
    let r = must_row(&pool, &digest_key(1, "2026-03-02")).await;
    assert_eq!(r.attempts, 0, "a rate limit is not a failed attempt");
    assert!(
        r.next_attempt_at >= t0 + secs(30),
        "Discord said retry after 30 s; the outbox will try again at {} ({} s later)",
        r.next_attempt_at,
        (r.next_attempt_at - t0).num_seconds()
    );
    assert_eq!(
        deliver_due(&store, &sender, t0 + secs(29), 10)
            .await
            .expect("deliver"),
        Pass::default()
    );
    assert_eq!(posts_to(&fake, 555), 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_message_that_keeps_failing_is_given_up_after_max_attempts(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    h.ok(r#"/remind what:"never" when:"2026-03-02 09:00""#)
        .await;
    h.ok(r#"/remind what:"fine" when:"2026-03-02 09:00""#).await;
    let now = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 2);
    let (never, _) = task_key(&pool, 1, "never").await;
    let (fine, _) = task_key(&pool, 1, "fine").await;
    let rec = Recorder::default();
    rec.fail_next(
        &never,
        (0..50)
            .map(|i| DeliveryError::Retry {
                after: None,
                reason: format!("outage {i}"),
                maybe_taken: false,
            })
            .collect(),
    );
    let mut t = now;
    let mut waits = Vec::new();
    for _ in 0..50 {
        drain(&store, &rec, t, 10).await;
        let r = must_row(&pool, &never).await;
        if r.status != "pending" {
            break;
        }
        waits.push((r.next_attempt_at - t).num_seconds());
        t = r.next_attempt_at;
    }
    let r = must_row(&pool, &never).await;
    assert_eq!(r.status, "failed", "{r:?}");
    assert_eq!(r.attempts, MAX_ATTEMPTS);
    assert_eq!(
        r.last_error.as_deref(),
        Some(
            format!(
                "gave up after {MAX_ATTEMPTS} attempts: outage {}",
                MAX_ATTEMPTS - 1
            )
            .as_str()
        )
    );
    // 5 s doubling to an hour, then hourly: about a day of trying before it is given up, so
    // an outage shorter than that loses nothing.
    let mut expected = vec![5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560];
    expected.resize(MAX_ATTEMPTS as usize - 1, 3600);
    assert_eq!(waits, expected, "backoff between attempts");
    assert!(
        t - now >= secs(24 * 3600),
        "given up after {} h",
        (t - now).num_hours()
    );
    assert_eq!(rec.calls.load(Ordering::SeqCst), MAX_ATTEMPTS as usize + 1);
    assert!(rec.of(&never).is_empty());
    assert_eq!(rec.one(&fine).target, Target::Dm(1));
    assert_eq!(
        drain(&store, &rec, t + secs(86_400), 10).await,
        Pass::default()
    );
}

/// A 429 is not a failed attempt: the message waits as asked and is not counted. A route's
/// 429 holds that target's other messages in the pass without sending them; a global one,
/// and a token Discord refuses (a halt), hold every message, and nothing is given up.
#[sqlx::test(migrations = "./migrations")]
async fn rate_limits_and_a_refused_token_hold_messages_back_uncounted(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    h.join(&[2], ":as 1 admin").await;
    for (who, what, when) in [
        (1, "first", "2026-03-02 09:00"),
        (1, "second", "2026-03-02 09:01"),
        (2, "other", "2026-03-02 09:02"),
    ] {
        h.run(&format!(":as {who} rep")).await;
        h.ok(&format!(r#"/remind what:"{what}" when:"{when}""#))
            .await;
    }
    let now = at("2026-03-02T09:05:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 3);
    let (first, _) = task_key(&pool, 1, "first").await;
    let (second, _) = task_key(&pool, 1, "second").await;
    let (other, _) = task_key(&pool, 1, "other").await;

    // A route's 429 on member 1's DMs: their second message waits with it, unsent; member
    // 2's goes.
    let rec = Recorder::default();
    rec.fail_next(
        &first,
        vec![DeliveryError::RateLimited {
            after: std::time::Duration::from_secs(30),
            global: false,
        }],
    );
    let pass = deliver_due(&store, &rec, now, 10).await.expect("deliver");
    assert_eq!((pass.delivered, pass.handed_back), (1, 2), "{pass:?}");
    assert_eq!(
        rec.calls.load(Ordering::SeqCst),
        2,
        "the second was not tried"
    );
    assert_eq!(rec.one(&other).target, Target::Dm(2));
    for key in [&first, &second] {
        let r = must_row(&pool, key).await;
        assert_eq!((r.status.as_str(), r.attempts), ("pending", 0), "{r:?}");
        assert!(r.next_attempt_at >= now + secs(30), "{r:?}");
    }
    let later = now + secs(31);
    assert_eq!(drain(&store, &rec, later, 10).await.delivered, 2);

    // A global 429, then a refused token: every message of the pass waits, none is given up.
    for (label, error, wait) in [
        (
            "global",
            DeliveryError::RateLimited {
                after: std::time::Duration::from_secs(20),
                global: true,
            },
            20,
        ),
        ("halt", DeliveryError::Halt("token refused".into()), 60),
    ] {
        h.run(":as 1 rep").await;
        let a = format!("{label} a");
        let b = format!("{label} b");
        h.ok(&format!(r#"/remind what:"{a}" when:"2026-03-03 09:00""#))
            .await;
        h.run(":as 2 rep").await;
        h.ok(&format!(r#"/remind what:"{b}" when:"2026-03-03 09:01""#))
            .await;
        let t = at("2026-03-03T09:05:00Z") + secs(if label == "halt" { 3600 } else { 0 });
        jobs::reminders(&store, t).await.expect("reminders");
        let (ka, _) = task_key(&pool, 1, &a).await;
        let (kb, _) = task_key(&pool, 1, &b).await;
        let rec = Recorder::default();
        rec.fail_next(&ka, vec![error]);
        let pass = deliver_due(&store, &rec, t, 10).await.expect("deliver");
        assert_eq!(
            (pass.delivered, pass.handed_back),
            (0, 2),
            "{label}: {pass:?}"
        );
        assert_eq!(pass.halted, label == "halt", "{label}");
        assert_eq!(
            rec.calls.load(Ordering::SeqCst),
            1,
            "{label}: one try, no more"
        );
        for key in [&ka, &kb] {
            let r = must_row(&pool, key).await;
            assert_eq!(
                (r.status.as_str(), r.attempts),
                ("pending", 0),
                "{label}: {r:?}"
            );
            assert!(r.next_attempt_at >= t + secs(wait), "{label}: {r:?}");
        }
        assert_eq!(
            drain(&store, &rec, t + secs(wait + 1), 10).await.delivered,
            2,
            "{label}"
        );
    }
}

/// A workspace's digest post meets Discord's global 429 with `retry_after`: how long the
/// shared pace is then held back (seconds), and when the digest is due again.
async fn after_a_global_429(pool: &PgPool, retry_after: &str) -> (f64, DateTime<Utc>) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    h.run(":now 2026-03-01T12:00:00Z").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    fake.script(
        "POST",
        "/api/v10/channels/555/messages",
        vec![rate_limited_scope(retry_after, true)],
    );
    let t0 = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::digests(&store, t0).await.expect("digests"), 1);
    let pass = deliver_due(&store, &sender, t0, 10).await.expect("deliver");
    assert_eq!(pass.handed_back, 1, "{pass:?}");
    let held: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM tat - clock_timestamp())::float8 FROM paces WHERE name = 'send'",
    )
    .fetch_one(pool)
    .await
    .expect("pace");
    let next = sqlx::query_scalar(
        "SELECT next_attempt_at FROM outbox WHERE kind = 'digest' AND status = 'pending'",
    )
    .fetch_one(pool)
    .await
    .expect("the digest waits");
    (held, next)
}

/// Discord's global 429 holds every process back: the shared pace is pushed past its
/// retry-after, not just the one message.
#[sqlx::test(migrations = "./migrations")]
async fn a_global_rate_limit_holds_the_shared_pace_back(pool: PgPool) {
    let (held, _) = after_a_global_429(&pool, "20").await;
    assert!(held > 15.0, "the shared pace is held back {held:.1} s");
}

/// A reminder that waited in the outbox (Discord down, retries) for a task done or snoozed
/// since is dropped, not sent: it would remind of something no longer due. The snoozed
/// task's new reminder comes at its new time.
#[sqlx::test(migrations = "./migrations")]
async fn a_waiting_reminder_for_a_task_done_or_snoozed_since_is_not_sent(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    for what in ["finished", "snoozed", "still due"] {
        h.ok(&format!(r#"/remind what:"{what}" when:"2026-03-02 09:00""#))
            .await;
    }
    let now = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 3);
    let (finished, _) = task_key(&pool, 1, "finished").await;
    let (snoozed, _) = task_key(&pool, 1, "snoozed").await;
    let (due, _) = task_key(&pool, 1, "still due").await;
    // Discord is down for the first pass: all three wait ten minutes for a retry (past the
    // commands below, whose console would deliver what is due).
    let rec = Recorder::default();
    for key in [&finished, &snoozed, &due] {
        rec.fail_next(
            key,
            vec![DeliveryError::Retry {
                after: Some(std::time::Duration::from_secs(600)),
                reason: "503".into(),
                maybe_taken: true,
            }],
        );
    }
    let pass = deliver_due(&store, &rec, now, 10).await.expect("deliver");
    assert_eq!(pass.retried, 3, "{pass:?}");
    h.run(":now 2026-03-02T09:00:30Z").await;
    let id = |key: &str| key.split(':').nth(2).expect("task id").to_string();
    h.ok(&format!("/tasks done task:T-{}", id(&finished))).await;
    h.ok(&format!(
        r#"/tasks snooze task:T-{} until:"2026-03-02 11:00""#,
        id(&snoozed)
    ))
    .await;
    let later = now + secs(3600);
    let pass = drain(&store, &rec, later, 10).await;
    assert_eq!((pass.delivered, pass.skipped), (1, 2), "{pass:?}");
    assert_eq!(rec.of(&finished).len(), 0);
    assert_eq!(rec.of(&snoozed).len(), 0);
    assert_eq!(rec.of(&due).len(), 1);
    for key in [&finished, &snoozed] {
        let r = must_row(&pool, key).await;
        assert_eq!(r.status, "skipped", "{r:?}");
    }
    // The snoozed task is reminded at its new time.
    let eleven = at("2026-03-02T11:00:00Z");
    assert_eq!(jobs::reminders(&store, eleven).await.expect("reminders"), 1);
    let (moved, _) = task_key(&pool, 1, "snoozed").await;
    assert_ne!(moved, snoozed);
    drain(&store, &rec, eleven, 10).await;
    assert_eq!(rec.of(&moved).len(), 1);
}

/// A reminder skipped because its task was done before it went out is owed again once
/// `/undo` reopens the task (which puts its earlier row back): it goes out once, by the same
/// slot, and the scanner does not enqueue a second.
#[sqlx::test(migrations = "./migrations")]
async fn a_reminder_skipped_for_a_done_task_goes_out_when_the_done_is_undone(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-02T08:00:00Z").await;
    h.ok(r#"/remind what:"call Ann" when:"2026-03-02 09:00""#)
        .await;
    let now = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 1);
    let (key, _) = task_key(&pool, 1, "call Ann").await;
    let id = key.split(':').nth(2).expect("task id").to_string();
    // Discord is down: the reminder waits, and meanwhile the task is done.
    let rec = Recorder::default();
    rec.fail_next(
        &key,
        vec![DeliveryError::Retry {
            after: Some(std::time::Duration::from_secs(600)),
            reason: "503".into(),
            maybe_taken: false,
        }],
    );
    let pass = deliver_due(&store, &rec, now, 10).await.expect("deliver");
    assert_eq!(pass.retried, 1, "{pass:?}");
    h.run(":now 2026-03-02T09:00:30Z").await;
    h.ok(&format!("/tasks done task:T-{id}")).await;
    let later = now + secs(3600);
    let pass = drain(&store, &rec, later, 10).await;
    assert_eq!(pass.skipped, 1, "{pass:?}");
    assert_eq!(must_row(&pool, &key).await.status, "skipped");

    h.undone().await;
    let r = must_row(&pool, &key).await;
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 0), "{r:?}");
    assert_eq!(
        jobs::reminders(&store, later).await.expect("reminders"),
        0,
        "the slot is the one owed, not a second"
    );
    let pass = drain(&store, &rec, later, 10).await;
    assert_eq!(pass.delivered, 1, "{pass:?}");
    assert_eq!(rec.of(&key).len(), 1);
    let r = must_row(&pool, &key).await;
    assert_eq!((r.status.as_str(), r.attempts), ("delivered", 1), "{r:?}");

    // The trigger finds such reminders by the outbox's own words for them.
    let source: String =
        sqlx::query_scalar("SELECT prosrc FROM pg_proc WHERE proname = 'task_reminder_revive'")
            .fetch_one(&pool)
            .await
            .expect("trigger function");
    assert!(source.contains(&format!("'{TASK_GONE}'")), "{source}");

    // A reminder skipped because the member's DMs were closed was never owed: an undo of a
    // done (by the member, whose command clears the closed DMs) does not bring it back.
    h.run(":now 2026-03-02T11:00:00Z").await;
    h.ok(r#"/remind what:"call Bo" when:"2026-03-02 12:00""#)
        .await;
    sqlx::query("UPDATE members SET dm_closed = true WHERE workspace_id = 1 AND user_id = 1")
        .execute(&pool)
        .await
        .expect("close DMs");
    let noon = at("2026-03-02T12:00:00Z");
    assert_eq!(jobs::reminders(&store, noon).await.expect("reminders"), 0);
    let (closed, _) = task_key(&pool, 1, "call Bo").await;
    assert_eq!(must_row(&pool, &closed).await.status, "skipped");
    h.run(":now 2026-03-02T12:00:30Z").await;
    let bo = closed.split(':').nth(2).expect("task id").to_string();
    h.ok(&format!("/tasks done task:T-{bo}")).await;
    h.undone().await;
    assert_eq!(must_row(&pool, &closed).await.status, "skipped");
}

/// A retry-after no Discord would send (`1e20` seconds) is held to an hour: the pass neither
/// panics on the instant it would add it to nor holds the message and the pace for ever.
#[sqlx::test(migrations = "./migrations")]
async fn an_absurd_retry_after_waits_an_hour_at_most(pool: PgPool) {
    let (held, next) = after_a_global_429(&pool, "1e20").await;
    assert!(
        (3000.0..=3700.0).contains(&held),
        "the shared pace is held back {held:.1} s"
    );
    // An hour after the send ended.
    let t0 = at("2026-03-02T09:00:00Z");
    assert!(next <= t0 + secs(3600 + 60), "due again at {next}");
}

// ---------------------------------------------------------------------------------------------
// 6. Catching up after downtime
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrations = "./migrations")]
async fn after_downtime_due_work_is_sent_once_and_stale_digests_are_skipped(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-27T12:00:00Z").await;
    // Workspace 1 in Berlin, 2 in New York, 3 in Shanghai, each with a Monday 09:00 digest.
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.ok("/settings digest channel:<#551> day:mon time:09:00")
        .await;
    h.ok(r#"/remind what:"while down" when:"2026-03-30 09:30""#)
        .await; // CEST: 07:30Z
    h.ok(r#"/remind what:"down again" when:"2026-04-06 10:00""#)
        .await; // CEST: 08:00Z
    for (ws, zone) in [(2, "America/New_York"), (3, "Asia/Shanghai")] {
        h.run(&format!(":workspace {ws}")).await;
        h.run(&format!(":as {ws} admin")).await;
        h.ok(&format!("/settings timezone zone:{zone}")).await;
        h.ok(&format!(
            "/settings digest channel:<#55{ws}> day:mon time:09:00"
        ))
        .await;
    }
    let rec = Recorder::default();
    let start = |now: &'static str| {
        let (store, rec) = (&store, &rec);
        async move {
            let now = at(now);
            jobs::run_due(store, now).await.expect("run_due");
            drain(store, rec, now, 100).await
        }
    };
    // Reminders and digests delivered so far (agendas come every workday and are not counted).
    let sent = |rec: &Recorder| {
        rec.sent()
            .into_iter()
            .filter(|d| !d.key.starts_with("agenda:"))
            .count()
    };

    // Up on Sunday, down from Monday 00:30Z (before every digest) until 15:59:59Z, which is
    // still Monday in all three zones (23:59:59 in Shanghai).
    start("2026-03-29T12:00:00Z").await;
    assert_eq!(sent(&rec), 0);
    start("2026-03-30T00:30:00Z").await; // Shanghai's digest is not due until 01:00Z
    assert_eq!(sent(&rec), 0);
    start("2026-03-30T15:59:59Z").await;
    let (reminder, _) = task_key(&pool, 1, "while down").await;
    for key in [
        reminder,
        digest_key(1, "2026-03-30"),
        digest_key(2, "2026-03-30"),
        digest_key(3, "2026-03-30"),
        agenda_key(1, 1, "2026-03-30"), // the reminder is on it
    ] {
        rec.one(&key);
        assert_eq!(must_row(&pool, &key).await.status, "delivered", "{key}");
    }
    assert_eq!(sent(&rec), 4);
    start("2026-03-30T16:00:30Z").await;
    start("2026-03-31T08:00:00Z").await;
    assert_eq!(sent(&rec), 4, "nothing twice");

    // Down again from Monday 2026-04-06 00:00Z until 16:00:00Z, when Shanghai has reached
    // Tuesday: its digest is recorded as skipped and never sent; the others still go.
    start("2026-04-05T12:00:00Z").await;
    assert_eq!(sent(&rec), 4);
    start("2026-04-06T16:00:00Z").await;
    let (again, _) = task_key(&pool, 1, "down again").await;
    for key in [
        again,
        digest_key(1, "2026-04-06"),
        digest_key(2, "2026-04-06"),
    ] {
        rec.one(&key);
        assert_eq!(must_row(&pool, &key).await.status, "delivered", "{key}");
    }
    let missed = digest_key(3, "2026-04-06");
    let r = must_row(&pool, &missed).await;
    assert_eq!(r.status, "skipped", "{r:?}");
    assert_eq!(
        r.last_error.as_deref(),
        Some("missed: the bot was not running on 2026-04-06")
    );
    assert_eq!(r.due_at, at("2026-04-06T01:00:00Z"));
    assert!(rec.of(&missed).is_empty());
    assert_eq!(sent(&rec), 7);
    for later in [
        "2026-04-06T16:00:01Z",
        "2026-04-07T09:00:00Z",
        "2026-04-12T12:00:00Z",
    ] {
        start(later).await;
    }
    assert!(rec.of(&missed).is_empty());
    assert_eq!(must_row(&pool, &missed).await.status, "skipped");
    assert_eq!(sent(&rec), 7, "nothing more was sent");
    let keys: HashSet<String> = rec.sent().into_iter().map(|d| d.key).collect();
    assert_eq!(keys.len(), rec.len(), "nothing twice");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_sunday_digest_missed_until_monday_is_recorded_as_skipped(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-04-01T12:00:00Z").await;
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.ok("/settings digest channel:<#555> day:sun time:18:00")
        .await;
    let rec = Recorder::default();
    // Up on Sunday 2026-04-05 before 18:00 CEST (16:00Z), down until Monday morning.
    jobs::run_due(&store, at("2026-04-05T15:00:00Z"))
        .await
        .expect("run");
    drain(&store, &rec, at("2026-04-05T15:00:00Z"), 10).await;
    let monday = at("2026-04-06T08:00:00Z");
    jobs::run_due(&store, monday).await.expect("run");
    drain(&store, &rec, monday, 10).await;
    assert!(rec.sent().is_empty(), "a digest of a day gone is not sent");
    // The slot of Sunday 2026-04-05 (ISO week 2026-W14) fell while the bot was down.
    let key = digest_key(1, "2026-04-05");
    let r = row(&pool, &key).await;
    assert!(
        r.as_ref().is_some_and(|r| r.status == "skipped"
            && r.last_error.as_deref() == Some("missed: the bot was not running on 2026-04-05")),
        "expected {key} recorded as skipped; got {r:?}"
    );
}

/// The week before is counted back in local days: 168 hours back from late on the Sunday the
/// clocks go back lands in the same week, and used to record this week's slot as missed before
/// its time, so the digest never went out.
#[sqlx::test(migrations = "./migrations")]
async fn a_late_sunday_digest_goes_out_on_the_night_the_clocks_go_back(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-10-20T12:00:00Z").await;
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.ok("/settings digest channel:<#555> day:sun time:23:30")
        .await;
    let rec = Recorder::default();
    // Sunday 2026-10-25 23:00 CET (the clocks went back at 03:00 CEST that morning): 168 hours
    // earlier is Monday 2026-10-19 00:00 CEST, in this same ISO week.
    let before = at("2026-10-25T22:00:00Z");
    jobs::run_due(&store, before).await.expect("run");
    drain(&store, &rec, before, 10).await;
    let key = digest_key(1, "2026-10-25");
    assert!(
        row(&pool, &key).await.is_none(),
        "this week's slot is not taken before its time"
    );
    let due = at("2026-10-25T22:30:00Z");
    jobs::run_due(&store, due).await.expect("run");
    drain(&store, &rec, due, 10).await;
    assert_eq!(rec.of(&key).len(), 1, "sent at 23:30 CET");
}

// ---------------------------------------------------------------------------------------------
// 7. The morning agenda
// ---------------------------------------------------------------------------------------------

#[sqlx::test(migrations = "./migrations")]
async fn agendas_skip_empty_days_and_weekends_and_list_birthdays_and_contracts(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-06T23:00:00Z").await; // Friday evening in New York
    h.ok("/settings timezone zone:America/New_York").await;
    // Member 1 (New York): birthdays and contracts around Monday 2026-03-09.
    h.ok("/contact add name:Ann birthday:03-09").await; // C-1, today
    h.ok("/contact add name:Bob birthday:1980-03-10").await; // tomorrow
    for (name, end) in [
        ("One", "2026-03-10"),
        ("Six", "2026-03-15"),
        ("Seven", "2026-03-16"),
        ("Thirty", "2026-04-08"),
        ("Eight", "2026-03-17"),
    ] {
        h.ok(&format!("/company add name:{name} contract_end:{end}"))
            .await;
    }
    // Member 31: nothing to say.
    h.run(":as 31 rep").await;
    h.ok("/tasks list").await;
    // Member 32 lives in Auckland (NZDT +13): Monday 08:30 there is Sunday 19:30Z.
    h.run(":as 32 rep").await;
    h.ok("/settings timezone zone:Pacific/Auckland scope:me")
        .await;
    h.ok("/contact add name:Cara birthday:03-09").await;
    h.ok("/contact add name:Dan birthday:03-08").await;

    let rec = Recorder::default();
    // Weekends (each member's own): nothing, not even a skipped slot.
    for weekend in [
        "2026-03-07T07:00:00Z", // Saturday 20:00 in Auckland, 02:00 in New York
        "2026-03-07T18:00:00Z", // Saturday 13:00 in New York, Sunday 07:00 in Auckland
        "2026-03-08T07:00:00Z", // Sunday 20:00 in Auckland, 03:00 in New York
        "2026-03-08T18:00:00Z", // Sunday 14:00 in New York, Monday 07:00 in Auckland
    ] {
        assert_eq!(
            jobs::agendas(&store, at(weekend)).await.expect("agendas"),
            0
        );
    }
    assert_eq!(h.count("SELECT count(*) FROM outbox").await, 0);

    let auckland = at("2026-03-08T19:30:00Z");
    assert_eq!(
        jobs::agendas(&store, auckland - secs(1))
            .await
            .expect("agendas"),
        0
    );
    assert_eq!(jobs::agendas(&store, auckland).await.expect("agendas"), 1);
    let ny = at("2026-03-09T12:30:00Z"); // 08:30 EDT
    assert_eq!(
        jobs::agendas(&store, ny - secs(1)).await.expect("agendas"),
        0
    );
    assert_eq!(jobs::agendas(&store, ny).await.expect("agendas"), 1);
    assert_eq!(
        jobs::agendas(&store, ny + secs(3600))
            .await
            .expect("agendas"),
        0
    );
    drain(&store, &rec, ny + secs(3600), 10).await;

    // Nothing to say: no DM, the slot recorded as skipped.
    let quiet = agenda_key(1, 31, "2026-03-09");
    let r = must_row(&pool, &quiet).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref(), r.due_at),
        ("skipped", Some("nothing to say"), ny)
    );
    assert!(rec.of(&quiet).is_empty());

    let mine = rec.one(&agenda_key(1, 1, "2026-03-09"));
    assert_eq!(mine.target, Target::Dm(1));
    assert_eq!(title(&mine.reply), "Your agenda for Mar 9, 2026");
    assert_eq!(field(&mine.reply, "Birthdays today"), "🎂 C-1 Ann");
    // In 30, 7 and 1 days; not 6 or 8. One day reads "tomorrow".
    let contracts: Vec<&str> = field(&mine.reply, "Contracts ending soon")
        .lines()
        .collect();
    assert_eq!(contracts.len(), 3, "{contracts:?}");
    assert!(
        contracts[0] == "One · Mar 10, 2026 · tomorrow",
        "{contracts:?}"
    );
    assert_eq!(
        contracts[1..],
        [
            "Seven · Mar 16, 2026 · in 7 days",
            "Thirty · Apr 8, 2026 · in 30 days"
        ]
    );
    assert!(!has_field(&mine.reply, "Tasks due today and overdue"));

    let theirs = rec.one(&agenda_key(1, 32, "2026-03-09"));
    assert_eq!(theirs.target, Target::Dm(32));
    assert_eq!(title(&theirs.reply), "Your agenda for Mar 9, 2026");
    assert_eq!(field(&theirs.reply, "Birthdays today"), "🎂 C-3 Cara");
    assert!(!has_field(&theirs.reply, "Contracts ending soon"));
    assert_eq!(
        must_row(&pool, &agenda_key(1, 32, "2026-03-09"))
            .await
            .due_at,
        auckland
    );
    assert_eq!(rec.len(), 2);
    assert_eq!(h.count("SELECT count(*) FROM outbox").await, 3);
}

/// No agenda goes out on a weekend, so Friday's lists the weekend's birthdays (each with its
/// day) and the contract notices that fall on it, with the days really left; Monday's does
/// not list them again.
#[sqlx::test(migrations = "./migrations")]
async fn fridays_agenda_covers_the_weekends_birthdays_and_contract_notices(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2026-03-05T12:00:00Z").await; // Thursday
    h.ok("/settings timezone zone:UTC").await;
    for (name, day) in [
        ("Fri", "03-06"),
        ("Sat", "03-07"),
        ("Sun", "1980-03-08"),
        ("Mon", "03-09"),
    ] {
        h.ok(&format!("/contact add name:{name} birthday:{day}"))
            .await;
    }
    for (name, end) in [
        ("EndsSat", "2026-03-07"),   // 1 day on Friday
        ("EndsMon", "2026-03-09"),   // 1 day on Sunday
        ("EndsTue", "2026-03-10"),   // 1 day on Monday
        ("EndsSat14", "2026-03-14"), // 7 days on Saturday
        ("EndsSun15", "2026-03-15"), // 7 days on Sunday
        ("EndsTue17", "2026-03-17"), // 7 days on Tuesday
        ("EndsApr6", "2026-04-06"),  // 30 days on Saturday
    ] {
        h.ok(&format!("/company add name:{name} contract_end:{end}"))
            .await;
    }
    let rec = Recorder::default();
    let friday = at("2026-03-06T08:30:00Z");
    assert_eq!(jobs::agendas(&store, friday).await.expect("agendas"), 1);
    let monday = at("2026-03-09T08:30:00Z");
    assert_eq!(jobs::agendas(&store, monday).await.expect("agendas"), 1);
    drain(&store, &rec, monday, 10).await;

    let fri = rec.one(&agenda_key(1, 1, "2026-03-06"));
    assert_eq!(field(&fri.reply, "Birthdays today"), "🎂 C-1 Fri");
    assert_eq!(
        field(&fri.reply, "Birthdays before your next workday"),
        "🎂 C-2 Sat · Mar 7, 2026\n🎂 C-3 Sun · Mar 8, 2026"
    );
    let contracts: Vec<&str> = field(&fri.reply, "Contracts ending soon").lines().collect();
    assert_eq!(
        contracts,
        [
            "EndsSat · Mar 7, 2026 · tomorrow",
            "EndsMon · Mar 9, 2026 · in 3 days",
            "EndsSat14 · Mar 14, 2026 · in 8 days",
            "EndsSun15 · Mar 15, 2026 · in 9 days",
            "EndsApr6 · Apr 6, 2026 · in 31 days",
        ]
    );

    let mon = rec.one(&agenda_key(1, 1, "2026-03-09"));
    assert_eq!(field(&mon.reply, "Birthdays today"), "🎂 C-4 Mon");
    assert!(!has_field(&mon.reply, "Birthdays before your next workday"));
    let contracts: Vec<&str> = field(&mon.reply, "Contracts ending soon").lines().collect();
    assert_eq!(contracts, ["EndsTue · Mar 10, 2026 · tomorrow"]);
}

/// Someone born on Feb 29 is listed on Feb 28 in a year without a 29th, and on the 29th in a
/// leap year (not on the 28th as well).
#[sqlx::test(migrations = "./migrations")]
async fn a_leap_day_birthday_is_listed_every_year(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.run(":now 2027-02-01T12:00:00Z").await;
    h.ok("/settings timezone zone:UTC").await;
    h.ok("/contact add name:Leap birthday:02-29").await;
    let rec = Recorder::default();
    // 2027-02-26 is a Friday: its agenda covers Feb 28, a Sunday.
    for day in ["2027-02-26", "2028-02-28", "2028-02-29"] {
        let at_ = at(&format!("{day}T08:30:00Z"));
        jobs::agendas(&store, at_).await.expect("agendas");
        drain(&store, &rec, at_, 10).await;
    }
    let fri = rec.one(&agenda_key(1, 1, "2027-02-26"));
    assert_eq!(
        field(&fri.reply, "Birthdays before your next workday"),
        "🎂 C-1 Leap · Feb 28, 2027"
    );
    assert!(
        rec.of(&agenda_key(1, 1, "2028-02-28")).is_empty(),
        "2028 has a 29th"
    );
    let leap = rec.one(&agenda_key(1, 1, "2028-02-29"));
    assert_eq!(field(&leap.reply, "Birthdays today"), "🎂 C-1 Leap");
}

/// Without the shared pace (the database out of reach) a process cannot know what the others
/// send: the message waits in the outbox instead of going out on a pace of the process's own,
/// which beside the others' would pass Discord's limit, and nothing reaches Discord.
#[tokio::test]
async fn without_the_shared_pace_a_message_waits_instead_of_going_out() {
    let unreachable = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .expect("lazy pool");
    let store = Store::from_pool(unreachable);
    let fake = FakeDiscord::start().await;
    let sent = sender(&fake, &store)
        .deliver(&Outgoing {
            workspace_id: 1,
            target: Target::Channel(555),
            reply: Reply::text("weekly digest"),
            dedupe_key: "digest:1:2026-W49".into(),
        })
        .await;
    assert!(
        matches!(sent, Err(DeliveryError::RateLimited { global: true, .. })),
        "{sent:?}"
    );
    assert_eq!(posts_to(&fake, 555), 0);
}

/// A process that dies after Discord accepted a message but before the outbox recorded it
/// leaves the row to be delivered again: the retry carries the same nonce with
/// `enforce_nonce`, and Discord (here the fake, as Discord does) returns the first message.
#[sqlx::test(migrations = "./migrations")]
async fn a_retried_delivery_posts_once_by_its_nonce(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    let message = |key: &str, target: Target| Outgoing {
        workspace_id: 1,
        target,
        reply: Reply::text("weekly digest"),
        dedupe_key: key.to_string(),
    };
    let first = sender
        .deliver(&message("digest:1:2026-W49", Target::Channel(555)))
        .await
        .expect("first");
    let again = sender
        .deliver(&message("digest:1:2026-W49", Target::Channel(555)))
        .await
        .expect("again");
    assert_eq!(first, again, "the retry got the first message back");
    let other = sender
        .deliver(&message("digest:1:2026-W50", Target::Channel(555)))
        .await
        .expect("other");
    assert_ne!(first, other, "another slot is another message");
    let dm1 = sender
        .deliver(&message("reminder:9", Target::Dm(42)))
        .await
        .expect("dm");
    let dm2 = sender
        .deliver(&message("reminder:9", Target::Dm(42)))
        .await
        .expect("dm again");
    assert_eq!(dm1, dm2);
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(posts.len(), 5, "every attempt reached Discord");
    for p in &posts {
        assert_eq!(p.json["enforce_nonce"], true);
        assert_eq!(p.json["nonce"].as_str().map(str::len), Some(24));
    }
    assert_eq!(posts[0].json["nonce"], posts[1].json["nonce"]);
    assert_ne!(posts[0].json["nonce"], posts[2].json["nonce"]);
}

/// A post whose answer was lost after Discord made the message (here a 500 after it) goes
/// again while Discord still returns that message for its nonce, even after so many failures
/// that the backoff had grown to over twenty minutes: one message shows, and the outbox
/// records its id. A failure that says nothing went (no connection) keeps the backoff.
#[sqlx::test(migrations = "./migrations")]
async fn a_post_that_may_have_been_taken_goes_again_inside_the_nonce_window(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    h.run(":now 2026-03-02T08:00:00Z").await;
    h.ok(r#"/remind what:"call Ann" when:"2026-03-02 09:00""#)
        .await;
    let now = at("2026-03-02T09:05:00Z");
    assert_eq!(jobs::reminders(&store, now).await.expect("reminders"), 1);
    // Eight attempts failed before this one: the next would wait 1,280 s by the backoff.
    sqlx::query("UPDATE outbox SET attempts = 8")
        .execute(&pool)
        .await
        .expect("attempts");
    fake.take_then_fail(2);
    let pass = deliver_due(&store, &sender, now, 10)
        .await
        .expect("deliver");
    assert_eq!(pass.retried, 1, "{pass:?}");
    let (key, next, taken): (String, DateTime<Utc>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT dedupe_key, next_attempt_at, maybe_taken_at FROM outbox")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(
        taken.is_some_and(|t| t >= now && t < now + secs(5)),
        "the attempt that may have been taken: {taken:?}"
    );
    assert!(
        next > now && next <= now + NONCE_RETRY + secs(5),
        "next attempt at {next}, inside the window"
    );
    assert_eq!(fake.posted().len(), 1, "Discord made the message");

    // Lost again inside the window: not counted, and the window still runs from the first.
    let pass = deliver_due(&store, &sender, next, 10)
        .await
        .expect("deliver");
    assert_eq!(pass.retried, 1, "{pass:?}");
    let (again, attempts, still): (DateTime<Utc>, i32, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT next_attempt_at, attempts, maybe_taken_at FROM outbox")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(attempts, 9, "the quick attempt is given back");
    assert_eq!(still, taken);
    assert!(again <= next + NONCE_RETRY + secs(5), "{again}");

    let pass = deliver_due(&store, &sender, again, 10)
        .await
        .expect("deliver");
    assert_eq!(pass.delivered, 1, "{pass:?}");
    let posted = fake.posted();
    assert_eq!(posted.len(), 1, "shown once: {posted:?}");
    let r = must_row(&pool, &key).await;
    assert_eq!(r.status, "delivered");
    assert_eq!(r.attempts, 10);
    assert_eq!(r.delivered_message_id, Some(posted[0].id as i64));
    let taken: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT maybe_taken_at FROM outbox WHERE dedupe_key = $1")
            .bind(&key)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(taken, None, "cleared with the delivery");

    // Nothing listens where this sender connects: surely not taken, so the backoff stands.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        listener.local_addr().expect("addr").port()
    };
    let unreachable = Sender::new(
        &DiscordConfig {
            api_base: Some(format!("http://127.0.0.1:{closed}")),
            ..DiscordConfig::new("TEST.TOKEN")
        },
        store.clone(),
    )
    .expect("sender");
    h.ok(r#"/remind what:"call Bo" when:"2026-03-02 10:00""#)
        .await;
    let later = at("2026-03-02T10:05:00Z");
    assert_eq!(jobs::reminders(&store, later).await.expect("reminders"), 1);
    sqlx::query("UPDATE outbox SET attempts = 8 WHERE status = 'pending'")
        .execute(&pool)
        .await
        .expect("attempts");
    let pass = deliver_due(&store, &unreachable, later, 10)
        .await
        .expect("deliver");
    assert_eq!(pass.retried, 1, "{pass:?}");
    let (next, taken): (DateTime<Utc>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT next_attempt_at, maybe_taken_at FROM outbox WHERE status = 'pending'",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(taken, None);
    assert!(next >= later + backoff(9), "next attempt at {next}");
}

/// With several processes, one scans for due work at a time; the others skip that tick, and
/// the lease is free again when the scan ends (or its connection dies with its process).
#[sqlx::test(migrations = "./migrations")]
async fn one_process_at_a_time_scans_for_due_work(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    h.ok(r#"/remind what:"call Ann" when:"2026-12-01 10:00""#)
        .await;
    let later = at("2026-12-01T10:05:00Z");
    let held = store.scan_lease().await.expect("lease").expect("free");
    assert!(
        store.scan_lease().await.expect("lease").is_none(),
        "one holder at a time"
    );
    let skipped = jobs::run_due(&store, later).await.expect("run");
    assert_eq!(
        skipped,
        jobs::Enqueued::default(),
        "another process is scanning"
    );
    held.release().await.expect("release");
    let done = jobs::run_due(&store, later).await.expect("run");
    assert_eq!(done.reminders, 1);
    assert!(
        store.scan_lease().await.expect("lease").is_some(),
        "released after the scan"
    );
}

/// The sender paces itself under Discord's global limit: a burst of posts and DMs far past
/// 50 a second is delivered whole, with no 429 from the (enforcing) fake.
#[sqlx::test(migrations = "./migrations")]
async fn a_burst_of_messages_stays_under_discords_global_limit(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    fake.enforce_global_limit(50);
    let sender = sender(&fake, &store);
    let messages: Vec<Outgoing> = (0..90)
        .map(|i| Outgoing {
            workspace_id: 1,
            target: if i % 3 == 0 {
                Target::Dm(1000 + i)
            } else {
                Target::Channel(555)
            },
            reply: Reply::text(format!("digest {i}")),
            dedupe_key: format!("burst:{i}"),
        })
        .collect();
    let results = futures_util::future::join_all(messages.iter().map(|m| sender.deliver(m))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fake.global_429s(), 0, "no 429 storm");
    let posts = messages_posted(&fake);
    assert_eq!(posts, 90);
    // The fake does enforce it: the same burst unpaced meets 429s.
    let client = reqwest::Client::new();
    let url = format!("{}/api/v10/channels/555/messages", fake.api_base());
    let unpaced = futures_util::future::join_all((0..80).map(|i| {
        client
            .post(&url)
            .header("Authorization", "Bot TEST.TOKEN")
            .json(&json!({"content": format!("unpaced {i}")}))
            .send()
    }))
    .await;
    assert!(unpaced.iter().all(Result::is_ok));
    assert!(
        fake.global_429s() > 0,
        "the fake answers a burst past 50/s with 429s"
    );
}

/// Discord's global limit is per bot, not per process: two processes' senders (each with its
/// own in-process pace, as two `salesbot run` would have) delivering at once share one pace
/// through the database, and the enforcing fake answers no 429. Each alone would send 45 a
/// second, 90 together.
#[sqlx::test(migrations = "./migrations")]
async fn two_processes_sending_at_once_share_discords_global_limit(pool: PgPool) {
    let fake = FakeDiscord::start().await;
    fake.enforce_global_limit(50);
    // Two stores over their own pools, as two processes have.
    let url = crate::support::database_url(&pool).await;
    let (one, two) = (
        Store::connect(&url).await.expect("first process"),
        Store::connect(&url).await.expect("second process"),
    );
    let (first, second) = (sender(&fake, &one), sender(&fake, &two));
    let messages: Vec<Outgoing> = (0..160)
        .map(|i| Outgoing {
            workspace_id: 1,
            target: Target::Channel(555 + i % 4),
            reply: Reply::text(format!("digest {i}")),
            dedupe_key: format!("shared:{i}"),
        })
        .collect();
    let started = std::time::Instant::now();
    let results = futures_util::future::join_all(messages.iter().enumerate().map(|(i, m)| {
        let s = if i % 2 == 0 { &first } else { &second };
        s.deliver(m)
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fake.global_429s(), 0, "no 429 from the two together");
    let posts = messages_posted(&fake);
    assert_eq!(posts, 160);
    // 160 at 45 a second: at least 3.5 s, which two unshared paces of 45 each would have
    // halved.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(3_400),
        "{:?}",
        started.elapsed()
    );
}

/// Channel posts and DMs the fake Discord received.
fn messages_posted(fake: &FakeDiscord) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .count()
}

// ---------------------------------------------------------------------------------------------
// 8. Interaction markers end
// ---------------------------------------------------------------------------------------------

/// A Discord snowflake made at `t` (the id's top bits are milliseconds since 2015-01-01, as
/// Discord documents; computed here, not by the code under test), with `n` in the low bits.
fn snowflake(t: DateTime<Utc>, n: i64) -> i64 {
    ((t.timestamp_millis() - 1_420_070_400_000) << 22) | n
}

#[sqlx::test(migrations = "./migrations")]
async fn interaction_markers_are_forgotten_after_a_day_and_kept_within_it(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let now = at("2026-03-02T12:00:00Z");
    sqlx::query("INSERT INTO workspaces (id) VALUES (1), (2)")
        .execute(&pool)
        .await
        .expect("workspaces");
    let mark = |ws: i64, id: i64, when: DateTime<Utc>| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO processed_interactions (workspace_id, interaction_id, processed_at)
                 VALUES ($1, $2, $3)",
            )
            .bind(ws)
            .bind(id)
            .bind(when)
            .execute(&pool)
            .await
            .expect("marker");
        }
    };
    // Workspace 1: 25 markers two days old, one 25 hours old, one 23 hours old, one a minute
    // old. Workspace 2: one three days old, one an hour old, and two ids that are no
    // snowflakes (small numbers, as a test gives): one processed a minute ago, one two days ago.
    for n in 0..25 {
        let t = now - Duration::days(2) + Duration::seconds(n);
        mark(1, snowflake(t, n), t).await;
    }
    for (ws, age) in [
        (1, Duration::hours(25)),
        (1, Duration::hours(23)),
        (1, Duration::minutes(1)),
        (2, Duration::days(3)),
        (2, Duration::hours(1)),
    ] {
        mark(ws, snowflake(now - age, 0), now - age).await;
    }
    mark(2, 7, now - Duration::minutes(1)).await;
    mark(2, 8, now - Duration::days(2)).await;

    // Ten rows a statement: the 28 old ones go in three statements, nothing else.
    let gone = store
        .expire_interaction_markers(now - Duration::hours(24), 10)
        .await
        .expect("expire");
    assert_eq!(gone, 28);
    let left: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT workspace_id, interaction_id FROM processed_interactions
         ORDER BY workspace_id, interaction_id",
    )
    .fetch_all(&pool)
    .await
    .expect("left");
    let mut expected = vec![
        (1, snowflake(now - Duration::hours(23), 0)),
        (1, snowflake(now - Duration::minutes(1), 0)),
        (2, 7),
        (2, snowflake(now - Duration::hours(1), 0)),
    ];
    expected.sort();
    assert_eq!(left, expected);

    // The scheduler's job keeps a day: half an hour later the 23-hour-old marker is still
    // inside it, 90 minutes later it is not (the no-snowflake one, 91 minutes old, stays).
    assert_eq!(
        jobs::expire(&store, now + Duration::minutes(30))
            .await
            .expect("job")
            .markers,
        0
    );
    assert_eq!(
        jobs::expire(&store, now + Duration::minutes(90))
            .await
            .expect("job")
            .markers,
        1
    );
    assert_eq!(jobs::MARKER_RETENTION, Duration::hours(24));
}

#[sqlx::test(migrations = "./migrations")]
async fn the_apis_idempotency_keys_are_deleted_once_past_their_24_hours(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let now = at("2026-03-02T12:00:00Z");
    for sql in [
        "INSERT INTO workspaces (id) VALUES (1)",
        "INSERT INTO api_tokens (workspace_id, id, name, scope, hash, created_at)
         VALUES (1, 5, 'erp', 'write', '\\x01', '2026-01-01T00:00:00Z')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect("token");
    }
    // 12 keys 25 hours old (answered), one 25 hours old still in flight, one 23 hours old,
    // one a minute old.
    let mut ages: Vec<(String, Duration, bool)> = (0..12)
        .map(|n| (format!("old-{n:02}"), Duration::hours(25), true))
        .collect();
    ages.push(("old-running".into(), Duration::hours(25), false));
    ages.push(("day-young".into(), Duration::hours(23), true));
    ages.push(("fresh".into(), Duration::minutes(1), true));
    for (key, age, answered) in &ages {
        sqlx::query(
            "INSERT INTO idempotency_keys (workspace_id, token_id, key, request_hash, status, body, created_at)
             VALUES (1, 5, $1, '\\x02', $2, $3, $4)",
        )
        .bind(key)
        .bind(answered.then_some(201i16))
        .bind(answered.then(|| br#"{"id":1}"#.to_vec()))
        .bind(now - *age)
        .execute(&pool)
        .await
        .expect("key");
    }
    // Five a statement: the 13 old ones go in three statements.
    assert_eq!(
        store.expire_idempotency_keys(now, 5).await.expect("expire"),
        13
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(&pool)
        .await
        .expect("left");
    assert_eq!(left, vec!["day-young".to_string(), "fresh".to_string()]);
    // The hourly job: two hours later the 23-hour-old key is past its day as well.
    let expired = jobs::expire(&store, now + Duration::hours(2))
        .await
        .expect("job");
    assert_eq!(expired.idempotency_keys, 1);
    assert_eq!(expired.markers, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn finished_outbox_messages_are_deleted_after_a_month_and_pending_ones_never(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let now = at("2026-03-02T12:00:00Z");
    for ws in [1, 2] {
        sqlx::query("INSERT INTO workspaces (id) VALUES ($1)")
            .bind(ws)
            .execute(&pool)
            .await
            .expect("workspace");
    }
    let put = |ws: i64, key: String, status: &'static str, age: Duration| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO outbox (workspace_id, dedupe_key, target, user_id, payload, status, created_at)
                 VALUES ($1, $2, 'dm', 7, '{}', $3, $4)",
            )
            .bind(ws)
            .bind(key)
            .bind(status)
            .bind(now - age)
            .execute(&pool)
            .await
            .expect("outbox row");
        }
    };
    // Past the month: one of each finished status in workspace 1 and 12 delivered ones in
    // workspace 2, and a pending one 40 days old (still owed). Inside it: one delivered
    // 29 days ago, one pending an hour ago.
    put(1, "old-delivered".into(), "delivered", Duration::days(31)).await;
    put(1, "old-failed".into(), "failed", Duration::days(31)).await;
    put(1, "old-skipped".into(), "skipped", Duration::days(45)).await;
    for n in 0..12 {
        put(
            2,
            format!("old-{n:02}"),
            "delivered",
            Duration::days(60) + Duration::minutes(n),
        )
        .await;
    }
    put(1, "old-pending".into(), "pending", Duration::days(40)).await;
    put(1, "month-young".into(), "delivered", Duration::days(29)).await;
    put(2, "fresh-pending".into(), "pending", Duration::hours(1)).await;

    // Five a statement: the 15 old finished ones go in four statements.
    assert_eq!(
        store
            .expire_outbox(now - Duration::days(30), 5)
            .await
            .expect("expire"),
        15
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT dedupe_key FROM outbox ORDER BY dedupe_key")
        .fetch_all(&pool)
        .await
        .expect("left");
    assert_eq!(left, ["fresh-pending", "month-young", "old-pending"]);

    // The hourly job keeps 30 days: two days on, the 29-day-old message is past them; the
    // pending ones stay.
    let expired = jobs::expire(&store, now + Duration::days(2))
        .await
        .expect("job");
    assert_eq!(expired.outbox, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT dedupe_key FROM outbox ORDER BY dedupe_key")
        .fetch_all(&pool)
        .await
        .expect("left");
    assert_eq!(left, ["fresh-pending", "old-pending"]);
    // Longer than any scan looks back for a slot key (a digest: last week's, 14 days at most),
    // so an expired slot never comes free while a scan could still take it.
    assert_eq!(jobs::OUTBOX_RETENTION, Duration::days(30));
}

#[sqlx::test(migrations = "./migrations")]
async fn webhook_events_are_deleted_after_a_month_once_nothing_is_left_to_deliver(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let now = at("2026-03-02T12:00:00Z");
    for sql in [
        "INSERT INTO workspaces (id) VALUES (1)",
        "INSERT INTO webhook_endpoints (workspace_id, id, url, events, created_by, created_at)
         VALUES (1, 1, 'https://erp.example.com/a', '{deal.won}', 9, '2026-01-01T00:00:00Z'),
                (1, 2, 'https://erp.example.com/b', '{deal.won}', 9, '2026-01-01T00:00:00Z')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect("set-up");
    }
    // An event and its deliveries (endpoint, status), `age` old.
    let event = |msg: &'static str, age: Duration, deliveries: Vec<(i64, &'static str)>| {
        let pool = pool.clone();
        async move {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_events (workspace_id, msg_id, event_type, body, created_at)
                 VALUES (1, $1, 'deal.won', '{}', $2) RETURNING id",
            )
            .bind(msg)
            .bind(now - age)
            .fetch_one(&pool)
            .await
            .expect("event");
            for (endpoint, status) in deliveries {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, status, next_attempt_at, created_at)
                     VALUES (1, $1, $2, $3, $4, $4)",
                )
                .bind(id)
                .bind(endpoint)
                .bind(status)
                .bind(now - age)
                .execute(&pool)
                .await
                .expect("delivery");
            }
        }
    };
    event(
        "msg_done",
        Duration::days(40),
        vec![(1, "delivered"), (2, "failed")],
    )
    .await;
    event("msg_cancelled", Duration::days(31), vec![(1, "cancelled")]).await;
    event("msg_nobody", Duration::days(35), vec![]).await;
    event(
        "msg_retrying",
        Duration::days(40),
        vec![(1, "delivered"), (2, "pending")],
    )
    .await;
    event(
        "msg_young",
        Duration::days(10),
        vec![(1, "delivered"), (2, "failed")],
    )
    .await;

    // One a statement: the three old finished events go, with their three deliveries.
    assert_eq!(
        store
            .expire_webhook_events(now - Duration::days(30), 1)
            .await
            .expect("expire"),
        3
    );
    let events = || async {
        sqlx::query_scalar::<_, String>("SELECT msg_id FROM webhook_events ORDER BY msg_id")
            .fetch_all(&pool)
            .await
            .expect("events")
    };
    let deliveries = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_deliveries")
            .fetch_one(&pool)
            .await
            .expect("deliveries")
    };
    assert_eq!(events().await, ["msg_retrying", "msg_young"]);
    assert_eq!(deliveries().await, 4);

    // An event being sent again while the expiry runs is passed over: the redelivery holds
    // it, and once committed its delivery is pending, so later runs keep it too.
    let mut redelivery = store.begin().await.expect("begin");
    assert_eq!(
        redelivery
            .redeliver_webhook_event(1, "msg_young", now + Duration::days(21))
            .await
            .expect("redeliver"),
        Some(2)
    );
    assert_eq!(
        store
            .expire_webhook_events(now - Duration::days(9), 10)
            .await
            .expect("expire while held"),
        0
    );
    redelivery.commit().await.expect("commit");
    assert_eq!(
        jobs::expire(&store, now + Duration::days(21))
            .await
            .expect("job")
            .webhook_events,
        0
    );
    assert_eq!(events().await, ["msg_retrying", "msg_young"]);

    // Delivered again, it goes with the next hourly run past its month; the event still
    // retrying is kept however old.
    sqlx::query("UPDATE webhook_deliveries SET status = 'delivered' WHERE status = 'pending'")
        .execute(&pool)
        .await
        .expect("delivered");
    sqlx::query("UPDATE webhook_deliveries SET status = 'pending' WHERE endpoint_id = 2 AND event_id = (SELECT id FROM webhook_events WHERE msg_id = 'msg_retrying')")
        .execute(&pool)
        .await
        .expect("retrying again");
    assert_eq!(
        jobs::expire(&store, now + Duration::days(21))
            .await
            .expect("job")
            .webhook_events,
        1
    );
    assert_eq!(events().await, ["msg_retrying"]);
    assert_eq!(deliveries().await, 2);
    assert_eq!(jobs::WEBHOOK_EVENT_RETENTION, Duration::days(30));
}

/// When each agenda and digest is next due, as the schedule tables hold it (`None`: not
/// worked out yet).
async fn next_due(pool: &PgPool) -> (HashMap<i64, Option<DateTime<Utc>>>, Option<DateTime<Utc>>) {
    let agendas: Vec<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT user_id, NULLIF(next_at, '-infinity') FROM agenda_schedule WHERE workspace_id = 1",
    )
    .fetch_all(pool)
    .await
    .expect("agenda schedule");
    let digest: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT NULLIF(next_at, '-infinity') FROM digest_schedule WHERE workspace_id = 1",
    )
    .fetch_optional(pool)
    .await
    .expect("digest schedule");
    (agendas.into_iter().collect(), digest.flatten())
}

#[sqlx::test(migrations = "./migrations")]
async fn the_scan_reads_only_what_is_due_and_settings_changes_work_it_out_again(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    // Monday 2026-03-02, workspace in UTC; member 10 lives in Shanghai.
    h.run(":now 2026-03-02T06:00:00Z").await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    h.run(":as 10 rep").await;
    h.ok("/settings timezone zone:Asia/Shanghai scope:me").await;
    h.run(":as 11 rep").await;
    h.ok("/tasks list").await;
    h.run(":as 1 admin").await;

    // New members and a new digest setting are not worked out yet: they are read once.
    let monday = at("2026-03-02T07:00:00Z");
    let unknown: BTreeSet<i64> = store
        .due_agendas(monday, 100)
        .await
        .expect("due")
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert!(
        unknown.is_superset(&BTreeSet::from([10, 11])),
        "{unknown:?}"
    );
    assert_eq!(store.due_digests(monday, 100).await.expect("due").len(), 1);
    jobs::run_due(&store, monday).await.expect("run");
    let (agendas, digest) = next_due(&pool).await;
    // Members 1 and 11 (UTC): today 08:30. Member 10 (Shanghai, 15:00 there): tomorrow 08:30
    // Shanghai, 00:30Z; today's went out.
    assert_eq!(agendas[&1], Some(at("2026-03-02T08:30:00Z")));
    assert_eq!(agendas[&11], Some(at("2026-03-02T08:30:00Z")));
    assert_eq!(agendas[&10], Some(at("2026-03-03T00:30:00Z")));
    assert_eq!(digest, Some(at("2026-03-02T09:00:00Z")));
    // Until one is due, a minute's scan reads nothing at all.
    let later = monday + Duration::minutes(1);
    assert!(store.due_agendas(later, 100).await.expect("due").is_empty());
    assert!(store.due_digests(later, 100).await.expect("due").is_empty());

    let nine = at("2026-03-02T09:00:00Z");
    jobs::run_due(&store, nine).await.expect("run");
    let (agendas, digest) = next_due(&pool).await;
    assert_eq!(agendas[&1], Some(at("2026-03-03T08:30:00Z")));
    assert_eq!(agendas[&11], Some(at("2026-03-03T08:30:00Z")));
    assert_eq!(digest, Some(at("2026-03-09T09:00:00Z")), "next Monday");
    let count = |key: &str| format!("SELECT count(*) FROM outbox WHERE dedupe_key LIKE '{key}'");
    assert_eq!(h.count(&count("agenda:1:%:2026-03-02")).await, 3);
    assert_eq!(h.count(&count("digest:1:2026-W10")).await, 1);
    let sent = h.count("SELECT count(*) FROM outbox").await;
    assert!(store
        .due_agendas(nine + secs(60), 100)
        .await
        .expect("due")
        .is_empty());

    // A later agenda time today is worked out again, and today's agenda is not sent twice.
    h.run(":as 11 rep").await;
    h.ok("/settings agenda time:10:00").await;
    assert_eq!(next_due(&pool).await.0[&11], None);
    let ten = at("2026-03-02T10:00:00Z");
    jobs::run_due(&store, ten).await.expect("run");
    assert_eq!(
        next_due(&pool).await.0[&11],
        Some(at("2026-03-03T10:00:00Z"))
    );
    assert_eq!(h.count("SELECT count(*) FROM outbox").await, sent);

    // A new zone for the workspace moves the members who have none of their own, not member 10.
    h.run(":as 1 admin").await;
    h.ok("/settings timezone zone:America/New_York").await;
    let (agendas, digest) = next_due(&pool).await;
    assert_eq!((agendas[&1], agendas[&11], digest), (None, None, None));
    assert_eq!(agendas[&10], Some(at("2026-03-03T00:30:00Z")));
    jobs::run_due(&store, ten + secs(60)).await.expect("run");
    let (agendas, digest) = next_due(&pool).await;
    // 05:01 in New York (EST): today's 08:30 is 13:30Z and 09:00 is 14:00Z, when the digest
    // slot taken at 09:00Z is found taken.
    assert_eq!(agendas[&1], Some(at("2026-03-02T13:30:00Z")));
    assert_eq!(agendas[&11], Some(at("2026-03-02T15:00:00Z")));
    assert_eq!(digest, Some(at("2026-03-02T14:00:00Z")));
    jobs::run_due(&store, at("2026-03-02T14:00:00Z"))
        .await
        .expect("run");
    // Next Monday 09:00 is EDT: 13:00Z.
    assert_eq!(next_due(&pool).await.1, Some(at("2026-03-09T13:00:00Z")));
    assert_eq!(h.count(&count("digest:1:2026-W10")).await, 1);

    // Undo of a settings change is not refused because the scan wrote since: the schedule
    // lives apart from the audited row. The undone zone is worked out again.
    h.undone().await;
    assert_eq!(next_due(&pool).await.1, None);
    jobs::run_due(&store, at("2026-03-02T14:01:00Z"))
        .await
        .expect("run");
    assert_eq!(next_due(&pool).await.1, Some(at("2026-03-09T09:00:00Z")));

    // A member who closed their DMs is not read at all; no digest channel, no digest row.
    store.mark_dm_closed(1, 11).await.expect("dm closed");
    assert!(!next_due(&pool).await.0.contains_key(&11));
    // Using the bot again: their DMs may be open again, so the next agenda tries.
    h.run(":as 11 rep").await;
    h.ok("/tasks list").await;
    assert_eq!(
        h.count("SELECT count(*) FROM members WHERE dm_closed")
            .await,
        0
    );
    assert_eq!(next_due(&pool).await.0.get(&11), Some(&None));
    h.run(":as 1 admin").await;
    sqlx::query("UPDATE workspaces SET digest_channel_id = NULL WHERE id = 1")
        .execute(&pool)
        .await
        .expect("no channel");
    assert_eq!(h.count("SELECT count(*) FROM digest_schedule").await, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn admins_are_told_when_the_digest_channel_is_gone_or_closed_to_the_bot(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    h.run(":now 2026-03-01T12:00:00Z").await;
    // Workspace 1: its channel was deleted. Admin 1 set it up; admin 3 has closed DMs.
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    h.run(":as 3 admin").await;
    h.ok("/tasks list").await;
    store.mark_dm_closed(1, 3).await.expect("dm closed");
    // Workspace 2, in Chinese: the bot lost its permission to post in its channel.
    h.run(":workspace 2").await;
    h.run(":as 2 admin").await;
    h.ok("/settings language locale:zh-CN").await;
    h.ok("/settings digest channel:<#666> day:mon time:09:00")
        .await;
    fake.unknown_channel(555);
    let no_access = || {
        (
            403,
            json!({"code": 50013, "message": "Missing Permissions"}),
            Vec::new(),
        )
    };
    fake.script(
        "POST",
        "/api/v10/channels/666/messages",
        vec![no_access(), no_access()],
    );

    let t0 = at("2026-03-02T09:00:00Z");
    assert_eq!(jobs::digests(&store, t0).await.expect("digests"), 2);
    let first = deliver_due(&store, &sender, t0, 10).await.expect("deliver");
    assert_eq!((first.delivered, first.retried), (0, 2), "{first:?}");
    let r = must_row(&pool, &digest_key(1, "2026-03-02")).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref()),
        ("pending", Some("unknown channel"))
    );
    assert!(r.next_attempt_at >= t0 + Duration::hours(1), "{r:?}");
    // Each admin who accepts DMs is told, once, in their language.
    let second = deliver_due(&store, &sender, t0 + secs(1), 10)
        .await
        .expect("deliver");
    assert_eq!((second.delivered, second.failed), (2, 0), "{second:?}");
    let told: HashMap<u64, String> = fake
        .posted()
        .into_iter()
        .map(|p| (p.channel - FakeDiscord::dm_channel_id(0), p.content))
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told[&1].contains("<#555>") && told[&1].contains("no longer exists"),
        "{told:?}"
    );
    assert!(
        told[&2].contains("<#666>") && told[&2].contains("没有查看该频道"),
        "{told:?}"
    );

    // Admin 1 picks another channel: the waiting digest goes there at its next attempt.
    h.run(":workspace 1").await;
    h.run(":as 1 admin").await;
    h.ok("/settings digest channel:<#777>").await;
    assert_eq!(
        must_row(&pool, &digest_key(1, "2026-03-02"))
            .await
            .channel_id,
        Some(777)
    );
    let hour = t0 + Duration::hours(1) + secs(5);
    let third = drain(&store, &sender, hour, 10).await;
    // Workspace 2 is still refused (no new DM: its admin was told), workspace 1's goes out.
    assert_eq!((third.delivered, third.retried), (1, 1), "{third:?}");
    assert_eq!(posts_to(&fake, 777), 1);
    assert_eq!(
        must_row(&pool, &digest_key(1, "2026-03-02")).await.status,
        "delivered"
    );
    // Workspace 2's permission is back: the next hourly attempt posts it.
    let fourth = drain(&store, &sender, hour + Duration::hours(1) + secs(5), 10).await;
    assert_eq!((fourth.delivered, fourth.retried), (1, 0), "{fourth:?}");
    assert_eq!(
        must_row(&pool, &digest_key(2, "2026-03-02")).await.status,
        "delivered"
    );
    assert_eq!(
        fake.posted().len(),
        4,
        "two digests and two admins told, once each"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn a_console_clock_moved_back_works_the_schedule_out_again(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.run(":now 2026-03-02T06:00:00Z").await;
    h.ok("/tasks list").await;
    // A week ahead: Monday the 9th's agenda slot is taken, the next is Tuesday the 10th's.
    h.run(":now 2026-03-09T12:00:00Z").await;
    let slot = |date: &str| {
        format!(
            "SELECT count(*) FROM outbox WHERE dedupe_key = '{}'",
            agenda_key(1, 1, date)
        )
    };
    assert_eq!(h.count(&slot("2026-03-09")).await, 1);
    // Back to Tuesday the 3rd: its agenda is due again from there, not held until the 10th.
    h.run(":now 2026-03-03T08:30:00Z").await;
    assert_eq!(h.count(&slot("2026-03-03")).await, 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_waiting_digest_follows_the_channel_setting_through_changes_and_undo(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    let store = Store::from_pool(pool.clone());
    let fake = FakeDiscord::start().await;
    let sender = sender(&fake, &store);
    h.run(":now 2026-03-02T09:30:00Z").await;
    fake.unknown_channel(888);
    fake.unknown_channel(999);
    fake.unknown_channel(4321);
    h.ok("/settings digest channel:<#888> day:mon time:09:00")
        .await;
    let t0 = at("2026-03-02T09:30:00Z");
    jobs::digests(&store, t0).await.expect("digests");
    let key = digest_key(1, "2026-03-02");
    drain(&store, &sender, t0, 10).await;
    drain(&store, &sender, t0 + secs(5), 10).await;
    let told = |channel: u64| {
        fake.posted()
            .iter()
            .filter(|p| {
                p.channel == FakeDiscord::dm_channel_id(1)
                    && p.content.contains(&format!("<#{channel}>"))
            })
            .count()
    };
    assert_eq!(told(888), 1);
    // Counted apart from the digests themselves.
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM outbox WHERE dedupe_key LIKE 'channel-unusable:%'")
            .fetch_all(&pool)
            .await
            .expect("notice kinds");
    assert_eq!(kinds, vec!["channel-notice".to_string()]);
    // The new channel refuses too: that is news to the admin.
    h.ok("/settings digest channel:<#999>").await;
    assert_eq!(must_row(&pool, &key).await.channel_id, Some(999));
    let t1 = t0 + Duration::hours(1) + secs(5);
    drain(&store, &sender, t1, 10).await;
    drain(&store, &sender, t1 + secs(5), 10).await;
    assert_eq!(told(999), 1);
    // `/undo` puts the setting back by re-inserting the workspace: the post follows it.
    h.undone().await;
    assert_eq!(must_row(&pool, &key).await.channel_id, Some(888));
    // A post written for a channel the setting left meanwhile (composed while an admin changed
    // it) is moved to the one set when that channel refuses, and no one is told about it.
    sqlx::query("UPDATE outbox SET channel_id = 4321 WHERE dedupe_key = $1")
        .bind(&key)
        .execute(&pool)
        .await
        .expect("stale channel");
    let t2 = t1 + Duration::hours(1) + secs(5);
    let attempts = must_row(&pool, &key).await.attempts;
    let pass = deliver_due(&store, &sender, t2, 10).await.expect("deliver");
    assert_eq!(pass.retried, 1, "{pass:?}");
    let r = must_row(&pool, &key).await;
    assert_eq!((r.channel_id, r.status.as_str()), (Some(888), "pending"));
    assert_eq!(
        r.attempts, attempts,
        "the channel set now was not tried yet"
    );
    assert!(r.next_attempt_at <= t2 + secs(5), "{r:?}");
    drain(&store, &sender, t2 + secs(5), 10).await;
    assert_eq!(told(4321), 0);
    // Turning the digest off (undoing the first setting) drops the post.
    h.undone().await;
    let r = must_row(&pool, &key).await;
    assert_eq!(
        (r.status.as_str(), r.last_error.as_deref()),
        ("skipped", Some("the digest was turned off"))
    );
}
