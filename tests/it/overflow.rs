//! Issue 10, section 1: no figure overflows. One amount cap (5,000,000,000 in a currency
//! with cents) holds every amount however it is formed; every report and the digest still
//! answer; totals of a workspace at its limits still add up; a money total past what minor
//! units hold gives a clear answer, never a wrapped figure or "something went wrong"; one
//! workspace's failed digest never stops another's.

use crate::support::{is_error, text, Harness};
use serde_json::Value;
use sqlx::PgPool;

/// The cap as a workspace in USD shows it.
const LIMIT: &str = "$5,000,000,000";
/// The cap in minor units (`MAX_MINOR`).
const CAP: i64 = 500_000_000_000;

/// The `data` of a report that must answer.
async fn data(h: &mut Harness, line: &str) -> Value {
    let reply = h.ok(line).await;
    reply["data"].clone()
}

/// An error that names the option and the limit, and wrote nothing.
async fn refused(h: &mut Harness, line: &str, needles: &[&str]) {
    let before = h.fingerprint().await;
    let e = h.err(line).await;
    for n in needles {
        assert!(e.contains(n), "{line}: {e:?} lacks {n:?}");
    }
    assert_eq!(h.fingerprint().await, before, "{line} wrote something");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_huge_product_line_is_refused_and_every_report_still_answers(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/product add name:Widget price:1000").await;
    h.ok("/product add name:Gold price:5bn").await;
    h.ok("/deal new title:Team amount:10k").await; // D-1, the admin's
    h.run(":as 12 rep").await;
    h.ok(r#"/deal new title:Mine products:"Widget x3""#).await; // D-2, $3,000
    h.ok("/deal new title:Plain amount:2k").await; // D-3

    // The issue's case: a rep adds a line with a huge quantity and price to their own deal.
    refused(
        &mut h,
        "/deal product deal:D-2 product:Widget quantity:100000 price:4bn",
        &["price", "Widget", "quantity × price", LIMIT],
    )
    .await;
    refused(
        &mut h,
        r#"/deal new title:Huge products:"Widget x100000 @4bn""#,
        &["products", "Widget", LIMIT],
    )
    .await;
    refused(
        &mut h,
        r#"/deal new title:Huge products:"Widget @6bn""#,
        &["products", "larger than any real deal", LIMIT],
    )
    .await;
    // Each line fits, the deal's total does not.
    refused(
        &mut h,
        r#"/deal new title:Huge products:"Widget x2 @3bn; Gold @1""#,
        &["products", "Widget", LIMIT],
    )
    .await;
    refused(
        &mut h,
        r#"/deal new title:Huge products:"Widget @3bn; Gold x1 @2.5bn""#,
        &["products", "add up", LIMIT],
    )
    .await;
    // Sold for a dollar against a list price at the cap: the list value is an amount too.
    refused(
        &mut h,
        "/deal product deal:D-2 product:Gold quantity:2 price:1",
        &["price", "Gold", "list price", LIMIT],
    )
    .await;
    // A line that fits is taken, and the deal is worth its lines.
    let r = h
        .ok("/deal product deal:D-2 product:Widget quantity:4 price:1000")
        .await;
    assert!(text(&r).contains("$4,000"), "{r}");
    // Every other way an amount is formed is held to the same cap, naming the option.
    refused(
        &mut h,
        "/deal new title:Big amount:5.01bn",
        &["amount", LIMIT],
    )
    .await;
    refused(&mut h, "/deal won deal:D-3 amount:6bn", &["amount", LIMIT]).await;
    h.run(":as 1 admin").await;
    refused(
        &mut h,
        "/product add name:Huge price:6bn",
        &["price", LIMIT],
    )
    .await;
    refused(
        &mut h,
        "/settings quota member:<@12> amount:6bn",
        &["amount", LIMIT],
    )
    .await;
    // At the cap is fine.
    h.ok("/settings quota member:<@12> amount:5bn").await;
    h.ok("/deal new title:Whale amount:5bn").await; // D-4

    // The open pipeline stays right and every report answers.
    let stats = data(&mut h, "/pipeline stats").await;
    assert_eq!(
        stats["open_amount_minor"],
        1_000_000 + 400_000 + 200_000 + CAP
    );
    data(&mut h, "/report trends").await;
    let forecast = data(&mut h, "/forecast show period:this-year").await;
    assert_eq!(forecast["quota_minor"], CAP * 12);
    data(&mut h, "/forecast what-if deal_size:500").await;
    data(&mut h, "/kpi").await;
    data(&mut h, "/report products").await;
    let preview = h.ok("/settings digest preview:true").await;
    assert!(!is_error(&preview), "{preview}");
    h.assert_totals_match_deals().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_deal_with_lines_is_worth_their_total_on_every_path(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/product add name:Widget price:1000").await;
    refused(
        &mut h,
        r#"/deal new title:Both amount:5k products:"Widget x3""#,
        &["amount", "not both", "worth their total"],
    )
    .await;
    h.ok(r#"/deal new title:Lines products:"Widget x3""#).await; // D-1
    refused(
        &mut h,
        "/deal won deal:D-1 amount:5k",
        &["amount", "D-1", "$3,000", "/deal product"],
    )
    .await;
    let won = h.ok("/deal won deal:D-1").await;
    assert!(text(&won).contains("$3,000"), "{won}");
    // Without lines, the amount is the deal's to set.
    h.ok("/deal new title:Plain amount:2k").await; // D-2
    let won = h.ok("/deal won deal:D-2 amount:2.5k").await;
    assert!(text(&won).contains("$2,500"), "{won}");
}

/// The stage every workspace starts with first.
async fn first_stage(h: &Harness, ws: i64) -> i64 {
    h.count(&format!(
        "SELECT id FROM stages WHERE workspace_id = {ws} ORDER BY position LIMIT 1"
    ))
    .await
}

/// Puts `deals` open deals worth `amount` into the workspace's running totals directly: what
/// ten million deals look like to the reports, without writing ten million rows.
async fn open_totals(h: &Harness, ws: i64, owner: i64, deals: i64, amount: i64) {
    let stage = first_stage(h, ws).await;
    sqlx::query(
        "INSERT INTO deal_open_totals (workspace_id, owner_id, stage_id, deals, amount_minor)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ws)
    .bind(owner)
    .bind(stage)
    .bind(deals)
    .bind(amount)
    .execute(&h.pool)
    .await
    .expect("insert totals");
}

#[sqlx::test(migrations = "./migrations")]
async fn ten_million_deals_at_the_cap_still_add_up(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/deal new title:Seed amount:1").await;
    // Ten million deals at the cap, spread over ten owners' rollup rows.
    for owner in 100..110 {
        open_totals(&h, 1, owner, 1_000_000, 1_000_000 * CAP).await;
    }
    let stats = data(&mut h, "/pipeline stats").await;
    assert_eq!(stats["open_amount_minor"], 10_000_000 * CAP + 100);
    assert_eq!(stats["open_count"], 10_000_001);

    // Rows written around the cap (by hand, here) that go past i64: a clear answer, not a
    // wrapped figure and not "something went wrong".
    open_totals(&h, 1, 200, 1, i64::MAX - 1).await;
    let e = h.err("/pipeline stats").await;
    assert!(e.contains("more than can be counted"), "{e}");
    assert!(!e.contains("Something went wrong"), "{e}");
}

#[sqlx::test(migrations = "./migrations")]
async fn the_database_refuses_amounts_past_the_cap_from_any_writer(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/deal new title:Seed amount:1").await;
    for sql in [
        format!(
            "UPDATE deals SET amount_minor = {} WHERE workspace_id = 1",
            CAP + 1
        ),
        format!(
            "UPDATE members SET quota_minor = {} WHERE workspace_id = 1",
            CAP + 1
        ),
        format!(
            "INSERT INTO products (workspace_id, name, list_price_minor) VALUES (1, 'X', {})",
            CAP + 1
        ),
    ] {
        let e = sqlx::query(&sql).execute(&h.pool).await.expect_err(&sql);
        assert!(e.to_string().contains("_cap"), "{sql}: {e}");
    }
    sqlx::query(&format!(
        "UPDATE deals SET amount_minor = {CAP} WHERE workspace_id = 1"
    ))
    .execute(&h.pool)
    .await
    .expect("the cap itself is fine");
}

/// The channels the bot posted to, in order.
fn posted_to(posts: &[Value]) -> Vec<i64> {
    posts
        .iter()
        .filter(|p| p["to"] == "channel")
        .filter_map(|p| p["channel"].as_i64())
        .collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn one_workspace_s_failing_digest_never_stops_another_s(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings digest channel:<#551> day:mon time:09:00")
        .await;
    h.ok("/deal new title:One amount:1k").await;
    h.run(":workspace 2").await;
    h.run(":as 2 admin").await;
    h.ok("/settings digest channel:<#552> day:mon time:09:00")
        .await;
    h.ok("/deal new title:Two amount:2k").await;
    // Workspace 1's data is corrupt: rollup rows whose sum is past what bigint holds.
    open_totals(&h, 1, 300, 1, i64::MAX - 1).await;
    open_totals(&h, 1, 301, 1, i64::MAX - 1).await;

    let posts = h.run(":now 2026-12-07T09:30:00Z").await;
    let channels = posted_to(&posts);
    assert_eq!(channels, vec![552], "{posts:?}");
    let slots = |ws: i64| {
        format!("SELECT count(*) FROM outbox WHERE workspace_id = {ws} AND kind = 'digest' AND status <> 'skipped'")
    };
    assert_eq!(h.count(&slots(1)).await, 0);
    assert_eq!(h.count(&slots(2)).await, 1);

    // Repaired, workspace 1's digest goes out on the next tick; workspace 2's is not repeated.
    sqlx::query("DELETE FROM deal_open_totals WHERE workspace_id = 1 AND owner_id IN (300, 301)")
        .execute(&h.pool)
        .await
        .expect("repair");
    let posts = h.run(":now 2026-12-07T09:31:00Z").await;
    let channels = posted_to(&posts);
    assert_eq!(channels, vec![551], "{posts:?}");
    assert_eq!(h.count(&slots(1)).await, 1);
    assert_eq!(h.count(&slots(2)).await, 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn one_workspace_s_failing_reminder_never_stops_another_s(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok(r#"/remind what:"first" when:"2026-12-02 10:00""#)
        .await;
    h.run(":workspace 2").await;
    h.run(":as 2 admin").await;
    h.ok(r#"/remind what:"second" when:"2026-12-02 10:00""#)
        .await;
    // Workspace 1's task cannot be marked reminded (a fault injected for the test).
    for sql in [
        "CREATE FUNCTION fail_ws1() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'injected failure'; END $$",
        "CREATE TRIGGER fail_ws1 BEFORE UPDATE ON tasks FOR EACH ROW
         WHEN (NEW.workspace_id = 1) EXECUTE FUNCTION fail_ws1()",
    ] {
        sqlx::query(sql).execute(&h.pool).await.expect(sql);
    }
    // Reminder DMs only (the morning agendas go out at this hour too).
    let dms = |posts: &[Value]| -> Vec<i64> {
        posts
            .iter()
            .filter(|p| p["to"] == "dm")
            .filter(|p| {
                p["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("Reminder"))
            })
            .filter_map(|p| p["user"].as_i64())
            .collect()
    };
    let posts = h.run(":now 2026-12-02T10:01:00Z").await;
    assert_eq!(dms(&posts), vec![2], "{posts:?}");
    sqlx::query("DROP TRIGGER fail_ws1 ON tasks")
        .execute(&h.pool)
        .await
        .expect("repair");
    // Retried on the next tick, once; workspace 2's is not sent again.
    let posts = h.run(":now 2026-12-02T10:02:00Z").await;
    assert_eq!(dms(&posts), vec![1], "{posts:?}");
}
