//! `/pipeline stats` against an independent recomputation. Deals are made through the
//! console only (a seeded generator moves them forward and back, wins, loses and reopens
//! them, at many different times and by several owners); the expected figures come from this
//! file's own SQL, which reads the stage history rather than the columns the production query
//! uses (`status`, `closed_at`, `furthest_position`). A small fixture is also worked out by hand.
//!
//! Definitions (ARCHITECTURE.md, "Pipeline figures"):
//! - open count, amount, weighted: deals open now, by current stage; weighted is
//!   round-half-up(stage amount × probability / 100), summed over stages;
//! - reached: of the deals opened in the period, those that ever entered a non-lost stage at
//!   this stage's position or later; conversion = reached(next) / reached(this);
//! - won, lost, win rate, average won deal, cycle: deals closed in the period.

use crate::support::{text, Harness, Lcg};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;

// ---------------------------------------------------------------------------------------------
// Reading the reply
// ---------------------------------------------------------------------------------------------

/// One funnel line.
#[derive(Clone, Debug, PartialEq)]
struct StageFigures {
    name: String,
    open_count: i64,
    open_amount: i64,
    weighted: i64,
    reached: i64,
    /// "66.7%", or "—" when nothing reached this stage (and on the last line).
    conversion: String,
}

/// Everything the reply shows, amounts in minor units.
#[derive(Clone, Debug, PartialEq)]
struct Figures {
    stages: Vec<StageFigures>,
    open_count: i64,
    open_amount: i64,
    weighted: i64,
    won_count: i64,
    won_amount: i64,
    lost_count: i64,
    lost_amount: i64,
    /// "50.0%" or "—".
    win_rate: String,
    avg_won: Option<i64>,
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

/// `3 · $1,250.50` → (3, 125050).
fn count_amount(s: &str) -> (i64, i64) {
    let (count, amount) = s
        .split_once(" · ")
        .unwrap_or_else(|| panic!("not 'count · amount': {s:?}"));
    (count.parse().expect("count"), money(amount))
}

fn field<'a>(embed: &'a Value, name: &str) -> &'a str {
    embed["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_else(|| panic!("no field {name} in {embed}"))
}

/// Parses a `/pipeline stats` reply; also returns the average cycle in days, if shown.
fn parse(reply: &Value) -> (Figures, Option<f64>) {
    let embed = &reply["embeds"][0];
    let stages = embed["description"]
        .as_str()
        .expect("description")
        .lines()
        .map(|line| {
            let parts: Vec<&str> = line.split(" · ").collect();
            assert_eq!(parts.len(), 7, "stage line {line:?}");
            let number = |s: &str, prefix: &str, suffix: &str| -> i64 {
                s.strip_prefix(prefix)
                    .and_then(|s| s.strip_suffix(suffix))
                    .unwrap_or_else(|| panic!("{line:?}: {s:?}"))
                    .parse()
                    .unwrap_or_else(|_| panic!("{line:?}: {s:?}"))
            };
            StageFigures {
                name: parts[0].trim_matches('*').to_string(),
                open_count: number(parts[1], "", " open"),
                open_amount: money(parts[2]),
                weighted: money(parts[3].strip_prefix("weighted ").expect("weighted")),
                reached: number(parts[4], "reached ", ""),
                conversion: parts[5]
                    .strip_prefix("→ next ")
                    .expect("conversion")
                    .to_string(),
            }
        })
        .collect();
    let (open_count, open_amount) = count_amount(field(embed, "Open pipeline"));
    let (won_count, won_amount) = count_amount(field(embed, "Won"));
    let (lost_count, lost_amount) = count_amount(field(embed, "Lost"));
    let avg_won = match field(embed, "Avg. won deal") {
        "—" => None,
        s => Some(money(s)),
    };
    let cycle = match field(embed, "Avg. sales cycle") {
        "—" => None,
        s => Some(
            s.strip_suffix(" days")
                .and_then(|d| d.parse().ok())
                .unwrap_or_else(|| panic!("cycle {s:?}")),
        ),
    };
    (
        Figures {
            stages,
            open_count,
            open_amount,
            weighted: money(field(embed, "Weighted forecast")),
            won_count,
            won_amount,
            lost_count,
            lost_amount,
            win_rate: field(embed, "Win rate").to_string(),
            avg_won,
        },
        cycle,
    )
}

// ---------------------------------------------------------------------------------------------
// The independent recomputation
// ---------------------------------------------------------------------------------------------

/// Per deal, from its stage history: the stage it is in now (the newest change), when that
/// change happened, and when the deal was opened (the oldest change).
const DEAL_FACTS: &str = "
    WITH hist AS (
        SELECT sc.deal_id, sc.to_stage_id, sc.changed_at,
               row_number() OVER (PARTITION BY sc.deal_id ORDER BY sc.changed_at DESC, sc.id DESC) AS newest,
               min(sc.changed_at) OVER (PARTITION BY sc.deal_id) AS opened_at
        FROM stage_changes sc
        WHERE sc.workspace_id = $1
    ),
    mine AS (
        SELECT d.id, d.amount_minor, h.to_stage_id AS current_stage, h.changed_at AS last_change, h.opened_at
        FROM deals d
        JOIN hist h ON h.deal_id = d.id AND h.newest = 1
        WHERE d.workspace_id = $1 AND ($2::bigint IS NULL OR d.owner_id = $2)
    )";

/// What the reply should show for workspace `ws`, owner `owner`, period `[from, to)`.
async fn expected(
    h: &Harness,
    ws: i64,
    owner: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) -> (Figures, Option<f64>) {
    let funnel_sql = format!(
        "{DEAL_FACTS}
        SELECT s.name,
            (SELECT count(*) FROM mine m WHERE m.current_stage = s.id AND s.kind = 'open'),
            (SELECT coalesce(sum(m.amount_minor), 0)::bigint FROM mine m
              WHERE m.current_stage = s.id AND s.kind = 'open'),
            (SELECT coalesce(round(sum(m.amount_minor)::numeric * s.probability / 100), 0)::bigint FROM mine m
              WHERE m.current_stage = s.id AND s.kind = 'open'),
            (SELECT count(*) FROM mine m
              WHERE ($3::timestamptz IS NULL OR m.opened_at >= $3) AND m.opened_at < $4
                AND EXISTS (SELECT 1 FROM stage_changes sc
                            JOIN stages t ON t.workspace_id = sc.workspace_id AND t.id = sc.to_stage_id
                            WHERE sc.workspace_id = $1 AND sc.deal_id = m.id
                              AND t.kind <> 'lost' AND t.position >= s.position))
        FROM stages s
        WHERE s.workspace_id = $1 AND s.kind <> 'lost'
        ORDER BY s.position, s.id"
    );
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(&funnel_sql)
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(&h.pool)
        .await
        .expect("funnel");
    let closed_sql = format!(
        "{DEAL_FACTS}
        SELECT t.kind, count(*), sum(m.amount_minor)::bigint,
               sum(extract(epoch FROM m.last_change - m.opened_at))::float8
        FROM mine m
        JOIN stages t ON t.workspace_id = $1 AND t.id = m.current_stage
        WHERE t.kind IN ('won', 'lost')
          AND ($3::timestamptz IS NULL OR m.last_change >= $3) AND m.last_change < $4
        GROUP BY t.kind"
    );
    let closed: Vec<(String, i64, i64, f64)> = sqlx::query_as(&closed_sql)
        .bind(ws)
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(&h.pool)
        .await
        .expect("closed");
    let outcome = |kind: &str| {
        closed
            .iter()
            .find(|(k, ..)| k == kind)
            .map(|(_, n, a, secs)| (*n, *a, *secs))
            .unwrap_or((0, 0, 0.0))
    };
    let (won_count, won_amount, won_seconds) = outcome("won");
    let (lost_count, lost_amount, _) = outcome("lost");
    let percent = |part: i64, whole: i64| format!("{:.1}%", part as f64 / whole as f64 * 100.0);
    let stages: Vec<StageFigures> = rows
        .iter()
        .enumerate()
        .map(|(i, (name, open_count, open_amount, weighted, reached))| {
            let next = rows.get(i + 1).map(|r| r.4);
            StageFigures {
                name: name.clone(),
                open_count: *open_count,
                open_amount: *open_amount,
                weighted: *weighted,
                reached: *reached,
                conversion: match next {
                    Some(n) if *reached > 0 => percent(n, *reached),
                    _ => "—".to_string(),
                },
            }
        })
        .collect();
    let figures = Figures {
        open_count: stages.iter().map(|s| s.open_count).sum(),
        open_amount: stages.iter().map(|s| s.open_amount).sum(),
        weighted: stages.iter().map(|s| s.weighted).sum(),
        stages,
        won_count,
        won_amount,
        lost_count,
        lost_amount,
        win_rate: if won_count + lost_count > 0 {
            percent(won_count, won_count + lost_count)
        } else {
            "—".to_string()
        },
        // Rounded half up (issue 10: averages round like weighted amounts).
        avg_won: (won_count > 0).then(|| (2 * won_amount + won_count) / (2 * won_count)),
    };
    let cycle = (won_count > 0).then(|| won_seconds / 86_400.0 / won_count as f64);
    (figures, cycle)
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
}

/// The end of `Period::AllTime`.
fn far_future() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("year 10000 is in chrono's range")
        .and_utc()
}

/// Runs `/pipeline stats {args}` and compares it with the recomputation; returns the figures.
async fn check(
    h: &mut Harness,
    ws: i64,
    args: &str,
    owner: Option<i64>,
    range: (Option<DateTime<Utc>>, DateTime<Utc>),
) -> Figures {
    let owner_arg = owner.map(|o| format!(" owner:<@{o}>")).unwrap_or_default();
    let line = format!("/pipeline stats {args}{owner_arg}");
    let reply = h.ok(&line).await;
    let all = text(&reply);
    assert!(
        !all.contains("NaN") && !all.contains("inf"),
        "{line}: {all}"
    );
    let (got, got_cycle) = parse(&reply);
    let (want, want_cycle) = expected(h, ws, owner, range.0, range.1).await;
    assert_eq!(got, want, "{line}\n{all}");
    match (got_cycle, want_cycle) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 0.05 + 1e-9,
            "{line}: cycle {g} days, recomputed {w}\n{all}"
        ),
        (g, w) => panic!("{line}: cycle {g:?}, recomputed {w:?}\n{all}"),
    }
    got
}

// ---------------------------------------------------------------------------------------------
// Generated data
// ---------------------------------------------------------------------------------------------

const REPS: [i64; 4] = [10, 11, 12, 13];
const MANAGER: i64 = 20;
const OPEN: [&str; 4] = ["Lead", "Qualified", "Proposal", "Negotiation"];

/// What happens to a deal at one moment.
#[derive(Clone, Debug)]
enum Step {
    New {
        amount: String,
        owner: i64,
        stage: Option<&'static str>,
    },
    Move(&'static str),
    Next,
    Won(Option<String>),
    Lost,
    Assign(i64),
}

/// One console command of the generated history.
struct Event {
    at: DateTime<Utc>,
    deal: usize,
    step_no: usize,
    actor: i64,
    step: Step,
}

fn amount(rng: &mut Lcg) -> String {
    format!("{}.{:02}", 100 + rng.below(99_900), rng.below(100))
}

/// Where a deal stands while its history is generated, so every command is valid.
struct Sim {
    stage: &'static str,
    status: &'static str,
    owner: i64,
}

impl Sim {
    /// Applies a step; the deal's resulting state.
    fn apply(&mut self, step: &Step) {
        match step {
            Step::New { owner, stage, .. } => {
                self.owner = *owner;
                self.stage = stage.unwrap_or("Lead");
                self.status = "open";
            }
            Step::Move(s) => {
                self.stage = s;
                self.status = "open";
            }
            Step::Next => match OPEN.iter().position(|s| *s == self.stage) {
                Some(i) if i + 1 < OPEN.len() => self.stage = OPEN[i + 1],
                _ => {
                    self.stage = "Won";
                    self.status = "won";
                }
            },
            Step::Won(_) => {
                self.stage = "Won";
                self.status = "won";
            }
            Step::Lost => {
                self.stage = "Lost";
                self.status = "lost";
            }
            Step::Assign(o) => self.owner = *o,
        }
    }

    /// A random valid next step.
    fn random_step(&self, rng: &mut Lcg) -> Step {
        if self.status == "open" {
            let r = rng.below(100);
            if r < 40 {
                loop {
                    let s = *rng.pick(&OPEN);
                    if s != self.stage {
                        return Step::Move(s); // forward or backward
                    }
                }
            } else if r < 52 {
                Step::Next
            } else if r < 68 {
                Step::Won(rng.chance(40).then(|| amount(rng)))
            } else if r < 86 {
                Step::Lost
            } else {
                loop {
                    let o = *rng.pick(&REPS);
                    if o != self.owner {
                        return Step::Assign(o);
                    }
                }
            }
        } else if self.status == "lost" && rng.chance(25) {
            Step::Won(None)
        } else {
            Step::Move(*rng.pick(&OPEN)) // reopened
        }
    }

    /// A step that closes the deal, whatever state it is in.
    fn closing_step(&self, rng: &mut Lcg) -> Step {
        match self.status {
            "won" => Step::Lost,
            "lost" => Step::Won(None),
            _ if rng.chance(50) => Step::Won(None),
            _ => Step::Lost,
        }
    }
}

/// Instants on either side of month and quarter boundaries, in UTC and in New York.
const EDGES: [&str; 12] = [
    "2026-09-30T23:59:59Z",
    "2026-10-01T00:00:00Z",
    "2026-10-01T03:59:59Z", // still September 30 in New York
    "2026-10-31T23:59:59Z",
    "2026-11-01T00:00:00Z",
    "2026-11-01T03:59:59Z", // still October 31 in New York
    "2026-11-01T04:00:00Z", // midnight in New York
    "2026-11-30T23:59:59Z",
    "2026-12-01T00:00:00Z",
    "2026-12-01T04:59:59Z", // still November 30 in New York
    "2026-12-01T05:00:00Z", // midnight in New York
    "2026-12-14T00:00:00Z", // Monday: this week starts
];

/// The clock at which the figures are asked for: Tuesday 2026-12-15, noon UTC.
const STATS_NOW: &str = "2026-12-15T12:00:00Z";

/// About 40 deals over five months: created at different times (some on period edges) by
/// reps or by the manager for a rep, moved forward and back, won, lost, reopened, reassigned,
/// some closed exactly on a period edge.
fn history(seed: u64) -> Vec<Event> {
    let mut rng = Lcg(seed);
    let start = at("2026-07-20T00:00:00Z");
    let end = at(STATS_NOW) - Duration::hours(1);
    let span = (end - start).num_seconds() as u64;
    let mut events = Vec::new();
    for deal in 0..40 {
        let closes_on_edge = (12..20).contains(&deal);
        let created = if deal < 12 {
            at(EDGES[deal])
        } else if closes_on_edge {
            at(EDGES[deal - 12]) - Duration::days(5 + rng.below(40) as i64)
        } else {
            start + Duration::seconds(rng.below(span) as i64)
        };
        let owner = *rng.pick(&REPS);
        let new = Step::New {
            amount: amount(&mut rng),
            owner,
            stage: rng.chance(20).then(|| *rng.pick(&OPEN[1..])),
        };
        let mut sim = Sim {
            stage: "Lead",
            status: "open",
            owner,
        };
        sim.apply(&new);
        let by = if rng.chance(30) { MANAGER } else { owner };
        let mut steps = vec![(created, by, new)];
        let mut t = created;
        let limit = if closes_on_edge {
            at(EDGES[deal - 12]) - Duration::minutes(1)
        } else {
            end
        };
        // Reopened deals are guaranteed: these are won (or lost) and then moved back.
        let forced: Vec<Step> = match deal {
            20..=22 => vec![Step::Won(None), Step::Move(*rng.pick(&OPEN))],
            23..=24 => vec![Step::Lost, Step::Move("Qualified"), Step::Next],
            _ => Vec::new(),
        };
        let count = forced.len() + rng.below(6) as usize;
        for i in 0..count {
            t += Duration::seconds(3_600 + rng.below(9 * 86_400) as i64);
            if t >= limit {
                break;
            }
            let step = forced
                .get(i)
                .cloned()
                .unwrap_or_else(|| sim.random_step(&mut rng));
            let actor = if matches!(step, Step::Assign(_)) || rng.chance(25) {
                MANAGER
            } else {
                sim.owner
            };
            sim.apply(&step);
            steps.push((t, actor, step));
        }
        if closes_on_edge {
            let step = sim.closing_step(&mut rng);
            sim.apply(&step);
            steps.push((at(EDGES[deal - 12]), sim.owner, step));
        }
        for (step_no, (when, actor, step)) in steps.into_iter().enumerate() {
            events.push(Event {
                at: when,
                deal,
                step_no,
                actor,
                step,
            });
        }
    }
    events.sort_by_key(|e| (e.at, e.deal, e.step_no));
    events
}

/// Plays the history through the console, as the people who did it, at the times they did it.
async fn play(h: &mut Harness, events: &[Event]) {
    // The team joins first: options naming a member accept only members.
    h.join(&REPS, ":as 1 admin").await;
    h.join(&[MANAGER], ":as 1 admin").await;
    let mut numbers = std::collections::HashMap::new();
    for e in events {
        h.run(&format!(":now {}", e.at.to_rfc3339())).await;
        let role = if e.actor == MANAGER { "manager" } else { "rep" };
        h.run(&format!(":as {} {role}", e.actor)).await;
        let n = numbers.len() as i64 + 1;
        let number = *numbers.entry(e.deal).or_insert(n);
        let line = match &e.step {
            Step::New {
                amount,
                owner,
                stage,
            } => {
                let stage = stage.map(|s| format!(" stage:{s}")).unwrap_or_default();
                format!(
                    r#"/deal new title:"Deal {}" amount:{amount} owner:<@{owner}>{stage}"#,
                    e.deal
                )
            }
            Step::Move(s) => format!("/deal move deal:D-{number} stage:{s}"),
            Step::Next => format!(":click deal:next:{number}"),
            Step::Won(None) => format!("/deal won deal:D-{number}"),
            Step::Won(Some(a)) => format!("/deal won deal:D-{number} amount:{a}"),
            Step::Lost => format!(r#"/deal lost deal:D-{number} reason:"lost it""#),
            Step::Assign(o) => format!("/deal assign deal:D-{number} owner:<@{o}>"),
        };
        let r = h.ok(&line).await;
        if let Step::New { .. } = e.step {
            assert!(text(&r).contains(&format!("D-{number} ")), "{line}: {r}");
        }
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn figures_equal_an_independent_recomputation(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let events = history(0x5A1E_5B07);
    play(&mut h, &events).await;

    // The history really has what the figures must cope with.
    let count = |h: &Harness, sql: &'static str| {
        let pool = h.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    let backward = count(
        &h,
        "SELECT count(*) FROM stage_changes sc JOIN stages a ON a.workspace_id = sc.workspace_id AND a.id = sc.from_stage_id
         JOIN stages b ON b.workspace_id = sc.workspace_id AND b.id = sc.to_stage_id
         WHERE a.kind = 'open' AND b.kind = 'open' AND b.position < a.position",
    )
    .await;
    let reopened = count(
        &h,
        "SELECT count(DISTINCT sc.deal_id) FROM stage_changes sc JOIN stages a ON a.workspace_id = sc.workspace_id AND a.id = sc.from_stage_id
         JOIN stages b ON b.workspace_id = sc.workspace_id AND b.id = sc.to_stage_id
         WHERE a.kind <> 'open' AND b.kind = 'open'",
    )
    .await;
    let deals = count(&h, "SELECT count(*) FROM deals").await;
    let owners = count(&h, "SELECT count(DISTINCT owner_id) FROM deals").await;
    let won = count(&h, "SELECT count(*) FROM deals WHERE status = 'won'").await;
    let lost = count(&h, "SELECT count(*) FROM deals WHERE status = 'lost'").await;
    let open = count(&h, "SELECT count(*) FROM deals WHERE status = 'open'").await;
    assert_eq!(deals, 40);
    assert!(
        backward >= 3 && reopened >= 5 && owners == 4 && won >= 4 && lost >= 4 && open >= 4,
        "backward {backward}, reopened {reopened}, owners {owners}, won {won}, lost {lost}, open {open}"
    );

    h.run(&format!(":now {STATS_NOW}")).await;
    h.run(":as 1 admin").await;
    let utc = |s: &str| Some(at(s));
    // One row per line reads as a table; rustfmt would split each row over many lines.
    #[rustfmt::skip]
    let periods: Vec<(&str, (Option<DateTime<Utc>>, DateTime<Utc>))> = vec![
        ("period:this-month", (utc("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))),
        ("period:last-month", (utc("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"))),
        ("period:this-quarter", (utc("2026-10-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))),
        ("period:last-quarter", (utc("2026-07-01T00:00:00Z"), at("2026-10-01T00:00:00Z"))),
        ("period:this-week", (utc("2026-12-14T00:00:00Z"), at("2026-12-21T00:00:00Z"))),
        ("period:all-time", (None, far_future())),
        ("", (utc("2026-10-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))), // default: this quarter
        ("from:2026-09-10 to:2026-11-20", (utc("2026-09-10T00:00:00Z"), at("2026-11-21T00:00:00Z"))),
        ("from:2026-11-15", (utc("2026-11-15T00:00:00Z"), at("2026-12-16T00:00:00Z"))), // to today
        ("from:2026-12-01 to:2026-12-01", (utc("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z"))),
    ];
    let mut nonempty = 0;
    for (args, range) in &periods {
        for owner in [None, Some(10), Some(11), Some(13)] {
            let f = check(&mut h, 1, args, owner, *range).await;
            if f.won_count > 0 && f.lost_count > 0 && f.stages[0].reached > 0 {
                nonempty += 1;
            }
        }
    }
    assert!(
        nonempty >= 10,
        "too few periods with wins, losses and a cohort: {nonempty}"
    );
    // A rep's view of the team is the same (visibility is "all").
    h.run(":as 12 rep").await;
    check(&mut h, 1, "period:this-quarter", None, periods[2].1).await;
    check(&mut h, 1, "period:last-month", Some(12), periods[1].1).await;

    // The workspace in New York: periods are local days, so the bounds move by 4 or 5 hours
    // and the deals on the edges change sides.
    h.run(":as 1 admin").await;
    h.ok("/settings timezone zone:America/New_York").await;
    #[rustfmt::skip]
    let ny: Vec<(&str, (Option<DateTime<Utc>>, DateTime<Utc>))> = vec![
        ("period:this-month", (utc("2026-12-01T05:00:00Z"), at("2027-01-01T05:00:00Z"))),
        ("period:last-month", (utc("2026-11-01T04:00:00Z"), at("2026-12-01T05:00:00Z"))),
        ("period:this-quarter", (utc("2026-10-01T04:00:00Z"), at("2027-01-01T05:00:00Z"))),
        ("from:2026-10-01 to:2026-11-30", (utc("2026-10-01T04:00:00Z"), at("2026-12-01T05:00:00Z"))),
    ];
    for (args, range) in &ny {
        for owner in [None, Some(11)] {
            check(&mut h, 1, args, owner, *range).await;
        }
    }
    // The New York month differs from the UTC one here, so the edges were exercised.
    let utc_month = expected(&h, 1, None, periods[1].1 .0, periods[1].1 .1)
        .await
        .0;
    let ny_month = expected(&h, 1, None, ny[1].1 .0, ny[1].1 .1).await.0;
    assert_ne!(
        utc_month, ny_month,
        "the edge deals should fall differently"
    );
    h.ok("/settings timezone zone:UTC").await;
    // Periods are the workspace's, whatever zone the caller has set for themselves.
    h.run(":as 12 rep").await;
    h.ok("/settings timezone zone:Asia/Tokyo scope:me").await;
    check(&mut h, 1, "period:last-month", None, periods[1].1).await;
    check(&mut h, 1, "period:this-month", Some(12), periods[0].1).await;
    h.run(":as 1 admin").await;

    // A new stage in the middle, a new probability and a new order: reached is about
    // positions, which the history must be re-read for.
    h.ok("/settings stages action:add name:Demo probability:33 position:2")
        .await;
    h.ok("/settings stages action:probability stage:Qualified probability:30")
        .await;
    h.ok("/settings stages action:move stage:Negotiation position:2")
        .await;
    let open_deals: Vec<i64> = sqlx::query_scalar(
        "SELECT number FROM deals WHERE workspace_id = 1 AND status = 'open' ORDER BY number LIMIT 3",
    )
    .fetch_all(&h.pool)
    .await
    .expect("open deals");
    for n in &open_deals {
        h.ok(&format!("/deal move deal:D-{n} stage:Demo")).await;
    }
    for (args, range) in [&periods[0], &periods[2], &periods[5], &periods[7]] {
        for owner in [None, Some(10)] {
            check(&mut h, 1, args, owner, *range).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Worked out by hand
// ---------------------------------------------------------------------------------------------

/// Six deals; stages Lead 10%, Qualified 25%, Proposal 50%, Negotiation 75%, Won, Lost.
///
/// | deal | amount     | owner | history (2026, UTC)                                          |
/// |------|------------|-------|--------------------------------------------------------------|
/// | D-1  | $100.00    | 10    | Oct 20 10:00 Lead; Nov 5 10:00 lost                          |
/// | D-2  | $1,000.05  | 10    | Nov 10 10:00 Lead; Nov 12 Qualified; Nov 20 Proposal; Dec 2 10:00 won |
/// | D-3  | $2,000.00  | 11    | Nov 15 10:00 Lead; Nov 16 Qualified; Dec 3 10:00 lost        |
/// | D-4  | $333.33    | 10    | Dec 1 09:00 Lead                                             |
/// | D-5  | $10,000.15 | 11    | Dec 2 09:00 Lead; Dec 3 Qualified; Dec 4 Negotiation; Dec 5 Proposal (back) |
/// | D-6  | $500.00    | 10    | Dec 2 11:00 Lead; Dec 3 11:00 won; Dec 4 11:00 Negotiation (reopened) |
///
/// Asked on Dec 10.
async fn hand_fixture(h: &mut Harness) {
    h.join(&[10, 11], ":as 1 admin").await;
    #[rustfmt::skip]
    let script = [
        ("2026-10-20T10:00:00Z", "/deal new title:D1 amount:100 owner:<@10>"),
        ("2026-11-05T10:00:00Z", "/deal lost deal:D-1 reason:price"),
        ("2026-11-10T10:00:00Z", "/deal new title:D2 amount:1000.05 owner:<@10>"),
        ("2026-11-12T10:00:00Z", "/deal move deal:D-2 stage:Qualified"),
        ("2026-11-15T10:00:00Z", "/deal new title:D3 amount:2000 owner:<@11>"),
        ("2026-11-16T10:00:00Z", "/deal move deal:D-3 stage:Qualified"),
        ("2026-11-20T10:00:00Z", "/deal move deal:D-2 stage:Proposal"),
        ("2026-12-01T09:00:00Z", "/deal new title:D4 amount:333.33 owner:<@10>"),
        ("2026-12-02T09:00:00Z", "/deal new title:D5 amount:10000.15 owner:<@11>"),
        ("2026-12-02T10:00:00Z", "/deal won deal:D-2"),
        ("2026-12-02T11:00:00Z", "/deal new title:D6 amount:500 owner:<@10>"),
        ("2026-12-03T09:00:00Z", "/deal move deal:D-5 stage:Qualified"),
        ("2026-12-03T10:00:00Z", "/deal lost deal:D-3 reason:budget"),
        ("2026-12-03T11:00:00Z", "/deal won deal:D-6"),
        ("2026-12-04T09:00:00Z", "/deal move deal:D-5 stage:Negotiation"),
        ("2026-12-04T11:00:00Z", "/deal move deal:D-6 stage:Negotiation"),
        ("2026-12-05T09:00:00Z", "/deal move deal:D-5 stage:Proposal"),
    ];
    h.ok_at(&script).await;
    h.run(":now 2026-12-10T12:00:00Z").await;
}

fn description(reply: &Value) -> String {
    reply["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_small_pipeline_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let embed_field = |r: &Value, name: &str| field(&r["embeds"][0], name).to_string();

    // This month (December), the team.
    // Open now: D-4 Lead $333.33, D-5 Proposal $10,000.15, D-6 Negotiation $500.
    //   weighted: Lead 33,333¢ × 10% = 3,333.3 → $33.33; Proposal 1,000,015¢ × 50% = 500,007.5
    //   → $5,000.08 (half up); Negotiation 50,000¢ × 75% = $375; total 540,841¢ = $5,408.41.
    // Days in stage, stays that ended in December: Lead D-5 and D-6, a day each; Qualified
    //   D-3 (Nov 16 to its loss Dec 3, 17 days) and D-5 (1 day): 9.0; Proposal D-2 (Nov 20 to
    //   won Dec 2, 12 days); Negotiation D-5 (1 day, then back to Proposal); Won D-6 (a day,
    //   then reopened).
    // Cohort (opened in December): D-4 (got to Lead), D-5 (Negotiation), D-6 (Won, then
    //   reopened: it did reach Won). Reached: Lead 3, Qualified 2, Proposal 2, Negotiation 2,
    //   Won 1; conversions 2/3 = 66.7%, 100%, 100%, 1/2 = 50%.
    // Closed in December: D-2 won ($1,000.05, 22 days from Nov 10 10:00 to Dec 2 10:00),
    //   D-3 lost ($2,000). D-6 was won in December but is open again, so it does not count.
    //   Win rate 1/2 = 50%.
    let r = h.ok("/pipeline stats period:this-month").await;
    assert_eq!(
        r["embeds"][0]["title"], "Pipeline · Team · this month",
        "{r}"
    );
    assert_eq!(
        description(&r),
        [
            "**Lead** · 1 open · $333.33 · weighted $33.33 · reached 3 · → next 66.7% · 1.0 days in stage",
            "**Qualified** · 0 open · $0 · weighted $0 · reached 2 · → next 100.0% · 9.0 days in stage",
            "**Proposal** · 1 open · $10,000.15 · weighted $5,000.08 · reached 2 · → next 100.0% · 12.0 days in stage",
            "**Negotiation** · 1 open · $500 · weighted $375 · reached 2 · → next 50.0% · 1.0 days in stage",
            "**Won** · 0 open · $0 · weighted $0 · reached 1 · → next — · 1.0 days in stage",
        ]
        .join("\n")
    );
    assert_eq!(embed_field(&r, "Open pipeline"), "3 · $10,833.48");
    assert_eq!(embed_field(&r, "Weighted forecast"), "$5,408.41");
    assert_eq!(embed_field(&r, "Won"), "1 · $1,000.05");
    assert_eq!(embed_field(&r, "Lost"), "1 · $2,000");
    assert_eq!(embed_field(&r, "Win rate"), "50.0%");
    assert_eq!(embed_field(&r, "Avg. won deal"), "$1,000.05");
    assert_eq!(embed_field(&r, "Avg. sales cycle"), "22.0 days");
    assert_eq!(r["content"], "", "{r}");

    // Last month (November), the team. Open figures are the same (they are "now").
    // Days in stage, stays that ended in November: Lead D-1 (Oct 20 to its loss Nov 5, 16
    //   days), D-2 (2 days), D-3 (1 day): 6.3; Qualified D-2 (Nov 12 to 20, 8 days).
    // Cohort: D-2 (reached Won), D-3 (Qualified). Reached: Lead 2, Qualified 2, Proposal 1,
    //   Negotiation 1 (D-2 skipped it but went further), Won 1.
    // Closed in November: D-1 lost ($100). Win rate 0/1 = 0%; no average.
    let r = h.ok("/pipeline stats period:last-month").await;
    assert_eq!(
        description(&r),
        [
            "**Lead** · 1 open · $333.33 · weighted $33.33 · reached 2 · → next 100.0% · 6.3 days in stage",
            "**Qualified** · 0 open · $0 · weighted $0 · reached 2 · → next 50.0% · 8.0 days in stage",
            "**Proposal** · 1 open · $10,000.15 · weighted $5,000.08 · reached 1 · → next 100.0% · — in stage",
            "**Negotiation** · 1 open · $500 · weighted $375 · reached 1 · → next 100.0% · — in stage",
            "**Won** · 0 open · $0 · weighted $0 · reached 1 · → next — · — in stage",
        ]
        .join("\n")
    );
    assert_eq!(embed_field(&r, "Won"), "0 · $0");
    assert_eq!(embed_field(&r, "Lost"), "1 · $100");
    assert_eq!(embed_field(&r, "Win rate"), "0.0%");
    assert_eq!(embed_field(&r, "Avg. won deal"), "—");
    assert_eq!(embed_field(&r, "Avg. sales cycle"), "—");

    // This month, rep 10: open D-4 ($333.33, weighted $33.33) and D-6 ($500, weighted $375):
    //   2 · $833.33, weighted $408.33. Cohort D-4, D-6: Lead 2, then 1 all the way to Won.
    //   Closed: D-2 won. Win rate 100%.
    let r = h.ok("/pipeline stats period:this-month owner:<@10>").await;
    assert_eq!(
        r["embeds"][0]["title"], "Pipeline · user 10 · this month",
        "{r}"
    );
    assert_eq!(
        description(&r),
        [
            "**Lead** · 1 open · $333.33 · weighted $33.33 · reached 2 · → next 50.0% · 1.0 days in stage",
            "**Qualified** · 0 open · $0 · weighted $0 · reached 1 · → next 100.0% · — in stage",
            "**Proposal** · 0 open · $0 · weighted $0 · reached 1 · → next 100.0% · 12.0 days in stage",
            "**Negotiation** · 1 open · $500 · weighted $375 · reached 1 · → next 100.0% · — in stage",
            "**Won** · 0 open · $0 · weighted $0 · reached 1 · → next — · 1.0 days in stage",
        ]
        .join("\n")
    );
    assert_eq!(embed_field(&r, "Open pipeline"), "2 · $833.33");
    assert_eq!(embed_field(&r, "Weighted forecast"), "$408.33");
    assert_eq!(embed_field(&r, "Won"), "1 · $1,000.05");
    assert_eq!(embed_field(&r, "Lost"), "0 · $0");
    assert_eq!(embed_field(&r, "Win rate"), "100.0%");

    // The same numbers come out of the independent recomputation.
    let december = (Some(at("2026-12-01T00:00:00Z")), at("2027-01-01T00:00:00Z"));
    let november = (Some(at("2026-11-01T00:00:00Z")), at("2026-12-01T00:00:00Z"));
    check(&mut h, 1, "period:this-month", None, december).await;
    check(&mut h, 1, "period:last-month", None, november).await;
    check(&mut h, 1, "period:this-month", Some(10), december).await;
    check(&mut h, 1, "period:this-month", Some(11), december).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn an_empty_period_answers_clearly(pool: PgPool) {
    let mut h = Harness::new(pool).await;

    // A workspace with no deals at all.
    for args in [
        "",
        "period:this-week",
        "period:all-time",
        "from:2026-01-01 to:2026-01-31",
    ] {
        let r = h.ok(&format!("/pipeline stats {args}")).await;
        let t = text(&r);
        assert!(t.contains("No deals in this period yet"), "{args}: {t}");
        assert!(!t.contains("NaN") && !t.contains("inf"), "{args}: {t}");
        let embed = &r["embeds"][0];
        assert_eq!(field(embed, "Win rate"), "—", "{args}");
        assert_eq!(field(embed, "Avg. won deal"), "—", "{args}");
        assert_eq!(field(embed, "Avg. sales cycle"), "—", "{args}");
        assert_eq!(field(embed, "Open pipeline"), "0 · $0", "{args}");
        assert_eq!(field(embed, "Weighted forecast"), "$0", "{args}");
        for line in embed["description"].as_str().unwrap_or_default().lines() {
            assert!(
                line.ends_with("reached 0 · → next — · — in stage") && line.contains("0 open · $0"),
                "{args}: {line}"
            );
        }
    }

    // Open deals but nothing opened or closed in the period: the rates are "—", the open
    // pipeline is still shown, and the reply does not claim there are no deals.
    hand_fixture(&mut h).await;
    let r = h.ok("/pipeline stats from:2026-01-01 to:2026-01-31").await;
    let t = text(&r);
    assert!(!t.contains("NaN") && !t.contains("inf"), "{t}");
    assert!(!t.contains("No deals in this period yet"), "{t}");
    let embed = &r["embeds"][0];
    assert_eq!(field(embed, "Open pipeline"), "3 · $10,833.48");
    assert_eq!(field(embed, "Win rate"), "—");
    assert_eq!(field(embed, "Won"), "0 · $0");
    assert_eq!(field(embed, "Lost"), "0 · $0");
    assert!(
        description(&r)
            .lines()
            .all(|l| l.ends_with("reached 0 · → next — · — in stage")),
        "{t}"
    );
    check(
        &mut h,
        1,
        "from:2026-01-01 to:2026-01-31",
        None,
        (Some(at("2026-01-01T00:00:00Z")), at("2026-02-01T00:00:00Z")),
    )
    .await;
    // An owner with no deals at all.
    let r = h.ok("/pipeline stats period:all-time owner:<@99>").await;
    let t = text(&r);
    assert!(
        t.contains("Pipeline · user 99 · all time") && t.contains("No deals in this period yet"),
        "{t}"
    );
    assert_eq!(field(&r["embeds"][0], "Win rate"), "—");
}

/// The report's running totals stay equal to the deals through every kind of write:
/// moves back and forth, wins, losses, reopening, reassignment, amount changes, product lines
/// and undo.
#[sqlx::test(migrations = "./migrations")]
async fn running_totals_follow_every_write_including_undo(pool: sqlx::PgPool) {
    let mut h = crate::support::Harness::new(pool).await;
    for line in [
        "/product add name:Widget price:1000",
        "/product add name:Gizmo price:250",
        "/deal new title:Alpha amount:10k",
        r#"/deal new title:Beta stage:Proposal products:"Widget x20 @900; Gizmo x8""#,
        "/deal new title:Gamma amount:5k owner:<@7>",
        "/deal product deal:D-3 product:Gizmo quantity:4",
        "/deal product deal:D-2 product:Widget quantity:22 price:1000",
        "/undo",
        "/deal product deal:D-2 product:Gizmo quantity:0",
        "/undo",
        "/deal move deal:D-1 stage:Negotiation",
        "/deal move deal:D-1 stage:Qualified",
        "/deal won deal:D-2 amount:22k",
        "/deal lost deal:D-3 reason:price",
        "/deal move deal:D-2 stage:Lead",
        "/deal assign deal:D-1 owner:<@8>",
        "/deal assign deal:D-2 owner:<@8>",
        "/undo",
        "/undo",
        "/undo",
        ":now 2026-12-02T23:30:00Z",
        "/deal won deal:D-1",
    ] {
        h.run(line).await;
        h.assert_totals_match_deals().await;
    }
}

/// The HOT updates of `table` this connection has not reported to the statistics yet.
async fn hot_updates(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, table: &str) -> i64 {
    sqlx::query_scalar("SELECT pg_stat_get_xact_tuples_hot_updated($1::text::regclass)")
        .bind(table)
        .fetch_one(&mut **tx)
        .await
        .expect("hot updates")
}

/// The rollup rows that nearly every command updates (a move ends a stay and shifts the open
/// totals, a logged call counts an activity) are updated in place: no index holds their
/// counters, so an update is HOT, adds no index entry and leaves no dead version for the next
/// upsert's conflict check to walk until vacuum comes (migration `hot_rollup_updates`).
#[sqlx::test(migrations = "./migrations")]
async fn the_rollups_every_command_updates_are_updated_in_place(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    h.ok("/contact add name:Zoe").await;
    h.ok("/contact log contact:Zoe kind:call summary:intro satisfaction:4")
        .await;
    // The backend counts the HOT updates it has not yet reported; inside a transaction block
    // it reports none, so the count's growth across one statement is that statement's.
    let mut tx = h.pool.begin().await.expect("begin");
    for (table, counter) in [
        ("stage_stay_totals", "stays"),
        ("activity_daily_totals", "activities"),
        ("deal_open_totals", "deals"),
    ] {
        let before = hot_updates(&mut tx, table).await;
        // A changed value: an update that changes no indexed value is HOT with any index.
        let updated = sqlx::query(&format!("UPDATE {table} SET {counter} = {counter} + 1"))
            .execute(&mut *tx)
            .await
            .expect("update")
            .rows_affected();
        assert!(updated > 0, "{table} has rows to update");
        let hot = hot_updates(&mut tx, table).await - before;
        assert_eq!(
            hot, updated as i64,
            "{table}: every update of a counter is HOT"
        );
    }
    tx.rollback().await.expect("rollback");
}

/// A move to another open stage updates the deal in place (migration `hot_moves`): no index of
/// `deals` holds a column a move writes, so the update is HOT, adds no entry to the table's
/// nine indexes and leaves no dead version for the next read of the deal to walk. Under the
/// discord benchmark's churn the dead versions of 200 deals reached 12 MB between vacuums.
/// The update writes what `Tx::move_deal` writes for such a move, in a transaction block,
/// where the backend's own HOT count is exact.
#[sqlx::test(migrations = "./migrations")]
async fn a_move_between_open_stages_updates_the_deal_in_place(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let mut tx = h.pool.begin().await.expect("begin");
    let before = hot_updates(&mut tx, "deals").await;
    let moved = sqlx::query(
        "UPDATE deals d SET stage_id = s.id, status = d.status, furthest_position = greatest(d.furthest_position, s.position),
                closed_at = d.closed_at, lost_reason = d.lost_reason, updated_at = now(),
                last_activity_at = greatest(d.last_activity_at, now())
         FROM stages s
         WHERE d.status = 'open' AND s.workspace_id = d.workspace_id AND s.kind = 'open' AND s.id <> d.stage_id
           AND s.position = (SELECT max(position) FROM stages x WHERE x.workspace_id = d.workspace_id AND x.kind = 'open')",
    )
    .execute(&mut *tx)
    .await
    .expect("move")
    .rows_affected();
    assert!(moved >= 2, "the fixture has open deals to move ({moved})");
    let hot = hot_updates(&mut tx, "deals").await - before;
    let indexed: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT i.indexrelid::regclass::text FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = 'deals'::regclass
           AND a.attname IN ('stage_id', 'furthest_position', 'updated_at', 'last_activity_at')",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("indexes");
    assert_eq!(
        hot, moved as i64,
        "every move is HOT; indexes holding a column a move writes: {indexed:?}"
    );
    tx.rollback().await.expect("rollback");
}

/// A stage change carries the stay it ends, whatever order a history is written in. Commands
/// append; an import's dated move and an `/undo` write into the middle and delete from it, so
/// those are written here directly: a change before a deal's first, one between two, one at
/// the same instant as the last, then middle and end ones deleted and the deal given to
/// another owner. After each step every change's ended stay is its predecessor's and the stay
/// totals equal a recount of the raw history (`totals_drift`, which derives the stays from
/// consecutive changes, not from the columns the triggers keep).
#[sqlx::test(migrations = "./migrations")]
async fn the_stays_follow_changes_written_in_any_order(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    hand_fixture(&mut h).await;
    let deal: i64 =
        sqlx::query_scalar("SELECT id FROM deals WHERE workspace_id = 1 AND number = 5")
            .fetch_one(&pool)
            .await
            .expect("D-5");
    let (lead, qualified, proposal) = (
        h.stage_id("Lead").await,
        h.stage_id("Qualified").await,
        h.stage_id("Proposal").await,
    );
    let insert = |to: i64, at: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
                 VALUES (1, $1, NULL, $2, 11, $3::timestamptz) RETURNING id",
            )
            .bind(deal)
            .bind(to)
            .bind(at)
            .fetch_one(&pool)
            .await
            .expect("insert a change")
        }
    };
    let history = || {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (DateTime<Utc>, Option<i64>, Option<DateTime<Utc>>)>(
                "SELECT changed_at, ended_stage_id, ended_entered_at FROM stage_changes
                 WHERE workspace_id = 1 AND deal_id = $1 ORDER BY changed_at, id",
            )
            .bind(deal)
            .fetch_all(&pool)
            .await
            .expect("history")
        }
    };
    let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
    let none = Vec::<&str>::new();
    // D-5: Lead 12-02 09:00, Qualified 12-03 09:00, Negotiation 12-04 09:00, Proposal 12-05 09:00.
    assert_eq!(history().await.len(), 4);
    assert_eq!(h.totals_drift().await, none, "as the commands wrote it");

    let first = insert(lead, "2026-12-01T09:00:00Z").await;
    let between = insert(qualified, "2026-12-03T21:00:00Z").await;
    let tied = insert(proposal, "2026-12-05T09:00:00Z").await;
    assert_eq!(h.totals_drift().await, none, "after the inserts");
    let rows = history().await;
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0], (at("2026-12-01T09:00:00Z"), None, None));
    assert_eq!(
        rows[1],
        (
            at("2026-12-02T09:00:00Z"),
            Some(lead),
            Some(at("2026-12-01T09:00:00Z"))
        )
    );
    // The change written between Qualified and Negotiation ends Qualified's stay, and
    // Negotiation's change now ends the stay the new one began.
    assert_eq!(
        rows[3],
        (
            at("2026-12-03T21:00:00Z"),
            Some(qualified),
            Some(at("2026-12-03T09:00:00Z"))
        )
    );
    assert_eq!(
        rows[4],
        (
            at("2026-12-04T09:00:00Z"),
            Some(qualified),
            Some(at("2026-12-03T21:00:00Z"))
        )
    );
    // Two changes at one instant are ordered by id: the later one ends a stay of no length.
    assert_eq!(
        rows[6],
        (
            at("2026-12-05T09:00:00Z"),
            Some(proposal),
            Some(at("2026-12-05T09:00:00Z"))
        )
    );

    for id in [between, first] {
        sqlx::query("DELETE FROM stage_changes WHERE workspace_id = 1 AND id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .expect("delete a change");
        assert_eq!(h.totals_drift().await, none, "after deleting {id}");
    }
    let rows = history().await;
    assert_eq!(rows[0], (at("2026-12-02T09:00:00Z"), None, None));
    assert_eq!(
        rows[2],
        (
            at("2026-12-04T09:00:00Z"),
            Some(qualified),
            Some(at("2026-12-03T09:00:00Z"))
        )
    );

    sqlx::query("UPDATE deals SET owner_id = 10 WHERE workspace_id = 1 AND id = $1")
        .bind(deal)
        .execute(&pool)
        .await
        .expect("reassign");
    assert_eq!(h.totals_drift().await, none, "after the reassignment");
    sqlx::query("DELETE FROM stage_changes WHERE workspace_id = 1 AND id = $1")
        .bind(tied)
        .execute(&pool)
        .await
        .expect("delete the last change");
    assert_eq!(
        h.totals_drift().await,
        none,
        "after deleting the last change"
    );
    assert_eq!(history().await.len(), 4);
}

/// The period reads behind `/pipeline stats`, `/kpi`, the product report, the forecast and the
/// digest take their parameters from a one-row CTE (`store/stats.rs`, `PERIOD`), so a custom
/// plan costs what the generic plan costs and the plan cache keeps the generic plan after its
/// five custom ones.
/// Written with `$n`, a period with empty edges made every custom plan look far cheaper, and
/// `/pipeline stats` was planned on every call (about twice its execution time). A period of
/// whole UTC days runs each read's text without the partial days' branches (`PeriodSql`), a
/// period with partial days the text with them: each text is its own prepared statement.
/// Checked from the connection's own prepared statements, for periods with and without partial
/// days, for the team and for one rep.
#[sqlx::test(migrations = "./migrations")]
async fn the_period_reads_are_not_planned_on_every_call(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    hand_fixture(&mut h).await;
    // A history the size of a small team's year, with statistics, as the planner sees in
    // production: on a handful of rows every plan is cheap and the choice shows nothing. The
    // triggers are skipped (bulk mode): these rows are for the planner, no figure is read.
    let mut tx = h.pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL salesbot.bulk = on")
        .execute(&mut *tx)
        .await
        .expect("bulk mode");
    sqlx::query(
        "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by,
                                    changed_at, ended_stage_id, ended_entered_at)
         SELECT 1, d.id, d.stage_id, d.stage_id, 10, t, d.stage_id, t - interval '30 minutes'
         FROM (SELECT id, stage_id FROM deals WHERE workspace_id = 1 ORDER BY id LIMIT 1) d,
              generate_series(timestamptz '2025-11-01', timestamptz '2026-11-01', interval '30 minutes') t",
    )
    .execute(&mut *tx)
    .await
    .expect("history");
    tx.commit().await.expect("commit");
    sqlx::query("ANALYZE")
        .execute(&h.pool)
        .await
        .expect("analyze");
    // One connection: every run finds the statements the runs before it prepared there.
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("one connection");
    let store = salesbot::store::Store::from_pool(one.clone());
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("instant")
    };
    let periods = [
        // A UTC month: whole days only, both edges empty.
        (Some(at("2026-11-01T00:00:00Z")), at("2026-12-01T00:00:00Z")),
        // A New York month: a partial day at each end.
        (Some(at("2026-11-01T04:00:00Z")), at("2026-12-01T05:00:00Z")),
        // All time to a moment inside a day.
        (None, at("2026-11-20T15:30:00Z")),
    ];
    let (mut runs, mut whole_day_runs) = (0, 0);
    // Each text runs more than its five custom plans.
    for (from, to) in periods.iter().copied().cycle().take(9) {
        for owner in [None, Some(10), Some(11)] {
            let mut tx = store.begin().await.expect("begin");
            tx.pipeline_inputs(1, owner, from, to)
                .await
                .expect("pipeline inputs");
            tx.pipeline_raw(1, owner, from, to)
                .await
                .expect("pipeline raw");
            tx.activity_rows(1, owner, from, to)
                .await
                .expect("activity rows");
            tx.product_rows(1, owner, from, to)
                .await
                .expect("product rows");
            tx.commit().await.expect("commit");
            runs += 1;
            whole_day_runs += i64::from(
                from.is_some_and(|f| f.time() == chrono::NaiveTime::MIN)
                    && to.time() == chrono::NaiveTime::MIN,
            );
        }
    }
    let plans: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
         WHERE statement LIKE 'WITH p AS %'",
    )
    .fetch_all(&one)
    .await
    .expect("prepared statements");
    // The pipeline's combined read, the deal rows, the activity rows and the product rows,
    // each with and without the edges, and the open read (which has none).
    assert_eq!(plans.len(), 9, "the period reads prepared: {plans:#?}");
    assert!(whole_day_runs > 5 && runs - whole_day_runs > 5);
    for (statement, generic, custom) in plans {
        let head: String = statement.chars().take(400).collect();
        let ran = if statement.contains("e (s, u)") {
            runs - whole_day_runs
        } else if statement.contains("_daily_totals") {
            whole_day_runs
        } else {
            runs
        };
        assert!(
            custom <= 5 && generic + custom == ran,
            "{ran} runs, {custom} custom and {generic} generic plans: {head}"
        );
    }
}

/// `sql`'s rows over the period `$1`..`$2` for `$3` (an owner or a member, or everyone),
/// recounted from the raw rows.
async fn recount<T>(
    pool: &PgPool,
    sql: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    who: Option<i64>,
) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .bind(who)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A period read is whole UTC days' totals and the raw rows of the partial days at its edges
/// (`store/stats.rs`, `split`). Checked against a recount of the raw rows for periods that
/// start and end at many times of day, around events before and after those times on the same
/// days, within one day and across several, for the team and for one rep: the funnel's
/// cohort, the deals won and lost, the stays, the activities and the trends.
#[sqlx::test(migrations = "./migrations")]
async fn period_reads_equal_a_recount_of_the_raw_rows(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.join(&[10, 11], ":as 1 admin").await;
    #[rustfmt::skip]
    let script = [
        ("2026-11-02T01:00:00Z", "/deal new title:A amount:100 owner:<@10>"),
        ("2026-11-02T05:00:00Z", "/deal new title:B amount:200 owner:<@11>"),
        ("2026-11-02T05:30:00Z", "/contact add name:Ann"),
        ("2026-11-02T06:00:00Z", "/contact log contact:C-1 kind:call summary:one satisfaction:4"),
        ("2026-11-02T13:00:00Z", "/deal new title:C amount:300 owner:<@10>"),
        ("2026-11-02T14:00:00Z", "/deal move deal:D-1 stage:Qualified"),
        ("2026-11-02T22:00:00Z", "/deal new title:D amount:400 owner:<@11>"),
        ("2026-11-02T23:00:00Z", "/deal move deal:D-2 stage:Proposal"),
        ("2026-11-03T02:00:00Z", "/deal move deal:D-1 stage:Proposal"),
        ("2026-11-03T02:30:00Z", "/contact log contact:C-1 kind:email summary:two"),
        ("2026-11-03T11:00:00Z", "/deal move deal:D-3 stage:Qualified"),
        ("2026-11-03T12:30:00Z", "/deal move deal:D-1 stage:Qualified"),
        ("2026-11-03T17:00:00Z", "/contact log contact:C-1 kind:meeting summary:three satisfaction:2"),
        ("2026-11-03T23:00:00Z", "/deal won deal:D-2"),
        ("2026-11-04T03:00:00Z", "/deal lost deal:D-3 reason:price"),
        ("2026-11-04T09:00:00Z", "/deal move deal:D-4 stage:Negotiation"),
        ("2026-11-04T20:00:00Z", "/deal won deal:D-1"),
        ("2026-11-04T21:00:00Z", "/deal new title:E amount:500 owner:<@10>"),
    ];
    h.ok_at(&script).await;
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("instant")
    };
    let starts = [
        None,
        Some("2026-11-02T00:00:00Z"),
        Some("2026-11-02T03:00:00Z"),
        Some("2026-11-02T15:00:00Z"),
        Some("2026-11-03T01:00:00Z"),
        Some("2026-11-03T12:00:00Z"),
        Some("2026-11-03T23:30:00Z"),
    ];
    let ends = [
        "2026-11-02T04:00:00Z",
        "2026-11-02T20:00:00Z",
        "2026-11-03T00:00:00Z",
        "2026-11-03T12:15:00Z",
        "2026-11-03T23:59:00Z",
        "2026-11-04T10:00:00Z",
        "2026-11-04T20:00:00Z",
        "2026-11-05T00:00:00Z",
    ];
    let store = salesbot::store::Store::from_pool(pool.clone());
    let mut checked = 0;
    for from in starts.map(|s| s.map(at)) {
        for to in ends.map(at) {
            for owner in [None, Some(10)] {
                let ctx = format!("{from:?}..{to} owner {owner:?}");
                let mut tx = store.begin().await.expect("begin");
                let (raw, stays) = tx
                    .pipeline_inputs(1, owner, from, to)
                    .await
                    .expect("pipeline inputs");
                let acts = tx
                    .activity_rows(1, owner.map(|_| 1), from, to)
                    .await
                    .expect("activity rows");
                tx.commit().await.expect("commit");
                let from_or_start = from.unwrap_or(at("2000-01-01T00:00:00Z"));
                // The recount, straight from the raw rows.
                let opened: Vec<(i32, i64)> = recount(
                    &pool,
                    "SELECT furthest_position, count(*) FROM deals
                     WHERE workspace_id = 1 AND created_at >= $1 AND created_at < $2
                       AND ($3::bigint IS NULL OR owner_id = $3)
                     GROUP BY 1 ORDER BY 1",
                    (from_or_start, to),
                    owner,
                )
                .await;
                let got_opened: Vec<(i32, i64)> = raw
                    .furthest_histogram
                    .iter()
                    .map(|f| (f.position, f.deals))
                    .collect();
                assert_eq!(got_opened, opened, "{ctx}: opened by furthest stage");
                let closed: (i64, i64, i64, i64, i64) = recount(
                    &pool,
                    "SELECT count(*) FILTER (WHERE status = 'won'),
                            COALESCE(sum(amount_minor) FILTER (WHERE status = 'won'), 0)::bigint,
                            count(*) FILTER (WHERE status = 'lost'),
                            COALESCE(sum(amount_minor) FILTER (WHERE status = 'lost'), 0)::bigint,
                            COALESCE(sum(floor(extract(epoch FROM closed_at - created_at)))
                                     FILTER (WHERE status = 'won'), 0)::bigint
                     FROM deals
                     WHERE workspace_id = 1 AND closed_at >= $1 AND closed_at < $2
                       AND ($3::bigint IS NULL OR owner_id = $3)",
                    (from_or_start, to),
                    owner,
                )
                .await
                .remove(0);
                let c = &raw.closed;
                assert_eq!(
                    (c.won_count, c.won_amount, c.lost_count, c.lost_amount),
                    (closed.0, closed.1, closed.2, closed.3),
                    "{ctx}: closed"
                );
                assert_eq!(
                    c.won_cycle_days_sum,
                    closed.4 as f64 / 86_400.0,
                    "{ctx}: won cycle"
                );
                let want_stays: Vec<(i64, i64, i64)> = recount(
                    &pool,
                    "SELECT sc.ended_stage_id, count(*),
                            sum(floor(extract(epoch FROM sc.changed_at - sc.ended_entered_at)))::bigint
                     FROM stage_changes sc
                     JOIN deals d ON d.workspace_id = sc.workspace_id AND d.id = sc.deal_id
                     WHERE sc.workspace_id = 1 AND sc.changed_at >= $1 AND sc.changed_at < $2
                       AND sc.ended_entered_at IS NOT NULL AND ($3::bigint IS NULL OR d.owner_id = $3)
                     GROUP BY 1 ORDER BY 1",
                    (from_or_start, to),
                    owner,
                    )
                    .await;
                let mut got_stays: Vec<(i64, i64, i64)> = stays
                    .iter()
                    .map(|s| (s.stage_id, s.stays, s.seconds))
                    .collect();
                got_stays.sort_unstable();
                assert_eq!(got_stays, want_stays, "{ctx}: stays");
                let want_acts: Vec<(i64, String, i64, i64, i64)> = recount(
                    &pool,
                    "SELECT member_id, kind, count(*), COALESCE(sum(satisfaction), 0)::bigint,
                            count(satisfaction)
                     FROM activities
                     WHERE workspace_id = 1 AND happened_at >= $1 AND happened_at < $2
                       AND ($3::bigint IS NULL OR member_id = $3)
                     GROUP BY 1, 2 ORDER BY 1, 2",
                    (from_or_start, to),
                    owner.map(|_| 1),
                )
                .await;
                let mut got_acts: Vec<(i64, String, i64, i64, i64)> = acts
                    .into_iter()
                    .map(|a| {
                        (
                            a.member_id,
                            a.kind,
                            a.activities,
                            a.satisfaction_sum,
                            a.satisfaction_count,
                        )
                    })
                    .collect();
                got_acts.sort();
                assert_eq!(got_acts, want_acts, "{ctx}: activities");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 7 * 8 * 2);
    // The trends' buckets split the same way: a bucket from a morning to the next evening,
    // one inside a day and one ending inside a day, against the same recount.
    let buckets = [
        (
            chrono::NaiveDate::from_ymd_opt(2026, 11, 2).expect("day"),
            at("2026-11-02T03:00:00Z"),
            at("2026-11-03T20:00:00Z"),
        ),
        (
            chrono::NaiveDate::from_ymd_opt(2026, 11, 3).expect("day"),
            at("2026-11-03T20:00:00Z"),
            at("2026-11-04T10:00:00Z"),
        ),
        (
            chrono::NaiveDate::from_ymd_opt(2026, 11, 4).expect("day"),
            at("2026-11-04T10:00:00Z"),
            at("2026-11-04T20:30:00Z"),
        ),
    ];
    let mut tx = store.begin().await.expect("begin");
    let trends = tx.trend_rows(1, None, &buckets).await.expect("trends");
    tx.commit().await.expect("commit");
    for (key, from, to) in buckets {
        let want: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'won' AND closed_at >= $1 AND closed_at < $2),
                    COALESCE(sum(amount_minor) FILTER (WHERE status = 'won' AND closed_at >= $1
                                                        AND closed_at < $2), 0)::bigint,
                    count(*) FILTER (WHERE created_at >= $1 AND created_at < $2),
                    COALESCE(sum(amount_minor) FILTER (WHERE created_at >= $1 AND created_at < $2),
                             0)::bigint
             FROM deals WHERE workspace_id = 1",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&pool)
        .await
        .expect("trend recount");
        let got = trends
            .iter()
            .find(|r| r.bucket == key)
            .map(|r| (r.won_count, r.won_amount, r.created_count, r.created_amount))
            .unwrap_or_default();
        assert_eq!(got, want, "trend bucket {key}");
    }
}
