//! Imports (issue 11) through the engine's importer and the reports, against real Postgres:
//!
//! - The public sample pipeline (`../shared/data/crm-sales-opportunities`: 8,800 deals with their
//!   accounts and products) goes in, and every report agrees with figures this file computes
//!   from the CSV files itself (plain Rust over the parsed rows; nothing of the importer is used).
//! - The same files again change nothing; an import is taken back whole, except what changed
//!   since; one bad row never stops the rest; ids in a file never reach another workspace.
//! - Export, then import into an empty workspace, gives the same records.

use crate::support::Harness;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use salesbot::domain::locale::Locale;
use salesbot::engine::export::{export, ExportKind, ExportOptions};
use salesbot::engine::import::{self, ImportRequest, Input, StageMapping, Summary};
use salesbot::store::Store;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// A file of the public sample data set, which lives beside the project (`../shared/data`)
/// on the machines we develop and run CI on, not in the repository: `SALESBOT_SAMPLE_DATA`
/// names its folder elsewhere. A test that cannot find it fails and says where it looked.
fn data(file: &str) -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates: Vec<PathBuf> = std::env::var_os("SALESBOT_SAMPLE_DATA")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            manifest.join("../shared/data/crm-sales-opportunities"),
            PathBuf::from("/work/shared/data/crm-sales-opportunities"),
        ])
        .collect();
    candidates
        .iter()
        .map(|dir| dir.join(file))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("the sample data set's {file} is in none of {candidates:?}; set SALESBOT_SAMPLE_DATA"))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 1, 15, 12, 0, 0)
        .single()
        .expect("time")
}

fn request(ws: i64, inputs: Vec<Input>) -> ImportRequest {
    ImportRequest {
        workspace: ws,
        actor: 1,
        default_owner: None,
        inputs,
        source: None,
        kind: None,
        overrides: Vec::new(),
        stage_map: Vec::new(),
        date_order: None,
        sheet: None,
        dry_run: false,
    }
}

async fn run(pool: &PgPool, req: ImportRequest) -> Summary {
    import::run(&Store::from_pool(pool.clone()), req, now(), |_| {})
        .await
        .expect("import runs")
}

/// A CSV file as header-keyed rows.
fn csv_rows(path: &PathBuf) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("open");
    let headers: Vec<String> = r
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The sample's agents as members of workspace 1 (ids from 1001), named as the file names
/// them; returns name -> id.
async fn agents(h: &mut Harness) -> HashMap<String, i64> {
    h.ok("/tasks list").await;
    let mut ids = HashMap::new();
    for (i, row) in csv_rows(&data("sales_teams.csv")).iter().enumerate() {
        let id = 1001 + i as i64;
        sqlx::query("INSERT INTO members (workspace_id, user_id, display_name, role) VALUES (1, $1, $2, 'rep')")
            .bind(id)
            .bind(&row["sales_agent"])
            .execute(&h.pool)
            .await
            .expect("member");
        ids.insert(row["sales_agent"].clone(), id);
    }
    ids
}

async fn stage_names(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT name, kind FROM stages WHERE workspace_id = 1 ORDER BY position")
        .fetch_all(pool)
        .await
        .expect("stages")
}

/// The sample files, read together, with its two open stages mapped onto ours.
async fn import_sample(h: &mut Harness, dry_run: bool) -> Summary {
    let stages = stage_names(&h.pool).await;
    let mut req = request(
        1,
        vec![
            Input::Path(data("sales_pipeline.csv")),
            Input::Path(data("accounts.csv")),
            Input::Path(data("products.csv")),
        ],
    );
    req.stage_map = vec![
        StageMapping {
            theirs: "Prospecting".into(),
            ours: stages[0].0.clone(),
        },
        StageMapping {
            theirs: "Engaging".into(),
            ours: stages[1].0.clone(),
        },
    ];
    req.dry_run = dry_run;
    // Accounts name no owner: the importing admin owns them.
    req.default_owner = Some(1);
    run(&h.pool, req).await
}

/// One deal of the sample as this test reads the CSV (the rules are README.md's "Import").
struct SampleDeal {
    agent: String,
    product: String,
    account: Option<String>,
    stage: String,
    created: DateTime<Utc>,
    closed: Option<DateTime<Utc>>,
    amount: i64,
}

fn midnight(d: &str) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
}

fn sample() -> Vec<SampleDeal> {
    // The catalogue, with the pipeline's spelling `GTXPro` meeting `GTX Pro`: products match
    // on their letters and digits.
    let squash = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    let prices: HashMap<String, i64> = csv_rows(&data("products.csv"))
        .iter()
        .map(|r| {
            (
                squash(&r["product"]),
                r["sales_price"].parse::<i64>().expect("price") * 100,
            )
        })
        .collect();
    csv_rows(&data("sales_pipeline.csv"))
        .into_iter()
        .map(|r| {
            let closed = (!r["close_date"].is_empty()).then(|| midnight(&r["close_date"]));
            let created = if r["engage_date"].is_empty() {
                closed.unwrap_or_else(now)
            } else {
                midnight(&r["engage_date"])
            };
            let amount = if r["close_value"].is_empty() {
                prices[&squash(&r["product"])]
            } else {
                r["close_value"].parse::<i64>().expect("value") * 100
            };
            SampleDeal {
                agent: r["sales_agent"].clone(),
                product: r["product"].clone(),
                account: (!r["account"].is_empty()).then(|| r["account"].clone()),
                stage: r["deal_stage"].clone(),
                created,
                closed,
                amount,
            }
        })
        .collect()
}

fn data_of(reply: &Value) -> Value {
    reply["data"].clone()
}

#[sqlx::test]
async fn the_sample_pipeline_imports_and_every_report_agrees_with_the_csv_files(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let agents = agents(&mut h).await;
    let summary = import_sample(&mut h, false).await;
    let deals = sample();

    // Every row accounted for: 8,800 deals, 85 accounts, 7 products, none refused.
    assert_eq!(
        summary.refused,
        0,
        "{:#?}",
        summary
            .files
            .iter()
            .map(|f| &f.refusals)
            .collect::<Vec<_>>()
    );
    let by_kind: BTreeMap<&str, &import::FileSummary> =
        summary.files.iter().map(|f| (f.kind.as_str(), f)).collect();
    assert_eq!(by_kind["deals"].rows, 8_800);
    assert_eq!(by_kind["deals"].created, 8_800);
    assert_eq!(by_kind["companies"].created, 85);
    assert_eq!(by_kind["products"].created, 7);
    assert_eq!(by_kind["deals"].source, "file");
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE workspace_id = 1")
            .await,
        8_800
    );
    // Numbered 1 to 8,800 with no gap and ids in the same order: each batch went in once,
    // the deals it wrote with its records and those it wrote with its later writes numbered
    // as one run (a batch written again takes new numbers).
    assert_eq!(
        h.count(
            "SELECT count(*) FROM deals a
             JOIN deals b ON b.workspace_id = a.workspace_id AND b.number = a.number + 1 AND b.id > a.id
             WHERE a.workspace_id = 1 AND a.number >= 1 AND b.number <= 8800"
        )
        .await,
        8_799
    );
    // No account is created twice: the pipeline's accounts are the accounts file's.
    assert_eq!(
        h.count("SELECT count(*) FROM companies WHERE workspace_id = 1")
            .await,
        85
    );
    assert_eq!(
        h.count("SELECT count(*) FROM products WHERE workspace_id = 1")
            .await,
        7
    );

    // /pipeline stats, all time.
    let stages = stage_names(&h.pool).await;
    let p = data_of(&h.ok("/pipeline stats period:all-time").await);
    let won: Vec<&SampleDeal> = deals.iter().filter(|d| d.stage == "Won").collect();
    let lost: Vec<&SampleDeal> = deals.iter().filter(|d| d.stage == "Lost").collect();
    let won_amount: i64 = won.iter().map(|d| d.amount).sum();
    let lost_amount: i64 = lost.iter().map(|d| d.amount).sum();
    assert_eq!(p["won_count"], won.len() as i64);
    assert_eq!(p["won_amount_minor"], won_amount);
    assert_eq!(p["lost_count"], lost.len() as i64);
    assert_eq!(p["lost_amount_minor"], lost_amount);
    let rate = won.len() as f64 / (won.len() + lost.len()) as f64;
    assert!((p["win_rate"].as_f64().expect("rate") - rate).abs() < 1e-9);
    let avg = (2 * won_amount + won.len() as i64) / (2 * won.len() as i64);
    assert_eq!(p["avg_deal_minor"], avg);
    let cycle: i64 = won
        .iter()
        .map(|d| (d.closed.expect("closed") - d.created).num_seconds())
        .sum();
    let cycle_days = cycle as f64 / 86_400.0 / won.len() as f64;
    assert!((p["avg_cycle_days"].as_f64().expect("cycle") - cycle_days).abs() < 1e-9);
    for (i, their) in ["Prospecting", "Engaging"].iter().enumerate() {
        let open: Vec<&SampleDeal> = deals.iter().filter(|d| d.stage == *their).collect();
        let line = p["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .find(|s| s["name"] == stages[i].0.as_str())
            .expect("stage line");
        assert_eq!(line["open_count"], open.len() as i64, "{their}");
        assert_eq!(
            line["open_amount_minor"],
            open.iter().map(|d| d.amount).sum::<i64>(),
            "{their}"
        );
    }
    // The funnel: every deal reached the first stage, Engaging and won deals the second, won
    // deals every stage; a lost deal came in at the first stage.
    let reached: Vec<i64> = p["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["reached"].as_i64().expect("reached"))
        .collect();
    let engaging = deals.iter().filter(|d| d.stage == "Engaging").count() as i64;
    assert_eq!(reached[0], 8_800);
    assert_eq!(reached[1], engaging + won.len() as i64);
    assert_eq!(*reached.last().expect("won line"), won.len() as i64);

    // /kpi for 2017's first half, per agent: revenue and won/lost counts by close date.
    let k = data_of(&h.ok("/kpi from:2017-01-01 to:2017-06-30").await);
    let from = midnight("2017-01-01");
    let to = midnight("2017-07-01");
    let mut want: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for d in &deals {
        let Some(c) = d.closed.filter(|c| *c >= from && *c < to) else {
            continue;
        };
        let e = want.entry(agents[&d.agent]).or_default();
        match d.stage.as_str() {
            "Won" => {
                e.0 += d.amount;
                e.1 += 1;
            }
            _ => e.2 += 1,
        }
        let _ = c;
    }
    let mut got: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for m in k["members"].as_array().expect("members") {
        let id = m["user_id"].as_i64().expect("user");
        let row = (
            m["revenue_minor"].as_i64().unwrap_or(0),
            m["won_count"].as_i64().unwrap_or(0),
            m["lost_count"].as_i64().unwrap_or(0),
        );
        if row != (0, 0, 0) {
            got.insert(id, row);
        }
    }
    assert_eq!(got, want);
    let team_revenue: i64 = want.values().map(|v| v.0).sum();
    assert_eq!(k["team"]["revenue_minor"], team_revenue);

    // /report products, all time: revenue, won and lost deals per product.
    let r = data_of(&h.ok("/report products period:all-time").await);
    let squash = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    let mut want: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for d in &deals {
        let e = want.entry(squash(&d.product)).or_default();
        match d.stage.as_str() {
            "Won" => {
                e.0 += d.amount;
                e.1 += 1;
            }
            "Lost" => e.2 += 1,
            _ => {}
        }
    }
    let got: BTreeMap<String, (i64, i64, i64)> = r["products"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| {
            (
                squash(p["name"].as_str().expect("name")),
                (
                    p["revenue_minor"].as_i64().unwrap_or(0),
                    p["won_deals"].as_i64().unwrap_or(0),
                    p["lost_deals"].as_i64().unwrap_or(0),
                ),
            )
        })
        .collect();
    assert_eq!(got, want);

    // /report customers, all time: the top accounts by revenue.
    let c = data_of(&h.ok("/report customers period:all-time").await);
    let mut revenue: HashMap<String, (i64, i64)> = HashMap::new();
    for d in won.iter().filter(|d| d.account.is_some()) {
        let e = revenue
            .entry(d.account.clone().expect("account"))
            .or_default();
        e.0 += d.amount;
        e.1 += 1;
    }
    let top = c["top"].as_array().expect("top");
    assert!(!top.is_empty());
    for t in top {
        let name = t["name"].as_str().expect("name");
        assert_eq!(t["revenue_minor"], revenue[name].0, "{name}");
        assert_eq!(t["won_deals"], revenue[name].1, "{name}");
    }
    let best = revenue.values().map(|v| v.0).max().expect("some revenue");
    assert_eq!(top[0]["revenue_minor"], best);

    // The rollups the reports read agree with the raw rows.
    h.assert_totals_match_deals().await;
}

#[sqlx::test]
async fn the_same_files_again_change_nothing_and_a_dry_run_writes_nothing(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    agents(&mut h).await;
    let before = h.fingerprint().await;
    let dry = import_sample(&mut h, true).await;
    assert_eq!(h.fingerprint().await, before, "a dry run writes nothing");
    assert_eq!(dry.import_id, None);
    assert_eq!(dry.created, 8_800 + 85 + 7);

    let first = import_sample(&mut h, false).await;
    assert_eq!(
        first.created, dry.created,
        "the dry run said what the import did"
    );
    assert_eq!(first.refused, 0);
    let written = h.fingerprint_without_imports().await;
    let second = import_sample(&mut h, false).await;
    assert_eq!(second.created, 0);
    assert_eq!(second.updated, 0);
    assert_eq!(second.matched, second.rows, "every row matched");
    assert_eq!(
        h.fingerprint_without_imports().await,
        written,
        "nothing changed the second time"
    );
}

/// Takes import `id` of workspace 1 back now.
async fn undone(h: &Harness, id: i64) -> salesbot::store::UndoReport {
    import::undo(&Store::from_pool(h.pool.clone()), 1, id, now())
        .await
        .expect("store")
        .expect("undone")
}

/// What an undo left: (table, whether it changed since), in the report's order.
fn left_records(report: &salesbot::store::UndoReport) -> Vec<(String, bool)> {
    report
        .left
        .iter()
        .map(|l| (l.entity.table().to_string(), l.changed))
        .collect()
}

/// An imported activity moves its deal's last activity, as a logged one does; taking the
/// import back puts it back, on a deal the import did not otherwise touch too.
#[sqlx::test]
async fn undoing_an_import_puts_back_the_last_activity_its_activities_moved(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.run(":now 2017-06-01T00:00:00Z").await;
    h.ok("/contact add name:Ana email:ana@acme.com").await;
    h.ok("/deal new title:Rollout amount:10 contact:ana@acme.com")
        .await;
    let pool = h.pool.clone();
    let last = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, DateTime<Utc>>(
                "SELECT last_activity_at FROM deals WHERE workspace_id = 1 AND number = 1",
            )
            .fetch_one(&pool)
            .await
            .expect("the deal")
        }
    };
    let before = last().await;
    let file = "activity_id,happened_at_utc,kind,contact,contact_email,deal_number,member_id,summary,satisfaction,workspace_id\n\
                9001,2017-12-01T10:00:00Z,call,Ana,ana@acme.com,1,1,Follow-up,,1\n";
    let s = run(&h.pool, request(1, vec![bytes("activities.csv", file)])).await;
    assert_eq!((s.created, s.refused), (1, 0), "{s:#?}");
    let logged = Utc
        .with_ymd_and_hms(2017, 12, 1, 10, 0, 0)
        .single()
        .expect("time");
    assert_eq!(last().await, logged);
    let report = undone(&h, s.import_id.expect("import id")).await;
    assert_eq!((report.removed, report.restored), (1, 1), "{report:?}");
    assert!(report.left.is_empty(), "{report:?}");
    assert_eq!(last().await, before);
}

#[sqlx::test]
async fn an_import_is_taken_back_whole_except_what_changed_since(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let before = h.fingerprint_without_imports().await;
    let file = "id,title,company,amount,stage,owner\n\
                A1,Rollout,Acme,1000,Qualified,1\n\
                A2,Renewal,Acme,2000,Qualified,1\n\
                A3,Pilot,Birch,300,Qualified,1\n";
    let s = run(&h.pool, request(1, vec![bytes("deals.csv", file)])).await;
    assert_eq!((s.created, s.refused), (3, 0), "{s:#?}");
    let id = s.import_id.expect("import id");
    // Someone moves one deal after the import; it stays, and so does its company.
    let pilot: i64 =
        sqlx::query_scalar("SELECT number FROM deals WHERE workspace_id = 1 AND title = 'Pilot'")
            .fetch_one(&h.pool)
            .await
            .expect("pilot");
    h.ok(&format!("/deal move deal:D-{pilot} stage:Proposal"))
        .await;
    let report = undone(&h, id).await;
    assert_eq!(report.removed, 3, "two deals and Acme: {report:?}");
    let left = left_records(&report);
    assert_eq!(
        left,
        vec![
            ("companies".to_string(), false),
            ("deals".to_string(), true)
        ],
        "{report:?}"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE workspace_id = 1")
            .await,
        1
    );
    assert_eq!(
        h.count("SELECT count(*) FROM companies WHERE workspace_id = 1")
            .await,
        1
    );
    // Twice is refused.
    let again = import::undo(&Store::from_pool(h.pool.clone()), 1, id, now())
        .await
        .expect("store");
    assert!(again.is_err());
    // An import whose records are all unchanged goes back to exactly what was there.
    let s = run(
        &h.pool,
        request(
            1,
            vec![bytes("more.csv", "id,title,amount,owner\nB1,Solo,5,1\n")],
        ),
    )
    .await;
    let mid = h.fingerprint_without_imports().await;
    let _ = before;
    let r = undone(&h, s.import_id.expect("id")).await;
    assert!(r.left.is_empty(), "{r:?}");
    assert_ne!(h.fingerprint_without_imports().await, mid);
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE workspace_id = 1 AND title = 'Solo'")
            .await,
        0
    );
    h.assert_totals_match_deals().await;
}

/// Batches are written two at a time: one commits while the next one's records go in. One
/// whose commit fails after the next was started is written again, and the next after it:
/// every row once, the import's counts and the rollups right.
#[sqlx::test]
async fn a_batch_that_fails_to_commit_behind_the_next_one_is_written_again_with_it(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    agents(&mut h).await;
    // The second batch's history fails to go in; a sequence counts the tries, as it is not
    // rolled back with the transaction.
    sqlx::raw_sql(
        "CREATE SEQUENCE history_writes;
         CREATE FUNCTION fail_second_history() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('history_writes') = 2 THEN
                 RAISE EXCEPTION 'injected failure';
             END IF;
             RETURN NULL;
         END $$;
         CREATE TRIGGER fail_second_history AFTER INSERT ON stage_changes
             FOR EACH STATEMENT EXECUTE FUNCTION fail_second_history();
         -- The importer writes history with the row-by-row checks put aside, which skips
         -- ordinary triggers (`session_replication_role = replica`): this one fires anyway.
         ALTER TABLE stage_changes ENABLE ALWAYS TRIGGER fail_second_history;",
    )
    .execute(&h.pool)
    .await
    .expect("failure injected");
    let s = import_sample(&mut h, false).await;
    let tries: i64 = sqlx::query_scalar("SELECT last_value FROM history_writes")
        .fetch_one(&h.pool)
        .await
        .expect("tries");
    assert_eq!(tries, 6, "five batches of deals and the failed one again");
    assert_eq!((s.created, s.refused), (8_800 + 85 + 7, 0), "{s:#?}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 8_800);
    assert_eq!(
        h.count("SELECT count(DISTINCT number) FROM deals").await,
        8_800
    );
    assert_eq!(
        h.count("SELECT count(*) FROM external_ids WHERE entity = 'deals'")
            .await,
        8_800
    );
    assert_eq!(
        h.count("SELECT count(*) FROM import_records WHERE entity = 'deals'")
            .await,
        8_800
    );
    // A deal has its first stage, and a closed one its close as well.
    assert_eq!(
        h.count("SELECT count(*) FROM stage_changes").await,
        8_800
            + h.count("SELECT count(*) FROM deals WHERE status <> 'open'")
                .await
    );
    assert_eq!(
        h.count("SELECT created + refused FROM imports").await,
        8_800 + 85 + 7
    );
    h.assert_totals_match_deals().await;
}

/// An activities file given with its deals moves a deal's last activity only where an
/// activity is newer; a deal it did not write is still as its batch left it, and the import
/// goes back whole.
#[sqlx::test]
async fn deals_and_their_activities_are_taken_back_together(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let deals = "id,title,company,contact,email,amount,stage,owner,close date,create date\n\
                 W1,Won early,Acme,Ann Lee,ann@acme.example,1000,Closed Won,1,2026-06-01,2026-01-01\n\
                 O1,Still open,Acme,Ann Lee,ann@acme.example,500,Qualified,1,,2026-01-01\n";
    // Deal numbers 1 and 2: the workspace had none. The won deal's activity is older than its
    // close (its last activity stays), the open one's newer (it moves).
    let activities = "activity_id,happened_at_utc,kind,contact,contact_email,deal_number,member_id,summary,satisfaction\n\
                      A1,2026-03-01T10:00:00Z,call,Ann Lee,ann@acme.example,1,1,Kick-off,4\n\
                      A2,2026-11-15T10:00:00Z,email,Ann Lee,ann@acme.example,2,1,Follow-up,\n";
    let s = run(
        &h.pool,
        request(
            1,
            vec![
                bytes("deals.csv", deals),
                bytes("activities.csv", activities),
            ],
        ),
    )
    .await;
    assert_eq!((s.created, s.refused), (2 + 2, 0), "{s:#?}");
    let last: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT number, last_activity_at FROM deals WHERE workspace_id = 1 ORDER BY number",
    )
    .fetch_all(&h.pool)
    .await
    .expect("deals");
    assert_eq!(
        last,
        vec![
            (1, Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()),
            (2, Utc.with_ymd_and_hms(2026, 11, 15, 10, 0, 0).unwrap())
        ]
    );
    let report = undone(&h, s.import_id.expect("id")).await;
    assert!(report.left.is_empty(), "{report:?}");
    assert_eq!(report.removed, 6, "{report:?}");
    for table in [
        "deals",
        "activities",
        "contacts",
        "companies",
        "stage_changes",
    ] {
        assert_eq!(
            h.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    h.assert_totals_match_deals().await;
}

/// A record the import created and a later file of the same import changed is still one it
/// created: the undo deletes it rather than putting back its image from between the files.
#[sqlx::test]
async fn a_record_created_then_changed_by_the_same_import_is_taken_back(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let before = h.fingerprint_without_imports().await;
    // The second file knows Acme by another id, and finds it by its domain.
    let first =
        "id,company,website,owner\nC1,Acme,https://acme.example/,1\nC2,Birch,birch.example,1\n";
    let second = "id,company,website,industry,owner\nX7,Acme Inc,acme.example,Retail,1\n";
    let s = run(
        &h.pool,
        request(
            1,
            vec![bytes("companies.csv", first), bytes("more.csv", second)],
        ),
    )
    .await;
    assert_eq!((s.created, s.updated, s.refused), (2, 1, 0), "{s:#?}");
    assert_eq!(
        h.count("SELECT count(*) FROM import_rows WHERE before IS NULL AND entity = 'companies'")
            .await,
        1,
        "Acme is listed again, as created, with the second file's transaction"
    );
    let report = undone(&h, s.import_id.expect("id")).await;
    assert!(report.left.is_empty(), "{report:?}");
    assert_eq!((report.removed, report.restored), (2, 0), "{report:?}");
    assert_eq!(h.fingerprint_without_imports().await, before);
}

/// Imports recorded before records were compared by the transaction that wrote them kept a
/// hash of each record's image; an undo still reads those.
#[sqlx::test]
async fn an_import_recorded_with_image_hashes_is_still_taken_back(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let before = h.fingerprint_without_imports().await;
    let file = "id,title,company,amount,stage,owner\n\
                H1,Rollout,Acme,1000,Qualified,1\n\
                H2,Pilot,Birch,300,Qualified,1\n";
    let s = run(&h.pool, request(1, vec![bytes("deals.csv", file)])).await;
    let id = s.import_id.expect("import id");
    // As they were then: one row per record, created ones included.
    for table in ["deals", "companies"] {
        sqlx::query(&format!(
            "INSERT INTO import_rows (workspace_id, import_id, entity, record_id, before, after_hash)
             SELECT r.workspace_id, r.import_id, r.entity, r.record_id, r.before, md5(to_jsonb(t)::text)
             FROM import_records r JOIN {table} t ON t.workspace_id = r.workspace_id AND t.id = r.record_id
             WHERE r.entity = '{table}'
             ON CONFLICT (workspace_id, import_id, entity, record_id)
             DO UPDATE SET after_xid = NULL, after_hash = excluded.after_hash"
        ))
        .execute(&h.pool)
        .await
        .expect("old-style rows");
    }
    sqlx::query("DELETE FROM import_created")
        .execute(&h.pool)
        .await
        .expect("no batch lists");
    // One deal changes since (an UPDATE that keeps its image would not count as a change).
    sqlx::query("UPDATE deals SET amount_minor = 1 WHERE workspace_id = 1 AND title = 'Pilot'")
        .execute(&h.pool)
        .await
        .expect("change");
    let report = undone(&h, id).await;
    let left = left_records(&report);
    assert_eq!(report.removed, 2, "Rollout and Acme: {report:?}");
    assert_eq!(
        left,
        vec![
            ("companies".to_string(), false),
            ("deals".to_string(), true)
        ],
        "{report:?}"
    );
    assert_ne!(h.fingerprint_without_imports().await, before);
    h.assert_totals_match_deals().await;
}

fn bytes(name: &str, text: &str) -> Input {
    Input::Bytes {
        name: name.to_string(),
        bytes: text.as_bytes().to_vec(),
    }
}

/// A CRM holding one person twice (two ids, one email in two cases) exports both rows: one
/// contact comes in, known by both of the source's ids, and the file again changes nothing.
#[sqlx::test]
async fn one_email_under_two_source_ids_in_one_file_is_one_contact(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let file =
        "id,name,email\n1,Ana Lima,ana@x.example\n2,Ana Lima,ANA@x.example \n3,Bo,bo@x.example\n";
    let request = || {
        let mut r = request(1, vec![bytes("contacts.csv", file)]);
        r.default_owner = Some(1);
        r
    };
    let s = run(&h.pool, request()).await;
    assert_eq!((s.created, s.matched, s.refused), (2, 1, 0), "{s:#?}");
    assert_eq!(
        h.count("SELECT count(*) FROM contacts WHERE workspace_id = 1 AND lower(email) = 'ana@x.example'")
            .await,
        1
    );
    assert_eq!(
        h.count(
            "SELECT count(DISTINCT record_id) FROM external_ids
              WHERE workspace_id = 1 AND entity = 'contacts' AND external_id IN ('1', '2')"
        )
        .await,
        1,
        "both ids name her"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM external_ids WHERE workspace_id = 1 AND external_id IN ('1', '2')")
            .await,
        2
    );
    let s = run(&h.pool, request()).await;
    assert_eq!((s.created, s.updated, s.refused), (0, 0, 0), "{s:#?}");
    assert_eq!(h.count("SELECT count(*) FROM contacts").await, 2);
}

/// Birthdays, job titles, contract ends and tiers come in from any file that has them (here
/// under Chinese headers), are refused with a reason when they are not such values, match
/// on a second import, and a blank cell keeps what is there.
#[sqlx::test]
async fn birthdays_titles_contract_ends_and_tiers_come_in_and_match_again(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let run_file = |name: &'static str, text: String| {
        let pool = h.pool.clone();
        async move {
            let mut r = request(1, vec![bytes(name, &text)]);
            r.default_owner = Some(1);
            run(&pool, r).await
        }
    };
    let companies =
        "公司,级别,合同到期\nAcme,Enterprise,2027-03-31\nBirch,中型企业,\nCedar,huge,\n";
    let s = run_file("companies.csv", companies.to_string()).await;
    assert_eq!((s.created, s.refused), (2, 1), "{s:#?}");
    let refusal = &s.files[0].refusals[0];
    assert_eq!((refusal.line, refusal.column.as_str()), (4, "级别"));
    assert!(refusal.reason.contains("'huge'"), "{}", refusal.reason);
    let contacts = "姓名,邮箱,职位,生日,合同到期\nAna,ana@acme.test,Head of Ops,1985-04-12,2027-01-15\nBo,bo@acme.test,,04-30,\nCy,cy@acme.test,,31/04,\n";
    let s = run_file("contacts.csv", contacts.to_string()).await;
    assert_eq!((s.created, s.refused), (2, 1), "{s:#?}");
    let refusal = &s.files[0].refusals[0];
    assert_eq!((refusal.line, refusal.column.as_str()), (4, "生日"));
    /// Name, job title, birthday (year, month, day) and contract end.
    type ContactFields = (
        String,
        Option<String>,
        Option<i32>,
        Option<i16>,
        Option<i16>,
        Option<NaiveDate>,
    );
    let rows: Vec<ContactFields> = sqlx::query_as(
        "SELECT name, title, birthday_year, birthday_month, birthday_day, contract_end
               FROM contacts WHERE workspace_id = 1 ORDER BY name",
    )
    .fetch_all(&h.pool)
    .await
    .expect("contacts");
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
    assert_eq!(
        rows,
        [
            (
                "Ana".into(),
                Some("Head of Ops".into()),
                Some(1985),
                Some(4),
                Some(12),
                day(2027, 1, 15)
            ),
            ("Bo".into(), None, None, Some(4), Some(30), None),
        ]
    );
    let tiers: Vec<(String, Option<String>, Option<NaiveDate>)> = sqlx::query_as(
        "SELECT name, tier, contract_end FROM companies WHERE workspace_id = 1 ORDER BY name",
    )
    .fetch_all(&h.pool)
    .await
    .expect("companies");
    assert_eq!(
        tiers,
        [
            ("Acme".into(), Some("enterprise".into()), day(2027, 3, 31)),
            ("Birch".into(), Some("mid-market".into()), None),
        ]
    );
    // The same files again: all matched. A yearless birthday does not take Ana's year, a
    // blank title keeps hers; a new contract end and tier are updates.
    let s = run_file("contacts.csv", contacts.to_string()).await;
    assert_eq!((s.created, s.updated, s.matched), (0, 0, 2), "{s:#?}");
    let s = run_file(
        "contacts.csv",
        "姓名,邮箱,职位,生日,合同到期\nAna,ana@acme.test,,04-12,2028-01-15\n".to_string(),
    )
    .await;
    assert_eq!((s.created, s.updated, s.matched), (0, 1, 0), "{s:#?}");
    let ana: (Option<String>, Option<i32>, Option<NaiveDate>) = sqlx::query_as(
        "SELECT title, birthday_year, contract_end FROM contacts WHERE email = 'ana@acme.test'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("Ana");
    assert_eq!(
        ana,
        (Some("Head of Ops".into()), Some(1985), day(2028, 1, 15))
    );
    let s = run_file(
        "companies.csv",
        "公司,级别\nBirch,smb\nAcme,enterprise\n".to_string(),
    )
    .await;
    assert_eq!((s.created, s.updated, s.matched), (0, 1, 1), "{s:#?}");
}

#[sqlx::test]
async fn one_bad_row_is_refused_with_its_line_and_column_and_the_rest_go_in(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let file = "id,title,amount,currency,stage,owner,close date\n\
                1,Good,10,USD,Qualified,1,2026-12-01\n\
                2,Other money,10,EUR,Qualified,1,2026-12-01\n\
                3,Nobody,10,USD,Qualified,424242,2026-12-01\n\
                4,Strange stage,10,USD,Haggling,1,2026-12-01\n\
                5,Won without date,10,USD,Closed Won,1,\n\
                6,Too much,99999999999999,USD,Qualified,1,2026-12-01\n\
                7,Also good,20,USD,Closed Lost,1,2026-11-01\n";
    let s = run(&h.pool, request(1, vec![bytes("mixed.csv", file)])).await;
    assert_eq!(s.created, 2, "{s:#?}");
    assert_eq!(s.refused, 5);
    let f = &s.files[0];
    let lines: Vec<(u64, &str)> = f
        .refusals
        .iter()
        .map(|r| (r.line, r.column.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (3, "currency"),
            (4, "owner"),
            (5, "stage"),
            (6, "close date"),
            (7, "amount")
        ],
        "{:#?}",
        f.refusals
    );
    assert!(f.refusals[0].reason.contains("EUR"), "{:?}", f.refusals[0]);
    assert!(f.refusals[1].reason.contains("424242"));
    assert!(f.refusals[2].reason.contains("Haggling"));
    assert_eq!(f.unmapped_stages.get("Haggling"), Some(&1));
    assert_eq!(f.unmapped_owners.get("424242"), Some(&1));
    // The summary in the reader's language: each refusal by line and column, and why.
    let en = import::render::summary(&s, Locale::En);
    assert!(
        en.contains("Line 3, column currency: amounts in EUR are not accepted"),
        "{en}"
    );
    assert!(
        en.contains("Stages not mapped (rows): Haggling (1)"),
        "{en}"
    );
    let zh = import::render::summary(&s, Locale::ZhCn);
    assert!(
        zh.contains("第 3 行，currency 列：不接受以 EUR 计的金额"),
        "{zh}"
    );
    assert!(zh.contains("第 7 行，amount 列："), "{zh}");
    // The import record carries the same counts, who ran it and that it is whole.
    let record: (i64, i64, i64, i64, i64, String) = sqlx::query_as(
        "SELECT actor_id, created, updated, matched, refused, status FROM imports WHERE id = $1",
    )
    .bind(s.import_id.expect("id"))
    .fetch_one(&h.pool)
    .await
    .expect("record");
    assert_eq!(record, (1, 2, 0, 0, 5, "done".to_string()));
    h.assert_totals_match_deals().await;
}

#[sqlx::test]
async fn salesforce_opportunities_link_to_accounts_imported_with_them_or_before(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let accounts = "Id,Name,Website,Industry,OwnerId\n\
                    001A,Acme Corp,https://www.acme.com/,Manufacturing,1\n\
                    001B,Birch Ltd,birch.io,Retail,1\n";
    let opps = "Id,Name,AccountId,Amount,CloseDate,StageName,Probability,CurrencyIsoCode,OwnerId\n\
                006A,Acme rollout,001A,1500.50,2026-12-20,Qualified,25,USD,1\n\
                006B,Birch deal,001B,200,2026-11-02,Closed Won,100,USD,1\n";
    // Given together, the opportunities come after the accounts they point at.
    let s = run(
        &h.pool,
        request(
            1,
            vec![bytes("opps.csv", opps), bytes("accounts.csv", accounts)],
        ),
    )
    .await;
    assert_eq!((s.created, s.refused), (4, 0), "{s:#?}");
    assert_eq!(s.files[0].kind, "companies");
    assert_eq!(s.files[0].source, "salesforce");
    let linked: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT d.title, c.name, d.amount_minor, d.status FROM deals d JOIN companies c
           ON c.workspace_id = d.workspace_id AND c.id = d.company_id ORDER BY d.title",
    )
    .fetch_all(&h.pool)
    .await
    .expect("deals");
    assert_eq!(
        linked,
        vec![
            (
                "Acme rollout".into(),
                "Acme Corp".into(),
                150_050,
                "open".into()
            ),
            (
                "Birch deal".into(),
                "Birch Ltd".into(),
                20_000,
                "won".into()
            ),
        ]
    );
    // Later, a new opportunity on an account of the earlier import.
    let later =
        "Id,Name,AccountId,Amount,CloseDate,StageName,Probability,CurrencyIsoCode,OwnerId\n\
                 006C,Acme expansion,001A,99,2027-01-10,Qualified,25,USD,1\n\
                 006D,Unknown account,001Z,99,2027-01-10,Qualified,25,USD,1\n";
    let s = run(&h.pool, request(1, vec![bytes("opps2.csv", later)])).await;
    assert_eq!((s.created, s.refused), (1, 1), "{s:#?}");
    assert_eq!(s.files[0].refusals[0].column, "AccountId");
    // The companies matched by domain: a contacts file naming www.acme.com does not add one.
    let contacts = "email,name,company,website\nana@acme.com,Ana,ACME CORP,http://acme.com\n";
    let mut req = request(1, vec![bytes("contacts.csv", contacts)]);
    req.default_owner = Some(1);
    let s = run(&h.pool, req).await;
    assert_eq!((s.created, s.refused), (1, 0), "{s:#?}");
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 2);
}

#[sqlx::test]
async fn records_typed_by_hand_take_the_source_ids_of_the_file_that_matched_them(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    for i in 0..5 {
        h.ok(&format!("/company add name:\"Firm {i}\"")).await;
        h.ok(&format!(
            "/contact add name:\"Rep {i}\" email:rep{i}@firm{i}.test company:\"Firm {i}\""
        ))
        .await;
    }
    // Another system's accounts and contacts: every row matches one typed by hand, by name or
    // by email, and brings that system's id for it.
    let mut accounts = String::from("Id,Name,Website,Industry,OwnerId\n");
    let mut contacts = String::from("Id,FirstName,LastName,Email,AccountId,OwnerId\n");
    for i in 0..5 {
        accounts.push_str(&format!("001{i},Firm {i},,Retail,1\n"));
        contacts.push_str(&format!("003{i},Rep,{i},REP{i}@firm{i}.test,001{i},1\n"));
    }
    let s = run(
        &h.pool,
        request(
            1,
            vec![
                bytes("accounts.csv", &accounts),
                bytes("contacts.csv", &contacts),
            ],
        ),
    )
    .await;
    assert_eq!((s.created, s.refused), (0, 0), "{s:#?}");
    assert_eq!(s.files[0].source, "salesforce");
    let remembered: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT x.entity, x.external_id, coalesce(c.name, p.name) FROM external_ids x
           LEFT JOIN companies c ON x.entity = 'companies' AND c.workspace_id = x.workspace_id AND c.id = x.record_id
           LEFT JOIN contacts p ON x.entity = 'contacts' AND p.workspace_id = x.workspace_id AND p.id = x.record_id
          WHERE x.workspace_id = 1 ORDER BY 1, 2",
    )
    .fetch_all(&h.pool)
    .await
    .expect("source ids");
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(("companies".into(), format!("001{i}"), format!("Firm {i}")));
    }
    for i in 0..5 {
        expected.push(("contacts".into(), format!("003{i}"), format!("Rep {i}")));
    }
    assert_eq!(remembered, expected);
    // A later opportunities file names the accounts by those ids only.
    let opps = "Id,Name,AccountId,Amount,CloseDate,StageName,Probability,CurrencyIsoCode,OwnerId\n\
                006A,Firm 3 rollout,0013,10,2027-01-10,Qualified,25,USD,1\n";
    let s = run(&h.pool, request(1, vec![bytes("opps.csv", opps)])).await;
    assert_eq!((s.created, s.refused), (1, 0), "{s:#?}");
    let company: String = sqlx::query_scalar(
        "SELECT c.name FROM deals d JOIN companies c ON c.workspace_id = d.workspace_id AND c.id = d.company_id",
    )
    .fetch_one(&h.pool)
    .await
    .expect("deal");
    assert_eq!(company, "Firm 3");
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 5);
}

#[sqlx::test]
async fn a_file_cannot_reach_another_workspace(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    // Workspace 2 with its own member 77 and deal.
    h.run(":workspace 2").await;
    h.run(":as 77 admin").await;
    h.ok("/deal new title:Theirs amount:5").await;
    h.run(":workspace 1").await;
    h.run(":as 1 admin").await;
    let before2: i64 = h
        .count("SELECT count(*) FROM deals WHERE workspace_id = 2")
        .await;
    // Owner 77 is a member of workspace 2 only; the file's ids mean nothing here.
    let file = "id,title,amount,owner,workspace_id\n1,Mine,10,77,2\n2,Also mine,10,1,2\n";
    let s = run(&h.pool, request(1, vec![bytes("x.csv", file)])).await;
    assert_eq!((s.created, s.refused), (1, 1), "{s:#?}");
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE workspace_id = 2")
            .await,
        before2
    );
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE workspace_id = 1")
            .await,
        1
    );
}

#[sqlx::test]
async fn export_then_import_into_an_empty_workspace_gives_the_same_records(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    h.ok("/company add name:Acme industry:Manufacturing tier:enterprise contract_end:2027-03-31")
        .await;
    h.ok("/contact add name:Ana email:ana@acme.com company:Acme title:\"Head of Ops\" birthday:1985-04-12")
        .await;
    // A contact's own contract end comes only from an import (chat sets a company's).
    sqlx::query("UPDATE contacts SET contract_end = '2027-01-15' WHERE email = 'ana@acme.com'")
        .execute(&h.pool)
        .await
        .expect("contract end");
    h.ok("/contact add name:Cy email:cy@acme.com company:Acme birthday:02-29")
        .await;
    h.ok("/deal new title:Rollout amount:1500.25 company:Acme contact:ana@acme.com")
        .await;
    h.ok("/deal new title:=SUM(A1) amount:10").await;
    h.ok("/deal new title:\"Lost one\" amount:7").await;
    h.ok("/deal lost deal:D-3 reason:price").await;
    h.ok("/deal won deal:D-1").await;
    h.ok("/contact log contact:ana@acme.com kind:call summary:\"Intro call\" deal:D-1 satisfaction:4").await;
    // Two people of one name at two customers, neither with an email: their calls go back to
    // each, by the name within the company.
    h.ok("/contact add name:Bo company:Acme").await;
    h.ok("/contact add name:Bo company:Birch").await;
    let bos: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM contacts WHERE workspace_id = 1 AND name = 'Bo' ORDER BY id",
    )
    .fetch_all(&h.pool)
    .await
    .expect("Bos");
    for (id, summary) in bos.iter().zip(["Acme Bo call", "Birch Bo call"]) {
        h.ok(&format!(
            "/contact log contact:C-{id} kind:call summary:\"{summary}\""
        ))
        .await;
    }
    let store = Store::from_pool(h.pool.clone());
    let dir = std::env::temp_dir().join(format!("salesbot-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut inputs = Vec::new();
    for kind in ExportKind::ALL {
        let mut out = Vec::new();
        export(&store, 1, kind, ExportOptions::default(), &mut out)
            .await
            .expect("export");
        inputs.push(Input::Bytes {
            name: format!("{}.csv", kind.name()),
            bytes: out,
        });
    }
    // Workspace 3, empty, with the same member.
    h.run(":workspace 3").await;
    h.ok("/tasks list").await;
    let s = run(&h.pool, request(3, inputs)).await;
    assert_eq!(s.refused, 0, "{s:#?}");
    for (table, cols) in [
        ("deals", "number, title, amount_minor, currency, status, expected_close, closed_at, lost_reason, owner_id, created_at,
                   (SELECT name FROM companies c WHERE c.workspace_id = t.workspace_id AND c.id = t.company_id),
                   (SELECT email FROM contacts c WHERE c.workspace_id = t.workspace_id AND c.id = t.contact_id),
                   (SELECT name FROM stages s WHERE s.workspace_id = t.workspace_id AND s.id = t.stage_id)"),
        ("companies", "name, industry, tier, website, owner_id, tags, created_at, contract_end"),
        ("contacts", "name, email, phone, owner_id, tags, created_at, title,
                      birthday_year, birthday_month, birthday_day, contract_end,
                      (SELECT name FROM companies c WHERE c.workspace_id = t.workspace_id AND c.id = t.company_id)"),
        ("activities", "kind, summary, satisfaction, happened_at, member_id,
                        (SELECT email FROM contacts c WHERE c.workspace_id = t.workspace_id AND c.id = t.contact_id),
                        (SELECT c.name || ' at ' || coalesce(co.name, '-') FROM contacts c
                           LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
                          WHERE c.workspace_id = t.workspace_id AND c.id = t.contact_id),
                        (SELECT number FROM deals d WHERE d.workspace_id = t.workspace_id AND d.id = t.deal_id)"),
    ] {
        let q = |ws: i64| {
            // Ordered by the whole row: two contacts may share a name and (no) email.
            format!("SELECT to_jsonb(x) FROM (SELECT {cols} FROM {table} t WHERE workspace_id = {ws}) x ORDER BY to_jsonb(x)::text")
        };
        let a: Vec<Value> = sqlx::query_scalar(&q(1)).fetch_all(&h.pool).await.expect("a");
        let b: Vec<Value> = sqlx::query_scalar(&q(3)).fetch_all(&h.pool).await.expect("b");
        assert_eq!(a, b, "{table} differ after the round trip");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A workspace's own export, edited and imported back, changes the records it names instead of
/// adding them again; another workspace's export names that workspace's deals, never this
/// one's of the same number.
#[sqlx::test]
async fn a_workspace_s_own_export_imported_back_updates_its_records(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    h.ok("/company add name:Acme").await;
    h.ok("/contact add name:Ana email:ana@acme.com company:Acme")
        .await;
    h.ok("/deal new title:Rollout amount:1500 company:Acme contact:ana@acme.com")
        .await;
    h.ok("/deal new title:Pilot amount:200").await;
    h.ok("/contact log contact:ana@acme.com kind:call summary:\"Intro call\" deal:D-1")
        .await;
    let store = Store::from_pool(h.pool.clone());
    let export_of = |ws: i64, kind: ExportKind| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            export(&store, ws, kind, ExportOptions::default(), &mut out)
                .await
                .expect("export");
            String::from_utf8(out).expect("utf-8")
        }
    };
    let deals = export_of(1, ExportKind::Deals).await;
    let activities = export_of(1, ExportKind::Activities).await;
    let pool = h.pool.clone();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    // An export from before the column, imported back once: it made copies (D-3, D-4) known
    // by the source ids 1 and 2, which a file of this workspace's own must not reach.
    let old_style: Vec<&str> = deals
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(rest, _)| rest))
        .collect();
    let s = run(
        &h.pool,
        request(1, vec![bytes("deals.csv", &old_style.join("\r\n"))]),
    )
    .await;
    assert_eq!(s.created, 2, "{s:#?}");
    let before = (
        count("SELECT count(*) FROM deals WHERE workspace_id = 1").await,
        count("SELECT count(*) FROM activities WHERE workspace_id = 1").await,
    );
    // As a spreadsheet would have it after a bulk edit: one title and one amount changed.
    let edited = deals
        .replace("Pilot,", "Pilot phase 2,")
        .replace("200.00", "250.00");
    assert_ne!(edited, deals, "the edit took");
    let s = run(
        &h.pool,
        request(
            1,
            vec![
                bytes("deals.csv", &edited),
                bytes("activities.csv", &activities),
            ],
        ),
    )
    .await;
    assert_eq!((s.created, s.updated, s.refused), (0, 1, 0), "{s:#?}");
    assert_eq!(
        (
            count("SELECT count(*) FROM deals WHERE workspace_id = 1").await,
            count("SELECT count(*) FROM activities WHERE workspace_id = 1").await,
        ),
        before,
        "nothing added again"
    );
    let pilot: (String, i64) = sqlx::query_as(
        "SELECT title, amount_minor FROM deals WHERE workspace_id = 1 AND number = 2",
    )
    .fetch_one(&h.pool)
    .await
    .expect("D-2");
    assert_eq!(pilot, ("Pilot phase 2".to_string(), 25_000));
    let copy: String =
        sqlx::query_scalar("SELECT title FROM deals WHERE workspace_id = 1 AND number = 4")
            .fetch_one(&h.pool)
            .await
            .expect("D-4");
    assert_eq!(
        copy, "Pilot",
        "the copy known by source id 2 is another deal"
    );

    // Workspace 2 has a D-1 of its own. Workspace 1's activities file alone names workspace
    // 1's D-1, which is not here: refused, not put on workspace 2's D-1.
    h.run(":workspace 2").await;
    h.ok("/tasks list").await;
    h.ok("/contact add name:Ana email:ana@acme.com").await;
    h.ok("/deal new title:Theirs amount:10").await;
    let s = run(
        &h.pool,
        request(2, vec![bytes("activities.csv", &activities)]),
    )
    .await;
    assert_eq!((s.created, s.refused), (0, 1), "{s:#?}");
    assert_eq!(s.files[0].refusals[0].column, "deal_number");
    assert_eq!(
        count("SELECT count(*) FROM activities WHERE workspace_id = 2").await,
        0
    );
    // With its deals file the activity finds its deal, by workspace 1's number as workspace 1
    // gave it; workspace 2's own D-1 is untouched, and the same files again add nothing.
    for round in [1, 2] {
        let s = run(
            &h.pool,
            request(
                2,
                vec![
                    bytes("deals.csv", &deals),
                    bytes("activities.csv", &activities),
                ],
            ),
        )
        .await;
        let expected = if round == 1 { 3 } else { 0 };
        assert_eq!(
            (s.created, s.refused),
            (expected, 0),
            "round {round}: {s:#?}"
        );
    }
    let theirs: (String, i64) = sqlx::query_as(
        "SELECT d.title, (SELECT count(*) FROM activities a WHERE a.workspace_id = 2 AND a.deal_id = d.id)
           FROM deals d WHERE d.workspace_id = 2 AND d.number = 1",
    )
    .fetch_one(&h.pool)
    .await
    .expect("workspace 2's D-1");
    assert_eq!(theirs, ("Theirs".to_string(), 0));
    let rollout: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM activities a JOIN deals d ON d.workspace_id = a.workspace_id AND d.id = a.deal_id
          WHERE a.workspace_id = 2 AND d.title = 'Rollout'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("Rollout's activity");
    assert_eq!(rollout, 1);
}

/// Two reps named as the CRMs' exports name their owners.
async fn reps(h: &mut Harness) {
    h.ok("/tasks list").await;
    for (id, name) in [(10, "Ana Rep"), (11, "Bo Rep")] {
        sqlx::query("INSERT INTO members (workspace_id, user_id, display_name, role) VALUES (1, $1, $2, 'rep')")
            .bind(id)
            .bind(name)
            .execute(&h.pool)
            .await
            .expect("member");
    }
}

fn fixture(name: &str) -> Input {
    Input::Path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/import/sources")
            .join(name),
    )
}

/// Every deal of workspace 1 as one line: number, title, status, stage, amount, owner, company,
/// contact email, created, closed, expected close, lost reason.
async fn deal_lines(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT concat_ws(' | ', d.title, d.status, s.name, d.amount_minor, d.owner_id, c.name, ct.email,
                          to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                          to_char(d.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), d.expected_close, d.lost_reason)
         FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
         LEFT JOIN companies c ON c.workspace_id = d.workspace_id AND c.id = d.company_id
         LEFT JOIN contacts ct ON ct.workspace_id = d.workspace_id AND ct.id = d.contact_id
         WHERE d.workspace_id = 1 ORDER BY d.number",
    )
    .fetch_all(pool)
    .await
    .expect("deals")
}

#[sqlx::test]
async fn hubspot_pipedrive_and_zoho_exports_come_in_as_their_systems_meant(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(t, o)| StageMapping {
                theirs: t.to_string(),
                ours: o.to_string(),
            })
            .collect::<Vec<_>>()
    };

    let mut req = request(1, vec![fixture("hubspot_deals.csv")]);
    req.stage_map = map(&[("Appointment Scheduled", "Qualified")]);
    let s = run(&h.pool, req).await;
    assert_eq!(
        (s.files[0].source.as_str(), s.created, s.refused),
        ("hubspot", 3, 0),
        "{s:#?}"
    );
    assert_eq!(
        deal_lines(&h.pool).await,
        vec![
            "Acme - platform | open | Qualified | 1200000 | 10 | Acme Corp | 2026-10-01 09:30 | 2027-02-28",
            "Birch - renewal | won | Won | 450000 | 10 | Birch Ltd | 2026-09-15 14:00 | 2026-11-20 00:00",
            "Cedar - pilot | lost | Lost | 80000 | 11 | Cedar GmbH | 2026-10-20 00:00 | 2026-11-05 00:00",
        ]
    );
    sqlx::raw_sql("DELETE FROM import_rows; DELETE FROM import_created; DELETE FROM external_ids; DELETE FROM imports; DELETE FROM stage_changes; DELETE FROM deals; DELETE FROM contacts; DELETE FROM companies")
        .execute(&h.pool)
        .await
        .expect("clear");

    let s = run(&h.pool, request(1, vec![fixture("pipedrive_deals.csv")])).await;
    assert_eq!(
        (s.files[0].source.as_str(), s.refused),
        ("pipedrive", 0),
        "{s:#?}"
    );
    assert_eq!(
        deal_lines(&h.pool).await,
        vec![
            "Onboarding Acme | open | Qualified | 250000 | 10 | Acme Corp | ana.buyer@acme.com | 2026-10-02 10:00 | 2027-01-15",
            "Birch upsell | won | Won | 90000 | 11 | Birch Ltd | ben@birch.io | 2026-09-01 08:00 | 2026-11-10 16:30",
            "Dune trial | lost | Lost | 30000 | 11 | Dune Inc | dee@dune.example | 2026-10-05 12:00 | 2026-11-01 09:00 | too expensive",
        ]
    );
    sqlx::raw_sql("DELETE FROM import_rows; DELETE FROM import_created; DELETE FROM external_ids; DELETE FROM imports; DELETE FROM stage_changes; DELETE FROM deals; DELETE FROM contacts; DELETE FROM companies")
        .execute(&h.pool)
        .await
        .expect("clear");

    let mut req = request(1, vec![fixture("zoho_deals.csv")]);
    req.stage_map = map(&[("Qualification", "Lead")]);
    let s = run(&h.pool, req).await;
    assert_eq!(
        (s.files[0].source.as_str(), s.refused),
        ("zoho", 0),
        "{s:#?}"
    );
    assert_eq!(
        deal_lines(&h.pool).await,
        vec![
            "Acme expansion | open | Lead | 700000 | 10 | Acme Corp | 2026-10-01 00:00 | 2027-03-15",
            "Birch services | won | Won | 120000 | 11 | Birch Ltd | 2026-09-20 00:00 | 2026-11-25 00:00",
            "Elm audit | lost | Lost | 45000 | 11 | Elm LLC | 2026-10-12 00:00 | 2026-11-02 00:00",
        ]
    );
    h.assert_totals_match_deals().await;
}

/// Runs `salesbot import <args>` against the test's database: exit code, stdout, stderr.
async fn cli(pool: &PgPool, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    crate::support::salesbot(pool, &all).await
}

#[sqlx::test]
async fn salesbot_import_answers_with_exit_codes_and_a_json_summary(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let dir = std::env::temp_dir().join(format!("salesbot-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.csv");
    std::fs::write(
        &good,
        "id,title,amount,owner\n1,First,10,Ana Rep\n2,Second,20,Bo Rep\n",
    )
    .expect("write");
    let mixed = dir.join("mixed.csv");
    std::fs::write(
        &mixed,
        "id,title,amount,owner\n3,Third,30,Ana Rep\n4,Fourth,lots,Ana Rep\n",
    )
    .expect("write");
    let ambiguous = dir.join("dates.csv");
    std::fs::write(
        &ambiguous,
        "id,title,close date,owner\n5,Fifth,03/04/2027,Ana Rep\n",
    )
    .expect("write");
    let g = good.to_str().expect("path");

    // A dry run: exit 0, the counts, nothing written.
    let (code, out, _) = cli(&h.pool, &["--workspace", "1", "--dry-run", "--json", g]).await;
    assert_eq!(code, 0, "{out}");
    let s: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (
            s["dry_run"].as_bool(),
            s["created"].as_i64(),
            s["import_id"].is_null()
        ),
        (Some(true), Some(2), true)
    );
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 0);

    // All rows in: exit 0 and the import's id.
    let (code, out, err) = cli(&h.pool, &["--workspace", "1", "--json", g]).await;
    assert_eq!(code, 0, "{out}{err}");
    let s: Value = serde_json::from_str(&out).expect("json");
    let id = s["import_id"].as_i64().expect("id");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 2);

    // Some rows refused: exit 2, and the summary names them by line and column.
    let (code, out, _) = cli(
        &h.pool,
        &["--workspace", "1", "--json", mixed.to_str().expect("path")],
    )
    .await;
    assert_eq!(code, 2, "{out}");
    let s: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(s["files"][0]["refusals"][0]["line"], 3);
    assert_eq!(s["files"][0]["refusals"][0]["column"], "amount");

    // Nothing written: a file whose dates never show their order, an unknown workspace, a bad
    // option. Exit 1 with the reason.
    let (code, _, err) = cli(
        &h.pool,
        &["--workspace", "1", ambiguous.to_str().expect("path")],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("close date") && err.contains("03/04/2027"),
        "{err}"
    );
    let (code, _, err) = cli(&h.pool, &["--workspace", "999", g]).await;
    assert_eq!(code, 1);
    assert!(err.contains("999"), "{err}");
    // A default owner the workspace does not know would own rows no one sees.
    let (code, _, err) = cli(&h.pool, &["--workspace", "1", "--owner", "424242", g]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("424242") && err.contains("not a member"),
        "{err}"
    );
    let (code, _, err) = cli(&h.pool, &["--workspace", "1", "--map", "title", g]).await;
    assert_eq!(code, 1);
    assert!(err.contains("Their Column=our_field"), "{err}");
    let (code, _, err) = cli(
        &h.pool,
        &["--workspace", "1", "--stage-map", "Foo=Nowhere", g],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("Nowhere"), "{err}");
    // An option the command line does not know, or no file: 1 too, not the parser's 2, which
    // would read as "some rows were refused".
    for args in [
        &["--workspace", "1", "--colour", "red", g][..],
        &["--workspace", "1"][..],
    ] {
        let (code, _, err) = cli(&h.pool, args).await;
        assert_eq!(code, 1, "{args:?}: {err}");
    }
    // No database: nothing written, 1.
    let (code, _, err) = crate::support::salesbot_at(
        "postgres://postgres@127.0.0.1:1/none",
        &["import", "--workspace", "1", g],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot use the database"), "{err}");

    // The text summary, then the undo of the first import.
    let (code, out, _) = cli(&h.pool, &["--workspace", "1", "--dry-run", g]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Dry run") && out.contains("already there"),
        "{out}"
    );
    let (code, out, _) = cli(&h.pool, &["--workspace", "1", "--undo", &id.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 records removed"), "{out}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 1);
    let (code, _, err) = cli(&h.pool, &["--workspace", "1", "--undo", &id.to_string()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("already"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[sqlx::test]
async fn an_import_stopped_midway_leaves_whole_batches_and_running_it_again_completes_it(
    pool: PgPool,
) {
    let mut h = Harness::new(pool).await;
    agents(&mut h).await;
    // The process dies after its first batch of deals is written (the progress callback runs
    // after each committed batch).
    let store = Store::from_pool(h.pool.clone());
    let stages = stage_names(&h.pool).await;
    let mut req = request(
        1,
        vec![
            Input::Path(data("sales_pipeline.csv")),
            Input::Path(data("accounts.csv")),
            Input::Path(data("products.csv")),
        ],
    );
    req.stage_map = vec![
        StageMapping {
            theirs: "Prospecting".into(),
            ours: stages[0].0.clone(),
        },
        StageMapping {
            theirs: "Engaging".into(),
            ours: stages[1].0.clone(),
        },
    ];
    req.default_owner = Some(1);
    let crashing = req.clone();
    let task = tokio::spawn(async move {
        import::run(&store, crashing, now(), |p| {
            if p.rows > 3_000 {
                panic!("the process dies");
            }
        })
        .await
    });
    assert!(task.await.is_err(), "the import died");
    let partial = h.count("SELECT count(*) FROM deals").await;
    assert!(
        partial > 0 && partial < 8_800,
        "whole batches only: {partial}"
    );
    assert_eq!(partial % 2_000, 0, "whole batches only: {partial}");
    h.assert_totals_match_deals().await;
    let interrupted: (i64, String) = sqlx::query_as("SELECT id, status FROM imports")
        .fetch_one(&h.pool)
        .await
        .expect("import record");
    assert_eq!(interrupted.1, "running");
    // While it could still be running, it cannot be taken back.
    let store = Store::from_pool(h.pool.clone());
    let refused = import::undo(&store, 1, interrupted.0, Utc::now())
        .await
        .expect("store");
    assert!(refused.is_err());

    // Running it again matches what is there and writes the rest.
    let second = run(&h.pool, req).await;
    assert_eq!(second.refused, 0);
    let deals = second
        .files
        .iter()
        .find(|f| f.kind == "deals")
        .expect("deals file");
    assert_eq!(deals.matched, partial as u64);
    assert_eq!(deals.created, 8_800 - partial as u64);
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 8_800);
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 85);
    h.assert_totals_match_deals().await;

    // Once it has stopped long enough, the interrupted import can be taken back: what it wrote
    // goes, the second import's records stay.
    let later = Utc::now() + chrono::Duration::minutes(11);
    let report = import::undo(&store, 1, interrupted.0, later)
        .await
        .expect("store")
        .expect("undone");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 8_800 - partial);
    assert!(report.removed >= partial, "{report:?}");
    h.assert_totals_match_deals().await;
}

#[sqlx::test]
async fn a_later_file_updates_what_differs_and_a_blank_cell_never_overwrites(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let v1 = "id,title,amount,stage,owner,close date,company,website,industry\n\
              A1,Rollout,1000,Qualified,Ana Rep,2027-01-31,Acme,,Manufacturing\n\
              A2,Pilot,500,Qualified,Ana Rep,2027-02-28,Birch,birch.io,\n";
    let s = run(&h.pool, request(1, vec![bytes("v1.csv", v1)])).await;
    assert_eq!((s.created, s.refused), (2, 0), "{s:#?}");
    let before = deal_lines(&h.pool).await;
    // The next export from the old CRM: A1 won with a new amount, A2's title blank (kept) and
    // its close date moved; a company row with a blank industry keeps its industry.
    let v2 = "id,title,amount,stage,owner,close date,company,website,industry\n\
              A1,Rollout,1200,Closed Won,Ana Rep,2026-11-30,Acme,,\n\
              A2,,500,Qualified,Ana Rep,2027-03-31,Birch,birch.io,\n";
    let s = run(&h.pool, request(1, vec![bytes("v2.csv", v2)])).await;
    assert_eq!(
        (s.created, s.updated, s.matched, s.refused),
        (0, 2, 0, 0),
        "{s:#?}"
    );
    assert_eq!(
        deal_lines(&h.pool).await,
        vec![
            "Rollout | won | Won | 120000 | 10 | Acme | 2018-01-15 12:00 | 2026-11-30 00:00 | 2027-01-31",
            "Pilot | open | Qualified | 50000 | 10 | Birch | 2018-01-15 12:00 | 2027-03-31",
        ]
    );
    let industry: Option<String> =
        sqlx::query_scalar("SELECT industry FROM companies WHERE name = 'Acme'")
            .fetch_one(&h.pool)
            .await
            .expect("acme");
    assert_eq!(industry.as_deref(), Some("Manufacturing"));
    // The move is in the deal's history like a typed one.
    assert_eq!(h.count("SELECT count(*) FROM stage_changes WHERE deal_id = (SELECT id FROM deals WHERE title = 'Rollout')").await, 2);
    h.assert_totals_match_deals().await;
    // Taking the second import back restores the first one's values.
    let report = undone(&h, s.import_id.expect("id")).await;
    assert_eq!((report.restored, report.left.len()), (2, 0), "{report:?}");
    let mut after = deal_lines(&h.pool).await;
    after.sort();
    let mut want = before;
    want.sort();
    assert_eq!(after, want);
}

/// A file without a stage column, or a row with the stage blank, says nothing of where a deal
/// is: importing it again leaves a deal moved since in its stage (a blank cell never
/// overwrites, the stage included).
#[sqlx::test]
async fn a_row_that_names_no_stage_leaves_a_matched_deal_where_it_is(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let file = "id,title,amount,owner\nA1,Rollout,1000,Ana Rep\n";
    let s = run(&h.pool, request(1, vec![bytes("deals.csv", file)])).await;
    assert_eq!((s.created, s.refused), (1, 0), "{s:#?}");
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    let blank = "id,title,amount,owner,stage\nA1,Rollout,1000,Ana Rep,\n";
    for (name, text) in [("deals.csv", file), ("blank.csv", blank)] {
        let s = run(&h.pool, request(1, vec![bytes(name, text)])).await;
        assert_eq!(
            (s.created, s.updated, s.matched, s.refused),
            (0, 0, 1, 0),
            "{name}: {s:#?}"
        );
        let stage: String = sqlx::query_scalar(
            "SELECT s.name FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id WHERE d.title = 'Rollout'",
        )
        .fetch_one(&h.pool)
        .await
        .expect("stage");
        assert_eq!(stage, "Proposal", "{name}");
    }
    assert_eq!(
        h.count("SELECT count(*) FROM stage_changes").await,
        2,
        "created, then the typed move; nothing more"
    );
}

/// Contacts without email or id are one person per name and company. A company a batch
/// brings in used to be keyed by its place in the batch, so the same name at a new company
/// two thousand rows later (another batch, the same place) was taken for the first one and
/// dropped.
#[sqlx::test]
async fn the_same_name_at_two_new_companies_batches_apart_is_two_contacts(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let mut file = String::from("contact name,company\nAna Li,Acme\n");
    for k in 0..1999 {
        file.push_str(&format!("P{k},Acme\n"));
    }
    file.push_str("Ana Li,Birch\n");
    let mut req = request(1, vec![bytes("contacts.csv", &file)]);
    req.default_owner = Some(1);
    req.kind = Some(salesbot::domain::import::Kind::Contacts);
    let s = run(&h.pool, req).await;
    assert_eq!(s.refused, 0, "{s:#?}");
    let at: Vec<String> = sqlx::query_scalar(
        "SELECT co.name FROM contacts c JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
          WHERE c.name = 'Ana Li' ORDER BY co.name",
    )
    .fetch_all(&h.pool)
    .await
    .expect("contacts");
    assert_eq!(at, ["Acme", "Birch"]);
    assert_eq!(h.count("SELECT count(*) FROM contacts").await, 2001);
}

/// The next export of a whole pipeline changes most of its records: every matched record's
/// change lands (a batch's updates go in one statement per kind), moves are in the history
/// like typed ones, the totals agree with the deals, and the undo puts every record back.
#[sqlx::test]
async fn a_changed_export_updates_every_record_it_changes_and_is_taken_back_whole(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    const DEALS: usize = 60;
    let people = "name,email,phone\n".to_string()
        + &(0..10)
            .map(|k| format!("Person {k},c{k}@x.example,\n"))
            .collect::<String>();
    let deals = |changed: bool| {
        let mut f = "id,title,amount,stage,owner,create date,close date,company,contact,email\n"
            .to_string();
        for i in 0..DEALS {
            let (stage, closed) = match (changed, i % 4) {
                (true, 0) => ("Qualified", String::new()),
                (true, 1) => ("Closed Won", format!("2017-12-{:02}", 10 + i % 10)),
                (true, 2) => ("Closed Lost", format!("2017-12-{:02}", 10 + i % 10)),
                _ => ("Lead", String::new()),
            };
            let owner = if changed && i % 3 == 0 {
                "Bo Rep"
            } else {
                "Ana Rep"
            };
            let amount = if changed { 200 + i } else { 100 + i };
            f += &format!(
                "D{i},Deal {i},{amount},{stage},{owner},2017-11-01,{closed},Co {},Person {},c{}@x.example\n",
                i % 6,
                i % 10,
                i % 10
            );
        }
        f
    };
    // Rows that name no owner (the people and companies files) are Ana's.
    let import = |files: Vec<Input>| {
        let mut req = request(1, files);
        req.default_owner = Some(10);
        req
    };
    let s = run(
        &h.pool,
        import(vec![
            bytes("people.csv", &people),
            bytes("deals.csv", &deals(false)),
        ]),
    )
    .await;
    // Counted by rows: the companies come in with the deals that name them.
    assert_eq!((s.created, s.refused), (10 + DEALS as u64, 0), "{s:#?}");
    // The rollups keep the rows a change nets to zero; they are checked against the deals.
    let records = [
        "imports",
        "import_rows",
        "import_created",
        "external_ids",
        "deal_open_totals",
        "deal_daily_totals",
        "stage_stay_totals",
    ];
    let before = h.fingerprint_except(&records).await;

    let companies = "company,industry,tags\n".to_string()
        + &(0..6)
            .map(|k| format!("Co {k},Retail,vip\n"))
            .collect::<String>();
    let people = "name,email,phone,tags\n".to_string()
        + &(0..10)
            .map(|k| format!("Person {k},c{k}@x.example,+1 555 010{k},champion\n"))
            .collect::<String>();
    let s = run(
        &h.pool,
        import(vec![
            bytes("companies.csv", &companies),
            bytes("people.csv", &people),
            bytes("deals.csv", &deals(true)),
        ]),
    )
    .await;
    assert_eq!(
        (s.created, s.updated, s.matched, s.refused),
        (0, 6 + 10 + DEALS as u64, 0, 0),
        "{s:#?}"
    );
    // Each deal as the file says, read back by its title.
    let rows: Vec<(String, String, String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT d.title, d.status, s.name, d.amount_minor, d.owner_id,
                to_char(d.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
         FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
         WHERE d.workspace_id = 1",
    )
    .fetch_all(&h.pool)
    .await
    .expect("deals");
    assert_eq!(rows.len(), DEALS);
    for (title, status, stage, amount, owner, closed) in rows {
        let i: usize = title["Deal ".len()..].parse().expect("number");
        let want = match i % 4 {
            0 => ("open", "Qualified", None),
            1 => ("won", "Won", Some(format!("2017-12-{:02}", 10 + i % 10))),
            2 => ("lost", "Lost", Some(format!("2017-12-{:02}", 10 + i % 10))),
            _ => ("open", "Lead", None),
        };
        assert_eq!(
            (status.as_str(), stage.as_str(), closed),
            (want.0, want.1, want.2),
            "{title}"
        );
        assert_eq!(amount, (200 + i as i64) * 100, "{title}");
        assert_eq!(owner, if i % 3 == 0 { 11 } else { 10 }, "{title}");
    }
    // Three deals in four moved: one history row more each, in their history's order.
    assert_eq!(
        h.count("SELECT count(*) FROM stage_changes WHERE workspace_id = 1")
            .await,
        (DEALS + DEALS / 4 * 3) as i64
    );
    assert_eq!(
        h.count(
            "SELECT count(*) FROM companies WHERE workspace_id = 1
             AND industry = 'Retail' AND tags = '{vip}'"
        )
        .await,
        6
    );
    assert_eq!(
        h.count(
            "SELECT count(*) FROM contacts WHERE workspace_id = 1
             AND phone LIKE '+1 555 010%' AND tags = '{champion}'"
        )
        .await,
        10
    );
    h.assert_totals_match_deals().await;

    let report = undone(&h, s.import_id.expect("id")).await;
    assert!(report.left.is_empty(), "{report:?}");
    assert_eq!(report.restored, 6 + 10 + DEALS as i64, "{report:?}");
    // The moves' history rows go too, and the stays they ended are open again.
    assert_eq!(h.fingerprint_except(&records).await, before);
    h.assert_totals_match_deals().await;
}

fn real_file(name: &str) -> Input {
    Input::Path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/import")
            .join(name),
    )
}

#[sqlx::test]
async fn files_as_people_have_them_come_in_whole(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/tasks list").await;
    let mut req = request(
        1,
        vec![
            // GBK from Chinese Excel, Chinese headers, a thousands comma and a Chinese won stage.
            real_file("gbk.csv"),
            // `;` with decimal commas and day-first dates.
            real_file("semicolon-decimal-comma.csv"),
            // An Excel 97 workbook: a number cell, a date cell, a text date, a text amount.
            real_file("deals.xls"),
        ],
    );
    req.default_owner = Some(1);
    req.stage_map = vec![StageMapping {
        theirs: "谈判".into(),
        ours: "Negotiation".into(),
    }];
    let s = run(&h.pool, req).await;
    // A won deal without a close date cannot say when it was won.
    assert_eq!(s.refused, 1, "{s:#?}");
    let gbk = s
        .files
        .iter()
        .find(|f| f.name.ends_with("gbk.csv"))
        .expect("gbk");
    assert_eq!(
        (gbk.refusals[0].line, gbk.refusals[0].column.as_str()),
        (2, "close_date")
    );
    let encodings: Vec<(String, Option<String>)> = s
        .files
        .iter()
        .map(|f| (f.format.clone(), f.encoding.clone()))
        .collect();
    assert!(
        encodings.contains(&("csv".to_string(), Some("GB18030".to_string()))),
        "{encodings:?}"
    );
    assert!(
        encodings.contains(&("xls".to_string(), None)),
        "{encodings:?}"
    );
    let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT c.name, d.amount_minor, d.status, to_char(coalesce(d.closed_at, d.expected_close::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
         FROM deals d JOIN companies c ON c.workspace_id = d.workspace_id AND c.id = d.company_id ORDER BY c.name",
    )
    .fetch_all(&h.pool)
    .await
    .expect("deals");
    let want: Vec<(String, i64, String, Option<String>)> = vec![
        (
            "Acme".into(),
            123_456,
            "open".into(),
            Some("2024-03-31".into()),
        ),
        (
            "Acme".into(),
            9_900,
            "open".into(),
            Some("2024-04-15".into()),
        ),
        (
            "Gamma".into(),
            700,
            "open".into(),
            Some("2024-04-02".into()),
        ),
        (
            "Beta".into(),
            9_950,
            "open".into(),
            Some("2024-04-01".into()),
        ),
        (
            "Beta GmbH".into(),
            125_075,
            "lost".into(),
            Some("2024-05-02".into()),
        ),
        (
            "华为".into(),
            123_450,
            "won".into(),
            Some("2024-03-31".into()),
        ),
        ("小米".into(), 850_050, "open".into(), None),
    ];
    let mut got = rows.clone();
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    h.assert_totals_match_deals().await;
}

/// Companies and contacts are matched against the database batch by batch, not held for the
/// whole import: a record an earlier import brought (under another spelling of its name, or
/// its website written differently), and one this import created batches ago, are matched,
/// never created again; a row repeated batches later collapses into the first.
#[sqlx::test]
async fn records_met_many_batches_apart_are_matched_not_created_again(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let head = "id,title,amount,stage,owner,company,website,contact,email\n";
    let v0 = format!(
        "{head}X1,First,100,Qualified,Ana Rep,Acme  Corp,,Bea Buyer,Bea@Example.com\n\
         X2,Second,100,Qualified,Ana Rep,Birch,https://www.birch.example/about,,\n"
    );
    let s = run(&h.pool, request(1, vec![bytes("v0.csv", &v0)])).await;
    assert_eq!(s.refused, 0, "{s:#?}");
    let mut v1 = head.to_string();
    let rows = 5_000;
    for i in 0..rows {
        let (company, website, email) = match i % 1000 {
            0 => (
                "ACME CORP".to_string(),
                String::new(),
                "bea@example.COM".to_string(),
            ),
            500 => (
                "Birch Ltd".to_string(),
                "birch.example".to_string(),
                format!("p{}@x.example", i % 700),
            ),
            _ => (
                format!("Co {}", i % 300),
                String::new(),
                format!("p{}@x.example", i % 700),
            ),
        };
        v1.push_str(&format!(
            "Y{i},Deal {i},10,Qualified,Bo Rep,{company},{website},,{email}\n"
        ));
    }
    // The first row again, two batches after its own.
    v1.push_str("Y0,Deal 0 again,99,Qualified,Bo Rep,Co 9,,,p1@x.example\n");
    let s = run(&h.pool, request(1, vec![bytes("v1.csv", &v1)])).await;
    assert_eq!(s.refused, 0, "{s:#?}");
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 2 + 300);
    assert_eq!(h.count("SELECT count(*) FROM contacts").await, 1 + 700);
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 2 + rows as i64);
    assert_eq!(
        h.count("SELECT count(*) FROM deals d JOIN companies c ON c.id = d.company_id WHERE c.name = 'Acme  Corp'")
            .await,
        1 + 5
    );
    assert_eq!(
        h.count("SELECT count(*) FROM deals d JOIN companies c ON c.id = d.company_id WHERE c.name = 'Birch'")
            .await,
        1 + 5
    );
    assert_eq!(
        h.count("SELECT count(*) FROM deals d JOIN contacts c ON c.id = d.contact_id WHERE c.name = 'Bea Buyer'")
            .await,
        1 + 5
    );
    assert_eq!(
        h.count("SELECT amount_minor FROM deals WHERE title = 'Deal 0'")
            .await,
        1000
    );
    // The same file again: every row matched, nothing written.
    let again = run(&h.pool, request(1, vec![bytes("v1.csv", &v1)])).await;
    assert_eq!(
        (again.created, again.updated, again.refused),
        (0, 0, 0),
        "{again:#?}"
    );
    assert_eq!(again.matched, rows as u64 + 1, "{again:#?}");
    h.assert_totals_match_deals().await;
}

/// The database finds the records a batch could match by the importer's own keys: its key
/// functions (the migration `import_match_keys`) give the same key for every name and website,
/// whitespace of every kind and letters of every case among them.
#[sqlx::test]
async fn the_database_keys_names_and_websites_as_the_importer_does(pool: PgPool) {
    let texts = [
        "Acme Corp",
        "  Acme \u{a0}\u{3000} Corp\t",
        "ÄBC Straße Σίσυφος",
        "北京 科技\u{2003}有限公司",
        "https://www.Acme.com/about",
        "\u{a0}http://user@shop.ACME.co.uk:8080/x?y#z",
        "acme.com.",
        "www.",
        "n/a",
        "ftp://a@b@c.d",
        "mailto:sales@www.Example.org",
        "",
    ];
    for t in texts {
        let (name, domain): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT import_name_key($1), import_domain($1)")
                .bind(t)
                .fetch_one(&pool)
                .await
                .expect("keys");
        assert_eq!(name.as_deref(), Some(import::name_key(t).as_str()), "{t:?}");
        assert_eq!(domain, import::domain_key(t), "{t:?}");
    }
}

/// A dry run of `req` (rows owned by member 1) while another transaction holds rows: a bound
/// on waiting, not on speed, since a preview that needs one of those rows waits until that
/// transaction ends.
async fn preview_without_waiting(pool: &PgPool, mut req: ImportRequest) -> Summary {
    req.dry_run = true;
    req.default_owner = Some(1);
    tokio::time::timeout(
        std::time::Duration::from_secs(120),
        import::run(&Store::from_pool(pool.clone()), req, now(), |_| {}),
    )
    .await
    .expect("the preview waited for another transaction")
    .expect("dry run")
}

#[sqlx::test]
async fn a_dry_run_does_not_hold_the_workspaces_deal_counter(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:First amount:1k").await;
    // A rep's `/deal new` holds the counter's row while it commits.
    let mut rep = pool.begin().await.expect("begin");
    sqlx::query("UPDATE deal_counters SET next_number = next_number + 1 WHERE workspace_id = 1")
        .execute(&mut *rep)
        .await
        .expect("counter");
    // The preview of an upload goes on meanwhile (it used to take the row and wait), in two
    // batches whose numbers must not collide with each other.
    let mut csv = String::from("id,title,amount\n");
    for i in 0..2_500 {
        csv.push_str(&format!("{i},Deal {i},{}\n", i + 1));
    }
    let req = request(
        1,
        vec![Input::Bytes {
            name: "deals.csv".into(),
            bytes: csv.into_bytes(),
        }],
    );
    let dry = preview_without_waiting(&pool, req).await;
    assert_eq!((dry.created, dry.refused), (2_500, 0));
    rep.commit().await.expect("commit");
    // The counter is the rep's, untouched by the preview.
    assert_eq!(
        h.count("SELECT next_number FROM deal_counters WHERE workspace_id = 1")
            .await,
        3
    );
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 1);
}

#[sqlx::test]
async fn new_companies_of_one_domain_in_one_file_are_one_company(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/tasks list").await;
    // One company held twice by the system it comes from, under two ids; the deals name both.
    let companies = "id,name,website\nA1,Acme Inc,acme.com\nA2,Acme Corporation,https://www.acme.com/about\nA3,Other,other.example\n";
    let deals = "id,title,amount,account id\nD1,First,10,A1\nD2,Second,20,A2\nD3,Third,30,A3\n";
    let mut req = request(
        1,
        vec![
            Input::Bytes {
                name: "companies.csv".into(),
                bytes: companies.as_bytes().to_vec(),
            },
            Input::Bytes {
                name: "deals.csv".into(),
                bytes: deals.as_bytes().to_vec(),
            },
        ],
    );
    req.default_owner = Some(1);
    let s = run(&pool, req).await;
    assert_eq!(s.refused, 0, "{s:?}");
    assert_eq!(
        (s.files[0].created, s.files[0].matched, s.files[1].created),
        (2, 1, 3),
        "{s:?}"
    );
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 2);
    assert_eq!(
        h.count("SELECT count(DISTINCT company_id) FROM deals WHERE title IN ('First', 'Second')")
            .await,
        1
    );
    // Deals and contacts naming a new company by website in one file are one company too.
    let contacts = "name,email,company,website\nAnn,ann@new.example,New Co,new.example\nBob,bob@new.example,New Company Ltd,https://new.example/\n";
    let mut req = request(
        1,
        vec![Input::Bytes {
            name: "contacts.csv".into(),
            bytes: contacts.as_bytes().to_vec(),
        }],
    );
    req.default_owner = Some(1);
    let s = run(&pool, req).await;
    assert_eq!(s.refused, 0, "{s:?}");
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 3);
    assert_eq!(
        h.count("SELECT count(DISTINCT company_id) FROM contacts")
            .await,
        1
    );
}

#[sqlx::test]
async fn a_product_priced_in_another_currency_is_refused(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/tasks list").await;
    let csv = "product,price,currency\nWidget,10,USD\nGizmo,12,EUR\n";
    let req = request(
        1,
        vec![Input::Bytes {
            name: "products.csv".into(),
            bytes: csv.as_bytes().to_vec(),
        }],
    );
    let s = run(&pool, req).await;
    assert_eq!((s.created, s.refused), (1, 1), "{s:?}");
    let refusal = &s.files[0].refusals[0];
    assert_eq!(
        (refusal.line, refusal.column.as_str()),
        (3, "currency"),
        "{s:?}"
    );
    assert_eq!(h.count("SELECT count(*) FROM products").await, 1);
}

#[sqlx::test]
async fn an_activity_finds_its_contact_by_name_within_the_company_it_names(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/contact add name:\"Ann Lee\" company:Acme").await;
    h.ok("/contact add name:\"Ann Lee\" company:Beta").await;
    h.ok("/contact add name:Solo").await;
    // Another system's activity log: who was met, at which customer.
    let activities = "activity date,activity type,contact,company,owner,subject\n\
                      2026-03-01,call,Ann Lee,Beta,1,Beta call\n\
                      2026-03-02,call,Ann Lee,Acme,1,Acme call\n\
                      2026-03-03,call,Solo,,1,Solo call\n";
    let s = run(&pool, request(1, vec![bytes("activities.csv", activities)])).await;
    assert_eq!((s.created, s.refused), (3, 0), "{s:#?}");
    let got: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.summary, co.name FROM activities a JOIN contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id
         LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id ORDER BY a.happened_at",
    )
    .fetch_all(&pool)
    .await
    .expect("activities");
    assert_eq!(
        got,
        vec![
            ("Beta call".to_string(), Some("Beta".to_string())),
            ("Acme call".to_string(), Some("Acme".to_string())),
            ("Solo call".to_string(), None),
        ]
    );
}

#[sqlx::test]
async fn deals_naming_one_new_contact_create_it_once(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/tasks list").await;
    // One contact on several deals, by name (an email would also be caught, more slowly, by
    // the unique index and the row-by-row retry).
    let deals = "id,title,amount,company,contact,owner\n\
                 1,First,10,Acme,Bob Stone,1\n\
                 2,Second,20,Acme,Bob Stone,1\n\
                 3,Third,30,,Cy Lane,1\n\
                 4,Fourth,40,,Cy Lane,1\n";
    let s = run(&pool, request(1, vec![bytes("deals.csv", deals)])).await;
    assert_eq!(s.refused, 0, "{s:#?}");
    assert_eq!(h.count("SELECT count(*) FROM contacts").await, 2);
    assert_eq!(
        h.count("SELECT count(DISTINCT contact_id) FROM deals")
            .await,
        2
    );
}

#[sqlx::test]
async fn an_activity_without_a_company_finds_a_name_only_one_contact_has(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/contact add name:\"Ann Lee\" company:Acme").await;
    h.ok("/contact add name:\"Ann Lee\" company:Beta").await;
    h.ok("/contact add name:\"Bo Chen\" company:Acme").await;
    h.ok("/contact add name:\"Cy Park\"").await;
    h.ok("/contact add name:\"Cy Park\" company:Beta").await;
    // Two entries for one person at one company stay one person.
    h.ok("/contact add name:\"Di Wu\" company:Beta").await;
    h.ok("/contact add name:\"Di Wu\" company:Beta").await;
    // A call log with no company column: a name one contact has is theirs; a name contacts at
    // two companies (or at one and at none) share is refused, never guessed.
    let activities = "activity date,activity type,contact,owner,subject\n\
                      2026-03-01,call,Bo Chen,1,Bo call\n\
                      2026-03-02,call,ann lee,1,Ann call\n\
                      2026-03-03,call,Cy Park,1,Cy call\n\
                      2026-03-04,call,Nobody,1,No call\n\
                      2026-03-05,call,Di Wu,1,Di call\n";
    let s = run(&pool, request(1, vec![bytes("activities.csv", activities)])).await;
    assert_eq!((s.created, s.refused), (2, 3), "{s:#?}");
    let refusals: Vec<(u64, &str)> = s.files[0]
        .refusals
        .iter()
        .map(|r| (r.line, r.column.as_str()))
        .collect();
    assert_eq!(
        refusals,
        vec![(3, "contact"), (4, "contact"), (5, "contact")]
    );
    let why: Vec<&str> = s.files[0]
        .refusals
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert!(
        why[0].contains("ann lee") && why[0].contains("company"),
        "{why:?}"
    );
    assert!(why[1].contains("Cy Park"), "{why:?}");
    assert!(why[2].contains("no contact"), "{why:?}");
    let got: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.summary, co.name FROM activities a JOIN contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id
         LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
         ORDER BY a.happened_at",
    )
    .fetch_all(&pool)
    .await
    .expect("activities");
    assert_eq!(
        got,
        vec![
            ("Bo call".to_string(), Some("Acme".to_string())),
            ("Di call".to_string(), Some("Beta".to_string())),
        ]
    );

    // Naming a company the workspace does not have finds no one, not the name elsewhere; an
    // account id no import brought is refused as such.
    let activities = "activity date,activity type,contact,company,owner,subject\n\
                      2026-03-06,call,Bo Chen,Gamma,1,Gamma call\n";
    let s = run(&pool, request(1, vec![bytes("gamma.csv", activities)])).await;
    assert_eq!((s.created, s.refused), (0, 1), "{s:#?}");
    let r = &s.files[0].refusals[0];
    assert_eq!((r.line, r.column.as_str()), (2, "company"), "{r:?}");
    assert!(r.reason.contains("Gamma"), "{r:?}");
    let activities = "activity date,activity type,contact,account id,owner,subject\n\
                      2026-03-07,call,Bo Chen,001X,1,Account call\n";
    let s = run(&pool, request(1, vec![bytes("calls.csv", activities)])).await;
    assert_eq!((s.created, s.refused), (0, 1), "{s:#?}");
    let r = &s.files[0].refusals[0];
    assert_eq!((r.line, r.column.as_str()), (2, "account id"), "{r:?}");
    assert!(r.reason.contains("001X"), "{r:?}");
}

#[sqlx::test]
async fn two_systems_exports_given_together_are_refused_before_anything_is_written(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    reps(&mut h).await;
    let accounts = "Id,Name,Website,Industry,OwnerId\n001A,Acme Corp,acme.com,Manufacturing,10\n";
    // One system's ids name only its own records: HubSpot's deals could never find
    // Salesforce's accounts by id, and their ids would be kept under the wrong system.
    let err = import::run(
        &Store::from_pool(pool.clone()),
        request(
            1,
            vec![
                bytes("accounts.csv", accounts),
                fixture("hubspot_deals.csv"),
            ],
        ),
        now(),
        |_| {},
    )
    .await
    .expect_err("mixed sources");
    let text = err.to_string();
    assert!(
        text.contains("accounts.csv") && text.contains("salesforce") && text.contains("hubspot"),
        "{text}"
    );
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM imports").await, 0);
    // A plain file beside one system's export is read as that system's.
    let plain = "name,website,owner\nBirch Ltd,birch.io,10\n";
    let s = run(
        &pool,
        request(
            1,
            vec![bytes("accounts.csv", accounts), bytes("more.csv", plain)],
        ),
    )
    .await;
    assert_eq!((s.created, s.refused), (2, 0), "{s:#?}");
}

#[sqlx::test]
async fn a_preview_waits_for_no_other_preview_and_no_command(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:First amount:1k").await;
    // A deal an earlier import brought, which the previewed file moves on.
    let mut req = request(
        1,
        vec![bytes(
            "first.csv",
            "id,title,amount,stage\nX1,Moved,10,Lead\n",
        )],
    );
    req.default_owner = Some(1);
    assert_eq!(run(&pool, req).await.created, 1);
    // Another preview's uncommitted deal at the number a dry run took before lanes: the
    // counter plus a trillion.
    let mut other = pool.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO deals (workspace_id, number, title, amount_minor, currency, stage_id, owner_id,
                            furthest_position)
         SELECT 1, c.next_number + 1000000000000, 'Preview', 100, 'USD', s.id, 1, s.position
         FROM deal_counters c, stages s WHERE c.workspace_id = 1 AND s.workspace_id = 1
         ORDER BY s.position LIMIT 1",
    )
    .execute(&mut *other)
    .await
    .expect("the other preview's deal");
    // And a rep's command, mid-transaction, holds the workspace's totals rows (the preview's
    // new open deals would add to the open totals of owner 1 in the first stage, and its move
    // take X1 from them).
    for table in ["deal_open_totals", "deal_daily_totals"] {
        let locked: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE workspace_id = 1 FOR UPDATE) l"
        ))
        .fetch_one(&mut *other)
        .await
        .expect("lock the totals");
        assert!(locked > 0, "{table}");
    }
    let file = "id,title,amount,stage\n1,Deal 1,10,Lead\n2,Deal 2,20,Lead\nX1,Moved,10,Qualified\n";
    let req = request(1, vec![bytes("deals.csv", file)]);
    let dry = preview_without_waiting(&pool, req).await;
    assert_eq!(
        (dry.created, dry.updated, dry.refused),
        (2, 1, 0),
        "{dry:#?}"
    );
    other.rollback().await.expect("rollback");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 2);
}

/// A file that closes a matched deal before the deal's last stage change is refused for that
/// row: the history would run backwards (a negative cycle time, a stay in Won that ended when
/// the deal was created). A close on that change's own day, which a file of plain dates says
/// of a deal moved that morning, is read as closing right after it.
#[sqlx::test]
async fn a_close_before_the_deals_last_stage_change_is_refused(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let file = "id,title,amount,owner\nA1,Rollout,1000,Ana Rep\nA2,Upgrade,500,Ana Rep\n";
    let s = run(&h.pool, request(1, vec![bytes("deals.csv", file)])).await;
    assert_eq!((s.created, s.refused), (2, 0), "{s:#?}");
    h.run(":now 2026-11-20T15:00:00Z").await;
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    h.ok("/deal move deal:D-2 stage:Proposal").await;
    let closing = "id,title,amount,owner,stage,close date\n\
                   A1,Rollout,1000,Ana Rep,Closed Won,2026-11-10\n\
                   A2,Upgrade,500,Ana Rep,Closed Won,2026-11-20\n";
    let s = run(&h.pool, request(1, vec![bytes("closing.csv", closing)])).await;
    assert_eq!((s.updated, s.refused), (1, 1), "{s:#?}");
    let refusal = &s.files[0].refusals[0];
    assert_eq!((refusal.line, refusal.column.as_str()), (2, "close date"));
    assert!(
        refusal.reason.contains("2026-11-10") && refusal.reason.contains("2026-11-20"),
        "{}",
        refusal.reason
    );
    let deals: Vec<(String, String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT title, status, closed_at FROM deals ORDER BY number")
            .fetch_all(&h.pool)
            .await
            .expect("deals");
    let moved: DateTime<Utc> = "2026-11-20T15:00:00Z".parse().expect("time");
    assert_eq!(
        deals,
        vec![
            ("Rollout".to_string(), "open".to_string(), None),
            ("Upgrade".to_string(), "won".to_string(), Some(moved)),
        ]
    );
    assert_eq!(
        h.count(
            "SELECT count(*) FROM stage_changes a JOIN stage_changes b
               ON b.workspace_id = a.workspace_id AND b.deal_id = a.deal_id AND b.id > a.id
             WHERE b.changed_at < a.changed_at"
        )
        .await,
        0,
        "every deal's history runs forwards"
    );
    h.assert_totals_match_deals().await;
}

/// Tags from another system become tags chat can name: `Key Account` is `key-account`, `a.b`
/// is `a-b`; `/contact tag` then removes one by that name.
#[sqlx::test]
async fn imported_tags_are_ones_chat_can_name(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    reps(&mut h).await;
    let file =
        "name,email,tags\nAnn,ann@x.example,\"Key Account; a.b | #VIP, İstanbul, -x-, a--b\"\n";
    let mut req = request(1, vec![bytes("contacts.csv", file)]);
    req.default_owner = Some(1);
    let s = run(&h.pool, req).await;
    assert_eq!((s.created, s.refused), (1, 0), "{s:#?}");
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM contacts")
        .fetch_one(&h.pool)
        .await
        .expect("tags");
    // Tags chat takes as they are (`-x-`, `a--b`) stay as they are.
    assert_eq!(
        tags,
        ["key-account", "a-b", "vip", "istanbul", "-x-", "a--b"]
    );
    h.ok("/contact tag contact:Ann remove:key-account,a-b,İstanbul,-x-,a--b")
        .await;
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM contacts")
        .fetch_one(&h.pool)
        .await
        .expect("tags");
    assert_eq!(tags, ["vip"]);
}

/// One contact of workspace `ws`, at `company`, as an import's batch writes it.
fn one_contact(name: &str, company: Option<i64>) -> salesbot::store::ContactColumns {
    salesbot::store::ContactColumns {
        name: vec![name.to_string()],
        company: vec![company],
        owner: vec![1],
        email: vec![None],
        phone: vec![None],
        tags: vec![String::new()],
        created_at: vec![now()],
        title: vec![None],
        birthday_year: vec![None],
        birthday_month: vec![None],
        birthday_day: vec![None],
        contract_end: vec![None],
    }
}

/// A company's id by name in a workspace.
async fn company_id(pool: &PgPool, ws: i64, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM companies WHERE workspace_id = $1 AND name = $2")
        .bind(ws)
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("company")
}

/// The importer checks its rows' foreign keys a statement at a time and writes them with the
/// row-by-row checks put aside (`Tx::check_parents`): a row naming another workspace's record
/// is still refused, the parents it names are locked as PostgreSQL's own check locks them,
/// and the checks are back for every statement after the insert.
#[sqlx::test]
async fn an_imports_rows_are_checked_against_their_parents_a_statement_at_a_time(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/company add name:Ours").await;
    h.run(":workspace 2").await;
    h.run(":as 77 admin").await;
    h.ok("/company add name:Theirs").await;
    let ours = company_id(&h.pool, 1, "Ours").await;
    let theirs = company_id(&h.pool, 2, "Theirs").await;
    let store = Store::from_pool(h.pool.clone());

    // Another workspace's company, or none at all: refused, naming the table.
    for company in [theirs, theirs.max(ours) + 1_000] {
        let mut tx = store.begin().await.expect("begin");
        let err = tx
            .insert_contacts(1, &one_contact("Wrong", Some(company)))
            .await
            .expect_err("a contact at a company of no workspace of its own");
        assert!(err.to_string().contains("companies"), "{err}");
    }
    // The workspace itself must exist.
    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .insert_contacts(999, &one_contact("Nowhere", None))
        .await
        .expect_err("a contact of no workspace");
    assert!(err.to_string().contains("workspaces"), "{err}");
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    tx.insert_contacts(1, &one_contact("Right", Some(ours)))
        .await
        .expect("a contact at its workspace's company");
    // The company is locked against deletion until the import's transaction ends, as a
    // row-by-row check would have locked it.
    let mut other = h.pool.acquire().await.expect("connection");
    sqlx::query("SET lock_timeout = '300ms'")
        .execute(&mut *other)
        .await
        .expect("lock_timeout");
    let err = sqlx::query("DELETE FROM companies WHERE id = $1")
        .bind(ours)
        .execute(&mut *other)
        .await
        .expect_err("the company is locked");
    assert!(
        err.as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|c| c == "55P03"),
        "{err}"
    );
    // And the row-by-row checks are back after the insert: a product of a workspace that
    // does not exist (written without a statement's check) is refused by PostgreSQL's own.
    let err = tx
        .insert_products(999, &["Ghost".to_string()], &[100])
        .await
        .expect_err("the row-by-row check is back");
    assert!(err.to_string().contains("foreign key"), "{err}");
    drop(tx);
    assert_eq!(
        h.count("SELECT count(*) FROM contacts WHERE name IN ('Wrong', 'Nowhere', 'Right')")
            .await,
        0
    );
}

/// `replica` skips every ordinary trigger, not only the foreign-key checks: the tables the
/// importer inserts into with the checks put aside must have no insert triggers but those bulk
/// mode puts aside, and it puts them aside only in bulk mode (`Triggers` in `store/import.rs`).
#[sqlx::test]
async fn the_tables_written_with_row_checks_aside_have_no_trigger_bulk_mode_keeps(pool: PgPool) {
    let _h = Harness::new(pool.clone()).await;
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger
         WHERE NOT tgisinternal AND tgenabled = 'O' AND (tgtype & 4) <> 0
           AND tgrelid::regclass::text IN ('companies', 'contacts', 'external_ids', 'deals',
                                           'stage_changes', 'deal_products', 'activities')",
    )
    .fetch_all(&pool)
    .await
    .expect("triggers");
    for (table, def) in &triggers {
        assert!(
            !["companies", "contacts", "external_ids"].contains(&table.as_str()),
            "{table} is written with its row checks aside outside bulk mode: {def}"
        );
        assert!(
            def.contains("salesbot.bulk"),
            "bulk mode does not put this trigger of {table} aside: {def}"
        );
    }
    assert!(triggers.len() >= 5, "{triggers:?}");
}

/// A role that may not set `session_replication_role` keeps PostgreSQL's row-by-row checks,
/// and imports as before.
#[sqlx::test]
async fn a_role_that_may_not_put_row_checks_aside_imports_with_them(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/tasks list").await;
    // Roles are the cluster's, shared by every test database: made once, then granted here.
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE salesbot_test_plain LOGIN;
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&pool)
    .await
    .expect("role");
    for grant in [
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO salesbot_test_plain",
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO salesbot_test_plain",
        "GRANT USAGE ON SCHEMA public TO salesbot_test_plain",
    ] {
        sqlx::query(grant).execute(&pool).await.expect("grant");
    }
    let url =
        crate::support::database_url(&pool)
            .await
            .replacen("postgres@", "salesbot_test_plain@", 1);
    let plain = PgPool::connect(&url)
        .await
        .expect("connect as a plain role");
    let may: bool = sqlx::query_scalar("SELECT import_may_put_row_checks_aside()")
        .fetch_one(&plain)
        .await
        .expect("may");
    assert!(!may);
    let file = "company,contact,email,title,amount,stage\n\
                Acme,Ann Lee,ann@acme.example,Renewal,1200,Qualified\n\
                Acme,Bo Chen,bo@acme.example,Upsell,300,Qualified\n";
    let mut req = request(1, vec![bytes("plain.csv", file)]);
    req.default_owner = Some(1);
    let s = run(&plain, req).await;
    assert_eq!(s.refused, 0, "{s:#?}");
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE workspace_id = 1")
            .await,
        2
    );
    plain.close().await;
}
