//! Every command and subcommand, end to end through the console's own parsing.

use crate::support::{command_request, text, Harness};
use salesbot::domain::role::Role;
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrations = "./migrations")]
async fn a_sales_day_through_every_command(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    // User 42 has joined the team (options naming a member accept only members).
    h.join(&[42], ":as 1 admin").await;

    // Companies and contacts.
    let r = h.ok("/company add name:Acme industry:software tier:enterprise website:acme.com tags:high-value contract_end:2027-06-30").await;
    assert!(text(&r).contains("CO-1 Acme"), "{r}");
    let r = h.ok("/company show company:Acme").await;
    assert!(
        text(&r).contains("software") && text(&r).contains("acme.com"),
        "{r}"
    );
    let r = h.ok(r#"/contact add name:"Wei Wang" email:wei@acme.com phone:"+86 138 0000 0000" company:Acme title:CTO birthday:04-12 tags:"decision-maker, tech""#).await;
    assert!(text(&r).contains("C-1 Wei Wang"), "{r}");
    h.ok("/contact add name:Bob company:Globex").await; // names a new company: created on the fly
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 2);
    let r = h.ok("/contact show contact:wei@acme.com").await;
    assert!(
        text(&r).contains("CTO") && text(&r).contains("decision-maker"),
        "{r}"
    );
    let r = h.ok("/contact find query:acme").await;
    assert!(text(&r).contains("Wei Wang"), "{r}");
    let r = h.ok("/contact tag contact:C-1 add:vip remove:tech").await;
    assert!(
        text(&r).contains("vip") && !text(&r).contains("tech"),
        "{r}"
    );
    // A tag finds its contacts (the tags' index holds tagged contacts only), and a removed one
    // no longer does; Bob, untagged, is found by neither.
    let r = h.ok("/contact find query:VIP").await;
    assert!(
        text(&r).contains("Wei Wang") && !text(&r).contains("Bob"),
        "{r}"
    );
    let r = h.ok("/contact find query:tech").await;
    assert!(!text(&r).contains("Wei Wang"), "{r}");

    // Deals through the stages.
    let r = h.ok(r#"/deal new title:"Acme - 200 seats" amount:12k company:Acme contact:C-1 close:2026-12-31"#).await;
    assert!(
        text(&r).contains("D-1") && text(&r).contains("$12,000"),
        "{r}"
    );
    assert_eq!(
        h.count("SELECT amount_minor FROM deals WHERE number = 1")
            .await,
        1_200_000
    );
    let r = h
        .ok(r#"/deal move deal:D-1 stage:Qualified note:"needs analysis done""#)
        .await;
    assert!(text(&r).contains("Lead → Qualified"), "{r}");
    let r = h.ok("/deal move deal:acme stage:negotiation").await; // title prefix, any case
    assert!(text(&r).contains("Qualified → Negotiation"), "{r}");
    let r = h.ok(r#"/contact log contact:"Wei Wang" kind:call summary:"pricing call" deal:D-1 satisfaction:4 next_step:"send contract" due:"tomorrow 9am""#).await;
    assert!(
        text(&r).contains("T-1") && text(&r).contains("send contract"),
        "{r}"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM tasks WHERE source = 'follow_up' AND contact_id = 1")
            .await,
        1
    );
    let r = h.ok("/deal won deal:D-1 amount:13k").await;
    assert!(text(&r).contains("$13,000"), "{r}");
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE status = 'won' AND closed_at IS NOT NULL")
            .await,
        1
    );

    h.ok("/deal new title:Globex amount:5000 company:Globex")
        .await;
    let r = h
        .ok(r#"/deal lost deal:D-2 reason:"went with a competitor""#)
        .await;
    assert!(text(&r).contains("competitor"), "{r}");
    h.ok("/deal new title:Initech amount:$1,250.50").await;
    let r = h.ok("/deal assign deal:D-3 owner:<@42>").await;
    assert!(text(&r).contains("user 42"), "{r}");
    let r = h.ok("/deal show deal:3").await;
    assert!(text(&r).contains("$1,250.50"), "{r}");
    let r = h.ok("/deal list status:all").await;
    assert!(
        text(&r).contains("D-1") && text(&r).contains("D-2") && text(&r).contains("D-3"),
        "{r}"
    );
    let r = h.ok("/deal list owner:42 stage:Lead").await;
    assert!(
        text(&r).contains("D-3") && !text(&r).contains("D-1 "),
        "{r}"
    );
    h.run(":now 2026-12-20T09:00:00Z").await;
    let r = h.ok("/deal list stale:true").await;
    assert!(text(&r).contains("D-3"), "{r}");

    // Pipeline.
    let r = h.ok("/pipeline stats period:this-month").await;
    let t = text(&r);
    assert!(t.contains("Win rate: 50.0%"), "{t}");
    h.ok("/pipeline stats from:2026-11-01 to:2026-12-31 owner:<@42>")
        .await;

    // Reminders and tasks.
    let r = h
        .ok(r#"/remind what:"call Wei back" when:"fri 14:00" deal:D-1 contact:C-1"#)
        .await;
    assert!(text(&r).contains("T-2"), "{r}");
    let r = h.ok("/tasks list").await;
    assert!(text(&r).contains("T-1") && text(&r).contains("T-2"), "{r}");
    let r = h.ok(r#"/tasks snooze task:T-2 until:"in 2 days""#).await;
    assert!(text(&r).contains("T-2"), "{r}");
    h.ok("/tasks done task:T-1").await;
    let r = h.ok("/tasks list status:done").await;
    assert!(text(&r).contains("T-1") && !text(&r).contains("T-2"), "{r}");

    // Settings.
    h.ok("/settings timezone zone:europe/berlin").await;
    h.ok("/settings timezone zone:Asia/Shanghai scope:me").await;
    h.ok("/settings stages action:add name:Demo probability:40 position:3")
        .await;
    h.ok("/settings stages action:rename stage:Demo name:Showcase")
        .await;
    h.ok("/settings stages action:probability stage:Showcase probability:45")
        .await;
    h.ok("/settings stages action:move stage:Showcase position:2")
        .await;
    h.ok("/settings stages action:remove stage:Showcase").await;
    h.ok("/settings stages action:list").await;
    h.ok("/settings digest channel:<#555> day:fri time:16:30")
        .await;
    h.ok("/settings stale days:21").await;
    h.ok("/settings manager-role role:<@&777>").await;
    h.ok("/settings quota member:<@42> amount:50k").await;
    h.ok("/settings visibility mode:own").await;
    let r = h.ok("/settings show").await;
    let t = text(&r);
    assert!(
        t.contains("Europe/Berlin") && t.contains("<#555>") && t.contains("$50,000"),
        "{t}"
    );
    let err = h.err("/settings currency code:EUR").await; // deals exist: currencies are never mixed
    assert!(err.contains("USD"), "{err}");
    // The workspace language is the fallback when the request carries none (the console's case).
    h.ok("/settings language locale:zh-CN").await;
    let r = h.ok("/settings stages action:list").await;
    assert!(text(&r).contains("进行中"), "{r}");
    h.run(":locale en").await;

    // Buttons, help and undo.
    h.ok("/deal new title:Hooli amount:8k").await;
    let r = h.ok(":click deal:next:4").await;
    assert!(text(&r).contains("Lead → Qualified"), "{r}");
    let r = h.ok("/help").await;
    assert!(text(&r).contains("/deal"), "{r}");
    let r = h.ok("/help command:deal").await;
    assert!(text(&r).contains("/deal move"), "{r}");
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("moving a deal"), "{r}");
    assert_eq!(h.count("SELECT count(*) FROM deals d JOIN stages s ON s.id = d.stage_id WHERE d.number = 4 AND s.name = 'Lead'").await, 1);
}

/// A `/deal` request as Discord delivers it, with its interaction id, from a rep of workspace 9.
fn deal_request(
    interaction: i64,
    subcommand: &str,
    options: &[(&str, &str)],
) -> salesbot::engine::Request {
    let mut r = command_request(9, 5, Role::Rep, interaction, "deal", subcommand, options);
    r.display_name = Some("Ann".into());
    r
}

/// A replayed gateway event carries the same interaction id: it is applied once and answered once.
#[sqlx::test(migrations = "./migrations")]
async fn a_replayed_interaction_is_applied_once(pool: PgPool) {
    use salesbot::engine::Engine;
    use salesbot::store::Store;

    let engine = Engine::new(Store::from_pool(pool.clone())).expect("engine");
    let request = deal_request(1_234_567, "new", &[("title", "Replay"), ("amount", "1k")]);
    let first = engine
        .handle(request.clone())
        .await
        .expect("first delivery is answered");
    assert!(first.content.contains("D-1"), "{first:?}");
    assert!(
        engine.handle(request).await.is_none(),
        "the replay is not answered again"
    );
    let deals: i64 = sqlx::query_scalar("SELECT count(*) FROM deals")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(deals, 1);
}

/// A command that only reads writes no interaction marker (a row and a WAL flush for nothing a
/// repeat could harm): a replayed `/deal show` is answered again and leaves no trace, while
/// the `/deal new` before it is marked.
#[sqlx::test(migrations = "./migrations")]
async fn a_replayed_read_is_answered_again_and_marks_nothing(pool: PgPool) {
    use salesbot::engine::Engine;
    use salesbot::store::Store;

    let engine = Engine::new(Store::from_pool(pool.clone())).expect("engine");
    let new = deal_request(1, "new", &[("title", "Looked at"), ("amount", "1k")]);
    engine.handle(new).await.expect("the deal is created");
    let show = deal_request(2, "show", &[("deal", "D-1")]);
    for delivery in ["first", "repeated"] {
        let r = engine
            .handle(show.clone())
            .await
            .unwrap_or_else(|| panic!("the {delivery} delivery of a read is answered"));
        assert!(format!("{r:?}").contains("Looked at"), "{r:?}");
    }
    let marked: Vec<i64> = sqlx::query_scalar(
        "SELECT interaction_id FROM processed_interactions WHERE workspace_id = 9 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("markers");
    assert_eq!(marked, vec![1], "only the write is marked");
}

/// A move decided on a deal someone else moves meanwhile is not recorded from the stage the
/// command first saw: the move waits for the other one, finds the deal elsewhere, and runs
/// again from where the deal really is, so the history and the audit trail chain up.
#[sqlx::test(migrations = "./migrations")]
async fn a_move_that_races_another_starts_from_where_the_deal_really_is(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Race amount:1000").await;
    let (lead, qualified, proposal) = (
        h.stage_id("Lead").await,
        h.stage_id("Qualified").await,
        h.stage_id("Proposal").await,
    );

    // Another writer holds the deal and moves it to Proposal, not yet committed.
    let mut other = pool.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM deals WHERE workspace_id = 1 AND number = 1 FOR UPDATE")
        .execute(&mut *other)
        .await
        .expect("lock");
    sqlx::query("UPDATE deals SET stage_id = $1, furthest_position = 3 WHERE workspace_id = 1 AND number = 1")
        .bind(proposal)
        .execute(&mut *other)
        .await
        .expect("move");
    sqlx::query(
        "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
         SELECT 1, id, $1, $2, 1, $3 FROM deals WHERE workspace_id = 1 AND number = 1",
    )
    .bind(lead)
    .bind(proposal)
    .bind(chrono::DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z").expect("time"))
    .execute(&mut *other)
    .await
    .expect("history");

    // The command reads the deal in Lead, then waits on the row.
    let racing = tokio::spawn(async move {
        let reply = h.ok("/deal move deal:D-1 stage:Qualified").await;
        (h, reply)
    });
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE deals d SET stage_id%'";
    for _ in 0..500 {
        let n: i64 = sqlx::query_scalar(waiting)
            .fetch_one(&pool)
            .await
            .expect("waiting");
        if n > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    other.commit().await.expect("commit");
    let (h, reply) = racing.await.expect("command");

    assert!(
        text(&reply).contains("Proposal → Qualified"),
        "the reply names the stage the deal really left: {reply}"
    );
    let latest: (i64, i64) = sqlx::query_as(
        "SELECT from_stage_id, to_stage_id FROM stage_changes WHERE workspace_id = 1 ORDER BY changed_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("latest change");
    assert_eq!(
        latest,
        (proposal, qualified),
        "history: Proposal → Qualified"
    );
    let before: i64 = sqlx::query_scalar(
        "SELECT (before->>'stage_id')::bigint FROM audit_log WHERE workspace_id = 1 AND entity = 'deals' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(
        before, proposal,
        "the audit's before-image is the row the move replaced"
    );
    h.assert_totals_match_deals().await;
}

/// Moves in opposite directions by one owner at once (Qualified → Proposal on one deal while
/// Proposal → Qualified on another) change the same two running-total rows. The trigger takes
/// them in key order, so such moves wait for each other and never deadlock: with the rows
/// taken old-then-new, pgbench saw 1% of such moves fail with a deadlock (and each one cost a
/// second of `deadlock_timeout`). Many opposite moves at once, straight through SQL so that no
/// retry hides a deadlock; then the totals still agree with the deals.
#[sqlx::test(migrations = "./migrations")]
async fn opposite_moves_at_once_never_deadlock_on_the_running_totals(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    for k in 0..4 {
        h.ok(&format!("/deal new title:\"Flip {k}\" amount:1000"))
            .await;
    }
    let stage =
        |name: &str| format!("(SELECT id FROM stages WHERE workspace_id = 1 AND name = '{name}')");
    let (qualified, proposal) = (stage("Qualified"), stage("Proposal"));
    // Deals 1 and 3 start in Qualified, 2 and 4 in Proposal; each task flips its own deal.
    for n in 1..=4 {
        let to = if n % 2 == 1 { &qualified } else { &proposal };
        sqlx::query(&format!(
            "UPDATE deals SET stage_id = {to} WHERE workspace_id = 1 AND number = {n}"
        ))
        .execute(&pool)
        .await
        .expect("start");
    }
    let tasks = (1..=4).map(|n| {
        let pool = pool.clone();
        let (a, b) = if n % 2 == 1 {
            (proposal.clone(), qualified.clone())
        } else {
            (qualified.clone(), proposal.clone())
        };
        tokio::spawn(async move {
            for i in 0..150 {
                let to = if i % 2 == 0 { &a } else { &b };
                sqlx::query(&format!(
                    "UPDATE deals SET stage_id = {to} WHERE workspace_id = 1 AND number = {n}"
                ))
                .execute(&pool)
                .await
                .map_err(|e| format!("move {i} of D-{n}: {e}"))?;
            }
            Ok::<_, String>(())
        })
    });
    for result in futures_util::future::join_all(tasks).await {
        result.expect("task").expect("no deadlock");
    }
    h.assert_totals_match_deals().await;
}

/// A deal's card shows its product lines after a move, won or lost (the move's one statement
/// returns them), and `/deal show` its lines and its stage history newest first (read together
/// in one statement; with the command's prelude when the deal is named by number, and the
/// card is the same either way).
#[sqlx::test(migrations = "./migrations")]
async fn deal_cards_carry_lines_and_history_read_with_the_move(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/product add name:Widget price:1200").await;
    h.ok("/product add name:Support price:100").await;
    h.ok(r#"/deal new title:Lined products:"Widget x3 @1000; Support x2""#)
        .await;
    h.ok(r#"/deal new title:Bare amount:5k"#).await;
    let widget = "• Widget × 3 @ $1,000 = $3,000";
    let support = "• Support × 2 @ $100 = $200";
    let products = |r: &serde_json::Value| {
        let t = text(r);
        let at = t
            .find("Products:")
            .unwrap_or_else(|| panic!("no products: {t}"));
        // Lines by product name: Support before Widget.
        let (s, w) = (t.find(support), t.find(widget));
        assert!(
            s.is_some() && w.is_some() && s < w && at < s.unwrap_or(0),
            "{t}"
        );
    };
    let r = h.ok("/deal move deal:D-1 stage:Qualified").await;
    products(&r);
    assert!(!text(&r).contains("Stage history"), "{r}");
    let r = h.ok("/deal move deal:D-1 stage:Proposal").await;
    products(&r);
    let r = h.ok("/deal show deal:D-1").await;
    products(&r);
    let t = text(&r);
    let history = &t[t.find("Stage history:").unwrap_or_else(|| panic!("{t}"))..];
    let (p, q, l) = (
        history.find("→ Proposal"),
        history.find("→ Qualified"),
        history.find("→ Lead"),
    );
    assert!(p.is_some() && p < q && q < l, "newest first: {history}");
    assert_eq!(
        h.ok("/deal show deal:Lined").await,
        r,
        "by title as by number"
    );
    let r = h.ok("/deal won deal:D-1").await;
    products(&r);
    // A deal without lines has no products field, moved or shown.
    let r = h.ok("/deal move deal:D-2 stage:Qualified").await;
    assert!(!text(&r).contains("Products:"), "{r}");
    let r = h.ok("/deal show deal:D-2").await;
    assert!(
        !text(&r).contains("Products:") && text(&r).contains("→ Qualified"),
        "{r}"
    );
    assert_eq!(
        h.ok("/deal show deal:Bare").await,
        r,
        "by title as by number"
    );
    let r = h.ok(r#"/deal lost deal:D-2 reason:"budget""#).await;
    assert!(!text(&r).contains("Products:"), "{r}");
}

/// A deal moved many times shows its latest eight changes, newest first, and the query
/// reads only those (the card never showed more).
#[sqlx::test(migrations = "./migrations")]
async fn a_long_history_shows_its_latest_eight_changes(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/deal new title:Busy amount:5k").await;
    for k in 0..10 {
        let stage = if k % 2 == 0 { "Qualified" } else { "Proposal" };
        h.ok(&format!("/deal move deal:D-1 stage:{stage}")).await;
    }
    h.ok("/deal move deal:D-1 stage:Negotiation").await;
    let r = h.ok("/deal show deal:D-1").await;
    let t = text(&r);
    let history = &t[t.find("Stage history:").unwrap_or_else(|| panic!("{t}"))..];
    let arrows: Vec<&str> = history.lines().filter(|l| l.contains('→')).collect();
    assert_eq!(arrows.len(), 8, "{history}");
    assert!(
        arrows[0].contains("→ Negotiation"),
        "newest first: {history}"
    );
    assert!(arrows[1].contains("→ Proposal"), "{history}");
    assert!(arrows[2].contains("→ Qualified"), "{history}");
    assert!(
        !history.contains("→ Lead"),
        "the first change is past the eight: {history}"
    );
    assert_eq!(
        h.ok("/deal show deal:Busy").await,
        r,
        "by title as by number"
    );
}

/// The bot's pool hands out connections without pinging them first (a round trip for every
/// command). After the server ended every idle session, as a restart does, the next commands
/// still run, on fresh connections, instead of answering "database unavailable" once for each
/// dead connection.
#[sqlx::test(migrations = "./migrations")]
async fn commands_run_on_after_the_server_ended_every_idle_connection(pool: PgPool) {
    let url = crate::support::database_url(&pool).await;
    let store = salesbot::store::Store::connect(&url)
        .await
        .expect("the bot's own pool");
    let engine = salesbot::engine::Engine::new(store).expect("manifests load");
    let mut h = Harness::with_engine(engine, pool.clone()).await;
    h.ok("/deal new title:Before amount:1000").await;
    // In the select list, so only this test database's sessions are ended (a WHERE clause
    // would not fix the order the conditions are tried in).
    let end_sessions = || async {
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&pool)
        .await
        .expect("end the other sessions");
        assert!(
            ended.iter().any(|e| *e),
            "the bot's pool held no idle connection to end"
        );
    };
    // A read sends no BEGIN: its prelude is what finds the connection dead.
    end_sessions().await;
    for _ in 1..=3 {
        let r = h.ok("/deal show deal:D-1").await;
        assert!(text(&r).contains("Before"), "{r}");
    }
    end_sessions().await;
    for k in 1..=3 {
        let r = h.ok(&format!("/deal new title:After{k} amount:1000")).await;
        assert!(text(&r).contains(&format!("After{k}")), "{r}");
    }
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 4);
}

/// A command's connection is kept for the next command once its transaction has ended, and
/// never while it is still inside one: commands refused after they wrote (their transactions
/// dropped), and commands given up at every point of their run (BEGIN, the prelude, the
/// statements, COMMIT), leave no session in a transaction, and every command after them sees
/// what was committed and nothing of what was not.
#[sqlx::test(migrations = "./migrations")]
async fn a_kept_connection_never_carries_a_transaction_into_the_next_command(pool: PgPool) {
    use salesbot::domain::role::Role;
    // A store with a pool of its own, as the bot has: one handed a pool keeps nothing.
    let url = crate::support::database_url(&pool).await;
    let store = salesbot::store::Store::connect(&url)
        .await
        .expect("the bot's own pool");
    let engine = salesbot::engine::Engine::new(store).expect("manifests load");
    let new_deal = |id: i64, title: &str| {
        command_request(
            7,
            1,
            Role::Admin,
            id,
            "deal",
            "new",
            &[("title", title), ("amount", "1000")],
        )
    };
    let answered = |r: Option<salesbot::engine::Reply>| r.is_some_and(|r| !r.ephemeral);
    assert!(answered(engine.handle(new_deal(1, "First")).await));
    // Refused after the prelude marked the interaction: the mark is rolled back with the
    // rest, or the next command under a kept connection would see it.
    for k in 0..5 {
        let moved = engine
            .handle(command_request(
                7,
                1,
                Role::Admin,
                100 + k,
                "deal",
                "move",
                &[("deal", "D-1"), ("stage", "Lead")],
            ))
            .await
            .expect("an answer");
        assert!(moved.ephemeral, "{moved:?}");
    }
    // Given up after 0, 1, 2 ... ms: somewhere in each command, a little later each time.
    let mut given_up = 0;
    for k in 0..40 {
        let work = engine.handle(new_deal(200 + k, &format!("Cut{k}")));
        if tokio::time::timeout(Duration::from_micros(250 * k as u64), work)
            .await
            .is_err()
        {
            given_up += 1;
        }
    }
    assert!(given_up > 0, "no command was given up part-way");
    // Reads, which send no BEGIN unless a statement needs one (the search's SET LOCAL), given
    // up the same way.
    let read = |id: i64,
                command: &'static str,
                sub: &'static str,
                option: (&'static str, &'static str)| {
        command_request(7, 1, Role::Admin, id, command, sub, &[option])
    };
    let mut reads_given_up = 0;
    for k in 0..40 {
        let request = if k % 2 == 0 {
            read(400 + k, "deal", "show", ("deal", "D-1"))
        } else {
            read(400 + k, "contact", "find", ("query", "nobody here"))
        };
        if tokio::time::timeout(
            Duration::from_micros(250 * k as u64),
            engine.handle(request),
        )
        .await
        .is_err()
        {
            reads_given_up += 1;
        }
    }
    assert!(reads_given_up > 0, "no read was given up part-way");
    // A rollback of a given-up command runs on a task of its own: wait for them.
    let mut in_transaction = -1_i64;
    for _ in 0..100 {
        in_transaction = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&pool)
        .await
        .expect("sessions");
        if in_transaction == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(in_transaction, 0, "a session was left inside a transaction");
    // The interactions of the refused moves were never marked: they run when sent again.
    let moved = engine
        .handle(command_request(
            7,
            1,
            Role::Admin,
            100,
            "deal",
            "move",
            &[("deal", "D-1"), ("stage", "Qualified")],
        ))
        .await
        .expect("an answer");
    assert!(!moved.ephemeral, "{moved:?}");
    // Every command after them runs in a transaction of its own and sees every commit: the
    // deals the given-up commands committed, numbered without a gap, and each new one.
    for k in 0..20 {
        assert!(answered(
            engine.handle(new_deal(300 + k, &format!("After{k}"))).await
        ));
        let shown = engine
            .handle(read(500 + k, "deal", "show", ("deal", "D-1")))
            .await
            .expect("an answer");
        assert!(!shown.ephemeral, "{shown:?}");
        let found = engine
            .handle(read(600 + k, "contact", "find", ("query", "nobody here")))
            .await
            .expect("an answer");
        // No contact matches: said privately, with the words searched for.
        assert!(
            found.ephemeral && found.content.contains("nobody here"),
            "{found:?}"
        );
    }
    let (deals, last, marks): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deals WHERE workspace_id = 7),
                (SELECT max(number) FROM deals WHERE workspace_id = 7),
                (SELECT count(*) FROM processed_interactions WHERE workspace_id = 7)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(deals, last, "deal numbers skipped or repeated");
    // First, the move, the twenty after, and one mark for each given-up deal that went in.
    assert_eq!(
        marks,
        1 + 1 + 20 + (deals - 21),
        "marks left by rolled-back commands"
    );
}

/// `/deal list stale:true` counts a deal stale by its stage's own limit where the stage sets
/// one, as the agenda and the digest do, and its count agrees with its lines.
#[sqlx::test(migrations = "./migrations")]
async fn the_stale_list_keeps_each_stages_own_limit(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/deal new title:Quick amount:1k stage:Proposal").await;
    h.ok("/deal new title:Slow amount:1k stage:Lead").await;
    h.ok("/settings stages action:stale stage:Proposal days:3")
        .await;
    // Five days on: past Proposal's three, short of the workspace's fourteen.
    h.run(":now 2026-12-06T09:00:00Z").await;
    let t = text(&h.ok("/deal list stale:true").await);
    assert!(t.contains("D-1") && !t.contains("D-2"), "{t}");
    h.run(":now 2026-12-16T09:00:00Z").await;
    let t = text(&h.ok("/deal list stale:true").await);
    assert!(t.contains("D-1") && t.contains("D-2"), "{t}");
}

/// The currency cannot change under a product's list price or a quota either: neither names its
/// currency, so a change would re-read $12.50 as ¥1,250.
#[sqlx::test(migrations = "./migrations")]
async fn prices_and_quotas_hold_the_currency_like_deals(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings currency code:EUR").await; // nothing priced yet: free to change
    h.ok("/settings quota member:<@1> amount:5k").await;
    let err = h.err("/settings currency code:JPY").await;
    assert!(err.contains("EUR") && err.contains("JPY"), "{err}");
    h.ok("/undo").await; // the quota goes
    h.ok("/settings currency code:JPY").await;
    h.ok("/product add name:Widget price:1250").await;
    let err = h.err("/settings currency code:EUR").await;
    assert!(err.contains("JPY"), "{err}");
    h.ok("/settings currency code:JPY").await; // the same one is no change
}

/// Taking back a currency change is a currency change: once a price was written in the new
/// currency, `/undo` of the change is refused and leaves both as they are.
#[sqlx::test(migrations = "./migrations")]
async fn undo_of_a_currency_change_keeps_amounts_in_one_currency(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.join(&[2], ":as 1 admin").await;
    h.ok("/settings currency code:EUR").await;
    h.run(":as 2 admin").await;
    h.ok("/product add name:Widget price:1250").await;
    h.run(":as 1 admin").await;
    let before = h.fingerprint().await;
    let err = h.err("/undo").await;
    assert!(err.contains("EUR") && err.contains("USD"), "{err}");
    assert_eq!(
        h.fingerprint().await,
        before,
        "a refused undo writes nothing"
    );
    // With nothing priced, the same undo goes through.
    h.run(":as 2 admin").await;
    h.ok("/undo").await;
    h.run(":as 1 admin").await;
    h.ok("/undo").await;
    let usd: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE currency = 'USD'")
        .fetch_one(&h.pool)
        .await
        .expect("count");
    assert_eq!(usd, 1, "the undo put USD back");
}

/// Tag changes that arrive together each build on the other's: the tags are read from the
/// locked row, so none of them is lost, and each one's undo image is the row it changed.
#[sqlx::test(migrations = "./migrations")]
async fn tags_added_at_once_are_all_kept(pool: PgPool) {
    use salesbot::engine::Engine;
    use salesbot::store::Store;

    let mut h = Harness::new(pool.clone()).await;
    h.ok("/contact add name:Zoe email:zoe@x.example").await;
    let engine = Engine::new(Store::from_pool(pool.clone())).expect("engine");
    let tag = |n: i64| {
        let add = format!("t{n}");
        let options = [("contact", "C-1"), ("add", add.as_str())];
        command_request(1, 1, Role::Admin, 20_000 + n, "contact", "tag", &options)
    };
    let replies = futures_util::future::join_all((0..12).map(|n| {
        let (engine, request) = (engine.clone(), tag(n));
        async move { engine.handle(request).await.expect("answered") }
    }))
    .await;
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM contacts WHERE id = 1")
        .fetch_one(&pool)
        .await
        .expect("tags");
    assert_eq!(tags.len(), 12, "{tags:?} after {replies:?}");
}

/// Naming a company on a contact or deal attaches it to the company of that name (any case)
/// or creates it: a name that only begins another's ("Acme" beside "Acme Corporation") is a
/// new company, not the longer one.
#[sqlx::test(migrations = "./migrations")]
async fn a_company_named_by_the_start_of_anothers_name_is_a_new_one(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok(r#"/company add name:"Acme Corporation""#).await;
    h.ok("/contact add name:Bob company:Acme").await;
    h.ok(r#"/contact add name:Cy company:"acme corporation""#)
        .await;
    h.ok("/deal new title:Rollout amount:1k company:Acme").await;
    let at: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.name, co.name FROM contacts c JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id
          ORDER BY c.name",
    )
    .fetch_all(&h.pool)
    .await
    .expect("contacts");
    assert_eq!(
        at,
        vec![
            ("Bob".to_string(), "Acme".to_string()),
            ("Cy".to_string(), "Acme Corporation".to_string()),
        ]
    );
    assert_eq!(h.count("SELECT count(*) FROM companies").await, 2);
    assert_eq!(
        h.count("SELECT count(*) FROM deals d JOIN companies co ON co.id = d.company_id WHERE co.name = 'Acme'")
            .await,
        1
    );
}

/// Two admins changing different settings at once each keep the other's: a settings change
/// writes the workspace row as it is once locked, not as the request found it.
#[sqlx::test(migrations = "./migrations")]
async fn settings_changed_at_once_are_all_kept(pool: PgPool) {
    use salesbot::engine::Engine;
    use salesbot::store::Store;

    let mut h = Harness::new(pool.clone()).await;
    h.ok("/settings show").await;
    let engine = Engine::new(Store::from_pool(pool.clone())).expect("engine");
    let rounds = [
        ("Asia/Tokyo", "zh-CN", "own"),
        ("Europe/Berlin", "en", "all"),
        ("America/Chicago", "zh-CN", "own"),
        ("Africa/Lagos", "en", "all"),
    ];
    for (round, (zone, locale, mode)) in rounds.into_iter().enumerate() {
        let id = 30_000 + 10 * round as i64;
        let requests = [
            command_request(
                1,
                1,
                Role::Admin,
                id,
                "settings",
                "timezone",
                &[("zone", zone)],
            ),
            command_request(
                1,
                1,
                Role::Admin,
                id + 1,
                "settings",
                "language",
                &[("locale", locale)],
            ),
            command_request(
                1,
                1,
                Role::Admin,
                id + 2,
                "settings",
                "visibility",
                &[("mode", mode)],
            ),
        ];
        let replies = futures_util::future::join_all(requests.into_iter().map(|r| {
            let engine = engine.clone();
            async move { engine.handle(r).await.expect("answered") }
        }))
        .await;
        let row: (String, String, String) =
            sqlx::query_as("SELECT timezone, locale, visibility FROM workspaces WHERE id = 1")
                .fetch_one(&pool)
                .await
                .expect("workspace");
        assert_eq!(
            row,
            (zone.to_string(), locale.to_string(), mode.to_string()),
            "round {round}: {replies:?}"
        );
    }
}

/// `/contact log owner:` names who had the interaction: a manager may log it for a rep (the
/// activity counts for the rep and the next step is theirs), a rep only for themselves.
#[sqlx::test(migrations = "./migrations")]
async fn a_manager_logs_an_interaction_for_a_rep(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.join(&[2, 3], ":as 1 manager").await;
    h.ok("/contact add name:Zoe email:zoe@x.example").await;
    h.ok(r#"/contact log contact:C-1 kind:call summary:intro owner:<@2> next_step:"send deck" due:"tomorrow 9am""#)
        .await;
    assert_eq!(
        h.count("SELECT count(*) FROM activities WHERE member_id = 2")
            .await,
        1
    );
    assert_eq!(
        h.count("SELECT count(*) FROM tasks WHERE assignee_id = 2 AND created_by = 1 AND title = 'send deck'")
            .await,
        1
    );
    h.run(":as 2 rep").await;
    let before = h.fingerprint().await;
    let e = h
        .err("/contact log contact:C-1 kind:call summary:x owner:<@3>")
        .await;
    assert!(e.to_lowercase().contains("manager"), "{e}");
    assert_eq!(h.fingerprint().await, before);
}

/// The command prelude hands the engine the stages in pipeline order, whatever order their
/// rows were made in: a stage added in the middle (the newest id) lists, and is moved past,
/// where its position puts it.
#[sqlx::test(migrations = "./migrations")]
async fn the_stages_come_in_pipeline_order_not_creation_order(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings stages action:add name:Demo probability:40 position:2")
        .await;
    let t = text(&h.ok("/settings stages action:list").await);
    let at = |name: &str| {
        t.find(name)
            .unwrap_or_else(|| panic!("{name} missing: {t}"))
    };
    assert!(
        at("Lead") < at("Demo") && at("Demo") < at("Qualified"),
        "{t}"
    );
    // The card's Next button takes the stage after the deal's own in that order.
    h.ok("/deal new title:Ordered amount:1000 stage:Lead").await;
    let r = h.ok(":click deal:next:1").await;
    assert!(text(&r).contains("Demo"), "{r}");
}

/// Whether the newest row of `table` was written by the very statement that wrote the marker
/// of interaction `id` (workspace 7): the same transaction, and within it the same command
/// (`cmin`; a later statement of the transaction writes with a higher one). Read right after
/// the command, before anything changes those rows again.
async fn written_with_marker(pool: &PgPool, table: &str, id: i64) -> bool {
    sqlx::query_scalar(&format!(
        "SELECT m.xmin::text = r.xmin::text AND m.cmin::text = r.cmin::text
         FROM processed_interactions m, (SELECT xmin, cmin FROM {table} ORDER BY id DESC LIMIT 1) r
         WHERE m.workspace_id = 7 AND m.interaction_id = $1"
    ))
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("the marker and the row")
}

/// A move to an open stage and a logged call write one statement each, sent without BEGIN
/// and COMMIT, with their interaction marker in it: a replay is a duplicate. The same
/// commands when they write more (a logged call naming a deal or setting a follow-up, a
/// move that wins), or when a webhook wants their event, run in a transaction as every other
/// write does, with the marker written right after its BEGIN.
#[sqlx::test(migrations = "./migrations")]
async fn one_write_commands_write_in_one_statement(pool: PgPool) {
    use salesbot::engine::Engine;
    use salesbot::store::Store;
    let engine = Engine::new(Store::from_pool(pool.clone())).expect("engine");
    let run = |id: i64,
               command: &'static str,
               sub: &'static str,
               options: Vec<(&'static str, String)>| {
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        command_request(7, 1, Role::Admin, id, command, sub, &options)
    };
    let ok = |r: Option<salesbot::engine::Reply>| {
        let r = r.expect("answered");
        assert!(!r.ephemeral, "{r:?}");
        r
    };
    ok(engine
        .handle(run(
            1,
            "deal",
            "new",
            vec![("title", "One".into()), ("amount", "1000".into())],
        ))
        .await);
    ok(engine
        .handle(run(2, "contact", "add", vec![("name", "Ann".into())]))
        .await);
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };

    let cases: Vec<(&str, salesbot::engine::Request, &str, bool)> = vec![
        (
            "a move",
            run(
                10,
                "deal",
                "move",
                vec![("deal", "D-1".into()), ("stage", "Qualified".into())],
            ),
            "stage_changes",
            true,
        ),
        (
            "a logged call",
            run(
                11,
                "contact",
                "log",
                vec![
                    ("contact", "C-1".into()),
                    ("kind", "call".into()),
                    ("summary", "hello".into()),
                ],
            ),
            "activities",
            true,
        ),
        (
            "a call logged on a deal",
            run(
                12,
                "contact",
                "log",
                vec![
                    ("contact", "C-1".into()),
                    ("kind", "call".into()),
                    ("summary", "again".into()),
                    ("deal", "D-1".into()),
                ],
            ),
            "activities",
            false,
        ),
        (
            "a call with a follow-up",
            run(
                13,
                "contact",
                "log",
                vec![
                    ("contact", "C-1".into()),
                    ("kind", "call".into()),
                    ("summary", "later".into()),
                    ("due", "tomorrow".into()),
                ],
            ),
            "activities",
            false,
        ),
        (
            "a move that wins",
            run(
                14,
                "deal",
                "move",
                vec![("deal", "D-1".into()), ("stage", "Won".into())],
            ),
            "stage_changes",
            false,
        ),
    ];
    for (what, request, table, alone) in cases {
        let id = request.interaction_id.expect("an interaction");
        ok(engine.handle(request.clone()).await);
        assert_eq!(
            written_with_marker(&pool, table, id).await,
            alone,
            "{what}: written with its marker in one statement"
        );
        let rows = format!("SELECT count(*) FROM {table}");
        let before: i64 = sqlx::query_scalar(&rows)
            .fetch_one(&pool)
            .await
            .expect("count");
        assert!(
            engine.handle(request).await.is_none(),
            "{what}: a replay is a duplicate"
        );
        let after: i64 = sqlx::query_scalar(&rows)
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(after, before, "{what}: the replay wrote");
    }
    assert_eq!(
        count("SELECT count(*) FROM processed_interactions WHERE interaction_id BETWEEN 10 AND 14")
            .await,
        5
    );
    assert_eq!(count("SELECT count(*) FROM activities").await, 3);
    assert_eq!(count("SELECT count(*) FROM tasks").await, 1);

    // A webhook that wants the move's event: the event is enqueued in the move's transaction.
    ok(engine
        .handle(run(
            20,
            "deal",
            "new",
            vec![("title", "Two".into()), ("amount", "1000".into())],
        ))
        .await);
    sqlx::query(
        "INSERT INTO webhook_endpoints (workspace_id, url, events, created_by, created_at)
         VALUES (7, 'https://example.com/hook', '{deal.stage_changed}', 1, now())",
    )
    .execute(&pool)
    .await
    .expect("endpoint");
    ok(engine
        .handle(run(
            21,
            "deal",
            "move",
            vec![("deal", "D-2".into()), ("stage", "Qualified".into())],
        ))
        .await);
    assert!(!written_with_marker(&pool, "stage_changes", 21).await);
    assert_eq!(
        count("SELECT count(*) FROM webhook_events WHERE event_type = 'deal.stage_changed'").await,
        1
    );
}

/// Two deliveries of the same interaction at once: the second's prelude finds no marker (the
/// first has not committed it), so it is the write, or the BEGIN that comes before the
/// writes, that meets the first's marker, waits for it, and then writes nothing. Held here by
/// a transaction that has inserted the marker: committed, the command is a duplicate and
/// nothing is written; rolled back, the command runs.
#[sqlx::test(migrations = "./migrations")]
async fn a_one_write_command_meeting_its_own_marker_writes_nothing(pool: PgPool) {
    use salesbot::engine::Engine;
    use salesbot::store::Store;
    let engine = std::sync::Arc::new(Engine::new(Store::from_pool(pool.clone())).expect("engine"));
    let run = |id: i64,
               command: &'static str,
               sub: &'static str,
               options: &[(&'static str, &'static str)]| {
        command_request(7, 1, Role::Admin, id, command, sub, options)
    };
    for (id, command, sub, options) in [
        (
            1,
            "deal",
            "new",
            &[("title", "One"), ("amount", "1000")][..],
        ),
        (2, "contact", "add", &[("name", "Ann")][..]),
    ] {
        assert!(engine
            .handle(run(id, command, sub, options))
            .await
            .is_some_and(|r| !r.ephemeral));
    }
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    let cases: [(&str, i64, &str, &str, &[(&str, &str)], &str); 3] = [
        (
            "a move",
            100,
            "deal",
            "move",
            &[("deal", "D-1"), ("stage", "Qualified")],
            "SELECT count(*) FROM stage_changes",
        ),
        (
            "a logged call",
            200,
            "contact",
            "log",
            &[("contact", "C-1"), ("kind", "call"), ("summary", "hi")],
            "SELECT count(*) FROM activities",
        ),
        // Two statements: the marker goes in with BEGIN.
        (
            "a call on a deal",
            300,
            "contact",
            "log",
            &[
                ("contact", "C-1"),
                ("kind", "call"),
                ("summary", "hi"),
                ("deal", "D-1"),
            ],
            "SELECT count(*) FROM activities",
        ),
    ];
    for (what, id, command, sub, options, written) in cases {
        for commit in [true, false] {
            let id = id + i64::from(commit);
            let before = count(written).await;
            let mut holder = pool.begin().await.expect("begin");
            sqlx::query(
                "INSERT INTO processed_interactions (workspace_id, interaction_id) VALUES (7, $1)",
            )
            .bind(id)
            .execute(&mut *holder)
            .await
            .expect("marker");
            let work = tokio::spawn({
                let engine = engine.clone();
                let request = run(id, command, sub, options);
                async move { engine.handle(request).await }
            });
            // The command waits on the marker's key.
            let mut waiting = false;
            for _ in 0..500 {
                waiting = count(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .await
                    > 0;
                if waiting {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(waiting, "{what}: the command did not wait for the marker");
            if commit {
                holder.commit().await.expect("commit");
            } else {
                holder.rollback().await.expect("rollback");
            }
            let answer = work.await.expect("join");
            let after = count(written).await;
            if commit {
                assert!(answer.is_none(), "{what}: answered as new: {answer:?}");
                assert_eq!(after, before, "{what}: written though a duplicate");
            } else {
                assert!(answer.is_some_and(|r| !r.ephemeral), "{what}: not run");
                assert_eq!(after, before + 1, "{what}: not written");
            }
        }
    }
    assert_eq!(
        count("SELECT count(*) FROM processed_interactions WHERE interaction_id IN (100, 101, 200, 201, 300, 301)").await,
        6
    );
}

/// The prelude reads the deal a command names as JSON text. A date past 9999 is one the JSON
/// carries but chrono does not read from it: that row is read by its own statement instead,
/// and the command answers as for any other deal.
#[sqlx::test(migrations = "./migrations")]
async fn a_named_deal_the_prelude_cannot_read_is_read_on_its_own(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Farfuture amount:100").await;
    let r = h.ok("/deal show deal:D-1").await;
    assert!(r.to_string().contains("Farfuture"), "{r}");
    sqlx::query("UPDATE deals SET expected_close = '10000-01-01'")
        .execute(&pool)
        .await
        .expect("a far date");
    let r = h.ok("/deal show deal:D-1").await;
    assert!(r.to_string().contains("Farfuture"), "{r}");
    h.ok("/deal move deal:D-1 stage:Qualified").await;
    assert_eq!(
        h.count("SELECT count(*) FROM stage_changes").await,
        2,
        "the deal's creation and its move"
    );
}
