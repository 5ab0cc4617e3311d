//! Workspaces are sealed from each other: every command that takes an id, given an id that
//! belongs to another workspace, answers "not found" and changes nothing; lists, searches and
//! figures never show another workspace's rows; and a deal number that exists in both
//! workspaces (D-1 here and D-1 there) always means the caller's own.

use crate::support::{text, Harness};
use sqlx::PgPool;

use crate::support::TABLES;

/// Every row of one workspace, in a stable order: proves that workspace was not touched.
async fn ws_fingerprint(h: &Harness, ws: i64) -> String {
    let mut out = String::new();
    let mut tables = vec![("workspaces", "id")];
    // Every table but `workspaces` itself is keyed by workspace_id.
    tables.extend(
        TABLES
            .iter()
            .filter(|t| **t != "workspaces")
            .map(|t| (*t, "workspace_id")),
    );
    for (table, key) in tables {
        let sql = format!(
            "SELECT coalesce(string_agg(to_jsonb(x)::text, '\n' ORDER BY to_jsonb(x)::text), '')
             FROM {table} x WHERE {key} = $1"
        );
        let rows: String = sqlx::query_scalar(&sql)
            .bind(ws)
            .fetch_one(&h.pool)
            .await
            .expect("workspace fingerprint");
        out.push_str(table);
        out.push('\n');
        out.push_str(&rows);
        out.push('\n');
    }
    out
}

/// The ids workspace 2's rows got; read from the database, never assumed.
struct Other {
    company: i64,
    contact: i64,
    task_reminder: i64,
    task_follow_up: i64,
}

/// Workspace 2 ("Zeta"): a company, a contact, deals D-1..D-3 and two tasks of user 1, who is
/// also the console's user in workspace 1. Then workspace 1 ("Acme") with a company, a contact,
/// its own D-1 and a task. Leaves the console in workspace 1 as the admin.
async fn two_workspaces(h: &mut Harness) -> Other {
    h.run(":workspace 2").await;
    h.ok(r#"/company add name:"Zeta Corp" industry:mining"#)
        .await;
    h.ok(r#"/contact add name:"Zed Zero" email:zed@zeta.example company:"Zeta Corp" tags:zetatag"#)
        .await;
    h.ok(r#"/deal new title:"Zeta rollout" amount:777k company:"Zeta Corp" contact:zed@zeta.example"#)
        .await;
    h.ok(r#"/deal new title:"Zeta renewal" amount:555k"#).await;
    h.ok(r#"/deal new title:"Zeta expansion" amount:333k"#)
        .await;
    h.ok("/deal move deal:D-3 stage:Proposal").await;
    h.ok("/deal won deal:D-2").await;
    h.ok(r#"/remind what:"call Zed" when:"tomorrow 9am" deal:D-1 contact:zed@zeta.example"#)
        .await;
    h.ok(r#"/contact log contact:zed@zeta.example kind:call summary:"zeta intro" deal:D-1 next_step:"send zeta deck" due:"tomorrow 10am""#)
        .await;

    h.run(":workspace 1").await;
    h.ok("/company add name:Acme").await;
    h.ok(r#"/contact add name:"Ann Able" email:ann@acme.example company:Acme"#)
        .await;
    h.ok(r#"/deal new title:"Acme pilot" amount:12k company:Acme contact:ann@acme.example"#)
        .await;
    h.ok(r#"/remind what:"call Ann" when:"tomorrow 9am""#).await;

    Other {
        company: h
            .count("SELECT id FROM companies WHERE workspace_id = 2")
            .await,
        contact: h
            .count("SELECT id FROM contacts WHERE workspace_id = 2")
            .await,
        task_reminder: h
            .count("SELECT id FROM tasks WHERE workspace_id = 2 AND source = 'manual'")
            .await,
        task_follow_up: h
            .count("SELECT id FROM tasks WHERE workspace_id = 2 AND source = 'follow_up'")
            .await,
    }
}

/// Whether an error says the thing named does not exist (as opposed to "forbidden" or a bad
/// input): another workspace's row must look exactly like a row that was never there.
fn is_not_found(err: &str) -> bool {
    ["No deal", "No contact", "No company", "No task"]
        .iter()
        .any(|p| err.contains(p))
        && err.contains("in this workspace")
}

#[sqlx::test(migrations = "./migrations")]
async fn another_workspaces_ids_are_not_found_and_change_nothing(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let o = two_workspaces(&mut h).await;
    // User 77, named as an owner below, is a member here: only the reference is foreign.
    h.join(&[77], ":as 1 admin").await;
    let own_contact = h
        .count("SELECT id FROM contacts WHERE workspace_id = 1")
        .await;
    // The id sequences are shared by all workspaces, so workspace 2's ids are not workspace 1's.
    assert_ne!(o.contact, own_contact);
    assert_eq!(
        h.count("SELECT count(*) FROM contacts WHERE workspace_id = 1 AND id IN (SELECT id FROM contacts WHERE workspace_id = 2)")
            .await,
        0
    );
    let (co, c, ta, tf) = (o.company, o.contact, o.task_reminder, o.task_follow_up);
    // D-2 and D-3 exist only in workspace 2; "Zeta ..." titles, Zed's name and email too.
    let lines = [
        // contacts
        format!("/contact show contact:C-{c}"),
        format!("/contact show contact:{c}"),
        "/contact show contact:zed@zeta.example".to_string(),
        r#"/contact show contact:"Zed Zero""#.to_string(),
        format!("/contact log contact:C-{c} kind:call summary:hello"),
        "/contact log contact:zed@zeta.example kind:call summary:hello".to_string(),
        format!("/contact log contact:C-{own_contact} kind:call summary:hello deal:D-2"),
        format!("/contact log contact:C-{own_contact} kind:call summary:hello deal:Zeta"),
        format!(
            r#"/contact log contact:C-{own_contact} kind:call summary:hello deal:D-3 next_step:"x" due:"tomorrow 9am""#
        ),
        format!("/contact tag contact:C-{c} add:vip"),
        "/contact tag contact:zed@zeta.example remove:zetatag".to_string(),
        format!("/contact add name:Newbie company:CO-{co}"),
        // companies
        format!("/company show company:CO-{co}"),
        r#"/company show company:"Zeta Corp""#.to_string(),
        // deals
        "/deal move deal:D-2 stage:Qualified".to_string(),
        "/deal move deal:D-3 stage:Negotiation".to_string(),
        r#"/deal move deal:"Zeta rollout" stage:Qualified"#.to_string(),
        "/deal won deal:D-3".to_string(),
        "/deal won deal:D-3 amount:1k".to_string(),
        "/deal lost deal:D-3 reason:gone".to_string(),
        "/deal lost deal:Zeta reason:gone".to_string(),
        "/deal assign deal:D-3 owner:<@77>".to_string(),
        "/deal show deal:D-2".to_string(),
        "/deal show deal:3".to_string(),
        "/deal show deal:Zeta".to_string(),
        format!("/deal new title:Leak amount:1k company:CO-{co}"),
        format!("/deal new title:Leak amount:1k contact:C-{c}"),
        "/deal new title:Leak amount:1k contact:zed@zeta.example".to_string(),
        format!("/deal new title:Leak amount:1k contact:C-{c} owner:<@77>"),
        // reminders and tasks
        r#"/remind what:x when:"tomorrow 9am" deal:D-3"#.to_string(),
        r#"/remind what:x when:"tomorrow 9am" deal:Zeta"#.to_string(),
        format!(r#"/remind what:x when:"tomorrow 9am" contact:C-{c}"#),
        format!(r#"/remind what:x when:"tomorrow 9am" contact:C-{c} for:<@77>"#),
        format!("/tasks done task:T-{ta}"),
        format!("/tasks done task:T-{tf}"),
        format!(r#"/tasks snooze task:T-{ta} until:"in 2 days""#),
        format!(r#"/tasks snooze task:T-{tf} until:"tomorrow 9am""#),
        // buttons
        ":click deal:next:2".to_string(),
        ":click deal:next:3".to_string(),
        ":click deal:won:3".to_string(),
        ":click deal:show:2".to_string(),
        format!(":click task:done:{ta}"),
        format!(":click task:done:{tf}"),
        format!(":click task:snooze:{ta}:1h"),
        format!(":click task:snooze:{tf}:1d"),
    ];
    let mut failures = Vec::new();
    for line in &lines {
        let before = h.fingerprint().await;
        let reply = h.one(line).await;
        let content = reply["content"].as_str().unwrap_or_default().to_string();
        if !content.starts_with("⚠️") || reply["ephemeral"] != true {
            failures.push(format!("{line}: expected an ephemeral error, got {reply}"));
        } else if !is_not_found(&content) {
            failures.push(format!("{line}: expected 'not found', got {content}"));
        }
        if h.fingerprint().await != before {
            failures.push(format!("{line}: the database changed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[sqlx::test(migrations = "./migrations")]
async fn lists_searches_and_figures_show_only_the_own_workspace(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let o = two_workspaces(&mut h).await;
    let zeta = ["Zeta", "Zed", "zeta", "$777,000", "$555,000", "$333,000"];
    let leaks = |t: &str| zeta.iter().filter(|z| t.contains(*z)).count();

    let r = h.ok("/deal list status:all").await;
    let t = text(&r);
    assert!(t.contains("D-1 Acme pilot") && leaks(&t) == 0, "{t}");
    assert!(!t.contains("D-2") && !t.contains("D-3"), "{t}");
    let r = h.ok("/deal list status:won").await;
    assert!(leaks(&text(&r)) == 0, "{r}");
    let r = h.ok("/deal list owner:<@1> stage:Proposal").await;
    assert!(leaks(&text(&r)) == 0, "{r}");

    for period in ["this-month", "this-quarter", "all-time"] {
        let r = h.ok(&format!("/pipeline stats period:{period}")).await;
        let t = text(&r);
        // Only workspace 1's one open $12,000 deal; nothing won or lost here.
        assert!(t.contains("Open pipeline: 1 · $12,000"), "{period}: {t}");
        assert!(t.contains("Won: 0 · $0"), "{period}: {t}");
        assert!(t.contains("**Lead** · 1 open · $12,000"), "{period}: {t}");
        assert!(t.contains("**Proposal** · 0 open · $0"), "{period}: {t}");
        assert!(leaks(&t) == 0, "{period}: {t}");
    }
    let r = h.ok("/pipeline stats period:all-time owner:<@1>").await;
    assert!(text(&r).contains("Open pipeline: 1 · $12,000"), "{r}");

    for q in ["zed", "Zed Zero", "zeta", "zed@zeta.example", "zetatag"] {
        let r = h.ok(&format!(r#"/contact find query:"{q}""#)).await;
        let t = text(&r);
        assert!(t.contains("No contacts match"), "{q}: {t}");
    }
    let r = h.ok("/contact find query:acme").await;
    assert!(
        text(&r).contains("Ann Able") && leaks(&text(&r)) == 0,
        "{r}"
    );

    let r = h.ok("/tasks list status:all").await;
    let t = text(&r);
    assert!(t.contains("call Ann"), "{t}");
    assert!(
        !t.contains(&format!("T-{}", o.task_reminder))
            && !t.contains(&format!("T-{}", o.task_follow_up))
            && leaks(&t) == 0,
        "{t}"
    );
    let r = h.ok("/company show company:Acme").await;
    let t = text(&r);
    assert!(
        t.contains("Contacts: 1") && t.contains("Open deals: 1"),
        "{t}"
    );

    // An email taken in workspace 2 is free in workspace 1, and a name taken there is new here.
    let r = h
        .ok(r#"/contact add name:"Zed Twin" email:zed@zeta.example company:"Zeta Corp""#)
        .await;
    assert!(!text(&r).contains(&format!("CO-{}", o.company)), "{r}");
    assert_eq!(
        h.count("SELECT count(*) FROM companies WHERE lower(name) = 'zeta corp'")
            .await,
        2
    );
    assert_eq!(
        h.count("SELECT count(*) FROM contacts c JOIN companies co ON co.id = c.company_id WHERE c.workspace_id <> co.workspace_id")
            .await,
        0
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn the_same_deal_number_means_the_own_workspaces_deal(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    two_workspaces(&mut h).await;
    let own_d1 = h
        .count("SELECT id FROM deals WHERE workspace_id = 1 AND number = 1")
        .await;
    let other_before = ws_fingerprint(&h, 2).await;
    let stage_of_d1 = |ws: i64| {
        format!(
            "SELECT s.position::bigint FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
             WHERE d.workspace_id = {ws} AND d.number = 1"
        )
    };

    let r = h.ok("/deal show deal:D-1").await;
    assert!(
        text(&r).contains("D-1 Acme pilot") && !text(&r).contains("Zeta"),
        "{r}"
    );
    let r = h.ok("/deal show deal:1").await;
    assert!(text(&r).contains("$12,000"), "{r}");

    let r = h.ok("/deal move deal:D-1 stage:Qualified").await;
    assert!(text(&r).contains("Acme pilot"), "{r}");
    assert_eq!(h.count(&stage_of_d1(1)).await, 2);
    let r = h.ok(":click deal:next:1").await;
    assert!(text(&r).contains("Qualified → Proposal"), "{r}");
    assert_eq!(h.count(&stage_of_d1(1)).await, 3);
    h.join(&[42], ":as 1 admin").await;
    h.ok("/deal assign deal:D-1 owner:<@42>").await;
    assert_eq!(
        h.count("SELECT owner_id FROM deals WHERE workspace_id = 1 AND number = 1")
            .await,
        42
    );
    h.ok("/contact log contact:ann@acme.example kind:email summary:followup deal:D-1")
        .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM activities WHERE workspace_id = 1 AND deal_id = {own_d1}"
        ))
        .await,
        1
    );
    h.ok(r#"/remind what:"chase pilot" when:"tomorrow 9am" deal:D-1"#)
        .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM tasks WHERE workspace_id = 1 AND title = 'chase pilot' AND deal_id = {own_d1}"
        ))
        .await,
        1
    );
    let r = h.ok("/deal won deal:D-1 amount:13k").await;
    assert!(text(&r).contains("Acme pilot won for $13,000"), "{r}");
    h.ok("/deal move deal:D-1 stage:Lead").await; // reopened
    h.ok("/deal lost deal:D-1 reason:budget").await;
    assert_eq!(
        h.count(
            "SELECT count(*) FROM deals WHERE workspace_id = 1 AND number = 1 AND status = 'lost'"
        )
        .await,
        1
    );
    // Workspace 2's D-1 never moved, nor did anything else there.
    assert_eq!(h.count(&stage_of_d1(2)).await, 1);
    assert_eq!(ws_fingerprint(&h, 2).await, other_before);

    // The same user changes something in workspace 2 last; /undo in workspace 1 undoes the
    // workspace-1 change (the lost deal), not the later one over there.
    h.run(":workspace 2").await;
    h.ok("/deal move deal:D-1 stage:Qualified").await;
    let other_after_move = ws_fingerprint(&h, 2).await;
    h.run(":workspace 1").await;
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("marking a deal lost"), "{r}");
    assert_eq!(
        h.count(
            "SELECT count(*) FROM deals WHERE workspace_id = 1 AND number = 1 AND status = 'open'"
        )
        .await,
        1
    );
    assert_eq!(ws_fingerprint(&h, 2).await, other_after_move);
    assert_eq!(h.count(&stage_of_d1(2)).await, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn another_workspaces_stages_are_unknown(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    two_workspaces(&mut h).await;
    h.run(":workspace 2").await;
    h.ok(r#"/settings stages action:add name:"Zeta Review" probability:60"#)
        .await;
    h.run(":workspace 1").await;
    let before = h.fingerprint().await;
    for line in [
        r#"/deal move deal:D-1 stage:"Zeta Review""#,
        r#"/deal new title:Leak amount:1k stage:"Zeta Review""#,
        r#"/deal list stage:"Zeta Review""#,
        r#"/settings stages action:rename stage:"Zeta Review" name:Mine"#,
        r#"/settings stages action:probability stage:"Zeta Review" probability:5"#,
        r#"/settings stages action:move stage:"Zeta Review" position:1"#,
        r#"/settings stages action:remove stage:"Zeta Review""#,
    ] {
        let err = h.err(line).await;
        assert!(
            err.contains("there is no stage 'Zeta Review'"),
            "{line}: {err}"
        );
        let accepted = err.split("Accepted:").nth(1).unwrap_or_default();
        assert!(!accepted.contains("Zeta"), "{line}: {err}");
    }
    assert_eq!(h.fingerprint().await, before);
    let r = h.ok("/settings stages action:list").await;
    assert!(!text(&r).contains("Zeta"), "{r}");
    // The name is free here.
    h.ok(r#"/settings stages action:add name:"Zeta Review" probability:10"#)
        .await;
    assert_eq!(
        h.count("SELECT count(*) FROM stages WHERE name = 'Zeta Review'")
            .await,
        2
    );
}

/// The database itself keeps a deal's stage and its history's stages in the workspace: a deal
/// or a change naming another workspace's stage, or no stage at all, is refused whether
/// written one row or many at once, as a rep's command or as an import writes (rollup
/// triggers aside), and a stage still named is not deleted, nor its key changed.
#[sqlx::test(migrations = "./migrations")]
async fn the_database_refuses_stages_of_another_workspace_and_deleting_a_stage_in_use(
    pool: PgPool,
) {
    let mut h = Harness::new(pool).await;
    two_workspaces(&mut h).await;
    let foreign = h
        .count("SELECT min(id) FROM stages WHERE workspace_id = 2")
        .await;
    let own_deal = h.count("SELECT id FROM deals WHERE workspace_id = 1").await;
    let before = ws_fingerprint(&h, 1).await;
    // `bulk`: as an import writes, with the rollup triggers aside.
    let pool = h.pool.clone();
    let check = |sql: String, bulk: bool| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.expect("begin");
            if bulk {
                sqlx::query("SELECT set_config('salesbot.bulk', 'on', true)")
                    .execute(&mut *tx)
                    .await
                    .expect("bulk mode");
            }
            let err = sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .expect_err(&format!("the database accepted (bulk {bulk}): {sql}"));
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.to_string());
            assert_eq!(code.as_deref(), Some("23503"), "{sql}: {err}");
        }
    };
    let refused = |sql: String| async {
        check(sql.clone(), false).await;
        check(sql, true).await;
    };
    // Many rows in one statement, one of them naming the other workspace's stage.
    refused(format!(
        "INSERT INTO deals (workspace_id, number, title, owner_id, amount_minor, currency, stage_id, furthest_position)
         SELECT 1, 900 + n, 'x', 1, 0, 'USD',
                CASE WHEN n = 3 THEN {foreign} ELSE (SELECT min(id) FROM stages WHERE workspace_id = 1) END, 1
         FROM generate_series(1, 5) n"
    ))
    .await;
    refused(format!(
        "UPDATE deals SET stage_id = {foreign} WHERE workspace_id = 1 AND id = {own_deal}"
    ))
    .await;
    refused(format!(
        "UPDATE deals SET stage_id = -1 WHERE workspace_id = 1 AND id = {own_deal}"
    ))
    .await;
    refused(format!(
        "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
         SELECT 1, {own_deal}, NULL, id, 1, now() FROM stages WHERE workspace_id = 1
         UNION ALL SELECT 1, {own_deal}, {foreign}, (SELECT min(id) FROM stages WHERE workspace_id = 1), 1, now()"
    ))
    .await;
    refused(format!(
        "UPDATE stage_changes SET from_stage_id = {foreign} WHERE workspace_id = 1 AND deal_id = {own_deal}"
    ))
    .await;
    // The stage the workspace's deal is in, and one only its history names.
    refused(format!(
        "DELETE FROM stages WHERE workspace_id = 1 AND id = (SELECT stage_id FROM deals WHERE workspace_id = 1 AND id = {own_deal})"
    ))
    .await;
    refused(format!(
        "UPDATE stages SET id = id + 100000 WHERE workspace_id = 1 AND id = (SELECT stage_id FROM deals WHERE workspace_id = 1 AND id = {own_deal})"
    ))
    .await;
    assert_eq!(
        ws_fingerprint(&h, 1).await,
        before,
        "a refused write left something"
    );
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    h.ok("/deal move deal:D-1 stage:Qualified").await;
    refused("DELETE FROM stages WHERE workspace_id = 1 AND name = 'Proposal'".to_string()).await;
    // A stage nothing names goes, and renaming one is not a change of its key.
    h.ok("/settings stages action:add name:Demo probability:40")
        .await;
    sqlx::query("UPDATE stages SET name = 'Demo call' WHERE workspace_id = 1 AND name = 'Demo'")
        .execute(&h.pool)
        .await
        .expect("rename");
    h.ok(r#"/settings stages action:remove stage:"Demo call""#)
        .await;
    assert_eq!(
        h.count("SELECT count(*) FROM stages WHERE workspace_id = 1 AND name LIKE 'Demo%'")
            .await,
        0
    );
}
