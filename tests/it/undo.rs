//! `/undo` puts back exactly what the caller's last change touched: for every undoable command
//! the domain tables are byte-for-byte as before. It only ever undoes the caller's own change,
//! only within 10 minutes, one change further back each time, and it refuses (changing
//! nothing) when someone has changed a row since.

use crate::support::{text, Harness};
use sqlx::PgPool;

/// The domain tables, without the bookkeeping (`audit_log` records the undo itself,
/// `deal_counters` never hands a number out twice, `processed_interactions` is replay guard).
const DOMAIN_TABLES: [&str; 11] = [
    "workspaces",
    "members",
    "stages",
    "companies",
    "contacts",
    "deals",
    "stage_changes",
    "activities",
    "tasks",
    "products",
    "deal_products",
];

/// Every row of every domain table, in a stable order.
async fn domain_fingerprint(h: &Harness) -> String {
    let mut out = String::new();
    for t in DOMAIN_TABLES {
        let sql = format!(
            "SELECT coalesce(string_agg(to_jsonb(x)::text, '\n' ORDER BY to_jsonb(x)::text), '') FROM {t} x"
        );
        let rows: String = sqlx::query_scalar(&sql)
            .fetch_one(&h.pool)
            .await
            .expect("domain fingerprint");
        out.push_str(t);
        out.push('\n');
        out.push_str(&rows);
        out.push('\n');
    }
    out
}

/// The rows only one of two fingerprints has, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (left, right): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let gone = left
        .iter()
        .filter(|l| !right.contains(l))
        .collect::<Vec<_>>();
    let new = right
        .iter()
        .filter(|r| !left.contains(r))
        .collect::<Vec<_>>();
    format!("rows gone: {gone:?}\nrows new: {new:?}")
}

/// What a fixture workspace starts with.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// Members only (no deal, so the currency may change).
    Members,
    /// Members; company Acme; contacts "Ann A" (rep 10, tagged `old`) and "Ben B" (rep 11);
    /// D-1 Alpha (rep 10, $10,000, Lead → Qualified), D-2 Bravo (rep 11, $20,000,
    /// Lead → Negotiation), D-3 Charlie (rep 10, $30,000, won); a task for each rep.
    /// Proposal is never used, so it can be removed.
    Full,
}

/// Ids for the `{ca}`-style placeholders.
struct Ids {
    contact_a: i64,
    task_a: i64,
}

/// Builds a fixture in workspace `ws`; leaves the console there as the admin.
async fn fixture(h: &mut Harness, ws: i64, setup: Setup) -> Ids {
    h.run(&format!(":workspace {ws}")).await;
    for who in [":as 11 rep", ":as 10 rep", ":as 20 manager", ":as 1 admin"] {
        h.run(who).await;
        h.ok("/tasks list").await;
    }
    if setup == Setup::Full {
        h.ok("/company add name:Acme").await;
        h.ok(
            r#"/contact add name:"Ann A" email:ann@acme.example company:Acme tags:old owner:<@10>"#,
        )
        .await;
        h.ok(r#"/contact add name:"Ben B" owner:<@11>"#).await;
        h.ok("/deal new title:Alpha amount:10k company:Acme owner:<@10>")
            .await;
        h.ok("/deal move deal:D-1 stage:Qualified").await;
        h.ok("/product add name:Widget price:1200").await;
        h.ok("/product add name:Gizmo price:300").await;
        h.ok("/deal product deal:D-1 product:Widget quantity:1")
            .await;
        h.ok("/deal new title:Bravo amount:20k owner:<@11>").await;
        h.ok("/deal move deal:D-2 stage:Negotiation").await;
        h.ok("/deal new title:Charlie amount:30k owner:<@10>").await;
        h.ok("/deal won deal:D-3").await;
        h.ok(r#"/remind what:"task of A" when:"tomorrow 9am" for:<@10>"#)
            .await;
        h.ok(r#"/remind what:"task of B" when:"tomorrow 9am" for:<@11>"#)
            .await;
    }
    Ids {
        contact_a: h
            .count(&format!(
                "SELECT coalesce(max(id), 0) FROM contacts WHERE workspace_id = {ws} AND owner_id = 10"
            ))
            .await,
        task_a: h
            .count(&format!(
                "SELECT coalesce(max(id), 0) FROM tasks WHERE workspace_id = {ws} AND assignee_id = 10"
            ))
            .await,
    }
}

/// (who acts, the command, the starting data). One row per line reads as a table.
#[rustfmt::skip]
fn undoable() -> Vec<(&'static str, &'static str, Setup)> {
    use Setup::*;
    vec![
        (":as 1 admin", "/contact add name:Zoe email:zoe@x.example company:Acme title:CTO birthday:1990-04-12 tags:a,b", Full),
        (":as 1 admin", "/contact add name:Zoe company:Newco", Full), // creates the company too
        (":as 10 rep", "/contact add name:Zoe phone:\"+1 555 123 4567\"", Full),
        (":as 1 admin", r#"/contact log contact:C-{ca} kind:meeting summary:demo deal:D-1 satisfaction:4 next_step:"send quote" due:"tomorrow 9am""#, Full),
        (":as 10 rep", "/contact log contact:\"Ann A\" kind:call summary:\"quick call\" when:\"yesterday 3pm\"", Full),
        (":as 1 admin", "/contact tag contact:C-{ca} add:vip,hot remove:old", Full),
        (":as 1 admin", "/company add name:Omega industry:software tier:smb website:omega.example tags:x contract_end:2027-06-30", Full),
        (":as 1 admin", "/deal new title:Omega amount:9k company:Acme contact:C-{ca} close:2026-12-31", Full),
        (":as 1 admin", "/deal new title:Omega amount:9k company:Brandnew stage:Proposal owner:<@11>", Full), // creates the company
        (":as 1 admin", r#"/deal move deal:D-1 stage:Proposal note:"sent""#, Full),
        (":as 10 rep", "/deal move deal:D-1 stage:Lead", Full), // backwards
        (":as 1 admin", "/deal move deal:D-3 stage:Qualified", Full), // reopens a won deal
        (":as 1 admin", ":click deal:next:1", Full),
        (":as 1 admin", ":click deal:next:2", Full), // from the last open stage: won
        (":as 1 admin", "/deal won deal:D-1", Full),
        (":as 1 admin", "/deal won deal:D-2 amount:13k", Full), // amount and stage, one change (D-1 has lines: worth their total)
        (":as 1 admin", ":click deal:won:2", Full),
        (":as 1 admin", "/deal lost deal:D-1 reason:price", Full),
        (":as 1 admin", "/deal lost deal:D-3 reason:\"changed their mind\"", Full), // won → lost
        (":as 1 admin", "/deal assign deal:D-1 owner:<@11>", Full),
        (":as 20 manager", "/product add name:Gadget price:99.50", Full),
        (":as 1 admin", r#"/deal new title:Omega products:"Widget x3 @1000; Gizmo" owner:<@10>"#, Full),
        (":as 10 rep", "/deal product deal:D-1 product:Gizmo quantity:2", Full), // a new line
        (":as 10 rep", "/deal product deal:D-1 product:Widget quantity:5 price:900", Full), // replaced
        (":as 1 admin", "/deal product deal:D-1 product:Widget quantity:0", Full), // removed
        (":as 1 admin", r#"/remind what:ping when:"tomorrow 9am" deal:D-1 contact:C-{ca}"#, Full),
        (":as 1 admin", r#"/remind what:ping when:"tomorrow 9am" for:<@10>"#, Full),
        (":as 1 admin", "/tasks done task:T-{ta}", Full),
        (":as 10 rep", ":click task:done:{ta}", Full),
        (":as 1 admin", r#"/tasks snooze task:T-{ta} until:"in 3 days""#, Full),
        (":as 10 rep", ":click task:snooze:{ta}:1d", Full),
        (":as 1 admin", "/settings timezone zone:Asia/Shanghai", Full),
        (":as 10 rep", "/settings timezone zone:Asia/Shanghai scope:me", Full),
        (":as 1 admin", "/settings currency code:EUR", Members),
        (":as 1 admin", "/settings language locale:zh-CN", Full),
        (":as 1 admin", "/settings stages action:add name:Demo probability:40 position:2", Full),
        (":as 1 admin", "/settings stages action:add name:Demo probability:40", Full),
        (":as 1 admin", "/settings stages action:rename stage:Proposal name:Offer", Full),
        (":as 1 admin", "/settings stages action:probability stage:Proposal probability:55", Full),
        (":as 1 admin", "/settings stages action:move stage:Negotiation position:1", Full),
        (":as 1 admin", "/settings stages action:remove stage:Proposal", Full),
        (":as 1 admin", "/settings digest channel:<#555> day:fri time:16:30", Full),
        (":as 1 admin", "/settings stale days:21", Full),
        (":as 1 admin", "/settings manager-role role:<@&777>", Full),
        (":as 1 admin", "/settings quota member:<@10> amount:50k", Full),
        (":as 20 manager", "/settings quota member:<@20> amount:1.5m", Full),
        (":as 1 admin", "/settings visibility mode:own", Full),
    ]
}

#[sqlx::test(migrations = "./migrations")]
async fn undo_restores_exactly_the_previous_state_for_every_command(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let mut failures = Vec::new();
    for (i, (who, template, setup)) in undoable().into_iter().enumerate() {
        let ws = 100 + i as i64;
        let ids = fixture(&mut h, ws, setup).await;
        let line = template
            .replace("{ca}", &ids.contact_a.to_string())
            .replace("{ta}", &ids.task_a.to_string());
        h.run(who).await;
        let before = domain_fingerprint(&h).await;
        let reply = h.one(&line).await;
        if reply["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("⚠️")
        {
            failures.push(format!("{who} {line}: the command failed: {reply}"));
            continue;
        }
        let after = domain_fingerprint(&h).await;
        if after == before {
            failures.push(format!("{who} {line}: the command changed nothing"));
            continue;
        }
        // The reply is in the workspace language, which the command may just have changed.
        let undo = h.one("/undo").await;
        if !undo["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("↩️")
        {
            failures.push(format!("{who} {line}: /undo answered {undo}"));
            continue;
        }
        let restored = domain_fingerprint(&h).await;
        if restored != before {
            failures.push(format!(
                "{who} {line}: not restored\n{}",
                first_difference(&before, &restored)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The rollups the reports read followed every command and every undo.
    h.assert_totals_match_deals().await;
}

/// A command may name only a member of the team (`owner:<@42>`, `for:<@42>`, `member:<@42>`):
/// in the console one the workspace knows; someone it has never seen is refused, naming the
/// option, and nothing is written. (Through Discord, a server member Discord resolved gets a
/// row, which /undo takes away again: `discord::a_resolved_server_member_may_be_named`.)
#[sqlx::test(migrations = "./migrations")]
async fn naming_someone_who_is_not_a_member_is_refused(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let lines = [
        "/deal assign deal:D-1 owner:<@42>",
        "/deal new title:Omega amount:9k owner:<@42>",
        "/contact add name:Zoe owner:<@42>",
        "/company add name:Omega owner:<@42>",
        r#"/remind what:ping when:"tomorrow 9am" for:<@42>"#,
        "/settings quota member:<@42> amount:50k",
    ];
    let mut failures = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        fixture(&mut h, 200 + i as i64, Setup::Full).await;
        let before = h.fingerprint().await;
        let err = h.err(line).await;
        let option = line
            .split_whitespace()
            .find(|w| w.ends_with(":<@42>"))
            .and_then(|w| w.split(':').next())
            .unwrap_or_default();
        if !err.contains(&format!("{option}: <@42> is not a member of this team")) {
            failures.push(format!("{line}: {err}"));
        }
        let after = h.fingerprint().await;
        if after != before {
            failures.push(format!(
                "{line}: wrote something\n{}",
                first_difference(&before, &after)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_change_a_newer_version_made_is_left_for_it_with_a_clear_answer(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h, 1, Setup::Full).await;
    h.run(":as 10 rep").await;
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    h.ok("/deal move deal:D-1 stage:Negotiation").await;
    // The last move as a newer version would record it: an action this one has no name for
    // (first case), then tables it has none for (second). Each name gets a suffix that the
    // end of the case takes off again.
    let last = "(SELECT max(change_id) FROM audit_log WHERE workspace_id = 1 AND actor_id = 10)";
    for column in ["action", "entity"] {
        let marked = h
            .count(&format!(
                "WITH u AS (UPDATE audit_log SET {column} = {column} || '.v2'
                            WHERE workspace_id = 1 AND change_id = {last} RETURNING 1)
                 SELECT count(*) FROM u"
            ))
            .await;
        assert!(marked > 0);
        let before = domain_fingerprint(&h).await;
        let err = h.err("/undo").await;
        assert!(
            err.contains("newer version") && err.contains("Nothing was undone"),
            "{column}: {err}"
        );
        assert_eq!(domain_fingerprint(&h).await, before, "nothing undone");
        let pending = h
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE workspace_id = 1 AND change_id = {last}
                   AND undone_at IS NULL"
            ))
            .await;
        assert_eq!(pending, marked, "still there for the newer version's /undo");
        let restored = h
            .count(&format!(
                "WITH u AS (UPDATE audit_log SET {column} = left({column}, -3)
                            WHERE workspace_id = 1 AND change_id = {last} RETURNING 1)
                 SELECT count(*) FROM u"
            ))
            .await;
        assert_eq!(restored, marked);
    }
    // With the rows as this version wrote them, the move is taken back.
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("moving a deal"), "{r}");
    let stage: String = sqlx::query_scalar(
        "SELECT s.name FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
         WHERE d.workspace_id = 1 AND d.number = 1",
    )
    .fetch_one(&h.pool)
    .await
    .expect("D-1's stage");
    assert_eq!(stage, "Proposal");
}

#[sqlx::test(migrations = "./migrations")]
async fn undo_touches_only_the_callers_own_last_change(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h, 1, Setup::Full).await;
    let stage = |n: i64| {
        format!(
            "SELECT s.position::bigint FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
             WHERE d.workspace_id = 1 AND d.number = {n}"
        )
    };
    let initial = domain_fingerprint(&h).await;

    h.run(":as 10 rep").await;
    h.ok("/deal move deal:D-1 stage:Proposal").await; // rep A: D-1 Qualified → Proposal
    h.run(":as 11 rep").await;
    h.ok("/deal move deal:D-2 stage:Lead").await; // rep B, later: D-2 Negotiation → Lead
    h.run(":as 20 manager").await;
    h.ok("/contact tag contact:\"Ben B\" add:vip").await; // the manager, later still

    h.run(":as 10 rep").await;
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("moving a deal"), "{r}");
    assert_eq!(h.count(&stage(1)).await, 2, "rep A's move undone");
    assert_eq!(h.count(&stage(2)).await, 1, "rep B's later move untouched");
    assert_eq!(
        h.count("SELECT count(*) FROM contacts WHERE workspace_id = 1 AND 'vip' = ANY (tags)")
            .await,
        1,
        "the manager's later tag untouched"
    );
    // Rep A has nothing else in the window (the fixture was built by the admin).
    let r = h.ok("/undo").await;
    assert!(
        text(&r).contains("no change from the last 10 minutes"),
        "{r}"
    );

    h.run(":as 11 rep").await;
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("moving a deal"), "{r}");
    assert_eq!(h.count(&stage(2)).await, 4);
    h.run(":as 20 manager").await;
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("tagging a contact"), "{r}");
    assert_eq!(domain_fingerprint(&h).await, initial);
}

#[sqlx::test(migrations = "./migrations")]
async fn undo_only_within_ten_minutes(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h, 1, Setup::Full).await;
    h.run(":as 10 rep").await;
    h.run(":now 2026-12-01T10:00:00Z").await;
    h.ok("/deal move deal:D-1 stage:Proposal").await;

    h.run(":now 2026-12-01T10:11:00Z").await;
    let before = h.fingerprint().await;
    let r = h.ok("/undo").await;
    assert_eq!(r["ephemeral"], true, "{r}");
    assert!(
        text(&r).contains("no change from the last 10 minutes"),
        "{r}"
    );
    assert_eq!(
        h.fingerprint().await,
        before,
        "a late /undo wrote something"
    );

    // A change 9 minutes old is still undone.
    h.run(":now 2026-12-01T10:20:00Z").await;
    h.ok("/deal move deal:D-1 stage:Negotiation").await;
    let moved_back = domain_fingerprint(&h).await;
    h.run(":now 2026-12-01T10:29:00Z").await;
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("moving a deal"), "{r}");
    assert_eq!(
        h.count("SELECT s.position::bigint FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id WHERE d.workspace_id = 1 AND d.number = 1")
            .await,
        3
    );
    assert_ne!(domain_fingerprint(&h).await, moved_back);
    // The 10:00 move is out of the window: nothing more to undo.
    let r = h.ok("/undo").await;
    assert!(
        text(&r).contains("no change from the last 10 minutes"),
        "{r}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn each_undo_goes_back_one_more_change(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let ids = fixture(&mut h, 1, Setup::Full).await;
    h.run(":as 10 rep").await;
    let s0 = domain_fingerprint(&h).await;
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    let s1 = domain_fingerprint(&h).await;
    h.ok("/deal move deal:D-1 stage:Negotiation").await; // the same row again
    let s2 = domain_fingerprint(&h).await;
    h.ok(&format!("/contact tag contact:C-{} add:vip", ids.contact_a))
        .await;
    // D-1 has product lines, so it is worth their total: won without an amount (issue 10).
    h.ok("/deal won deal:D-1").await;

    let r = h.ok("/undo").await;
    assert!(text(&r).contains("marking a deal won"), "{r}");
    let r = h.ok("/undo").await;
    assert!(text(&r).contains("tagging a contact"), "{r}");
    assert_eq!(
        domain_fingerprint(&h).await,
        s2,
        "{}",
        first_difference(&s2, &domain_fingerprint(&h).await)
    );
    h.ok("/undo").await;
    assert_eq!(domain_fingerprint(&h).await, s1);
    h.ok("/undo").await;
    assert_eq!(domain_fingerprint(&h).await, s0);
    let before = h.fingerprint().await;
    let r = h.ok("/undo").await;
    assert!(
        text(&r).contains("no change from the last 10 minutes"),
        "{r}"
    );
    assert_eq!(h.fingerprint().await, before);
}

#[sqlx::test(migrations = "./migrations")]
async fn undo_refuses_when_someone_changed_the_row_since(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let ids = fixture(&mut h, 1, Setup::Full).await;
    let initial = domain_fingerprint(&h).await;

    // Rep A moves their deal, the manager moves it again, rep A undoes: refused.
    h.run(":as 10 rep").await;
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    h.run(":as 20 manager").await;
    h.ok("/deal move deal:D-1 stage:Negotiation").await;
    h.run(":as 10 rep").await;
    let before = h.fingerprint().await;
    let err = h.err("/undo").await;
    assert!(
        err.contains("Cannot undo moving a deal") && err.contains("Nothing was undone"),
        "{err}"
    );
    assert_eq!(
        h.fingerprint().await,
        before,
        "a refused undo wrote something"
    );

    // Once the manager undoes theirs, the row is as rep A left it, and rep A's undo works.
    h.run(":as 20 manager").await;
    h.ok("/undo").await;
    h.run(":as 10 rep").await;
    h.ok("/undo").await;
    assert_eq!(domain_fingerprint(&h).await, initial);

    // The same through an unrelated-looking write: the manager logs a call on the deal, which
    // touches its last activity.
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    h.run(":as 20 manager").await;
    h.run(":now 2026-12-01T09:05:00Z").await;
    h.ok(&format!(
        "/contact log contact:C-{} kind:call summary:checkin deal:D-1",
        ids.contact_a
    ))
    .await;
    h.run(":as 10 rep").await;
    let before = h.fingerprint().await;
    let err = h.err("/undo").await;
    assert!(err.contains("Cannot undo"), "{err}");
    assert_eq!(h.fingerprint().await, before);

    // A reminder the rep set and the manager then completed is a changed row.
    h.run(":as 10 rep").await;
    h.ok(r#"/remind what:"own ping" when:"tomorrow 9am""#).await;
    let task = h
        .count("SELECT id FROM tasks WHERE workspace_id = 1 AND title = 'own ping'")
        .await;
    h.run(":as 20 manager").await;
    h.ok(&format!("/tasks done task:T-{task}")).await;
    h.run(":as 10 rep").await;
    let before = h.fingerprint().await;
    let err = h.err("/undo").await;
    assert!(err.contains("Cannot undo setting a reminder"), "{err}");
    assert_eq!(h.fingerprint().await, before);

    // Settings: the admin's time zone change, then another admin's.
    h.run(":as 1 admin").await;
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.run(":as 2 admin").await;
    h.ok("/settings stale days:30").await;
    h.run(":as 1 admin").await;
    let before = h.fingerprint().await;
    let err = h.err("/undo").await;
    assert!(err.contains("Cannot undo changing a setting"), "{err}");
    assert_eq!(h.fingerprint().await, before);
}

/// A row the change created may have gained dependants since (a reminder on the new deal, a
/// call logged with the new contact, a contact at the new company, a deal in the new stage).
/// The row itself is unchanged, but taking it away would leave those pointing at nothing:
/// the undo must be refused with the same clear conflict message, changing nothing.
#[sqlx::test(migrations = "./migrations")]
async fn undo_refuses_when_new_rows_depend_on_what_it_would_remove(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    // (what the admin does, what the manager does next)
    let cases: [(&str, &[&str]); 4] = [
        (
            "/deal new title:Omega amount:9k",
            &[r#"/remind what:"chase omega" when:"tomorrow 9am" deal:Omega"#],
        ),
        (
            "/contact add name:Zoe",
            &["/contact log contact:Zoe kind:call summary:hello"],
        ),
        (
            "/company add name:Omega",
            &["/contact add name:Zoe company:Omega"],
        ),
        (
            "/settings stages action:add name:Demo probability:40",
            &["/deal move deal:D-2 stage:Demo"],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (first, then)) in cases.iter().enumerate() {
        fixture(&mut h, 300 + i as i64, Setup::Full).await;
        h.ok(first).await;
        h.run(":as 20 manager").await;
        for line in then.iter() {
            h.ok(line).await;
        }
        h.run(":as 1 admin").await;
        let before = h.fingerprint().await;
        let reply = h.one("/undo").await;
        let content = reply["content"].as_str().unwrap_or_default();
        let case = format!("{first} then {then:?}");
        if !content.starts_with("⚠️") || reply["ephemeral"] != true {
            failures.push(format!("{case}: /undo should be refused, got {reply}"));
        } else if !content.contains("Cannot undo") {
            failures.push(format!(
                "{case}: expected the conflict message, got {content}"
            ));
        }
        if h.fingerprint().await != before {
            failures.push(format!("{case}: the database changed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A deal went through a new stage and left it again: the stage row is unchanged, but the
/// deal's history names it (which is why `/settings stages action:remove` refuses such a
/// stage). Undoing the stage's creation must be refused, not leave history pointing at a
/// stage that no longer exists.
#[sqlx::test(migrations = "./migrations")]
async fn undo_of_a_new_stage_refuses_once_history_names_it(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h, 1, Setup::Full).await;
    h.ok("/settings stages action:add name:Demo probability:40")
        .await;
    h.run(":as 20 manager").await;
    h.ok("/deal move deal:D-2 stage:Demo").await;
    h.ok("/deal move deal:D-2 stage:Negotiation").await;
    h.run(":as 1 admin").await;
    let before = h.fingerprint().await;
    let reply = h.one("/undo").await;
    let orphans = h
        .count(
            "SELECT count(*) FROM stage_changes sc WHERE sc.workspace_id = 1
             AND EXISTS (SELECT 1 FROM unnest(ARRAY[sc.from_stage_id, sc.to_stage_id]) st(id)
                         WHERE st.id IS NOT NULL AND NOT EXISTS
                             (SELECT 1 FROM stages s WHERE s.workspace_id = sc.workspace_id AND s.id = st.id))",
        )
        .await;
    assert_eq!(
        orphans, 0,
        "/undo answered {reply} and left stage history naming a deleted stage"
    );
    let content = reply["content"].as_str().unwrap_or_default();
    assert!(
        content.starts_with("⚠️") && content.contains("Cannot undo"),
        "{reply}"
    );
    assert_eq!(h.fingerprint().await, before);
    let r = h.ok("/deal show deal:D-2").await;
    assert!(text(&r).contains("→ Demo"), "{r}");
}

/// Undoing a rename whose old name another admin has given a new stage since: the row cannot
/// come back under a taken name, so the undo is refused as changed since, not failed.
#[sqlx::test(migrations = "./migrations")]
async fn undo_of_a_rename_whose_old_name_was_taken_is_refused(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h, 1, Setup::Full).await;
    h.ok("/settings stages action:rename stage:Proposal name:Offer")
        .await;
    h.run(":as 30 admin").await;
    h.ok("/settings stages action:add name:Proposal probability:40")
        .await;
    h.run(":as 1 admin").await;
    let before = h.fingerprint().await;
    let reply = h.one("/undo").await;
    let content = reply["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("Cannot undo") && reply["ephemeral"] == true,
        "{reply}"
    );
    assert_eq!(h.fingerprint().await, before, "nothing changed");
}

/// ANALYZE of the audit log (which autovacuum runs each time it grows by a tenth) keeps
/// statistics for what its reads filter on and none for the JSON images, which nothing filters
/// on and which were most of its cost; `/undo` plans and works the same afterwards.
#[sqlx::test(migrations = "./migrations")]
async fn the_audit_images_carry_no_statistics(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    fixture(&mut h, 7, Setup::Full).await;
    h.run(":as 1 admin").await;
    for n in 0..30 {
        h.ok(&format!("/deal new title:Audited{n} amount:1000"))
            .await;
    }
    sqlx::query("ANALYZE audit_log")
        .execute(&pool)
        .await
        .unwrap();
    let analyzed: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_stats WHERE schemaname = 'public' AND tablename = 'audit_log'
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for column in [
        "workspace_id",
        "actor_id",
        "change_id",
        "created_at",
        "action",
    ] {
        assert!(
            analyzed.iter().any(|c| c == column),
            "{column} lost its statistics: {analyzed:?}"
        );
    }
    for column in ["entity_key", "before", "after"] {
        assert!(
            !analyzed.iter().any(|c| c == column),
            "{column} still has statistics: {analyzed:?}"
        );
    }
    h.undone().await;
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deals WHERE workspace_id = 7 AND title LIKE 'Audited%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 29, "/undo took back the last deal only");
}
