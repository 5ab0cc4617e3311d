//! The analysis reports (issue 5; the figures are defined in README.md, "Reports"): `/pipeline stats`, `/kpi`,
//! `/report trends|products|customers`, `/forecast show|what-if`, read through the `data`
//! every report reply carries.
//!
//! - A generated history (deals by several reps and a manager, moved forward and back, won,
//!   lost, reopened, reassigned, with and without expected close dates, product lines,
//!   companies, activities with satisfaction, quotas) in a New York workspace, with events on
//!   local midnights and around the DST change of 2026-11-01, is compared figure by figure
//!   with this file's own recomputation: plain Rust over the raw rows (deals, stage_changes,
//!   deal_products, activities, members, companies). A deal's status, close time and creation
//!   are read from its stage history; stays come from consecutive stage_changes rows ordered by
//!   (changed_at, id). Neither the ended stays `stage_changes` records (`ended_stage_id`,
//!   `ended_entered_at`) nor any rollup table is read.
//! - A small fixture worked out by hand, with the expected numbers written out.
//! - Another currency is refused; empty periods answer with zeros and nulls; a rep in a
//!   workspace with visibility `own` only ever sees their own figures; `salesbot report`
//!   prints the same data as the console.

use crate::support::{is_error, text, Harness, Lcg};
use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};

// =============================================================================================
// Comparing replies with expectations
// =============================================================================================

/// Collects every mismatch of a test, so one run reports all of them.
#[derive(Default)]
struct Check {
    errors: Vec<String>,
    compared: usize,
}

impl Check {
    fn fail(&mut self, msg: String) {
        self.errors.push(msg);
    }

    /// `got` has every key of `want` with the same value (f64 within 1e-9, relative);
    /// extra keys in `got` are allowed.
    fn same(&mut self, ctx: &str, got: &Value, want: &Value) {
        self.compared += 1;
        let mut errs = Vec::new();
        diff("data", got, want, &mut errs);
        for e in errs {
            self.errors.push(format!("{ctx}: {e}"));
        }
    }

    /// Whether `got` matches `want` (without recording anything).
    fn matches(got: &Value, want: &Value) -> bool {
        let mut errs = Vec::new();
        diff("data", got, want, &mut errs);
        errs.is_empty()
    }

    fn finish(self, what: &str) {
        assert!(self.compared > 0, "{what}: nothing was compared");
        if !self.errors.is_empty() {
            let n = self.errors.len();
            let shown: Vec<String> = self.errors.iter().take(120).cloned().collect();
            panic!(
                "{what}: {n} mismatches (of {} replies compared):\n{}",
                self.compared,
                shown.join("\n")
            );
        }
    }
}

fn diff(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match want {
        Value::Object(map) => {
            let Some(g) = got.as_object() else {
                out.push(format!("{path}: expected an object, got {got}"));
                return;
            };
            for (k, w) in map {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(v) => diff(&p, v, w, out),
                    None => out.push(format!("{p}: missing (expected {w})")),
                }
            }
        }
        Value::Array(items) => {
            let Some(g) = got.as_array() else {
                out.push(format!("{path}: expected an array, got {got}"));
                return;
            };
            if g.len() != items.len() {
                out.push(format!(
                    "{path}: {} items, expected {}\n    got:  {got}\n    want: {want}",
                    g.len(),
                    items.len()
                ));
                return;
            }
            for (i, (a, b)) in g.iter().zip(items).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
        }
        Value::Number(n) if n.is_f64() => {
            let w = n.as_f64().unwrap_or(f64::NAN);
            match got.as_f64() {
                Some(g) if (g - w).abs() <= 1e-9 * w.abs().max(1.0) => {}
                _ => out.push(format!("{path}: got {got}, expected {w}")),
            }
        }
        Value::Number(n) => {
            if !(got.is_i64() || got.is_u64()) || got.as_i64() != n.as_i64() {
                out.push(format!("{path}: got {got}, expected {n}"));
            }
        }
        Value::String(w) => match got.as_str() {
            Some(g) if g == w => {}
            Some(g) => {
                // Instants compare as instants, whatever offset notation is used.
                let (a, b) = (
                    DateTime::parse_from_rfc3339(g),
                    DateTime::parse_from_rfc3339(w),
                );
                if !matches!((a, b), (Ok(a), Ok(b)) if a == b) {
                    out.push(format!("{path}: got {got}, expected {want}"));
                }
            }
            None => out.push(format!("{path}: got {got}, expected {want}")),
        },
        _ => {
            if got != want {
                out.push(format!("{path}: got {got}, expected {want}"));
            }
        }
    }
}

/// Words that must never show in a report: an undefined ratio printed as a number.
fn has_nan(t: &str) -> bool {
    t.split(|c: char| !c.is_alphanumeric())
        .any(|w| w == "NaN" || w == "inf" || w == "Infinity")
}

/// Runs a report line as the current user; its `data`, or None (with a recorded failure).
async fn ask(h: &mut Harness, line: &str, chk: &mut Check) -> Option<Value> {
    let out = h.run(line).await;
    let Some(r) = out.iter().find(|m| m["to"] == "reply") else {
        chk.fail(format!("{line}: no reply in {out:?}"));
        return None;
    };
    if is_error(r) {
        chk.fail(format!("{line}: refused: {}", r["content"]));
        return None;
    }
    if has_nan(&text(r)) {
        chk.fail(format!("{line}: NaN/inf in the text: {}", text(r)));
    }
    match r.get("data") {
        Some(d) if d.is_object() => Some(d.clone()),
        _ => {
            chk.fail(format!("{line}: no data object in the reply: {r}"));
            None
        }
    }
}

/// A line that must be refused with an error.
async fn refused(h: &mut Harness, line: &str, chk: &mut Check) {
    let out = h.run(line).await;
    match out.iter().find(|m| m["to"] == "reply") {
        Some(r) if is_error(r) => {}
        other => chk.fail(format!("{line}: expected an error, got {other:?}")),
    }
}

/// Runs a command that must succeed (it may produce more than one message).
async fn must(h: &mut Harness, line: &str) -> Value {
    let out = h.run(line).await;
    assert!(!out.is_empty(), "{line}: no reply");
    for m in &out {
        assert!(!is_error(m), "{line}: expected success, got {m}");
    }
    out.into_iter()
        .find(|m| m["to"] == "reply")
        .unwrap_or(Value::Null)
}

// =============================================================================================
// The raw rows
// =============================================================================================

#[derive(Clone, Debug)]
struct Stage {
    id: i64,
    name: String,
    position: i32,
    probability: i64,
    kind: String,
}

#[derive(Clone, Debug)]
struct Deal {
    id: i64,
    owner: i64,
    amount: i64,
    company: Option<i64>,
    close: Option<NaiveDate>,
    /// From the stage history: its first row.
    created: DateTime<Utc>,
    /// From the stage history: the kind of the stage of its newest row.
    status: String,
    /// From the stage history: the newest row's time when the deal is closed.
    closed_at: Option<DateTime<Utc>>,
    /// From the stage history: the newest row's stage.
    stage: i64,
    /// (changed_at, to_stage_id), ordered by (changed_at, id).
    changes: Vec<(DateTime<Utc>, i64)>,
}

#[derive(Clone, Debug)]
struct Line {
    deal: i64,
    product: i64,
    quantity: i64,
    unit: i64,
    list: i64,
}

#[derive(Clone, Debug)]
struct Product {
    id: i64,
    name: String,
}

#[derive(Clone, Debug)]
struct Activity {
    member: i64,
    kind: String,
    satisfaction: Option<i64>,
    at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct Member {
    id: i64,
    name: String,
    quota: Option<i64>,
}

#[derive(Clone, Debug)]
struct Company {
    id: i64,
    name: String,
    industry: Option<String>,
    tier: Option<String>,
    tags: Vec<String>,
}

/// Everything of one workspace the reports are computed from.
struct World {
    tz: Tz,
    now: DateTime<Utc>,
    currency: String,
    /// All stages, by position.
    stages: Vec<Stage>,
    deals: Vec<Deal>,
    lines: Vec<Line>,
    products: Vec<Product>,
    activities: Vec<Activity>,
    members: Vec<Member>,
    companies: Vec<Company>,
}

type DealTuple = (
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<NaiveDate>,
    DateTime<Utc>,
    String,
    Option<DateTime<Utc>>,
    i64,
);

async fn load(h: &Harness, ws: i64, now: DateTime<Utc>) -> World {
    let pool = &h.pool;
    let (zone, currency): (String, String) =
        sqlx::query_as("SELECT timezone, currency FROM workspaces WHERE id = $1")
            .bind(ws)
            .fetch_one(pool)
            .await
            .expect("workspace");
    let tz: Tz = zone.parse().expect("workspace zone");
    let stages: Vec<Stage> = sqlx::query_as::<_, (i64, String, i32, i16, String)>(
        "SELECT id, name, position, probability, kind FROM stages WHERE workspace_id = $1 ORDER BY position, id",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("stages")
    .into_iter()
    .map(|(id, name, position, p, kind)| Stage {
        id,
        name,
        position,
        probability: i64::from(p),
        kind,
    })
    .collect();
    let changes: Vec<(i64, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT deal_id, changed_at, to_stage_id FROM stage_changes WHERE workspace_id = $1
         ORDER BY deal_id, changed_at, id",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("stage changes");
    let mut history: HashMap<i64, Vec<(DateTime<Utc>, i64)>> = HashMap::new();
    for (deal, at, to) in changes {
        history.entry(deal).or_default().push((at, to));
    }
    let rows: Vec<DealTuple> = sqlx::query_as(
        "SELECT id, number, owner_id, amount_minor, company_id, expected_close, created_at, status, closed_at, stage_id
         FROM deals WHERE workspace_id = $1 ORDER BY number",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("deals");
    let kind_of = |id: i64| -> String {
        stages
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.kind.clone())
            .expect("stage of a change")
    };
    let mut deals = Vec::new();
    for (id, number, owner, amount, company, close, created_at, status, closed_at, stage_id) in rows
    {
        let changes = history.remove(&id).unwrap_or_default();
        let (first, last) = match (changes.first(), changes.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => panic!("deal D-{number} has no stage history"),
        };
        let kind = kind_of(last.1);
        let derived_closed = (kind != "open").then_some(last.0);
        // The deal row and its history tell the same story (else the recomputation below,
        // which reads the history, would be checking something else).
        assert_eq!(
            (first.0, kind.as_str(), derived_closed, last.1),
            (created_at, status.as_str(), closed_at, stage_id),
            "D-{number}: deal row and stage history disagree"
        );
        deals.push(Deal {
            id,
            owner,
            amount,
            company,
            close,
            created: first.0,
            status: kind,
            closed_at: derived_closed,
            stage: last.1,
            changes,
        });
    }
    let lines = sqlx::query_as::<_, (i64, i64, i32, i64, i64)>(
        "SELECT deal_id, product_id, quantity, unit_price_minor, list_price_minor FROM deal_products WHERE workspace_id = $1",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("lines")
    .into_iter()
    .map(|(deal, product, q, unit, list)| Line {
        deal,
        product,
        quantity: i64::from(q),
        unit,
        list,
    })
    .collect();
    let products =
        sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM products WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(pool)
            .await
            .expect("products")
            .into_iter()
            .map(|(id, name)| Product { id, name })
            .collect();
    let activities = sqlx::query_as::<_, (i64, String, Option<i16>, DateTime<Utc>)>(
        "SELECT member_id, kind, satisfaction, happened_at FROM activities WHERE workspace_id = $1",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("activities")
    .into_iter()
    .map(|(member, kind, s, at)| Activity {
        member,
        kind,
        satisfaction: s.map(i64::from),
        at,
    })
    .collect();
    let members = sqlx::query_as::<_, (i64, String, Option<i64>)>(
        "SELECT user_id, display_name, quota_minor FROM members WHERE workspace_id = $1",
    )
    .bind(ws)
    .fetch_all(pool)
    .await
    .expect("members")
    .into_iter()
    .map(|(id, name, quota)| Member { id, name, quota })
    .collect();
    let companies =
        sqlx::query_as::<_, (i64, String, Option<String>, Option<String>, Vec<String>)>(
            "SELECT id, name, industry, tier, tags FROM companies WHERE workspace_id = $1",
        )
        .bind(ws)
        .fetch_all(pool)
        .await
        .expect("companies")
        .into_iter()
        .map(|(id, name, industry, tier, tags)| Company {
            id,
            name,
            industry,
            tier,
            tags,
        })
        .collect();
    World {
        tz,
        now,
        currency,
        stages,
        deals,
        lines,
        products,
        activities,
        members,
        companies,
    }
}

// =============================================================================================
// Periods
// =============================================================================================

/// A report period: the local days [first, end) of the workspace zone, as UTC instants.
#[derive(Clone, Debug)]
struct Per {
    /// The options that ask for it (`period:this-month`, `from:... to:...`, or "" = default).
    args: String,
    key: String,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    /// Local days, end exclusive; None for all time.
    days: Option<(NaiveDate, NaiveDate)>,
}

impl Per {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && t < self.to
    }

    fn with_args(mut self, args: &str) -> Per {
        self.args = args.to_string();
        self
    }

    fn json(&self) -> Value {
        match self.from {
            Some(f) => json!({"key": self.key, "from": rfc(f), "to": rfc(self.to)}),
            None => json!({"key": self.key, "from": null}),
        }
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap_or_else(|e| panic!("bad date {s}: {e}"))
}

fn midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("a local midnight exists")
        .with_timezone(&Utc)
}

fn local_day(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

fn far_future() -> DateTime<Utc> {
    date("9999-12-31")
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("year 10000")
        .and_utc()
}

fn bounded(tz: Tz, args: String, key: &str, first: NaiveDate, end: NaiveDate) -> Per {
    Per {
        args,
        key: key.to_string(),
        from: Some(midnight(tz, first)),
        to: midnight(tz, end),
        days: Some((first, end)),
    }
}

/// A named period as of `now` in `tz`.
fn named(tz: Tz, now: DateTime<Utc>, key: &str) -> Per {
    let today = local_day(tz, now);
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let month = today.with_day(1).expect("first of month");
    let quarter =
        NaiveDate::from_ymd_opt(today.year(), month.month0() / 3 * 3 + 1, 1).expect("quarter");
    let m = |n| Months::new(n);
    let (first, end) = match key {
        "this-week" => (monday, monday + Days::new(7)),
        "last-week" => (monday - Days::new(7), monday),
        "this-month" => (month, month + m(1)),
        "last-month" => (month - m(1), month),
        "this-quarter" => (quarter, quarter + m(3)),
        "last-quarter" => (quarter - m(3), quarter),
        "all-time" => {
            return Per {
                args: "period:all-time".into(),
                key: key.into(),
                from: None,
                to: far_future(),
                days: None,
            }
        }
        other => panic!("unknown period {other}"),
    };
    bounded(tz, format!("period:{key}"), key, first, end)
}

/// `from:A to:B` (both days included).
fn custom(tz: Tz, from: &str, to: &str) -> Per {
    let end = date(to).succ_opt().expect("day after");
    bounded(
        tz,
        format!("from:{from} to:{to}"),
        "custom",
        date(from),
        end,
    )
}

// =============================================================================================
// The recomputation
// =============================================================================================

fn half_up(amount: i64, percent: i64) -> i64 {
    ((i128::from(amount) * i128::from(percent) + 50) / 100) as i64
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

const KINDS: [&str; 6] = ["call", "email", "meeting", "visit", "message", "note"];

/// lcm(28, 29, 30, 31): every month's share of a monthly quota is a whole multiple of it.
const MONTH_DEN: i128 = 377_580;

/// A monthly quota prorated to the local days [first, end), rounded half up at the end.
fn period_quota(monthly: i64, first: NaiveDate, end: NaiveDate) -> i64 {
    let mut num: i128 = 0;
    let mut d = first;
    while d < end {
        let month = d.with_day(1).expect("first");
        let next = month + Months::new(1);
        let seg_end = next.min(end);
        let days = (seg_end - d).num_days() as i128;
        let month_days = (next - month).num_days() as i128;
        num += i128::from(monthly) * days * (MONTH_DEN / month_days);
        d = seg_end;
    }
    ((2 * num + MONTH_DEN) / (2 * MONTH_DEN)) as i64
}

/// Totals of deals closed in a period.
#[derive(Default, Debug)]
struct Closed {
    won: i64,
    won_amount: i64,
    lost: i64,
    lost_amount: i64,
    cycle_secs: i64,
}

impl Closed {
    /// Rounded half up (issue 10: averages round like weighted amounts).
    fn avg_deal(&self) -> Option<i64> {
        (self.won > 0).then(|| (2 * self.won_amount + self.won) / (2 * self.won))
    }

    fn avg_cycle(&self) -> Option<f64> {
        (self.won > 0).then(|| self.cycle_secs as f64 / 86_400.0 / self.won as f64)
    }
}

impl World {
    fn stage(&self, id: i64) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.id == id)
            .expect("known stage")
    }

    fn stage_named(&self, name: &str) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no stage {name}"))
    }

    /// The open stages and the won stage, in position order.
    fn listed(&self) -> Vec<&Stage> {
        self.stages.iter().filter(|s| s.kind != "lost").collect()
    }

    fn mine(&self, owner: Option<i64>) -> Vec<&Deal> {
        self.deals
            .iter()
            .filter(|d| owner.is_none_or(|o| d.owner == o))
            .collect()
    }

    fn furthest(&self, d: &Deal) -> i32 {
        d.changes
            .iter()
            .map(|(_, s)| self.stage(*s))
            .filter(|s| s.kind != "lost")
            .map(|s| s.position)
            .max()
            .unwrap_or(0)
    }

    /// Per listed stage: deals created in [from, to) whose furthest position reached it.
    fn reached(&self, deals: &[&Deal], from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> Vec<i64> {
        let cohort: Vec<i32> = deals
            .iter()
            .filter(|d| from.is_none_or(|f| d.created >= f) && d.created < to)
            .map(|d| self.furthest(d))
            .collect();
        self.listed()
            .iter()
            .map(|s| cohort.iter().filter(|f| **f >= s.position).count() as i64)
            .collect()
    }

    fn closed(&self, deals: &[&Deal], p: &Per) -> Closed {
        let mut c = Closed::default();
        for d in deals {
            let Some(t) = d.closed_at.filter(|t| p.contains(*t)) else {
                continue;
            };
            match d.status.as_str() {
                "won" => {
                    c.won += 1;
                    c.won_amount += d.amount;
                    c.cycle_secs += (t - d.created).num_seconds();
                }
                "lost" => {
                    c.lost += 1;
                    c.lost_amount += d.amount;
                }
                _ => {}
            }
        }
        c
    }

    fn quota(&self, member: i64, p: &Per) -> Option<i64> {
        let (first, end) = p.days?;
        let m = self.members.iter().find(|m| m.id == member)?;
        m.quota.map(|q| period_quota(q, first, end))
    }

    /// Team quota: every member's period quota, None when nobody has one (or all time).
    fn team_quota(&self, p: &Per) -> Option<i64> {
        let qs: Vec<i64> = self
            .members
            .iter()
            .filter_map(|m| self.quota(m.id, p))
            .collect();
        (!qs.is_empty()).then(|| qs.iter().sum())
    }

    fn owner_quota(&self, owner: Option<i64>, p: &Per) -> Option<i64> {
        match owner {
            Some(o) => self.quota(o, p),
            None => self.team_quota(p),
        }
    }
}

// ---- pipeline ------------------------------------------------------------------------------

fn pipeline_expected(w: &World, p: &Per, owner: Option<i64>) -> Value {
    let deals = w.mine(owner);
    let listed = w.listed();
    let reached = w.reached(&deals, p.from, p.to);
    let mut stages = Vec::new();
    let (mut open_count, mut open_amount, mut weighted_total) = (0i64, 0i64, 0i64);
    for (i, s) in listed.iter().enumerate() {
        let open: Vec<&&Deal> = deals
            .iter()
            .filter(|d| d.status == "open" && d.stage == s.id)
            .collect();
        let count = open.len() as i64;
        let amount: i64 = open.iter().map(|d| d.amount).sum();
        let weighted = if s.kind == "open" {
            half_up(amount, s.probability)
        } else {
            0
        };
        open_count += count;
        open_amount += amount;
        weighted_total += weighted;
        let (mut stays, mut secs) = (0i64, 0i64);
        for d in &deals {
            for pair in d.changes.windows(2) {
                if pair[0].1 == s.id && p.contains(pair[1].0) {
                    stays += 1;
                    secs += (pair[1].0 - pair[0].0).num_seconds();
                }
            }
        }
        let conversion = if i + 1 < listed.len() {
            ratio(reached[i + 1], reached[i])
        } else {
            None
        };
        stages.push(json!({
            "name": s.name,
            "probability": s.probability,
            "open_count": count,
            "open_amount_minor": amount,
            "weighted_amount_minor": weighted,
            "reached": reached[i],
            "conversion_to_next": conversion,
            "stays": stays,
            "avg_days_in_stage": (stays > 0).then(|| secs as f64 / 86_400.0 / stays as f64),
        }));
    }
    let c = w.closed(&deals, p);
    json!({
        "report": "pipeline",
        "period": p.json(),
        "owner": owner,
        "currency": w.currency,
        "stages": stages,
        "open_count": open_count,
        "open_amount_minor": open_amount,
        "weighted_amount_minor": weighted_total,
        "won_count": c.won,
        "won_amount_minor": c.won_amount,
        "lost_count": c.lost,
        "lost_amount_minor": c.lost_amount,
        "win_rate": ratio(c.won, c.won + c.lost),
        "avg_deal_minor": c.avg_deal(),
        "avg_cycle_days": c.avg_cycle(),
    })
}

// ---- kpi -----------------------------------------------------------------------------------

#[derive(Default, Clone, Debug)]
struct KpiRow {
    user: Option<i64>,
    name: String,
    closed: Closed2,
    acts: [i64; 6],
    sat_sum: i64,
    sat_n: i64,
    new_count: i64,
    new_amount: i64,
    quota: Option<i64>,
}

/// `Closed` that can be summed (Clone + Default).
#[derive(Default, Clone, Debug)]
struct Closed2 {
    won: i64,
    won_amount: i64,
    lost: i64,
    cycle_secs: i64,
}

impl KpiRow {
    fn nonzero(&self) -> bool {
        self.closed.won != 0
            || self.closed.lost != 0
            || self.closed.won_amount != 0
            || self.acts.iter().any(|a| *a != 0)
            || self.sat_n != 0
            || self.new_count != 0
            || self.new_amount != 0
    }

    fn json(&self, with_name: bool) -> Value {
        let c = &self.closed;
        let mut acts = serde_json::Map::new();
        for (k, n) in KINDS.iter().zip(self.acts) {
            acts.insert(k.to_string(), json!(n));
        }
        let mut v = json!({
            "user_id": self.user,
            "revenue_minor": c.won_amount,
            "won_count": c.won,
            "lost_count": c.lost,
            "win_rate": ratio(c.won, c.won + c.lost),
            // Rounded half up (issue 10: averages round like weighted amounts).
            "avg_deal_minor": (c.won > 0).then(|| (2 * c.won_amount + c.won) / (2 * c.won)),
            "avg_cycle_days": (c.won > 0).then(|| c.cycle_secs as f64 / 86_400.0 / c.won as f64),
            "activities": Value::Object(acts),
            "activities_total": self.acts.iter().sum::<i64>(),
            "avg_satisfaction": (self.sat_n > 0).then(|| self.sat_sum as f64 / self.sat_n as f64),
            "satisfaction_count": self.sat_n,
            "new_pipeline_count": self.new_count,
            "new_pipeline_minor": self.new_amount,
            "quota_minor": self.quota,
            "quota_attainment": self.quota.and_then(|q| ratio(c.won_amount, q)),
        });
        if with_name {
            v["name"] = json!(self.name);
        }
        v
    }
}

fn kpi_row(w: &World, p: &Per, m: &Member) -> KpiRow {
    let deals = w.mine(Some(m.id));
    let c = w.closed(&deals, p);
    let mut row = KpiRow {
        user: Some(m.id),
        name: m.name.clone(),
        closed: Closed2 {
            won: c.won,
            won_amount: c.won_amount,
            lost: c.lost,
            cycle_secs: c.cycle_secs,
        },
        quota: w.quota(m.id, p),
        ..KpiRow::default()
    };
    for a in w
        .activities
        .iter()
        .filter(|a| a.member == m.id && p.contains(a.at))
    {
        let k = KINDS
            .iter()
            .position(|k| *k == a.kind)
            .expect("activity kind");
        row.acts[k] += 1;
        if let Some(s) = a.satisfaction {
            row.sat_sum += s;
            row.sat_n += 1;
        }
    }
    for d in deals.iter().filter(|d| p.contains(d.created)) {
        row.new_count += 1;
        row.new_amount += d.amount;
    }
    row
}

/// `/kpi`: the leaderboard (only = None) or one member's row.
fn kpi_expected(w: &World, p: &Per, only: Option<i64>) -> Value {
    let mut rows: Vec<KpiRow> = match only {
        Some(id) => {
            let m = w
                .members
                .iter()
                .find(|m| m.id == id)
                .cloned()
                .unwrap_or(Member {
                    id,
                    name: format!("user {id}"),
                    quota: None,
                });
            vec![kpi_row(w, p, &m)]
        }
        None => w
            .members
            .iter()
            .map(|m| kpi_row(w, p, m))
            .filter(|r| r.quota.is_some() || r.nonzero())
            .collect(),
    };
    rows.sort_by(|a, b| {
        b.closed
            .won_amount
            .cmp(&a.closed.won_amount)
            .then(b.closed.won.cmp(&a.closed.won))
            .then(a.name.cmp(&b.name))
    });
    let mut team = KpiRow::default();
    let mut quotas = Vec::new();
    for r in &rows {
        team.closed.won += r.closed.won;
        team.closed.won_amount += r.closed.won_amount;
        team.closed.lost += r.closed.lost;
        team.closed.cycle_secs += r.closed.cycle_secs;
        for k in 0..6 {
            team.acts[k] += r.acts[k];
        }
        team.sat_sum += r.sat_sum;
        team.sat_n += r.sat_n;
        team.new_count += r.new_count;
        team.new_amount += r.new_amount;
        quotas.extend(r.quota);
    }
    team.quota = (!quotas.is_empty()).then(|| quotas.iter().sum());
    json!({
        "report": "kpi",
        "period": p.json(),
        "currency": w.currency,
        "members": rows.iter().map(|r| r.json(true)).collect::<Vec<_>>(),
        "team": team.json(false),
    })
}

// ---- trends --------------------------------------------------------------------------------

fn next_boundary(d: NaiveDate, by: &str) -> NaiveDate {
    if by == "week" {
        d + Days::new(7 - u64::from(d.weekday().num_days_from_monday()))
    } else {
        d.with_day(1).expect("first") + Months::new(1)
    }
}

fn bucket_days(first: NaiveDate, end: NaiveDate, by: &str) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut d = first;
    while d < end {
        let e = next_boundary(d, by).min(end);
        out.push((d, e));
        d = e;
    }
    out
}

/// The expected trends. The period's local days are clipped to today: buckets cover
/// [period start, min(period end, tomorrow)), tomorrow being the local day after the clock's
/// ("now"), so no bucket starts after today and the last one ends at tomorrow at the latest;
/// a period that starts after today has no buckets. This holds for from/to as for the named
/// periods. For all time the first bucket starts on the day of the first deal; the spec does
/// not say whether that is the team's first deal or the owner's, so either is taken from the
/// reply when it is one of them.
fn trends_expected(w: &World, p: &Per, by: &str, owner: Option<i64>, got: &Value) -> Value {
    let deals = w.mine(owner);
    let tomorrow = local_day(w.tz, w.now) + Days::new(1);
    let (first, end) = match p.days {
        Some((first, end)) => (first, end.min(tomorrow)),
        None => {
            let team_first = w.deals.iter().map(|d| d.created).min();
            let own_first = deals.iter().map(|d| d.created).min();
            let candidates: Vec<NaiveDate> = [team_first, own_first]
                .into_iter()
                .flatten()
                .map(|t| local_day(w.tz, t))
                .collect();
            let Some(default_first) = candidates.first().copied() else {
                return json!({"report": "trends", "buckets": []});
            };
            let first = got["buckets"]
                .get(0)
                .and_then(|b| b["start"].as_str())
                .and_then(|s| s.parse::<NaiveDate>().ok())
                .filter(|d| candidates.contains(d))
                .unwrap_or(default_first);
            (first, tomorrow)
        }
    };
    let mut buckets = Vec::new();
    let mut prev: Option<(i64, i64)> = None;
    for (a, b) in bucket_days(first, end, by) {
        let (from, to) = (midnight(w.tz, a), midnight(w.tz, b));
        let inside = |t: DateTime<Utc>| t >= from && t < to;
        let won: Vec<&&Deal> = deals
            .iter()
            .filter(|d| d.status == "won" && d.closed_at.is_some_and(inside))
            .collect();
        let created: Vec<&&Deal> = deals.iter().filter(|d| inside(d.created)).collect();
        let revenue: i64 = won.iter().map(|d| d.amount).sum();
        let pipeline: i64 = created.iter().map(|d| d.amount).sum();
        let change = |now: i64, before: Option<i64>| -> Option<f64> {
            before.and_then(|b| ratio(now - b, b))
        };
        buckets.push(json!({
            "start": a.to_string(),
            "end": b.to_string(),
            "won_count": won.len(),
            "revenue_minor": revenue,
            "created_count": created.len(),
            "pipeline_created_minor": pipeline,
            "revenue_change": change(revenue, prev.map(|p| p.0)),
            "pipeline_change": change(pipeline, prev.map(|p| p.1)),
        }));
        prev = Some((revenue, pipeline));
    }
    json!({
        "report": "trends",
        "period": p.json(),
        "by": by,
        "currency": w.currency,
        "owner": owner,
        "buckets": buckets,
    })
}

// ---- products ------------------------------------------------------------------------------

fn products_expected(w: &World, p: &Per, owner: Option<i64>) -> Value {
    let deals = w.mine(owner);
    let mut rows: Vec<(i64, String, Value)> = Vec::new();
    for pr in &w.products {
        let (mut revenue, mut units, mut won, mut lost, mut open) = (0i64, 0i64, 0i64, 0i64, 0i64);
        let (mut sold, mut listed) = (0i128, 0i128);
        let mut won_lines = 0;
        for d in &deals {
            let lines: Vec<&Line> = w
                .lines
                .iter()
                .filter(|l| l.deal == d.id && l.product == pr.id)
                .collect();
            if lines.is_empty() {
                continue;
            }
            if d.status == "open" {
                open += 1;
            }
            if !d.closed_at.is_some_and(|t| p.contains(t)) {
                continue;
            }
            match d.status.as_str() {
                "won" => {
                    won += 1;
                    for l in lines {
                        revenue += l.quantity * l.unit;
                        units += l.quantity;
                        sold += i128::from(l.quantity * l.unit);
                        listed += i128::from(l.quantity * l.list);
                        won_lines += 1;
                    }
                }
                "lost" => lost += 1,
                _ => {}
            }
        }
        let discount = (won_lines > 0 && listed != 0).then(|| 1.0 - sold as f64 / listed as f64);
        rows.push((
            revenue,
            pr.name.clone(),
            json!({
                "product_id": pr.id,
                "name": pr.name,
                "revenue_minor": revenue,
                "units": units,
                "won_deals": won,
                "lost_deals": lost,
                "win_rate": ratio(won, won + lost),
                "avg_discount": discount,
                "open_deals": open,
            }),
        ));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    json!({
        "report": "products",
        "period": p.json(),
        "currency": w.currency,
        "owner": owner,
        "products": rows.into_iter().map(|r| r.2).collect::<Vec<_>>(),
    })
}

// ---- customers -----------------------------------------------------------------------------

/// How "days since" may be read; the spec does not say, so every reading is accepted as
/// long as the reply is entirely one of them.
#[derive(Clone, Copy, Debug)]
enum DayRule {
    Exact,
    Floor,
    LocalDates,
}

const SEGMENTS: [&str; 5] = ["champions", "loyal", "new", "at_risk", "dormant"];

fn top3(values: Vec<String>) -> Value {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut v: Vec<(String, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(3);
    Value::Array(
        v.into_iter()
            .map(|(value, count)| json!({"value": value, "count": count}))
            .collect(),
    )
}

fn customers_expected(w: &World, p: &Per, owner: Option<i64>, rule: DayRule) -> Value {
    let deals = w.mine(owner);
    // As of the earlier of the period's end and now (all time: far future, so now). A period
    // that ends later than now is measured to now, and its top stops there too.
    let as_of = p.to.min(w.now);
    let days = |t: DateTime<Utc>| -> f64 {
        match rule {
            DayRule::Exact => (as_of - t).num_seconds() as f64 / 86_400.0,
            DayRule::Floor => (as_of - t).num_seconds().div_euclid(86_400) as f64,
            DayRule::LocalDates => (local_day(w.tz, as_of) - local_day(w.tz, t)).num_days() as f64,
        }
    };
    // Top: won in [period start, as_of).
    let mut top: HashMap<i64, (i64, i64)> = HashMap::new();
    // RFM: all won before as_of. company -> (F, M, first, last)
    let mut rfm: HashMap<i64, (i64, i64, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for d in &deals {
        let (Some(c), Some(t)) = (d.company, d.closed_at) else {
            continue;
        };
        if d.status != "won" {
            continue;
        }
        if p.from.is_none_or(|f| t >= f) && t < as_of {
            let e = top.entry(c).or_default();
            e.0 += d.amount;
            e.1 += 1;
        }
        if t < as_of {
            let e = rfm.entry(c).or_insert((0, 0, t, t));
            e.0 += 1;
            e.1 += d.amount;
            e.2 = e.2.min(t);
            e.3 = e.3.max(t);
        }
    }
    let company = |id: i64| -> &Company {
        w.companies
            .iter()
            .find(|c| c.id == id)
            .expect("known company")
    };
    let mut top: Vec<(i64, String, i64, i64)> = top
        .into_iter()
        .map(|(id, (rev, n))| (id, company(id).name.clone(), rev, n))
        .collect();
    top.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
    top.truncate(10);
    let mut ms: Vec<i64> = rfm.values().map(|v| v.1).collect();
    ms.sort();
    let p75 = if ms.is_empty() {
        0
    } else {
        let n = ms.len();
        ms[(3 * n).div_ceil(4) - 1]
    };
    let mut members: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new(); // segment -> (company, M)
    for (id, (f, m, first, last)) in &rfm {
        let r = days(*last);
        let seg = if days(*first) <= 90.0 {
            "new"
        } else if r <= 90.0 && *f >= 3 && *m >= p75 {
            "champions"
        } else if r <= 180.0 && *f >= 2 {
            "loyal"
        } else if r <= 365.0 {
            "at_risk"
        } else {
            "dormant"
        };
        members.entry(seg).or_default().push((*id, *m));
    }
    let segments: Vec<Value> = SEGMENTS
        .iter()
        .map(|s| {
            let list = members.get(s).cloned().unwrap_or_default();
            let cs: Vec<&Company> = list.iter().map(|(id, _)| company(*id)).collect();
            json!({
                "segment": s,
                "customers": list.len(),
                "revenue_minor": list.iter().map(|x| x.1).sum::<i64>(),
                "industries": top3(cs.iter().filter_map(|c| c.industry.clone()).collect()),
                "tiers": top3(cs.iter().filter_map(|c| c.tier.clone()).collect()),
                "tags": top3(cs.iter().flat_map(|c| c.tags.clone()).collect()),
            })
        })
        .collect();
    json!({
        "report": "customers",
        "period": p.json(),
        "currency": w.currency,
        "owner": owner,
        "as_of": rfc(as_of),
        "top": top.iter().map(|(id, name, rev, n)| json!({
            "company_id": id, "name": name, "revenue_minor": rev, "won_deals": n,
        })).collect::<Vec<_>>(),
        "segments": segments,
    })
}

/// Compares a customers reply with every reading of "days since"; passes when one matches.
fn check_customers(
    chk: &mut Check,
    ctx: &str,
    got: &Value,
    w: &World,
    p: &Per,
    owner: Option<i64>,
) {
    let exact = customers_expected(w, p, owner, DayRule::Exact);
    for rule in [DayRule::Exact, DayRule::Floor, DayRule::LocalDates] {
        if Check::matches(got, &customers_expected(w, p, owner, rule)) {
            chk.compared += 1;
            return;
        }
    }
    chk.same(ctx, got, &exact);
}

// ---- forecast ------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Forecast {
    won: i64,
    won_minor: i64,
    open_count: i64,
    open_minor: i64,
    /// Open deals in the forecast: (stage probability, Σ amount) per stage, by position.
    per_stage: Vec<(i64, i32, i64)>,
    weighted: i64,
    quota: Option<i64>,
    no_close: (i64, i64),
    overdue: (i64, i64),
}

fn forecast(w: &World, p: &Per, owner: Option<i64>) -> Forecast {
    let deals = w.mine(owner);
    let c = w.closed(&deals, p);
    let mut f = Forecast {
        won: c.won,
        won_minor: c.won_amount,
        quota: w.owner_quota(owner, p),
        ..Forecast::default()
    };
    let mut by_stage: BTreeMap<(i32, i64), i64> = BTreeMap::new();
    for d in deals.iter().filter(|d| d.status == "open") {
        match d.close {
            None => {
                f.no_close.0 += 1;
                f.no_close.1 += d.amount;
            }
            Some(day) => {
                if p.days.is_some_and(|(first, _)| day < first) {
                    f.overdue.0 += 1;
                    f.overdue.1 += d.amount;
                }
                if p.days.is_none_or(|(first, end)| day >= first && day < end) {
                    f.open_count += 1;
                    f.open_minor += d.amount;
                    let s = w.stage(d.stage);
                    *by_stage.entry((s.position, s.id)).or_default() += d.amount;
                }
            }
        }
    }
    for ((position, id), amount) in by_stage {
        let s = w.stage(id);
        f.per_stage.push((s.probability, position, amount));
        f.weighted += half_up(amount, s.probability);
    }
    f
}

fn forecast_expected(w: &World, p: &Per, owner: Option<i64>) -> Value {
    let f = forecast(w, p, owner);
    let expected = f.won_minor + f.weighted;
    let best = f.won_minor + f.open_minor;
    let att = |x: i64| f.quota.and_then(|q| ratio(x, q));
    json!({
        "report": "forecast",
        "period": p.json(),
        "currency": w.currency,
        "owner": owner,
        "won_count": f.won,
        "won_minor": f.won_minor,
        "open_count": f.open_count,
        "open_minor": f.open_minor,
        "weighted_minor": f.weighted,
        "expected_minor": expected,
        "best_case_minor": best,
        "quota_minor": f.quota,
        "attainment_won": att(f.won_minor),
        "attainment_expected": att(expected),
        "attainment_best": att(best),
        "no_close_date": {"count": f.no_close.0, "amount_minor": f.no_close.1},
        "overdue": {"count": f.overdue.0, "amount_minor": f.overdue.1},
    })
}

// ---- what-if -------------------------------------------------------------------------------

/// The exact part of a what-if reply, and the simulated (weighted, expected, best) with the
/// quota, to compare within a tolerance of one minor unit per stage.
struct WhatIf {
    exact: Value,
    simulated: (f64, f64, f64),
    quota: Option<i64>,
    stages: usize,
}

/// The cohort conversion of `stage` over the 365 days before now, or the implied one.
fn conversion_current(w: &World, owner: Option<i64>, stage: &str) -> f64 {
    let deals = w.mine(owner);
    let listed = w.listed();
    let i = listed
        .iter()
        .position(|s| s.name == stage)
        .expect("listed stage");
    let reached = w.reached(&deals, Some(w.now - Duration::days(365)), w.now);
    match ratio(reached[i + 1], reached[i]) {
        Some(c) => c,
        None => listed[i + 1].probability as f64 / listed[i].probability as f64,
    }
}

fn what_if_expected(
    w: &World,
    p: &Per,
    owner: Option<i64>,
    stage: Option<(&str, i64)>,
    deal_size: i64,
) -> WhatIf {
    let f = forecast(w, p, owner);
    let change = deal_size as f64 / 100.0;
    let (current_conv, new_conv, limit) = match stage {
        Some((name, conv)) => (
            Some(conversion_current(w, owner, name)),
            Some(conv as f64 / 100.0),
            Some(w.stage_named(name).position),
        ),
        None => (None, None, None),
    };
    let factor = match (current_conv, new_conv) {
        (Some(c), Some(n)) => n / c,
        _ => 1.0,
    };
    let mut weighted = 0.0;
    let mut open = 0.0;
    for (prob, position, amount) in &f.per_stage {
        let p2 = if limit.is_some_and(|l| *position <= l) {
            (*prob as f64 * factor).min(100.0)
        } else {
            *prob as f64
        };
        let scaled = *amount as f64 * (1.0 + change);
        weighted += (scaled * p2 / 100.0 + 0.5).floor();
        open += scaled;
    }
    let won = f.won_minor as f64;
    let expected = f.won_minor + f.weighted;
    WhatIf {
        exact: json!({
            "report": "what_if",
            "period": p.json(),
            "currency": w.currency,
            "owner": owner,
            "stage": stage.map(|s| s.0),
            "conversion_current": current_conv,
            "conversion_new": new_conv,
            "deal_size_change": change,
            "current": {
                "expected_minor": expected,
                "best_case_minor": f.won_minor + f.open_minor,
                "weighted_minor": f.weighted,
                "attainment_expected": f.quota.and_then(|q| ratio(expected, q)),
            },
        }),
        simulated: (weighted, won + weighted, won + open),
        quota: f.quota,
        stages: f.per_stage.len(),
    }
}

/// Hand-computed simulated figures (weighted, expected, best case), compared within one
/// minor unit per stage.
fn simulated(figures: (i64, i64, i64), quota: Option<i64>, stages: usize) -> WhatIf {
    WhatIf {
        exact: json!({}),
        simulated: (figures.0 as f64, figures.1 as f64, figures.2 as f64),
        quota,
        stages,
    }
}

fn check_what_if(chk: &mut Check, ctx: &str, got: &Value, want: &WhatIf) {
    chk.same(ctx, got, &want.exact);
    let tol = want.stages.max(1) as f64 + 1e-6;
    let sim = &got["simulated"];
    let (weighted, expected, best) = want.simulated;
    for (key, w) in [
        ("weighted_minor", weighted),
        ("expected_minor", expected),
        ("best_case_minor", best),
    ] {
        match sim[key].as_i64() {
            Some(g) if (g as f64 - w).abs() <= tol => {}
            _ => chk.fail(format!(
                "{ctx}: data.simulated.{key}: got {}, expected {w} (± {tol:.0})",
                sim[key]
            )),
        }
    }
    let att = &sim["attainment_expected"];
    match want.quota.filter(|q| *q != 0) {
        None => {
            if !att.is_null() {
                chk.fail(format!(
                    "{ctx}: data.simulated.attainment_expected: got {att}, expected null"
                ));
            }
        }
        Some(q) => {
            let w = expected / q as f64;
            match att.as_f64() {
                Some(g) if (g - w).abs() <= tol / q as f64 + 1e-9 => {}
                _ => chk.fail(format!(
                    "{ctx}: data.simulated.attainment_expected: got {att}, expected {w}"
                )),
            }
        }
    }
}

// =============================================================================================
// Asking every report and comparing
// =============================================================================================

fn member_arg(owner: Option<i64>, name: &str) -> String {
    owner.map(|o| format!(" {name}:<@{o}>")).unwrap_or_default()
}

async fn check_pipeline(h: &mut Harness, chk: &mut Check, w: &World, p: &Per, owner: Option<i64>) {
    let line = format!("/pipeline stats {}{}", p.args, member_arg(owner, "owner"));
    if let Some(got) = ask(h, &line, chk).await {
        chk.same(&line, &got, &pipeline_expected(w, p, owner));
    }
}

async fn check_kpi(
    h: &mut Harness,
    chk: &mut Check,
    w: &World,
    p: &Per,
    named: Option<i64>,
    expect_only: Option<i64>,
) {
    let line = format!("/kpi {}{}", p.args, member_arg(named, "member"));
    if let Some(got) = ask(h, &line, chk).await {
        chk.same(&line, &got, &kpi_expected(w, p, expect_only));
    }
}

async fn check_trends(
    h: &mut Harness,
    chk: &mut Check,
    w: &World,
    p: &Per,
    by: Option<&str>,
    owner: Option<i64>,
) {
    let by_arg = by.map(|b| format!(" by:{b}")).unwrap_or_default();
    let line = format!(
        "/report trends {}{by_arg}{}",
        p.args,
        member_arg(owner, "member")
    );
    if let Some(got) = ask(h, &line, chk).await {
        let want = trends_expected(w, p, by.unwrap_or("week"), owner, &got);
        chk.same(&line, &got, &want);
    }
}

async fn check_products(h: &mut Harness, chk: &mut Check, w: &World, p: &Per, owner: Option<i64>) {
    let line = format!("/report products {}{}", p.args, member_arg(owner, "member"));
    if let Some(got) = ask(h, &line, chk).await {
        chk.same(&line, &got, &products_expected(w, p, owner));
    }
}

async fn check_customers_line(
    h: &mut Harness,
    chk: &mut Check,
    w: &World,
    p: &Per,
    owner: Option<i64>,
) {
    let line = format!(
        "/report customers {}{}",
        p.args,
        member_arg(owner, "member")
    );
    if let Some(got) = ask(h, &line, chk).await {
        check_customers(chk, &line, &got, w, p, owner);
    }
}

async fn check_forecast(h: &mut Harness, chk: &mut Check, w: &World, p: &Per, owner: Option<i64>) {
    let line = format!("/forecast show {}{}", p.args, member_arg(owner, "member"));
    if let Some(got) = ask(h, &line, chk).await {
        chk.same(&line, &got, &forecast_expected(w, p, owner));
    }
}

async fn check_what_if_line(
    h: &mut Harness,
    chk: &mut Check,
    w: &World,
    p: &Per,
    owner: Option<i64>,
    stage: Option<(&str, i64)>,
    deal_size: Option<i64>,
) {
    let mut line = "/forecast what-if".to_string();
    if let Some((s, c)) = stage {
        line.push_str(&format!(" stage:{s} conversion:{c}"));
    }
    if let Some(d) = deal_size {
        line.push_str(&format!(" deal_size:{d}"));
    }
    if !p.args.is_empty() {
        line.push(' ');
        line.push_str(&p.args);
    }
    line.push_str(&member_arg(owner, "member"));
    if let Some(got) = ask(h, &line, chk).await {
        let want = what_if_expected(w, p, owner, stage, deal_size.unwrap_or(0));
        check_what_if(chk, &line, &got, &want);
    }
}

/// Every report of one period for one owner (None = the team), as the current user.
async fn check_all(h: &mut Harness, chk: &mut Check, w: &World, p: &Per, owner: Option<i64>) {
    check_pipeline(h, chk, w, p, owner).await;
    check_trends(h, chk, w, p, Some("month"), owner).await;
    if p.from.is_some() {
        check_trends(h, chk, w, p, Some("week"), owner).await;
    }
    check_products(h, chk, w, p, owner).await;
    check_customers_line(h, chk, w, p, owner).await;
    check_forecast(h, chk, w, p, owner).await;
}

// =============================================================================================
// The generated history
// =============================================================================================

const REPS: [i64; 4] = [10, 11, 12, 13];
const MANAGER: i64 = 20;
const OPEN: [&str; 4] = ["Lead", "Qualified", "Proposal", "Negotiation"];

/// The catalogue: name and list price in cents. The last one is never sold.
const PRODUCTS: [(&str, i64); 5] = [
    ("Widget", 120_000),
    ("Gadget", 45_050),
    ("Support", 9_900),
    ("Training", 200_000),
    ("Spare", 1_000),
];

/// Companies and their `/company add` options.
const COMPANIES: [(&str, &str); 10] = [
    (
        "Acme",
        r#"industry:Software tier:enterprise tags:"partner, apac""#,
    ),
    ("Birch", "industry:Retail tier:smb tags:apac"),
    ("Cobalt", "tier:mid-market"),
    (
        "Dune",
        "industry:Manufacturing tier:enterprise tags:partner",
    ),
    ("Ember", "industry:Retail tags:vip"),
    ("Fjord", r#"industry:Software tier:smb tags:"vip, emea""#),
    ("Garnet", "industry:Logistics tier:mid-market tags:emea"),
    ("Harbor", ""),
    (
        "Iris",
        r#"industry:Software tier:enterprise tags:"partner, emea, vip""#,
    ),
    ("Juniper", "industry:Retail tier:smb"),
];

/// The clock the reports are asked at: Tuesday 2026-12-15, 07:00 in New York.
const STATS_NOW: &str = "2026-12-15T12:00:00Z";

/// Instants on either side of New York midnights that bound the periods and buckets asked
/// for, and both 01:30s of the night the clocks go back.
const EDGES: [&str; 20] = [
    "2026-07-01T03:59:59Z", // June 30 in New York: last quarter starts after
    "2026-07-01T04:00:00Z",
    "2026-10-01T03:59:59Z", // September 30 in New York
    "2026-10-01T04:00:00Z", // this quarter starts
    "2026-10-25T03:59:59Z", // October 24: before the custom period
    "2026-10-25T04:00:00Z", // the custom period starts
    "2026-11-01T03:59:59Z", // October 31 in New York
    "2026-11-01T04:00:00Z", // November 1, 00:00 EDT: last month starts
    "2026-11-01T05:30:00Z", // 01:30 EDT
    "2026-11-01T06:30:00Z", // 01:30 EST, an hour later
    "2026-11-02T04:59:59Z", // still November 1 (a 25-hour day)
    "2026-11-02T05:00:00Z", // Monday November 2: a week bucket starts
    "2026-11-08T04:59:59Z", // November 7: the custom period's last second
    "2026-11-08T05:00:00Z", // November 8: after it
    "2026-12-01T04:59:59Z", // November 30 in New York
    "2026-12-01T05:00:00Z", // this month starts
    "2026-12-07T04:59:59Z", // Sunday December 6
    "2026-12-07T05:00:00Z", // last week starts
    "2026-12-14T04:59:59Z", // Sunday December 13
    "2026-12-14T05:00:00Z", // this week starts
];

#[derive(Clone, Debug)]
enum Step {
    New {
        amount: Option<String>,
        owner: i64,
        stage: Option<&'static str>,
        company: Option<usize>,
        close: Option<NaiveDate>,
        products: Option<(String, Vec<usize>)>,
    },
    Move(&'static str),
    Next,
    Won(Option<String>),
    Lost,
    Assign(i64),
    /// `/deal product`: product index, quantity (0 removes), unit price.
    Line(usize, u32, Option<i64>),
}

#[derive(Clone, Debug)]
enum What {
    Deal {
        deal: usize,
        actor: i64,
        step: Step,
    },
    Log {
        member: i64,
        contact: usize,
        kind: &'static str,
        satisfaction: Option<u64>,
    },
}

struct Event {
    at: DateTime<Utc>,
    order: (usize, usize),
    what: What,
}

fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn amount(rng: &mut Lcg) -> String {
    format!("{}.{:02}", 100 + rng.below(99_900), rng.below(100))
}

/// A unit price: the list price, or a discount of up to 30%.
fn unit_price(rng: &mut Lcg, product: usize) -> Option<i64> {
    rng.chance(50)
        .then(|| PRODUCTS[product].1 * (70 + rng.below(31) as i64) / 100)
}

/// Where a deal stands while its history is generated, so every command is valid.
struct Sim {
    stage: &'static str,
    status: &'static str,
    owner: i64,
    lines: Vec<usize>,
}

impl Sim {
    fn apply(&mut self, step: &Step) {
        match step {
            Step::New {
                owner,
                stage,
                products,
                ..
            } => {
                self.owner = *owner;
                self.stage = stage.unwrap_or("Lead");
                self.status = "open";
                self.lines = products.as_ref().map(|p| p.1.clone()).unwrap_or_default();
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
            Step::Line(p, q, _) => {
                if *q == 0 {
                    self.lines.retain(|x| x != p);
                } else if !self.lines.contains(p) {
                    self.lines.push(*p);
                }
            }
        }
    }

    fn random_step(&self, rng: &mut Lcg) -> Step {
        if self.status == "open" {
            let r = rng.below(100);
            if r < 34 {
                loop {
                    let s = *rng.pick(&OPEN);
                    if s != self.stage {
                        return Step::Move(s); // forward or backward
                    }
                }
            } else if r < 44 {
                Step::Next
            } else if r < 60 {
                // A final amount only for deals without lines (their amount is the lines').
                let final_amount = (self.lines.is_empty() && rng.chance(40)).then(|| amount(rng));
                Step::Won(final_amount)
            } else if r < 75 {
                Step::Lost
            } else if r < 86 {
                loop {
                    let o = *rng.pick(&REPS);
                    if o != self.owner {
                        return Step::Assign(o);
                    }
                }
            } else {
                let product = rng.below(4) as usize;
                if self.lines.contains(&product) && self.lines.len() > 1 && rng.chance(40) {
                    Step::Line(product, 0, None)
                } else {
                    Step::Line(product, 1 + rng.below(6) as u32, unit_price(rng, product))
                }
            }
        } else if self.status == "lost" && rng.chance(25) {
            Step::Won(None)
        } else {
            Step::Move(*rng.pick(&OPEN)) // reopened
        }
    }

    fn closing_step(&self, rng: &mut Lcg) -> Step {
        match self.status {
            "won" => Step::Lost,
            "lost" => Step::Won(None),
            _ if rng.chance(55) => Step::Won(None),
            _ => Step::Lost,
        }
    }
}

fn new_step(rng: &mut Lcg, tz: Tz, created: DateTime<Utc>, company: Option<usize>) -> Step {
    let owner = if rng.chance(12) {
        MANAGER
    } else {
        *rng.pick(&REPS)
    };
    let products = rng.chance(35).then(|| {
        let first = rng.below(4) as usize;
        let mut chosen = vec![first];
        if rng.chance(50) {
            let second = (first + 1 + rng.below(3) as usize) % 4;
            chosen.push(second);
        }
        let spec: Vec<String> = chosen
            .iter()
            .map(|p| {
                let mut s = PRODUCTS[*p].0.to_string();
                let q = 1 + rng.below(5);
                if q > 1 || rng.chance(50) {
                    s.push_str(&format!(" x{q}"));
                }
                if let Some(price) = unit_price(rng, *p) {
                    s.push_str(&format!(" @{}", money(price)));
                }
                s
            })
            .collect();
        (spec.join("; "), chosen)
    });
    let close = rng
        .chance(60)
        .then(|| local_day(tz, created) + Days::new(rng.below(60)));
    Step::New {
        amount: products.is_none().then(|| amount(rng)),
        owner,
        stage: rng.chance(20).then(|| *rng.pick(&OPEN[1..])),
        company,
        close,
        products,
    }
}

/// About 58 deals over 18 months and 70 activities, in New York time.
fn history(seed: u64, tz: Tz) -> Vec<Event> {
    let mut rng = Lcg(seed);
    let end = at(STATS_NOW) - Duration::hours(1);
    let mut events = Vec::new();
    // Keep creations away from the edge of what-if's 365-day cohort (instants vs days).
    let cohort_edge = at(STATS_NOW) - Duration::days(365);
    for deal in 0..58usize {
        let edge_close = (20..36).contains(&deal).then(|| at(EDGES[deal - 20 + 4]));
        let old = (36..48).contains(&deal);
        let mut created = if deal < 20 {
            at(EDGES[deal])
        } else if let Some(e) = edge_close {
            e - Duration::hours(2 + rng.below(40 * 24) as i64)
        } else if old {
            let start = at("2025-06-01T00:00:00Z");
            start + Duration::seconds(rng.below(456 * 86_400) as i64)
        } else {
            let start = at("2026-09-01T00:00:00Z");
            start + Duration::seconds(rng.below((end - start).num_seconds() as u64 - 86_400) as i64)
        };
        if (created - cohort_edge).num_days().abs() < 3 {
            created += Duration::days(7);
        }
        let company = if old {
            Some(rng.below(6) as usize)
        } else {
            rng.chance(75)
                .then(|| rng.below(COMPANIES.len() as u64) as usize)
        };
        let new = new_step(&mut rng, tz, created, company);
        let mut sim = Sim {
            stage: "Lead",
            status: "open",
            owner: 0,
            lines: Vec::new(),
        };
        sim.apply(&new);
        let by = if sim.owner == MANAGER || rng.chance(30) {
            MANAGER
        } else {
            sim.owner
        };
        let mut steps = vec![(created, by, new)];
        let mut t = created;
        let limit = edge_close.map_or(end, |e| e - Duration::minutes(1));
        let forced: Vec<Step> = match deal {
            48..=50 => vec![Step::Won(None), Step::Move(*rng.pick(&OPEN))],
            51..=52 => vec![Step::Lost, Step::Move("Qualified"), Step::Next],
            _ => Vec::new(),
        };
        let count = if old {
            rng.below(3) as usize
        } else {
            forced.len() + rng.below(6) as usize
        };
        let gap = if old { 20 * 86_400 } else { 9 * 86_400 };
        for i in 0..count {
            t += Duration::seconds(3_600 + rng.below(gap) as i64);
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
        if old {
            // Old deals end closed, mostly won: the customers' history.
            let close = match sim.status {
                "open" if rng.chance(70) => Some(Step::Won(None)),
                "open" => Some(Step::Lost),
                "lost" if rng.chance(50) => Some(Step::Won(None)),
                _ => None,
            };
            t += Duration::seconds(3_600 + rng.below(gap) as i64);
            if let Some(step) = close.filter(|_| t < limit) {
                sim.apply(&step);
                steps.push((t, sim.owner, step));
            }
        }
        if let Some(e) = edge_close {
            let step = sim.closing_step(&mut rng);
            sim.apply(&step);
            steps.push((e, sim.owner, step));
        }
        for (step_no, (when, actor, step)) in steps.into_iter().enumerate() {
            events.push(Event {
                at: when,
                order: (deal, step_no),
                what: What::Deal { deal, actor, step },
            });
        }
    }
    let members = [10, 11, 12, 13, MANAGER];
    for i in 0..70usize {
        let when = if i < EDGES.len() {
            at(EDGES[i])
        } else {
            let start = at("2026-06-01T00:00:00Z");
            start + Duration::seconds(rng.below((end - start).num_seconds() as u64) as i64)
        };
        events.push(Event {
            at: when,
            order: (1_000 + i, 0),
            what: What::Log {
                member: *rng.pick(&members),
                contact: rng.below(COMPANIES.len() as u64) as usize,
                kind: *rng.pick(&KINDS),
                satisfaction: rng.chance(60).then(|| 1 + rng.below(5)),
            },
        });
    }
    events.sort_by_key(|e| (e.at, e.order));
    events
}

/// Products, companies with one contact each, quotas, the New York zone.
async fn setup(h: &mut Harness) {
    h.run(":now 2025-05-01T12:00:00Z").await;
    h.run(":as 1 admin").await;
    must(h, "/settings timezone zone:America/New_York").await;
    for (name, price) in PRODUCTS {
        must(
            h,
            &format!("/product add name:{name} price:{}", money(price)),
        )
        .await;
    }
    for (i, (name, options)) in COMPANIES.iter().enumerate() {
        must(h, &format!("/company add name:{name} {options}")).await;
        must(
            h,
            &format!(r#"/contact add name:"Contact {i}" email:c{i}@example.test company:{name}"#),
        )
        .await;
    }
    // The team joins first: options naming a member accept only members.
    h.join(&[10, 11, 12, 13, MANAGER], ":as 1 admin").await;
    for (member, quota) in [(10, "50k"), (11, "42500.50"), (12, "30k"), (MANAGER, "15k")] {
        must(
            h,
            &format!("/settings quota member:<@{member}> amount:{quota}"),
        )
        .await;
    }
}

/// Plays the history through the console, as the people who did it, at the times they did it.
async fn play(h: &mut Harness, events: &[Event]) {
    let mut numbers: HashMap<usize, i64> = HashMap::new();
    for e in events {
        h.run(&format!(":now {}", rfc(e.at))).await;
        match &e.what {
            What::Log {
                member,
                contact,
                kind,
                satisfaction,
            } => {
                let role = if *member == MANAGER { "manager" } else { "rep" };
                h.run(&format!(":as {member} {role}")).await;
                let sat = satisfaction
                    .map(|s| format!(" satisfaction:{s}"))
                    .unwrap_or_default();
                must(
                    h,
                    &format!(
                        r#"/contact log contact:c{contact}@example.test kind:{kind} summary:"talked"{sat}"#
                    ),
                )
                .await;
            }
            What::Deal { deal, actor, step } => {
                let role = if *actor == MANAGER { "manager" } else { "rep" };
                h.run(&format!(":as {actor} {role}")).await;
                let n = numbers.len() as i64 + 1;
                let number = *numbers.entry(*deal).or_insert(n);
                let line = match step {
                    Step::New {
                        amount,
                        owner,
                        stage,
                        company,
                        close,
                        products,
                    } => {
                        let mut l = format!(r#"/deal new title:"Deal {deal}" owner:<@{owner}>"#);
                        if let Some(a) = amount {
                            l.push_str(&format!(" amount:{a}"));
                        }
                        if let Some(s) = stage {
                            l.push_str(&format!(" stage:{s}"));
                        }
                        if let Some(c) = company {
                            l.push_str(&format!(" company:{}", COMPANIES[*c].0));
                        }
                        if let Some(d) = close {
                            l.push_str(&format!(" close:{d}"));
                        }
                        if let Some((spec, _)) = products {
                            l.push_str(&format!(r#" products:"{spec}""#));
                        }
                        l
                    }
                    Step::Move(s) => format!("/deal move deal:D-{number} stage:{s}"),
                    Step::Next => format!(":click deal:next:{number}"),
                    Step::Won(None) => format!("/deal won deal:D-{number}"),
                    Step::Won(Some(a)) => format!("/deal won deal:D-{number} amount:{a}"),
                    Step::Lost => format!(r#"/deal lost deal:D-{number} reason:"lost it""#),
                    Step::Assign(o) => format!("/deal assign deal:D-{number} owner:<@{o}>"),
                    Step::Line(p, q, price) => {
                        let price = price
                            .map(|x| format!(" price:{}", money(x)))
                            .unwrap_or_default();
                        format!(
                            "/deal product deal:D-{number} product:{} quantity:{q}{price}",
                            PRODUCTS[*p].0
                        )
                    }
                };
                let r = must(h, &line).await;
                if let Step::New { .. } = step {
                    assert!(text(&r).contains(&format!("D-{number} ")), "{line}: {r}");
                }
            }
        }
    }
}

/// The generated workspace, played; the reports are asked at STATS_NOW as the admin.
async fn generated(h: &mut Harness) -> World {
    let tz: Tz = "America/New_York".parse().expect("zone");
    setup(h).await;
    let events = history(0x5EED_2026, tz);
    play(h, &events).await;
    h.run(&format!(":now {STATS_NOW}")).await;
    h.run(":as 1 admin").await;
    let w = load(h, 1, at(STATS_NOW)).await;
    assert_eq!(w.tz, tz);

    // The history really has what the reports must cope with.
    let stage_pos = |id: i64| w.stage(id).position;
    let mut backward = 0;
    let mut reopened = 0;
    for d in &w.deals {
        for pair in d.changes.windows(2) {
            let (a, b) = (w.stage(pair[0].1), w.stage(pair[1].1));
            if a.kind == "open" && b.kind == "open" && stage_pos(b.id) < stage_pos(a.id) {
                backward += 1;
            }
            if a.kind != "open" && b.kind == "open" {
                reopened += 1;
            }
        }
    }
    let count = |f: &dyn Fn(&Deal) -> bool| w.deals.iter().filter(|d| f(d)).count();
    let won = count(&|d| d.status == "won");
    let lost = count(&|d| d.status == "lost");
    let open = count(&|d| d.status == "open");
    let with_close = count(&|d| d.close.is_some() && d.status == "open");
    let no_close = count(&|d| d.close.is_none() && d.status == "open");
    let manager_owned = count(&|d| d.owner == MANAGER);
    let discounted = w.lines.iter().filter(|l| l.unit < l.list).count();
    let reassigned: i64 = h
        .count("SELECT count(DISTINCT change_id) FROM audit_log WHERE action = 'deal.assign'")
        .await;
    let summary = format!(
        "deals {}, won {won}, lost {lost}, open {open} (close date {with_close}, none {no_close}), \
         manager-owned {manager_owned}, backward {backward}, reopened {reopened}, reassigned {reassigned}, \
         lines {}, discounted {discounted}, activities {}",
        w.deals.len(),
        w.lines.len(),
        w.activities.len()
    );
    assert_eq!(w.deals.len(), 58, "{summary}");
    assert!(
        won >= 10
            && lost >= 6
            && open >= 8
            && with_close >= 3
            && no_close >= 3
            && manager_owned >= 1
            && backward >= 3
            && reopened >= 4
            && reassigned >= 2
            && w.lines.len() >= 12
            && discounted >= 4
            && w.activities.len() == 70,
        "{summary}"
    );
    // Companies spread over the customer segments.
    let all = named(w.tz, w.now, "all-time");
    let segs = customers_expected(&w, &all, None, DayRule::Exact);
    let nonempty = segs["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .filter(|s| s["customers"].as_i64() > Some(0))
        .count();
    assert!(nonempty >= 3, "customer segments too uniform: {segs}");
    w
}

// =============================================================================================
// 1. Generated data against the recomputation
// =============================================================================================

#[sqlx::test(migrations = "./migrations")]
async fn reports_equal_an_independent_recomputation(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let w = generated(&mut h).await;
    let tz = w.tz;
    let now = w.now;
    let periods = vec![
        named(tz, now, "this-week"),
        named(tz, now, "last-week"),
        named(tz, now, "this-month"),
        named(tz, now, "last-month"),
        named(tz, now, "this-quarter"),
        named(tz, now, "last-quarter"),
        named(tz, now, "all-time"),
        custom(tz, "2026-10-25", "2026-11-07"), // the clocks go back inside it
    ];
    // The periods are New York's: bounds move with the offset.
    assert_eq!(periods[2].from, Some(at("2026-12-01T05:00:00Z")));
    assert_eq!(periods[3].from, Some(at("2026-11-01T04:00:00Z")));
    assert_eq!(periods[3].to, at("2026-12-01T05:00:00Z"));
    assert_eq!(periods[0].from, Some(at("2026-12-14T05:00:00Z")));
    assert_eq!(periods[7].from, Some(at("2026-10-25T04:00:00Z")));
    assert_eq!(periods[7].to, at("2026-11-08T05:00:00Z"));
    // The edge events fall differently in New York than they would in UTC, so the zone is
    // really exercised (figures, not just the period bounds).
    for p in [&periods[3], &periods[7], &periods[0]] {
        let (first, end) = p.days.expect("bounded");
        let as_utc = bounded(chrono_tz::UTC, p.args.clone(), &p.key, first, end);
        let strip = |mut v: Value| {
            v.as_object_mut().map(|o| o.remove("period"));
            v
        };
        assert_ne!(
            strip(pipeline_expected(&w, p, None)),
            strip(pipeline_expected(&w, &as_utc, None)),
            "{}: pipeline the same in UTC",
            p.args
        );
        assert_ne!(
            strip(kpi_expected(&w, p, None)),
            strip(kpi_expected(&w, &as_utc, None)),
            "{}: kpi the same in UTC",
            p.args
        );
    }

    let mut chk = Check::default();
    for p in &periods {
        for owner in [None, Some(11)] {
            check_all(&mut h, &mut chk, &w, p, owner).await;
        }
        // The leaderboard, and one member named.
        check_kpi(&mut h, &mut chk, &w, p, None, None).await;
        check_kpi(&mut h, &mut chk, &w, p, Some(11), Some(11)).await;
    }
    // A manager's own deals; the defaults (this quarter; trends by week; forecast this month).
    check_pipeline(&mut h, &mut chk, &w, &periods[4], Some(MANAGER)).await;
    check_kpi(
        &mut h,
        &mut chk,
        &w,
        &periods[4].clone().with_args(""),
        None,
        None,
    )
    .await;
    check_pipeline(
        &mut h,
        &mut chk,
        &w,
        &periods[4].clone().with_args(""),
        None,
    )
    .await;
    check_trends(
        &mut h,
        &mut chk,
        &w,
        &periods[4].clone().with_args(""),
        None,
        None,
    )
    .await;
    check_products(
        &mut h,
        &mut chk,
        &w,
        &periods[4].clone().with_args(""),
        None,
    )
    .await;
    check_customers_line(
        &mut h,
        &mut chk,
        &w,
        &periods[4].clone().with_args(""),
        None,
    )
    .await;
    check_forecast(
        &mut h,
        &mut chk,
        &w,
        &periods[2].clone().with_args(""),
        None,
    )
    .await;
    // All time by week is far more than 60 weeks.
    refused(&mut h, "/report trends period:all-time by:week", &mut chk).await;

    // What-if: a conversion change at a stage that has a measured conversion, a deal-size
    // change, and both; for the team and for a rep.
    for owner in [None, Some(11)] {
        let stage = ["Qualified", "Proposal", "Lead", "Negotiation"]
            .into_iter()
            .find(|s| conversion_current(&w, owner, s) > 0.0)
            .expect("a stage with a conversion");
        for p in [&periods[2], &periods[4]] {
            check_what_if_line(&mut h, &mut chk, &w, p, owner, Some((stage, 70)), None).await;
            check_what_if_line(&mut h, &mut chk, &w, p, owner, None, Some(15)).await;
            check_what_if_line(&mut h, &mut chk, &w, p, owner, Some((stage, 35)), Some(-10)).await;
        }
    }

    // A rep with visibility "all": /kpi without a member is their own row; naming a colleague
    // is allowed.
    h.run(":as 12 rep").await;
    check_kpi(&mut h, &mut chk, &w, &periods[4], None, Some(12)).await;
    check_kpi(&mut h, &mut chk, &w, &periods[2], Some(13), Some(13)).await;
    check_pipeline(&mut h, &mut chk, &w, &periods[3], None).await;
    check_forecast(&mut h, &mut chk, &w, &periods[2], Some(10)).await;
    // A member's own time zone does not move the workspace's periods.
    h.run(":as 12 rep").await;
    must(&mut h, "/settings timezone zone:Asia/Tokyo scope:me").await;
    check_pipeline(&mut h, &mut chk, &w, &periods[3], Some(12)).await;
    check_trends(&mut h, &mut chk, &w, &periods[3], Some("week"), Some(12)).await;
    h.run(":as 1 admin").await;

    // Nothing written by the reports: the rows are what they were.
    let again = load(&h, 1, now).await;
    assert_eq!(again.deals.len(), w.deals.len());
    assert_eq!(again.lines.len(), w.lines.len());
    chk.finish("generated history");
}

// =============================================================================================
// 2. Worked out by hand
// =============================================================================================

/// The hand fixture, in a UTC workspace; asked on Thursday 2026-12-10 12:00 UTC.
///
/// Stages: Lead 10%, Qualified 25%, Proposal 50%, Negotiation 75%, Won 100%, Lost.
/// Products: Widget $1,200, Support $100, Spare $10 (list prices).
/// Quotas (monthly): rep 10 $30,000, rep 11 $20,000, rep 12 $10,000.
///
/// | deal | owner | amount    | company | history (UTC)                                              | close      |
/// |------|-------|-----------|---------|------------------------------------------------------------|------------|
/// | D-1  | 11    | $800      | Cobalt  | 2025-09-01 12:00 Lead; 2025-09-10 12:00 won                 |            |
/// | D-2  | 11    | $1,000    | Ember   | 2026-02-20 12:00 Lead; 03-01 12:00 won                      |            |
/// | D-3  | 10    | $1,000    | Acme    | 06-01 12:00 Lead; 06-11 12:00 won                           |            |
/// | D-4  | 11    | $2,000    | Dune    | 07-20 12:00 Lead; 08-01 12:00 won                           |            |
/// | D-5  | 11    | $2,000    | Dune    | 09-20 12:00 Lead; 10-01 12:00 won                           |            |
/// | D-6  | 11    | $2,000    | Dune    | 10-20 12:00 Lead; 11-15 12:00 won                           |            |
/// | D-7  | 10    | $3,000    |         | 11-10 12:00 Lead; 11-20 12:00 Negotiation                   | 2026-12-31 |
/// | D-8  | 10    | $400      |         | 11-25 12:00 Lead                                            | 2026-11-30 |
/// | D-9  | 10    | $5,000    | Acme    | 12-01 12:00 Lead; 12-02 12:00 Qualified; 12-05 12:00 Proposal; 12-07 12:00 won | |
/// | D-10 | 10    | $7,000    | Birch   | 12-02 12:00 Lead; 12-04 12:00 Qualified; 12-08 00:00 won    |            |
/// | D-11 | 11    | $1,380    | Acme    | 12-03 12:00 Lead; 12-06 12:00 lost                          |            |
/// | D-12 | 11    | $2,000    |         | 12-05 12:00 Lead; 12-06 12:00 Proposal                      | 2026-12-20 |
/// | D-13 | 11    | $500      |         | 12-08 12:00 Lead                                            |            |
///
/// Lines: D-9 Widget ×5 @ $1,000 (list $1,200); D-11 Widget ×1 @ $1,200, Support ×2 @ $90
/// (list $100); D-12 Support ×20 @ $100 (set with /deal product after a Widget line that is
/// removed again).
/// Activities: rep 10 call 11-28 (satisfaction 1), call 12-02 (4), meeting 12-03 (5),
/// email 12-09; rep 11 visit 12-04 (3), note 12-05; manager 20 message 12-06 (2).
async fn hand_fixture(h: &mut Harness) {
    h.join(&[10, 11, 12, MANAGER], ":as 1 admin").await;
    h.run(":as 1 admin").await;
    h.run(":now 2025-08-01T12:00:00Z").await;
    for line in [
        "/product add name:Widget price:1200",
        "/product add name:Support price:100",
        "/product add name:Spare price:10",
        r#"/company add name:Acme industry:Software tier:enterprise tags:"partner, apac""#,
        "/company add name:Birch industry:Retail tier:smb tags:apac",
        "/company add name:Cobalt tier:mid-market",
        "/company add name:Dune industry:Manufacturing tier:enterprise tags:partner",
        "/company add name:Ember industry:Retail tags:vip",
        "/contact add name:Ann email:ann@acme.test company:Acme",
        "/contact add name:Bob email:bob@birch.test company:Birch",
        "/settings quota member:<@10> amount:30k",
        "/settings quota member:<@11> amount:20k",
        "/settings quota member:<@12> amount:10k",
    ] {
        must(h, line).await;
    }
    #[rustfmt::skip]
    let script: [(&str, &str, &str); 37] = [
        ("2025-09-01T12:00:00Z", "1 admin", r#"/deal new title:"Cobalt old" amount:800 company:Cobalt owner:<@11>"#),
        ("2025-09-10T12:00:00Z", "1 admin", "/deal won deal:D-1"),
        ("2026-02-20T12:00:00Z", "1 admin", r#"/deal new title:"Ember deal" amount:1000 company:Ember owner:<@11>"#),
        ("2026-03-01T12:00:00Z", "1 admin", "/deal won deal:D-2"),
        ("2026-06-01T12:00:00Z", "1 admin", r#"/deal new title:"Acme renewal" amount:1000 company:Acme owner:<@10>"#),
        ("2026-06-11T12:00:00Z", "1 admin", "/deal won deal:D-3"),
        ("2026-07-20T12:00:00Z", "1 admin", r#"/deal new title:"Dune one" amount:2000 company:Dune owner:<@11>"#),
        ("2026-08-01T12:00:00Z", "1 admin", "/deal won deal:D-4"),
        ("2026-09-20T12:00:00Z", "1 admin", r#"/deal new title:"Dune two" amount:2000 company:Dune owner:<@11>"#),
        ("2026-10-01T12:00:00Z", "1 admin", "/deal won deal:D-5"),
        ("2026-10-20T12:00:00Z", "1 admin", r#"/deal new title:"Dune three" amount:2000 company:Dune owner:<@11>"#),
        ("2026-11-10T12:00:00Z", "1 admin", "/deal new title:Epsilon amount:3000 owner:<@10> close:2026-12-31"),
        ("2026-11-15T12:00:00Z", "1 admin", "/deal won deal:D-6"),
        ("2026-11-20T12:00:00Z", "1 admin", "/deal move deal:D-7 stage:Negotiation"),
        ("2026-11-25T12:00:00Z", "1 admin", "/deal new title:Theta amount:400 owner:<@10> close:2026-11-30"),
        ("2026-11-28T10:00:00Z", "10 rep", "/contact log contact:ann@acme.test kind:call summary:intro satisfaction:1"),
        ("2026-12-01T12:00:00Z", "1 admin", r#"/deal new title:Alpha company:Acme owner:<@10> products:"Widget x5 @1000""#),
        ("2026-12-02T10:00:00Z", "10 rep", "/contact log contact:ann@acme.test kind:call summary:demo satisfaction:4"),
        ("2026-12-02T12:00:00Z", "1 admin", "/deal new title:Beta amount:7000 company:Birch owner:<@10>"),
        ("2026-12-02T12:00:00Z", "1 admin", "/deal move deal:D-9 stage:Qualified"),
        ("2026-12-03T10:00:00Z", "10 rep", "/contact log contact:ann@acme.test kind:meeting summary:terms satisfaction:5"),
        ("2026-12-03T12:00:00Z", "1 admin", r#"/deal new title:Gamma company:Acme owner:<@11> products:"Widget x1; Support x2 @90""#),
        ("2026-12-04T10:00:00Z", "11 rep", "/contact log contact:bob@birch.test kind:visit summary:visit satisfaction:3"),
        ("2026-12-04T12:00:00Z", "1 admin", "/deal move deal:D-10 stage:Qualified"),
        ("2026-12-05T10:00:00Z", "11 rep", "/contact log contact:bob@birch.test kind:note summary:notes"),
        ("2026-12-05T12:00:00Z", "1 admin", "/deal move deal:D-9 stage:Proposal"),
        ("2026-12-05T12:00:00Z", "1 admin", "/deal new title:Delta amount:2000 owner:<@11> close:2026-12-20"),
        ("2026-12-06T10:00:00Z", "20 manager", "/contact log contact:bob@birch.test kind:message summary:ping satisfaction:2"),
        ("2026-12-06T12:00:00Z", "1 admin", "/deal lost deal:D-11 reason:price"),
        ("2026-12-06T12:00:00Z", "1 admin", "/deal move deal:D-12 stage:Proposal"),
        ("2026-12-06T13:00:00Z", "1 admin", "/deal product deal:D-12 product:Widget quantity:1"),
        ("2026-12-06T13:10:00Z", "1 admin", "/deal product deal:D-12 product:Support quantity:20 price:100"),
        ("2026-12-06T13:20:00Z", "1 admin", "/deal product deal:D-12 product:Widget quantity:0"),
        ("2026-12-07T12:00:00Z", "1 admin", "/deal won deal:D-9"),
        ("2026-12-08T00:00:00Z", "1 admin", "/deal won deal:D-10"),
        ("2026-12-08T12:00:00Z", "1 admin", "/deal new title:Eta amount:500 owner:<@11>"),
        ("2026-12-09T10:00:00Z", "10 rep", "/contact log contact:ann@acme.test kind:email summary:followup"),
    ];
    let amount_of =
        |n: i64| format!("SELECT amount_minor FROM deals WHERE workspace_id = 1 AND number = {n}");
    for (time, who, line) in script {
        h.run(&format!(":now {time}")).await;
        h.run(&format!(":as {who}")).await;
        must(h, line).await;
        // A line sets the deal's amount to the lines' total.
        match line {
            "/deal product deal:D-12 product:Widget quantity:1" => {
                assert_eq!(h.count(&amount_of(12)).await, 120_000, "{line}");
            }
            "/deal product deal:D-12 product:Support quantity:20 price:100" => {
                assert_eq!(h.count(&amount_of(12)).await, 320_000, "{line}");
            }
            "/deal product deal:D-12 product:Widget quantity:0" => {
                assert_eq!(h.count(&amount_of(12)).await, 200_000, "{line}");
            }
            _ => {}
        }
    }
    h.run(":as 1 admin").await;
    h.run(":now 2026-12-10T12:00:00Z").await;
    // products: given without an amount, the amount is the lines' total.
    assert_eq!(h.count(&amount_of(9)).await, 500_000);
    assert_eq!(h.count(&amount_of(11)).await, 138_000);
    assert_eq!(
        h.count("SELECT count(*) FROM deal_products WHERE workspace_id = 1")
            .await,
        4
    );
}

fn hand_now() -> DateTime<Utc> {
    at("2026-12-10T12:00:00Z")
}

fn utc_named(key: &str) -> Per {
    named(chrono_tz::UTC, hand_now(), key)
}

/// A stage line of the pipeline data.
#[allow(clippy::too_many_arguments)]
fn st(
    name: &str,
    probability: i64,
    open: (i64, i64, i64),
    reached: i64,
    conversion: Option<f64>,
    stays: i64,
    avg_days: Option<f64>,
) -> Value {
    json!({
        "name": name, "probability": probability,
        "open_count": open.0, "open_amount_minor": open.1, "weighted_amount_minor": open.2,
        "reached": reached, "conversion_to_next": conversion,
        "stays": stays, "avg_days_in_stage": avg_days,
    })
}

#[sqlx::test(migrations = "./migrations")]
async fn pipeline_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let mut chk = Check::default();

    // December, the team.
    // Open now: Lead D-8 $400 + D-13 $500 (weighted 10%: $90), Proposal D-12 $2,000 ($1,000),
    //   Negotiation D-7 $3,000 ($2,250): 4 deals, $5,900, weighted $3,340.
    // Cohort (created in December): D-9 and D-10 reached Won, D-12 Proposal, D-11 and D-13
    //   Lead. Reached 5, 3, 3, 2, 2: conversions 0.6, 1, 2/3, 1.
    // Stays ended in December: Lead D-9 1 day, D-10 2, D-11 3, D-12 1 (avg 1.75);
    //   Qualified D-9 3, D-10 3.5 (avg 3.25); Proposal D-9 2.
    // Closed: D-9 won $5,000 (6 days), D-10 won $7,000 (5.5 days), D-11 lost $1,380.
    let r = ask(&mut h, "/pipeline stats period:this-month", &mut chk).await;
    let december = json!({
        "report": "pipeline",
        "period": {"key": "this-month", "from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        "owner": null,
        "currency": "USD",
        "stages": [
            st("Lead", 10, (2, 90_000, 9_000), 5, Some(0.6), 4, Some(1.75)),
            st("Qualified", 25, (0, 0, 0), 3, Some(1.0), 2, Some(3.25)),
            st("Proposal", 50, (1, 200_000, 100_000), 3, Some(2.0 / 3.0), 1, Some(2.0)),
            st("Negotiation", 75, (1, 300_000, 225_000), 2, Some(1.0), 0, None),
            st("Won", 100, (0, 0, 0), 2, None, 0, None),
        ],
        "open_count": 4, "open_amount_minor": 590_000, "weighted_amount_minor": 334_000,
        "won_count": 2, "won_amount_minor": 1_200_000,
        "lost_count": 1, "lost_amount_minor": 138_000,
        "win_rate": 2.0 / 3.0, "avg_deal_minor": 600_000, "avg_cycle_days": 5.75,
    });
    if let Some(r) = r {
        chk.same("pipeline this-month", &r, &december);
    }
    chk.same(
        "recomputation, this-month",
        &pipeline_expected(&w, &utc_named("this-month"), None),
        &december,
    );

    // December, rep 10: open D-8 (Lead) and D-7 (Negotiation); cohort D-9, D-10.
    let r = ask(
        &mut h,
        "/pipeline stats period:this-month owner:<@10>",
        &mut chk,
    )
    .await;
    let rep10 = json!({
        "owner": 10,
        "stages": [
            st("Lead", 10, (1, 40_000, 4_000), 2, Some(1.0), 2, Some(1.5)),
            st("Qualified", 25, (0, 0, 0), 2, Some(1.0), 2, Some(3.25)),
            st("Proposal", 50, (0, 0, 0), 2, Some(1.0), 1, Some(2.0)),
            st("Negotiation", 75, (1, 300_000, 225_000), 2, Some(1.0), 0, None),
            st("Won", 100, (0, 0, 0), 2, None, 0, None),
        ],
        "open_count": 2, "open_amount_minor": 340_000, "weighted_amount_minor": 229_000,
        "won_count": 2, "won_amount_minor": 1_200_000, "lost_count": 0, "lost_amount_minor": 0,
        "win_rate": 1.0, "avg_deal_minor": 600_000, "avg_cycle_days": 5.75,
    });
    if let Some(r) = r {
        chk.same("pipeline this-month rep 10", &r, &rep10);
    }
    chk.same(
        "recomputation, rep 10",
        &pipeline_expected(&w, &utc_named("this-month"), Some(10)),
        &rep10,
    );

    // November: cohort D-7 (Negotiation), D-8 (Lead): reached 2, 1, 1, 1, 0.
    //   Stays ended: Lead D-6 26 days (Oct 20 → Nov 15), D-7 10 days: avg 18.
    //   Won D-6 $2,000 after 26 days; nothing lost.
    let r = ask(&mut h, "/pipeline stats period:last-month", &mut chk).await;
    let november = json!({
        "period": {"key": "last-month", "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        "stages": [
            st("Lead", 10, (2, 90_000, 9_000), 2, Some(0.5), 2, Some(18.0)),
            st("Qualified", 25, (0, 0, 0), 1, Some(1.0), 0, None),
            st("Proposal", 50, (1, 200_000, 100_000), 1, Some(1.0), 0, None),
            st("Negotiation", 75, (1, 300_000, 225_000), 1, Some(0.0), 0, None),
            st("Won", 100, (0, 0, 0), 0, None, 0, None),
        ],
        "won_count": 1, "won_amount_minor": 200_000, "lost_count": 0, "lost_amount_minor": 0,
        "win_rate": 1.0, "avg_deal_minor": 200_000, "avg_cycle_days": 26.0,
    });
    if let Some(r) = r {
        chk.same("pipeline last-month", &r, &november);
    }
    chk.same(
        "recomputation, last-month",
        &pipeline_expected(&w, &utc_named("last-month"), None),
        &november,
    );
    // A custom span inside December with no close: rates are null.
    let r = ask(
        &mut h,
        "/pipeline stats from:2026-12-09 to:2026-12-09",
        &mut chk,
    )
    .await;
    let quiet = json!({
        "period": {"key": "custom", "from": "2026-12-09T00:00:00Z", "to": "2026-12-10T00:00:00Z"},
        "won_count": 0, "lost_count": 0, "win_rate": null, "avg_deal_minor": null, "avg_cycle_days": null,
        "open_count": 4,
    });
    if let Some(r) = r {
        chk.same("pipeline Dec 9", &r, &quiet);
    }
    chk.finish("pipeline by hand");
}

#[sqlx::test(migrations = "./migrations")]
async fn kpi_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let mut chk = Check::default();
    let acts = |call: i64, email: i64, meeting: i64, visit: i64, message: i64, note: i64| json!({"call": call, "email": email, "meeting": meeting, "visit": visit, "message": message, "note": note});

    // December, the leaderboard (the admin, user 1, has no figures and no quota: not listed).
    // Rep 10: won D-9, D-10 ($12,000; cycles 6 and 5.5 days); call, meeting, email
    //   (satisfaction 4 and 5); created D-9, D-10; quota $30,000 → 40%.
    // Rep 11: lost D-11; visit (3), note; created D-11 $1,380, D-12 $2,000, D-13 $500;
    //   quota $20,000 → 0%.
    // Rep 12: nothing but a $10,000 quota. Manager 20: one message (2).
    let r = ask(&mut h, "/kpi period:this-month", &mut chk).await;
    let december = json!({
        "report": "kpi",
        "period": {"key": "this-month", "from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        "currency": "USD",
        "members": [
            {"user_id": 10, "name": "user 10", "revenue_minor": 1_200_000, "won_count": 2, "lost_count": 0,
             "win_rate": 1.0, "avg_deal_minor": 600_000, "avg_cycle_days": 5.75,
             "activities": acts(1, 1, 1, 0, 0, 0), "activities_total": 3,
             "avg_satisfaction": 4.5, "satisfaction_count": 2,
             "new_pipeline_count": 2, "new_pipeline_minor": 1_200_000,
             "quota_minor": 3_000_000, "quota_attainment": 0.4},
            {"user_id": 11, "name": "user 11", "revenue_minor": 0, "won_count": 0, "lost_count": 1,
             "win_rate": 0.0, "avg_deal_minor": null, "avg_cycle_days": null,
             "activities": acts(0, 0, 0, 1, 0, 1), "activities_total": 2,
             "avg_satisfaction": 3.0, "satisfaction_count": 1,
             "new_pipeline_count": 3, "new_pipeline_minor": 388_000,
             "quota_minor": 2_000_000, "quota_attainment": 0.0},
            {"user_id": 12, "name": "user 12", "revenue_minor": 0, "won_count": 0, "lost_count": 0,
             "win_rate": null, "avg_deal_minor": null, "avg_cycle_days": null,
             "activities": acts(0, 0, 0, 0, 0, 0), "activities_total": 0,
             "avg_satisfaction": null, "satisfaction_count": 0,
             "new_pipeline_count": 0, "new_pipeline_minor": 0,
             "quota_minor": 1_000_000, "quota_attainment": 0.0},
            {"user_id": 20, "name": "user 20", "revenue_minor": 0, "won_count": 0, "lost_count": 0,
             "win_rate": null, "avg_deal_minor": null, "avg_cycle_days": null,
             "activities": acts(0, 0, 0, 0, 1, 0), "activities_total": 1,
             "avg_satisfaction": 2.0, "satisfaction_count": 1,
             "new_pipeline_count": 0, "new_pipeline_minor": 0,
             "quota_minor": null, "quota_attainment": null},
        ],
        "team": {"user_id": null, "revenue_minor": 1_200_000, "won_count": 2, "lost_count": 1,
                 "win_rate": 2.0 / 3.0, "avg_deal_minor": 600_000, "avg_cycle_days": 5.75,
                 "activities": acts(1, 1, 1, 1, 1, 1), "activities_total": 6,
                 "avg_satisfaction": 3.5, "satisfaction_count": 4,
                 "new_pipeline_count": 5, "new_pipeline_minor": 1_588_000,
                 "quota_minor": 6_000_000, "quota_attainment": 0.2},
    });
    if let Some(r) = r {
        chk.same("kpi this-month", &r, &december);
    }
    chk.same(
        "recomputation, kpi this-month",
        &kpi_expected(&w, &utc_named("this-month"), None),
        &december,
    );

    // This week (Dec 7-13), rep 10: both wins; the email; quota 7/31 of $30,000 =
    //   $6,774.1935... → 677,419 cents.
    let r = ask(&mut h, "/kpi period:this-week member:<@10>", &mut chk).await;
    let week = json!({
        "period": {"key": "this-week", "from": "2026-12-07T00:00:00Z", "to": "2026-12-14T00:00:00Z"},
        "members": [
            {"user_id": 10, "revenue_minor": 1_200_000, "won_count": 2, "lost_count": 0, "win_rate": 1.0,
             "activities": acts(0, 1, 0, 0, 0, 0), "activities_total": 1,
             "avg_satisfaction": null, "satisfaction_count": 0,
             "new_pipeline_count": 0, "new_pipeline_minor": 0,
             "quota_minor": 677_419, "quota_attainment": 1_200_000.0 / 677_419.0},
        ],
        "team": {"revenue_minor": 1_200_000, "quota_minor": 677_419},
    });
    if let Some(r) = r {
        chk.same("kpi this-week rep 10", &r, &week);
    }
    chk.same(
        "recomputation, kpi this-week rep 10",
        &kpi_expected(&w, &utc_named("this-week"), Some(10)),
        &week,
    );

    // Nov 25 - Dec 5, rep 10: 6/30 of November and 5/31 of December of $30,000:
    //   $6,000 + $4,838.709... = $10,838.71 → 1,083,871 cents. Calls Nov 28 (1), Dec 2 (4),
    //   meeting Dec 3 (5): average 10/3. Created D-8, D-9, D-10: $12,400. No wins yet.
    let r = ask(
        &mut h,
        "/kpi from:2026-11-25 to:2026-12-05 member:<@10>",
        &mut chk,
    )
    .await;
    let span = json!({
        "members": [
            {"user_id": 10, "revenue_minor": 0, "won_count": 0, "lost_count": 0, "win_rate": null,
             "avg_deal_minor": null, "avg_cycle_days": null,
             "activities": acts(2, 0, 1, 0, 0, 0), "activities_total": 3,
             "avg_satisfaction": 10.0 / 3.0, "satisfaction_count": 3,
             "new_pipeline_count": 3, "new_pipeline_minor": 1_240_000,
             "quota_minor": 1_083_871, "quota_attainment": 0.0},
        ],
    });
    if let Some(r) = r {
        chk.same("kpi Nov 25 - Dec 5 rep 10", &r, &span);
    }
    chk.same(
        "recomputation, kpi span",
        &kpi_expected(
            &w,
            &custom(chrono_tz::UTC, "2026-11-25", "2026-12-05"),
            Some(10),
        ),
        &span,
    );

    // All time: no quotas.
    let r = ask(&mut h, "/kpi period:all-time member:<@11>", &mut chk).await;
    // Rep 11 all time: won D-1, D-2, D-4, D-5, D-6 = $7,800; lost D-11.
    let all = json!({
        "period": {"key": "all-time", "from": null},
        "members": [{"user_id": 11, "revenue_minor": 780_000, "won_count": 5, "lost_count": 1,
                     "win_rate": 5.0 / 6.0, "avg_deal_minor": 156_000,
                     "quota_minor": null, "quota_attainment": null}],
        "team": {"quota_minor": null, "quota_attainment": null},
    });
    if let Some(r) = r {
        chk.same("kpi all-time rep 11", &r, &all);
    }

    // A rep asking without a member gets their own row only.
    h.run(":as 11 rep").await;
    let r = ask(&mut h, "/kpi period:this-month", &mut chk).await;
    let own = json!({
        "members": [december["members"][1].clone()],
        "team": {"revenue_minor": 0, "lost_count": 1, "quota_minor": 2_000_000, "quota_attainment": 0.0},
    });
    if let Some(r) = r {
        chk.same("kpi as rep 11", &r, &own);
    }
    chk.finish("kpi by hand");
}

#[sqlx::test(migrations = "./migrations")]
async fn trends_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let mut chk = Check::default();
    let b = |start: &str,
             end: &str,
             won: i64,
             revenue: i64,
             created: i64,
             pipeline: i64,
             rc: Option<f64>,
             pc: Option<f64>| {
        json!({"start": start, "end": end, "won_count": won, "revenue_minor": revenue,
               "created_count": created, "pipeline_created_minor": pipeline,
               "revenue_change": rc, "pipeline_change": pc})
    };

    // Buckets stop at today: asked on Thursday December 10, the period's days are clipped to
    // [period start, December 11); no bucket starts after December 10.
    //
    // December by week; December 1 is a Tuesday, so the first week is clipped to Dec 1-6:
    //   created D-9 $5,000, D-10 $7,000, D-11 $1,380, D-12 $2,000 (4, $15,380), nothing won.
    // The week of December 7 ends on December 11 (not 14): won D-9 $5,000 (Dec 7) and D-10
    //   $7,000 (Dec 8), created D-13 $500 (Dec 8). Pipeline change (500 − 15,380) / 15,380;
    //   revenue change null (the week before had 0).
    // The weeks of December 14, 21 and 28 are still to come: not listed.
    let r = ask(&mut h, "/report trends period:this-month by:week", &mut chk).await;
    let weeks = json!({
        "report": "trends", "by": "week", "currency": "USD", "owner": null,
        "period": {"key": "this-month", "from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        "buckets": [
            b("2026-12-01", "2026-12-07", 0, 0, 4, 1_538_000, None, None),
            b("2026-12-07", "2026-12-11", 2, 1_200_000, 1, 50_000, None, Some((50_000.0 - 1_538_000.0) / 1_538_000.0)),
        ],
    });
    if let Some(r) = &r {
        chk.same("trends this-month by week", r, &weeks);
        chk.same(
            "recomputation, trends by week",
            &trends_expected(&w, &utc_named("this-month"), "week", None, r),
            &weeks,
        );
    }

    // December by month: one bucket, December 1 to December 11 (not January 1): won D-9 and
    //   D-10 ($12,000), created D-9 ... D-13 (5, $15,880). The first bucket: no changes.
    let r = ask(
        &mut h,
        "/report trends period:this-month by:month",
        &mut chk,
    )
    .await;
    let month = json!({
        "by": "month",
        "period": {"key": "this-month", "from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        "buckets": [
            b("2026-12-01", "2026-12-11", 2, 1_200_000, 5, 1_588_000, None, None),
        ],
    });
    if let Some(r) = &r {
        chk.same("trends this-month by month", r, &month);
        chk.same(
            "recomputation, trends this-month by month",
            &trends_expected(&w, &utc_named("this-month"), "month", None, r),
            &month,
        );
    }

    // This quarter by month: October won D-5, created D-6; November won D-6, created D-7 and
    // D-8; December (to the 11th) won D-9 and D-10, created five.
    let r = ask(
        &mut h,
        "/report trends period:this-quarter by:month",
        &mut chk,
    )
    .await;
    let months = json!({
        "by": "month",
        "buckets": [
            b("2026-10-01", "2026-11-01", 1, 200_000, 1, 200_000, None, None),
            b("2026-11-01", "2026-12-01", 1, 200_000, 2, 340_000, Some(0.0), Some(0.7)),
            b("2026-12-01", "2026-12-11", 2, 1_200_000, 5, 1_588_000, Some(5.0), Some(1_248_000.0 / 340_000.0)),
        ],
    });
    if let Some(r) = &r {
        chk.same("trends this-quarter by month", r, &months);
        chk.same(
            "recomputation, trends by month",
            &trends_expected(&w, &utc_named("this-quarter"), "month", None, r),
            &months,
        );
    }

    // Rep 10 this quarter by month: only D-7, D-8 (November) and D-9, D-10 (December).
    let r = ask(
        &mut h,
        "/report trends period:this-quarter by:month member:<@10>",
        &mut chk,
    )
    .await;
    let rep = json!({
        "owner": 10,
        "buckets": [
            b("2026-10-01", "2026-11-01", 0, 0, 0, 0, None, None),
            b("2026-11-01", "2026-12-01", 0, 0, 2, 340_000, None, None),
            b("2026-12-01", "2026-12-11", 2, 1_200_000, 2, 1_200_000, None, Some(860_000.0 / 340_000.0)),
        ],
    });
    if let Some(r) = &r {
        chk.same("trends rep 10", r, &rep);
    }

    // From/to is clipped the same way. November 28 (a Saturday) to January 15 by week:
    //   Nov 28-29: nothing (D-8 was created on the 25th); Nov 30 - Dec 6: created D-9 ... D-12
    //   ($15,380); Dec 7-10: won D-9 and D-10, created D-13 ($500). Nothing after December 10.
    let line = "/report trends from:2026-11-28 to:2027-01-15 by:week";
    let r = ask(&mut h, line, &mut chk).await;
    let span = json!({
        "period": {"key": "custom", "from": "2026-11-28T00:00:00Z", "to": "2027-01-16T00:00:00Z"},
        "buckets": [
            b("2026-11-28", "2026-11-30", 0, 0, 0, 0, None, None),
            b("2026-11-30", "2026-12-07", 0, 0, 4, 1_538_000, None, None),
            b("2026-12-07", "2026-12-11", 2, 1_200_000, 1, 50_000, None, Some((50_000.0 - 1_538_000.0) / 1_538_000.0)),
        ],
    });
    if let Some(r) = &r {
        chk.same(line, r, &span);
        chk.same(
            "recomputation, trends from/to",
            &trends_expected(
                &w,
                &custom(chrono_tz::UTC, "2026-11-28", "2027-01-15"),
                "week",
                None,
                r,
            ),
            &span,
        );
    }
    // A period that starts after today has no buckets at all.
    let line = "/report trends from:2027-01-01 to:2027-03-31 by:month";
    if let Some(r) = ask(&mut h, line, &mut chk).await {
        let want = json!({
            "period": {"key": "custom", "from": "2027-01-01T00:00:00Z", "to": "2027-04-01T00:00:00Z"},
            "buckets": [],
        });
        chk.same(line, &r, &want);
        chk.same(
            "recomputation, trends after today",
            &trends_expected(
                &w,
                &custom(chrono_tz::UTC, "2027-01-01", "2027-03-31"),
                "month",
                None,
                &r,
            ),
            &want,
        );
    }

    // All time by month starts with the first deal (2025-09-01): 16 months to December 2026,
    // the last one ending on December 11.
    if let Some(r) = ask(&mut h, "/report trends period:all-time by:month", &mut chk).await {
        let buckets = r["buckets"].as_array().cloned().unwrap_or_default();
        if buckets.len() != 16
            || buckets[0]["start"] != "2025-09-01"
            || buckets[15]["start"] != "2026-12-01"
            || buckets[15]["end"] != "2026-12-11"
        {
            chk.fail(format!("trends all-time by month: buckets {buckets:?}"));
        }
        chk.same(
            "trends all-time by month",
            &r,
            &trends_expected(
                &w,
                &named(chrono_tz::UTC, hand_now(), "all-time"),
                "month",
                None,
                &r,
            ),
        );
    }
    // All time by week: 67 weeks is more than 60.
    refused(&mut h, "/report trends period:all-time by:week", &mut chk).await;
    refused(
        &mut h,
        "/report trends from:2025-01-01 to:2026-12-31 by:week",
        &mut chk,
    )
    .await;
    chk.finish("trends by hand");
}

#[sqlx::test(migrations = "./migrations")]
async fn products_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let mut chk = Check::default();
    let id = |name: &str| {
        w.products
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.id)
            .expect("product")
    };
    let row = |name: &str,
               revenue: i64,
               units: i64,
               won: i64,
               lost: i64,
               rate: Option<f64>,
               discount: Option<f64>,
               open: i64| {
        json!({"product_id": id(name), "name": name, "revenue_minor": revenue, "units": units,
               "won_deals": won, "lost_deals": lost, "win_rate": rate, "avg_discount": discount,
               "open_deals": open})
    };

    // December: D-9 won with Widget ×5 at $1,000 (list $1,200): revenue $5,000, discount
    // 1 − 5,000/6,000; D-11 lost with Widget and Support. Open now: D-12 has Support.
    let r = ask(&mut h, "/report products period:this-month", &mut chk).await;
    let december = json!({
        "report": "products", "currency": "USD", "owner": null,
        "products": [
            row("Widget", 500_000, 5, 1, 1, Some(0.5), Some(1.0 - 500_000.0 / 600_000.0), 0),
            row("Spare", 0, 0, 0, 0, None, None, 0),
            row("Support", 0, 0, 0, 1, Some(0.0), None, 1),
        ],
    });
    if let Some(r) = r {
        chk.same("products this-month", &r, &december);
    }
    chk.same(
        "recomputation, products",
        &products_expected(&w, &utc_named("this-month"), None),
        &december,
    );
    // Rep 11: only the lost D-11 and the open D-12; all revenue 0, so by name.
    let r = ask(
        &mut h,
        "/report products period:this-month member:<@11>",
        &mut chk,
    )
    .await;
    let rep = json!({
        "owner": 11,
        "products": [
            row("Spare", 0, 0, 0, 0, None, None, 0),
            row("Support", 0, 0, 0, 1, Some(0.0), None, 1),
            row("Widget", 0, 0, 0, 1, Some(0.0), None, 0),
        ],
    });
    if let Some(r) = r {
        chk.same("products rep 11", &r, &rep);
    }
    // The catalogue lists the products; only managers add to it.
    let list = must(&mut h, "/product list").await;
    for name in ["Widget", "Support", "Spare"] {
        assert!(text(&list).contains(name), "{list}");
    }
    h.run(":as 11 rep").await;
    refused(&mut h, "/product add name:Rogue price:5", &mut chk).await;
    h.run(":as 1 admin").await;
    assert_eq!(h.count("SELECT count(*) FROM products").await, 3);
    chk.finish("products by hand");
}

#[sqlx::test(migrations = "./migrations")]
async fn customers_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let mut chk = Check::default();
    let co = |name: &str| {
        w.companies
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id)
            .expect("company")
    };
    let vc = |pairs: &[(&str, i64)]| {
        Value::Array(
            pairs
                .iter()
                .map(|(v, c)| json!({"value": v, "count": c}))
                .collect(),
        )
    };
    let seg = |name: &str, n: i64, revenue: i64, ind: Value, tiers: Value, tags: Value| {
        json!({"segment": name, "customers": n, "revenue_minor": revenue,
               "industries": ind, "tiers": tiers, "tags": tags})
    };
    let empty = || vc(&[]);

    // as_of is the earlier of the period's end and now: December ends on 2027-01-01, later
    // than now, so this month is measured as of now, Thursday 2026-12-10 12:00 UTC. Days are
    // whole days (floor) from a won deal's closed_at to as_of. Customers and their won deals:
    //   Acme: Jun 11 12:00 ($1,000), Dec 7 12:00 ($5,000): first 182 days ago (Jun 11 → Dec 11
    //     is 30 + 31 + 31 + 30 + 31 + 30 = 183), last 3, F 2: not new (> 90), not champions
    //     (F < 3); R ≤ 180 and F ≥ 2 → loyal.
    //   Birch: Dec 8 00:00 ($7,000): first 2.5 days ago → 2 → new.
    //   Cobalt: 2025-09-10 12:00 ($800): 365 + 91 = 456 days → R > 365 → dormant.
    //   Dune: Aug 1, Oct 1, Nov 15, all 12:00 ($6,000): first 131 days ago (Aug 1 → Dec 1 is
    //     31 + 30 + 31 + 30 = 122, + 9), last 25, F 3, M $6,000 ≥ p75 → champions.
    //   Ember: Mar 1 12:00 ($1,000): 275 + 9 = 284 days, F 1 → at risk (R ≤ 365).
    //   M sorted: 800, 1,000, 6,000, 6,000, 7,000 dollars; p75 = index ceil(3.75) − 1 = 3 → $6,000.
    // Top: won in [Dec 1, now): Birch $7,000, Acme $5,000 (D-9).
    let r = ask(&mut h, "/report customers period:this-month", &mut chk).await;
    let december = json!({
        "report": "customers", "currency": "USD", "owner": null,
        "as_of": "2026-12-10T12:00:00+00:00",
        "top": [
            {"company_id": co("Birch"), "name": "Birch", "revenue_minor": 700_000, "won_deals": 1},
            {"company_id": co("Acme"), "name": "Acme", "revenue_minor": 500_000, "won_deals": 1},
        ],
        "segments": [
            seg("champions", 1, 600_000, vc(&[("Manufacturing", 1)]), vc(&[("enterprise", 1)]), vc(&[("partner", 1)])),
            seg("loyal", 1, 600_000, vc(&[("Software", 1)]), vc(&[("enterprise", 1)]), vc(&[("apac", 1), ("partner", 1)])),
            seg("new", 1, 700_000, vc(&[("Retail", 1)]), vc(&[("smb", 1)]), vc(&[("apac", 1)])),
            seg("at_risk", 1, 100_000, vc(&[("Retail", 1)]), empty(), vc(&[("vip", 1)])),
            seg("dormant", 1, 80_000, empty(), vc(&[("mid-market", 1)]), empty()),
        ],
    });
    if let Some(r) = r {
        chk.same("customers this-month", &r, &december);
    }
    chk.same(
        "recomputation, customers this-month",
        &customers_expected(&w, &utc_named("this-month"), None, DayRule::Floor),
        &december,
    );

    // A period reaching far past now is measured as of now too. December to June 2027: as of
    // the period's end (2027-07-01) Birch would be at risk (205 days), Acme and Dune at risk
    // (R 206 and 228 > 180) and Ember dormant (487); as of now they are December's segments,
    // and the top is December's (nothing is won after now).
    let line = "/report customers from:2026-12-01 to:2027-06-30";
    let r = ask(&mut h, line, &mut chk).await;
    let long = json!({
        "period": {"key": "custom", "from": "2026-12-01T00:00:00Z", "to": "2027-07-01T00:00:00Z"},
        "as_of": "2026-12-10T12:00:00+00:00",
        "top": december["top"].clone(),
        "segments": december["segments"].clone(),
    });
    if let Some(r) = r {
        chk.same(line, &r, &long);
    }
    chk.same(
        "recomputation, customers December to June",
        &customers_expected(
            &w,
            &custom(chrono_tz::UTC, "2026-12-01", "2027-06-30"),
            None,
            DayRule::Floor,
        ),
        &long,
    );

    // Last quarter (Jul-Sep) ended before now: as of its end, 2026-10-01 00:00 (D-5, won at
    //   12:00 that day, is after it). Acme (Jun 11, 111.5 → 111 days, F 1) and Ember (213.5 →
    //   213 days) at risk; Dune (Aug 1, 60.5 → 60 days) new; Cobalt (385.5 → 385) dormant.
    //   Top: Dune (D-4, Aug 1).
    let r = ask(&mut h, "/report customers period:last-quarter", &mut chk).await;
    let q3 = json!({
        "as_of": "2026-10-01T00:00:00+00:00",
        "top": [{"company_id": co("Dune"), "name": "Dune", "revenue_minor": 200_000, "won_deals": 1}],
        "segments": [
            seg("champions", 0, 0, empty(), empty(), empty()),
            seg("loyal", 0, 0, empty(), empty(), empty()),
            seg("new", 1, 200_000, vc(&[("Manufacturing", 1)]), vc(&[("enterprise", 1)]), vc(&[("partner", 1)])),
            seg("at_risk", 2, 200_000, vc(&[("Retail", 1), ("Software", 1)]), vc(&[("enterprise", 1)]),
                vc(&[("apac", 1), ("partner", 1), ("vip", 1)])),
            seg("dormant", 1, 80_000, empty(), vc(&[("mid-market", 1)]), empty()),
        ],
    });
    if let Some(r) = r {
        chk.same("customers last-quarter", &r, &q3);
    }
    chk.same(
        "recomputation, customers last-quarter",
        &customers_expected(&w, &utc_named("last-quarter"), None, DayRule::Floor),
        &q3,
    );

    // All time, as of now (as this month): the same segments; top is every customer by
    // revenue, then name.
    let r = ask(&mut h, "/report customers period:all-time", &mut chk).await;
    let all = json!({
        "as_of": "2026-12-10T12:00:00+00:00",
        "top": [
            {"name": "Birch", "revenue_minor": 700_000, "won_deals": 1},
            {"name": "Acme", "revenue_minor": 600_000, "won_deals": 2},
            {"name": "Dune", "revenue_minor": 600_000, "won_deals": 3},
            {"name": "Ember", "revenue_minor": 100_000, "won_deals": 1},
            {"name": "Cobalt", "revenue_minor": 80_000, "won_deals": 1},
        ],
        "segments": december["segments"].clone(),
    });
    if let Some(r) = r {
        chk.same("customers all-time", &r, &all);
    }

    // Rep 11's deals only, as of now: Cobalt (456 days, dormant), Ember (284 days, at risk),
    // Dune (first 131 days, last 25, F 3: champion, p75 of 800, 1,000, 6,000 dollars being
    // index ceil(2.25) − 1 = 2 → $6,000). Nothing won by rep 11 in December: no top.
    let r = ask(
        &mut h,
        "/report customers period:this-month member:<@11>",
        &mut chk,
    )
    .await;
    let rep = json!({
        "owner": 11,
        "as_of": "2026-12-10T12:00:00+00:00",
        "top": [],
        "segments": [
            seg("champions", 1, 600_000, vc(&[("Manufacturing", 1)]), vc(&[("enterprise", 1)]), vc(&[("partner", 1)])),
            seg("loyal", 0, 0, empty(), empty(), empty()),
            seg("new", 0, 0, empty(), empty(), empty()),
            seg("at_risk", 1, 100_000, vc(&[("Retail", 1)]), empty(), vc(&[("vip", 1)])),
            seg("dormant", 1, 80_000, empty(), vc(&[("mid-market", 1)]), empty()),
        ],
    });
    if let Some(r) = r {
        chk.same("customers rep 11", &r, &rep);
    }
    chk.same(
        "recomputation, customers rep 11",
        &customers_expected(&w, &utc_named("this-month"), Some(11), DayRule::Floor),
        &rep,
    );
    chk.finish("customers by hand");
}

#[sqlx::test(migrations = "./migrations")]
async fn forecast_and_what_if_worked_out_by_hand(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let mut chk = Check::default();

    // December, the team: won $12,000; expected to close in December: D-7 (Dec 31,
    //   Negotiation $3,000 → $2,250) and D-12 (Dec 20, Proposal $2,000 → $1,000). Expected
    //   $15,250, best case $17,000. Quota $30k + $20k + $10k = $60,000. D-13 has no close
    //   date ($500), D-8 was expected Nov 30 ($400): overdue.
    let december = json!({
        "report": "forecast", "currency": "USD", "owner": null,
        "period": {"key": "this-month", "from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        "won_count": 2, "won_minor": 1_200_000,
        "open_count": 2, "open_minor": 500_000, "weighted_minor": 325_000,
        "expected_minor": 1_525_000, "best_case_minor": 1_700_000,
        "quota_minor": 6_000_000,
        "attainment_won": 0.2, "attainment_expected": 1_525_000.0 / 6_000_000.0,
        "attainment_best": 1_700_000.0 / 6_000_000.0,
        "no_close_date": {"count": 1, "amount_minor": 50_000},
        "overdue": {"count": 1, "amount_minor": 40_000},
    });
    for line in ["/forecast show period:this-month", "/forecast show"] {
        if let Some(r) = ask(&mut h, line, &mut chk).await {
            chk.same(line, &r, &december);
        }
    }
    chk.same(
        "recomputation, forecast",
        &forecast_expected(&w, &utc_named("this-month"), None),
        &december,
    );
    // Rep 10: won $12,000, D-7 open; D-8 overdue; quota $30,000.
    let rep10 = json!({
        "owner": 10, "won_count": 2, "won_minor": 1_200_000, "open_count": 1, "open_minor": 300_000,
        "weighted_minor": 225_000, "expected_minor": 1_425_000, "best_case_minor": 1_500_000,
        "quota_minor": 3_000_000, "attainment_won": 0.4, "attainment_expected": 0.475, "attainment_best": 0.5,
        "no_close_date": {"count": 0, "amount_minor": 0},
        "overdue": {"count": 1, "amount_minor": 40_000},
    });
    if let Some(r) = ask(
        &mut h,
        "/forecast show period:this-month member:<@10>",
        &mut chk,
    )
    .await
    {
        chk.same("forecast rep 10", &r, &rep10);
    }
    // November: won D-6 $2,000; D-8 (Nov 30, Lead $400 → $40); nothing overdue.
    let november = json!({
        "won_count": 1, "won_minor": 200_000, "open_count": 1, "open_minor": 40_000,
        "weighted_minor": 4_000, "expected_minor": 204_000, "best_case_minor": 240_000,
        "quota_minor": 6_000_000, "attainment_won": 200_000.0 / 6_000_000.0,
        "no_close_date": {"count": 1, "amount_minor": 50_000},
        "overdue": {"count": 0, "amount_minor": 0},
    });
    if let Some(r) = ask(&mut h, "/forecast show period:last-month", &mut chk).await {
        chk.same("forecast last-month", &r, &november);
    }

    // What-if. The cohort of the 365 days before now is D-2 ... D-13 (D-1 is older).
    //   Furthest: D-2..D-6, D-9, D-10 Won; D-7 Negotiation; D-12 Proposal; D-8, D-11, D-13
    //   Lead. Reached: 12, 9, 9, 8, 7: conversions 0.75, 1, 8/9, 0.875.
    //
    // Proposal to 100%: factor 1/(8/9) = 1.125; Proposal 56.25%: D-12 $2,000 → $1,125;
    //   Negotiation unchanged $2,250. Weighted $3,375, expected $15,375.
    let current = json!({"expected_minor": 1_525_000, "best_case_minor": 1_700_000,
                         "weighted_minor": 325_000, "attainment_expected": 1_525_000.0 / 6_000_000.0});
    let line = "/forecast what-if stage:Proposal conversion:100 period:this-month";
    if let Some(r) = ask(&mut h, line, &mut chk).await {
        chk.same(
            line,
            &r,
            &json!({
                "report": "what_if", "owner": null, "stage": "Proposal",
                "conversion_current": 8.0 / 9.0, "conversion_new": 1.0, "deal_size_change": 0.0,
                "current": current,
            }),
        );
        check_what_if(
            &mut chk,
            line,
            &r,
            &simulated((337_500, 1_537_500, 1_700_000), Some(6_000_000), 2),
        );
    }
    // Negotiation to 50% and deals 10% bigger: factor 0.5/0.875; Proposal 28.571...%,
    //   Negotiation 42.857...%; D-12 $2,200 → $628.57, D-7 $3,300 → $1,414.29. Weighted
    //   $2,042.86, expected $14,042.86, best $17,500 (each ± 1 cent per stage).
    let line = "/forecast what-if stage:Negotiation conversion:50 deal_size:10 period:this-month";
    if let Some(r) = ask(&mut h, line, &mut chk).await {
        chk.same(
            line,
            &r,
            &json!({
                "stage": "Negotiation", "conversion_current": 0.875, "conversion_new": 0.5,
                "deal_size_change": 0.1, "current": current,
            }),
        );
        check_what_if(
            &mut chk,
            line,
            &r,
            &simulated((204_286, 1_404_286, 1_750_000), Some(6_000_000), 2),
        );
    }
    // Deals 20% smaller, rep 10, default period (this month): D-7 $2,400 → $1,800.
    let line = "/forecast what-if deal_size:-20 member:<@10>";
    if let Some(r) = ask(&mut h, line, &mut chk).await {
        chk.same(
            line,
            &r,
            &json!({
                "owner": 10, "stage": null, "conversion_current": null, "conversion_new": null,
                "deal_size_change": -0.2,
                "current": {"expected_minor": 1_425_000, "best_case_minor": 1_500_000,
                            "weighted_minor": 225_000, "attainment_expected": 0.475},
            }),
        );
        check_what_if(
            &mut chk,
            line,
            &r,
            &simulated((180_000, 1_380_000, 1_440_000), Some(3_000_000), 1),
        );
    }
    // Rep 12 has no deals: no cohort, so the implied conversion 100/75.
    let line = "/forecast what-if stage:Negotiation conversion:100 member:<@12> period:this-month";
    if let Some(r) = ask(&mut h, line, &mut chk).await {
        chk.same(line, &r, &json!({
            "owner": 12, "conversion_current": 100.0 / 75.0, "conversion_new": 1.0,
            "current": {"expected_minor": 0, "best_case_minor": 0, "weighted_minor": 0, "attainment_expected": 0.0},
        }));
        check_what_if(
            &mut chk,
            line,
            &r,
            &simulated((0, 0, 0), Some(1_000_000), 0),
        );
    }
    // The recomputation agrees with the hand figures.
    let p = utc_named("this-month");
    let wi = what_if_expected(&w, &p, None, Some(("Proposal", 100)), 0);
    assert_eq!(wi.simulated, (337_500.0, 1_537_500.0, 1_700_000.0));
    let wi = what_if_expected(&w, &p, None, Some(("Negotiation", 50)), 10);
    assert!(
        (wi.simulated.0 - 204_286.0).abs() <= 1.0,
        "{:?}",
        wi.simulated
    );
    assert!((conversion_current(&w, None, "Proposal") - 8.0 / 9.0).abs() < 1e-12);
    assert!((conversion_current(&w, Some(12), "Negotiation") - 100.0 / 75.0).abs() < 1e-12);

    // What is not a question.
    for line in [
        "/forecast what-if",
        "/forecast what-if stage:Proposal",
        "/forecast what-if conversion:50",
        "/forecast what-if stage:Won conversion:50",
        "/forecast what-if stage:Lost conversion:50",
        "/forecast what-if deal_size:600",
        "/forecast what-if deal_size:-95",
        "/forecast what-if stage:Proposal conversion:150",
    ] {
        refused(&mut h, line, &mut chk).await;
    }
    chk.finish("forecast by hand");
}

// =============================================================================================
// 3. One currency
// =============================================================================================

#[sqlx::test(migrations = "./migrations")]
async fn another_currency_is_refused_and_reports_do_not_move(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    hand_fixture(&mut h).await;
    let mut chk = Check::default();
    let reports = [
        "/pipeline stats period:this-month",
        "/kpi period:this-month",
        "/report trends period:this-month",
        "/report products period:this-month",
        "/report customers period:this-month",
        "/forecast show period:this-month",
    ];
    let mut before = Vec::new();
    for line in reports {
        before.push(ask(&mut h, line, &mut chk).await);
    }
    let rows = h.fingerprint().await;
    let catalogue =
        "SELECT (SELECT count(*) FROM products) * 1000 + (SELECT count(*) FROM deal_products)";
    let deals = h.count("SELECT count(*) FROM deals").await;
    let lines = h.count(catalogue).await;
    for line in [
        "/deal new title:Euro amount:€5k",
        "/deal new title:Euro amount:5000EUR owner:<@10>",
        "/deal new title:Pound amount:£300",
        r#"/deal new title:Lines products:"Widget x2 @€900""#,
        "/deal product deal:D-12 product:Widget quantity:1 price:€1000",
        "/deal won deal:D-12 amount:€2500",
        "/product add name:Gizmo price:€10",
    ] {
        let out = h.run(line).await;
        let r = out
            .iter()
            .find(|m| m["to"] == "reply")
            .cloned()
            .unwrap_or_default();
        assert!(is_error(&r), "{line}: expected an error, got {r}");
    }
    assert_eq!(h.count("SELECT count(*) FROM deals").await, deals);
    assert_eq!(h.count(catalogue).await, lines);
    assert_eq!(
        h.fingerprint().await,
        rows,
        "a refused amount wrote something"
    );
    for (line, was) in reports.iter().zip(before) {
        let now = ask(&mut h, line, &mut chk).await;
        if let (Some(now), Some(was)) = (now, was) {
            assert_eq!(now["currency"], "USD", "{line}");
            chk.same(line, &now, &was);
        }
    }
    chk.finish("one currency");
}

// =============================================================================================
// 4. Empty periods
// =============================================================================================

/// Every report for a period without data: no error, zeros and nulls.
async fn empty_reports(h: &mut Harness, chk: &mut Check, w: &World, p: &Per, tag: &str) {
    let ctx = |what: &str| format!("{tag} {what} {}", p.args);
    if let Some(r) = ask(h, &format!("/pipeline stats {}", p.args), chk).await {
        let want = json!({
            "won_count": 0, "won_amount_minor": 0, "lost_count": 0, "lost_amount_minor": 0,
            "win_rate": null, "avg_deal_minor": null, "avg_cycle_days": null,
        });
        chk.same(&ctx("pipeline"), &r, &want);
        for s in r["stages"].as_array().into_iter().flatten() {
            chk.same(
                &ctx("pipeline stage"),
                s,
                &json!({"reached": 0, "conversion_to_next": null, "stays": 0, "avg_days_in_stage": null}),
            );
        }
        chk.same(
            &ctx("pipeline (recomputed)"),
            &r,
            &pipeline_expected(w, p, None),
        );
    }
    if let Some(r) = ask(h, &format!("/kpi {}", p.args), chk).await {
        for m in r["members"]
            .as_array()
            .into_iter()
            .flatten()
            .chain([&r["team"]])
        {
            chk.same(
                &ctx("kpi"),
                m,
                &json!({"revenue_minor": 0, "won_count": 0, "lost_count": 0, "win_rate": null,
                        "avg_deal_minor": null, "avg_cycle_days": null, "activities_total": 0,
                        "avg_satisfaction": null, "satisfaction_count": 0,
                        "new_pipeline_count": 0, "new_pipeline_minor": 0}),
            );
        }
        chk.same(&ctx("kpi (recomputed)"), &r, &kpi_expected(w, p, None));
    }
    for by in ["week", "month"] {
        if p.from.is_none() && by == "week" {
            continue;
        }
        if let Some(r) = ask(h, &format!("/report trends {} by:{by}", p.args), chk).await {
            for b in r["buckets"].as_array().into_iter().flatten() {
                chk.same(
                    &ctx("trends"),
                    b,
                    &json!({"won_count": 0, "revenue_minor": 0, "created_count": 0,
                            "pipeline_created_minor": 0, "revenue_change": null, "pipeline_change": null}),
                );
            }
        }
    }
    if let Some(r) = ask(h, &format!("/report products {}", p.args), chk).await {
        for pr in r["products"].as_array().into_iter().flatten() {
            chk.same(
                &ctx("products"),
                pr,
                &json!({"revenue_minor": 0, "units": 0, "won_deals": 0, "lost_deals": 0,
                        "win_rate": null, "avg_discount": null}),
            );
        }
        chk.same(
            &ctx("products (recomputed)"),
            &r,
            &products_expected(w, p, None),
        );
    }
    if let Some(r) = ask(h, &format!("/report customers {}", p.args), chk).await {
        chk.same(&ctx("customers"), &r, &json!({"top": []}));
        check_customers(chk, &ctx("customers (recomputed)"), &r, w, p, None);
    }
    if let Some(r) = ask(h, &format!("/forecast show {}", p.args), chk).await {
        chk.same(
            &ctx("forecast"),
            &r,
            &json!({"won_count": 0, "won_minor": 0, "open_count": 0, "open_minor": 0,
                    "weighted_minor": 0}),
        );
        chk.same(
            &ctx("forecast (recomputed)"),
            &r,
            &forecast_expected(w, p, None),
        );
    }
    // What-if takes a named period only (no from/to).
    if p.key != "custom" {
        let line = format!("/forecast what-if deal_size:10 {}", p.args);
        if let Some(r) = ask(h, &line, chk).await {
            check_what_if(chk, &line, &r, &what_if_expected(w, p, None, None, 10));
        }
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn empty_periods_answer_with_zeros_and_nulls(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let mut chk = Check::default();
    // A workspace with nothing at all.
    h.run(":now 2026-12-10T12:00:00Z").await;
    must(&mut h, "/settings show").await;
    let w = load(&h, 1, hand_now()).await;
    for p in [
        utc_named("this-week"),
        utc_named("all-time"),
        custom(chrono_tz::UTC, "2026-01-01", "2026-01-31"),
    ] {
        empty_reports(&mut h, &mut chk, &w, &p, "no deals").await;
        if let Some(r) = ask(&mut h, &format!("/report customers {}", p.args), &mut chk).await {
            for s in r["segments"].as_array().into_iter().flatten() {
                chk.same(
                    "no deals customers",
                    s,
                    &json!({"customers": 0, "revenue_minor": 0}),
                );
            }
            let names: Vec<&str> = r["segments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["segment"].as_str())
                .collect();
            if names != SEGMENTS {
                chk.fail(format!("segments {names:?}, expected all five in order"));
            }
        }
    }
    // The fixture, asked about January 2024: nothing happened then, quotas still apply.
    hand_fixture(&mut h).await;
    let w = load(&h, 1, hand_now()).await;
    let jan = custom(chrono_tz::UTC, "2024-01-01", "2024-01-31");
    empty_reports(&mut h, &mut chk, &w, &jan, "fixture").await;
    if let Some(r) = ask(&mut h, "/kpi from:2024-01-01 to:2024-01-31", &mut chk).await {
        // Members with a quota are listed with zeros; attainment 0 (not null: the quota is known).
        let ids: Vec<i64> = r["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["user_id"].as_i64())
            .collect();
        if ids != [10, 11, 12] {
            chk.fail(format!(
                "kpi January 2024 members {ids:?}, expected [10, 11, 12]"
            ));
        }
        chk.same(
            "kpi January 2024 team",
            &r["team"],
            &json!({"quota_minor": 6_000_000, "quota_attainment": 0.0, "win_rate": null}),
        );
    }
    if let Some(r) = ask(
        &mut h,
        "/forecast show from:2024-01-01 to:2024-01-31",
        &mut chk,
    )
    .await
    {
        // Everything open is expected later (or never); nothing is overdue before 2024.
        chk.same(
            "forecast January 2024",
            &r,
            &json!({"expected_minor": 0, "best_case_minor": 0, "quota_minor": 6_000_000,
                    "attainment_won": 0.0, "attainment_expected": 0.0, "attainment_best": 0.0,
                    "no_close_date": {"count": 1, "amount_minor": 50_000},
                    "overdue": {"count": 0, "amount_minor": 0}}),
        );
    }
    // A member with no deals at all, all time.
    if let Some(r) = ask(
        &mut h,
        "/pipeline stats period:all-time owner:<@99>",
        &mut chk,
    )
    .await
    {
        chk.same(
            "pipeline member 99",
            &r,
            &json!({"owner": 99, "open_count": 0, "won_count": 0, "win_rate": null,
                    "avg_deal_minor": null, "avg_cycle_days": null}),
        );
    }
    chk.finish("empty periods");
}

// =============================================================================================
// 5. Visibility "own"
// =============================================================================================

#[sqlx::test(migrations = "./migrations")]
async fn a_rep_with_visibility_own_only_sees_their_own_figures(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let w = generated(&mut h).await;
    must(&mut h, "/settings visibility mode:own").await;
    let mut chk = Check::default();
    let periods = [
        named(w.tz, w.now, "this-month"),
        named(w.tz, w.now, "last-month"),
        named(w.tz, w.now, "this-quarter"),
        named(w.tz, w.now, "all-time"),
        custom(w.tz, "2026-10-25", "2026-11-07"),
    ];
    for rep in [11, 13] {
        h.run(&format!(":as {rep} rep")).await;
        for p in &periods {
            // Asked for the team (no member): the rep's own figures.
            check_all_as_owner(&mut h, &mut chk, &w, p, rep, false).await;
            // Naming themselves is the same.
            check_all_as_owner(&mut h, &mut chk, &w, p, rep, true).await;
        }
        check_what_if_line(&mut h, &mut chk, &w, &periods[0], Some(rep), None, Some(20)).await;
        // The same with the member named; only the named ones are checked for "owner".
        let other = if rep == 11 { 10 } else { 11 };
        for line in [
            format!("/pipeline stats period:this-month owner:<@{other}>"),
            format!("/kpi period:this-month member:<@{other}>"),
            format!("/report trends period:this-month member:<@{other}>"),
            format!("/report products period:this-month member:<@{other}>"),
            format!("/report customers period:this-month member:<@{other}>"),
            format!("/forecast show period:this-month member:<@{other}>"),
            format!("/forecast what-if deal_size:10 member:<@{other}>"),
        ] {
            refused(&mut h, &line, &mut chk).await;
        }
    }
    // What-if without a member, as a rep: their own.
    h.run(":as 11 rep").await;
    let line = "/forecast what-if deal_size:10 period:this-month";
    if let Some(r) = ask(&mut h, line, &mut chk).await {
        check_what_if(
            &mut chk,
            line,
            &r,
            &what_if_expected(&w, &periods[0], Some(11), None, 10),
        );
    }
    // A manager still sees the team.
    h.run(&format!(":as {MANAGER} manager")).await;
    check_pipeline(&mut h, &mut chk, &w, &periods[0], None).await;
    check_kpi(&mut h, &mut chk, &w, &periods[0], None, None).await;
    check_forecast(&mut h, &mut chk, &w, &periods[0], None).await;
    chk.finish("visibility own");
}

/// Every report for `rep` as the acting rep, with or without naming themselves; the data
/// must be the rep's own.
async fn check_all_as_owner(
    h: &mut Harness,
    chk: &mut Check,
    w: &World,
    p: &Per,
    rep: i64,
    name_self: bool,
) {
    let m = |key: &str| {
        if name_self {
            format!(" {key}:<@{rep}>")
        } else {
            String::new()
        }
    };
    let cases: Vec<(String, Value)> = vec![
        (
            format!("/pipeline stats {}{}", p.args, m("owner")),
            pipeline_expected(w, p, Some(rep)),
        ),
        (
            format!("/kpi {}{}", p.args, m("member")),
            kpi_expected(w, p, Some(rep)),
        ),
        (
            format!("/report products {}{}", p.args, m("member")),
            products_expected(w, p, Some(rep)),
        ),
        (
            format!("/forecast show {}{}", p.args, m("member")),
            forecast_expected(w, p, Some(rep)),
        ),
    ];
    for (line, want) in cases {
        if let Some(got) = ask(h, &line, chk).await {
            chk.same(&line, &got, &want);
        }
    }
    let line = format!("/report trends {} by:month{}", p.args, m("member"));
    if let Some(got) = ask(h, &line, chk).await {
        let want = trends_expected(w, p, "month", Some(rep), &got);
        chk.same(&line, &got, &want);
    }
    let line = format!("/report customers {}{}", p.args, m("member"));
    if let Some(got) = ask(h, &line, chk).await {
        check_customers(chk, &line, &got, w, p, Some(rep));
    }
}

// =============================================================================================
// 6. The command line
// =============================================================================================

/// Runs `salesbot report <kind> --workspace 1 --json <options>` on the real clock; its data.
async fn cli_data(url: &str, kind: &str, options: &str) -> Result<Value, String> {
    let mut args = vec!["report", kind, "--workspace", "1", "--json"];
    args.extend(options.split(' '));
    let (code, stdout, stderr) = crate::support::salesbot_at(url, &args).await;
    if code != 0 {
        return Err(format!("exit {code}: {stderr}"));
    }
    serde_json::from_str::<Value>(&stdout).map_err(|e| format!("not JSON ({e}): {stdout}"))
}

/// `salesbot report <kind> --json` prints the same `data` as the console for the same
/// question. The command runs on the real clock and the console on its own, so the questions
/// are ones whose answer does not depend on the clock: custom periods, and for trends (which
/// stop at today) a period entirely before the real date. A trends period around the real date
/// is asked of the console on the real clock too.
#[sqlx::test(migrations = "./migrations")]
async fn the_report_command_prints_the_console_data(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    hand_fixture(&mut h).await;
    let url = crate::support::database_url(&pool).await;
    let mut chk = Check::default();
    let cases: [(&str, &str, &str); 7] = [
        (
            "pipeline",
            "--from 2026-12-01 --to 2026-12-31",
            "/pipeline stats from:2026-12-01 to:2026-12-31",
        ),
        (
            "pipeline",
            "--from 2026-11-01 --to 2026-12-31 --member 10",
            "/pipeline stats from:2026-11-01 to:2026-12-31 owner:<@10>",
        ),
        (
            "kpi",
            "--from 2026-11-25 --to 2026-12-05",
            "/kpi from:2026-11-25 to:2026-12-05",
        ),
        (
            "trends",
            "--from 2026-08-01 --to 2026-10-31 --by month",
            "/report trends from:2026-08-01 to:2026-10-31 by:month",
        ),
        (
            "products",
            "--from 2026-12-01 --to 2026-12-31",
            "/report products from:2026-12-01 to:2026-12-31",
        ),
        (
            "customers",
            "--from 2026-07-01 --to 2026-09-30",
            "/report customers from:2026-07-01 to:2026-09-30",
        ),
        (
            "forecast",
            "--from 2026-12-01 --to 2026-12-31 --member 10",
            "/forecast show from:2026-12-01 to:2026-12-31 member:<@10>",
        ),
    ];
    for (kind, options, line) in cases {
        let Some(console) = ask(&mut h, line, &mut chk).await else {
            continue;
        };
        let shown = format!("salesbot report {kind} {options}");
        match cli_data(&url, kind, options).await {
            Ok(cli) => chk.same(&shown, &cli, &console),
            Err(e) => chk.fail(format!("{shown}: {e}")),
        }
    }
    // The trends above are whole months before the real date: August won D-4 ($2,000),
    // September created D-5 ($2,000), October won D-5 and created D-6.
    if let Some(r) = ask(
        &mut h,
        "/report trends from:2026-08-01 to:2026-10-31 by:month",
        &mut chk,
    )
    .await
    {
        chk.same(
            "trends August to October",
            &r,
            &json!({"buckets": [
                {"start": "2026-08-01", "end": "2026-09-01", "won_count": 1, "revenue_minor": 200_000,
                 "created_count": 0, "pipeline_created_minor": 0},
                {"start": "2026-09-01", "end": "2026-10-01", "won_count": 0, "revenue_minor": 0,
                 "created_count": 1, "pipeline_created_minor": 200_000},
                {"start": "2026-10-01", "end": "2026-11-01", "won_count": 1, "revenue_minor": 200_000,
                 "created_count": 1, "pipeline_created_minor": 200_000},
            ]}),
        );
    }

    // Trends around the real date: the console on the real clock as well, both stopping at
    // the real today (the workspace is in UTC). Asked again if midnight passed in between.
    let (options, line) = (
        "--from 2026-10-01 --to 2026-12-31 --by month",
        "/report trends from:2026-10-01 to:2026-12-31 by:month",
    );
    let shown = format!("salesbot report trends {options}");
    h.run(":now").await;
    for attempt in 0..3 {
        let real_now = Utc::now();
        let console = ask(&mut h, line, &mut chk).await;
        let cli = cli_data(&url, "trends", options).await;
        if Utc::now().date_naive() != real_now.date_naive() && attempt < 2 {
            continue;
        }
        if let Some(console) = console {
            match cli {
                Ok(cli) => chk.same(&shown, &cli, &console),
                Err(e) => chk.fail(format!("{shown}: {e}")),
            }
            let w = load(&h, 1, real_now).await;
            chk.same(
                "trends on the real clock (recomputed)",
                &console,
                &trends_expected(
                    &w,
                    &custom(chrono_tz::UTC, "2026-10-01", "2026-12-31"),
                    "month",
                    None,
                    &console,
                ),
            );
        }
        break;
    }
    h.run(&format!(":now {}", rfc(hand_now()))).await;
    chk.finish("salesbot report");
}

/// A report's `from:`/`to:` are the workspace's days, like the period they make: "today" for a
/// rep whose own zone is already tomorrow is the workspace's today, not a day past the end.
#[sqlx::test(migrations = "./migrations")]
async fn report_dates_are_the_workspaces_days_whatever_the_callers_zone(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings timezone zone:America/Los_Angeles").await;
    h.ok("/settings timezone zone:Asia/Tokyo scope:me").await;
    // 1 December 01:00 in Tokyo, still 30 November 08:00 in Los Angeles.
    h.run(":now 2026-11-30T16:00:00Z").await;
    h.ok("/deal new title:Today amount:1k").await;
    let r = h.ok("/pipeline stats from:today").await;
    let t = text(&r);
    assert!(t.contains("Nov 30, 2026 – Nov 30, 2026"), "{t}");
    let r = h.ok("/kpi from:yesterday to:today").await;
    let t = text(&r);
    assert!(t.contains("Nov 29, 2026 – Nov 30, 2026"), "{t}");
}
