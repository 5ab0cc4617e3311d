//! Who may do what: a table of every mutating command (and every settings subcommand) against
//! a rep, a manager and an admin. A refused command answers with an ephemeral error and leaves
//! the database exactly as it was; an allowed one really makes its change. Then
//! `/settings visibility own`: reps see only their own deals, contacts and figures.

use crate::support::{text, Harness};
use sqlx::PgPool;

/// The members of every fixture workspace.
const ADMIN: i64 = 1;
const REP_A: i64 = 10; // the rep who acts in the table; owns D-1, contact A, task A
const REP_B: i64 = 11; // another rep; owns D-2, contact B, task B
const MANAGER: i64 = 20;

/// The three callers of the matrix: (user, role).
const CALLERS: [(i64, &str); 3] = [(REP_A, "rep"), (MANAGER, "manager"), (ADMIN, "admin")];

/// What a fixture workspace starts with.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// Members only: no deal yet, so the currency may still change.
    Members,
    /// Members plus D-1 (rep A, Lead, $10,000), D-2 (rep B, Lead, $20,000), a contact and a
    /// task for each rep, and the company Acme.
    Full,
}

/// Ids a fixture's rows got, for the `{ca}`-style placeholders.
struct Ids {
    ws: i64,
    contact_a: i64,
    contact_b: i64,
    task_a: i64,
    task_b: i64,
}

impl Ids {
    fn fill(&self, template: &str, actor: i64) -> String {
        template
            .replace("{ws}", &self.ws.to_string())
            .replace("{ca}", &self.contact_a.to_string())
            .replace("{cb}", &self.contact_b.to_string())
            .replace("{ta}", &self.task_a.to_string())
            .replace("{tb}", &self.task_b.to_string())
            .replace("{actor}", &actor.to_string())
    }
}

/// Builds a fixture in workspace `ws` and leaves the console there as the admin.
async fn fixture(h: &mut Harness, ws: i64, setup: Setup) -> Ids {
    h.run(&format!(":workspace {ws}")).await;
    // Every member acts once, so that their member rows (with their roles) exist before the
    // command under test and a refused command has truly nothing to write.
    for (user, role) in [
        (REP_B, "rep"),
        (REP_A, "rep"),
        (MANAGER, "manager"),
        (ADMIN, "admin"),
    ] {
        h.run(&format!(":as {user} {role}")).await;
        h.ok("/tasks list").await;
    }
    if setup == Setup::Full {
        h.ok("/company add name:Acme").await;
        h.ok("/deal new title:Alpha amount:10k company:Acme owner:<@10>")
            .await;
        h.ok("/deal new title:Bravo amount:20k owner:<@11>").await;
        h.ok(r#"/contact add name:"Ann A" company:Acme owner:<@10>"#)
            .await;
        h.ok(r#"/contact add name:"Ben B" owner:<@11>"#).await;
        h.ok(r#"/remind what:"task of A" when:"tomorrow 9am" for:<@10>"#)
            .await;
        h.ok(r#"/remind what:"task of B" when:"tomorrow 9am" for:<@11>"#)
            .await;
    }
    let q = |table: &str, owner_col: &str, owner: i64| {
        format!("SELECT coalesce(max(id), 0) FROM {table} WHERE workspace_id = {ws} AND {owner_col} = {owner}")
    };
    Ids {
        ws,
        contact_a: h.count(&q("contacts", "owner_id", REP_A)).await,
        contact_b: h.count(&q("contacts", "owner_id", REP_B)).await,
        task_a: h.count(&q("tasks", "assignee_id", REP_A)).await,
        task_b: h.count(&q("tasks", "assignee_id", REP_B)).await,
    }
}

const NOT_OWNER: &str = "belongs to another rep";
const NEED_MANAGER: &str = "Only managers and admins";
const NEED_ADMIN: &str = "Only admins";
const NO_TASK: &str = "No task";

/// One row of the matrix.
struct Case {
    /// The console line, with placeholders.
    line: &'static str,
    /// Allowed for the rep (user 10), the manager, the admin.
    allowed: [bool; 3],
    /// What a refusal says.
    refusal: &'static str,
    /// A condition (SQL, with placeholders) false before and true after an allowed run;
    /// `None` for read-only commands, which must change nothing even when allowed.
    check: Option<&'static str>,
    /// The starting data.
    setup: Setup,
}

const ALL: [bool; 3] = [true, true, true];
const MANAGERS: [bool; 3] = [false, true, true];
const ADMINS: [bool; 3] = [false, false, true];

const fn case(
    line: &'static str,
    allowed: [bool; 3],
    refusal: &'static str,
    check: Option<&'static str>,
) -> Case {
    Case {
        line,
        allowed,
        refusal,
        check,
        setup: Setup::Full,
    }
}

// One row per case reads as a table; rustfmt would split each row over many lines.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    const D1_QUALIFIED: &str = "EXISTS (SELECT 1 FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id WHERE d.workspace_id = {ws} AND d.number = 1 AND s.name = 'Qualified')";
    const D2_QUALIFIED: &str = "EXISTS (SELECT 1 FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id WHERE d.workspace_id = {ws} AND d.number = 2 AND s.name = 'Qualified')";
    vec![
        // Deals: reps change their own, managers everyone's.
        case("/deal move deal:D-1 stage:Qualified", ALL, "", Some(D1_QUALIFIED)),
        case("/deal move deal:D-2 stage:Qualified", MANAGERS, NOT_OWNER, Some(D2_QUALIFIED)),
        case("/deal move deal:Bravo stage:Proposal note:\"took it\"", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM stage_changes WHERE workspace_id = {ws} AND note = 'took it')")),
        case("/deal won deal:D-1", ALL, "",
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 1 AND status = 'won')")),
        case("/deal won deal:D-2", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 2 AND status = 'won')")),
        case("/deal won deal:D-2 amount:25k", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 2 AND status = 'won' AND amount_minor = 2500000)")),
        case("/deal lost deal:D-1 reason:budget", ALL, "",
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 1 AND status = 'lost' AND lost_reason = 'budget')")),
        case("/deal lost deal:D-2 reason:budget", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 2 AND status = 'lost')")),
        case("/deal move deal:D-2 stage:Won", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 2 AND status = 'won')")),
        case(":click deal:next:1", ALL, "", Some(D1_QUALIFIED)),
        case(":click deal:next:2", MANAGERS, NOT_OWNER, Some(D2_QUALIFIED)),
        case(":click deal:won:2", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 2 AND status = 'won')")),
        case("/deal assign deal:D-1 owner:<@11>", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 1 AND owner_id = 11)")),
        case("/deal assign deal:D-2 owner:<@10>", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND number = 2 AND owner_id = 10)")),
        case("/deal new title:Charlie amount:5k", ALL, "",
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND title = 'Charlie' AND owner_id = {actor})")),
        case("/deal new title:Charlie amount:5k owner:<@{actor}>", ALL, "",
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND title = 'Charlie' AND owner_id = {actor})")),
        case("/deal new title:Charlie amount:5k owner:<@11>", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM deals WHERE workspace_id = {ws} AND title = 'Charlie' AND owner_id = 11)")),
        // Contacts and companies.
        case("/contact add name:Cara", ALL, "",
            Some("EXISTS (SELECT 1 FROM contacts WHERE workspace_id = {ws} AND name = 'Cara' AND owner_id = {actor})")),
        case("/contact add name:Cara owner:<@11>", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM contacts WHERE workspace_id = {ws} AND name = 'Cara' AND owner_id = 11)")),
        case("/company add name:Delta", ALL, "",
            Some("EXISTS (SELECT 1 FROM companies WHERE workspace_id = {ws} AND name = 'Delta' AND owner_id = {actor})")),
        case("/company add name:Delta owner:<@11>", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM companies WHERE workspace_id = {ws} AND name = 'Delta' AND owner_id = 11)")),
        case("/contact tag contact:C-{ca} add:vip", ALL, "",
            Some("EXISTS (SELECT 1 FROM contacts WHERE workspace_id = {ws} AND id = {ca} AND 'vip' = ANY (tags))")),
        case("/contact tag contact:C-{cb} add:vip", MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM contacts WHERE workspace_id = {ws} AND id = {cb} AND 'vip' = ANY (tags))")),
        case(r#"/contact tag contact:"Ben B" add:vip"#, MANAGERS, NOT_OWNER,
            Some("EXISTS (SELECT 1 FROM contacts WHERE workspace_id = {ws} AND id = {cb} AND 'vip' = ANY (tags))")),
        case("/contact log contact:C-{ca} kind:call summary:hello deal:D-1", ALL, "",
            Some("EXISTS (SELECT 1 FROM activities WHERE workspace_id = {ws} AND contact_id = {ca} AND summary = 'hello' AND member_id = {actor})")),
        // Reminders and tasks: a rep reminds themselves; someone else's task is not theirs to see.
        case(r#"/remind what:ping when:"tomorrow 9am""#, ALL, "",
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND title = 'ping' AND assignee_id = {actor})")),
        case(r#"/remind what:ping when:"tomorrow 9am" for:<@{actor}>"#, ALL, "",
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND title = 'ping' AND assignee_id = {actor})")),
        case(r#"/remind what:ping when:"tomorrow 9am" for:<@11>"#, MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND title = 'ping' AND assignee_id = 11)")),
        case("/tasks done task:T-{ta}", ALL, "",
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND id = {ta} AND status = 'done')")),
        case("/tasks done task:T-{tb}", MANAGERS, NO_TASK,
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND id = {tb} AND status = 'done')")),
        case(":click task:done:{tb}", MANAGERS, NO_TASK,
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND id = {tb} AND status = 'done')")),
        case(r#"/tasks snooze task:T-{ta} until:"in 2 days""#, ALL, "",
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND id = {ta} AND snooze_count = 1)")),
        case(r#"/tasks snooze task:T-{tb} until:"in 2 days""#, MANAGERS, NO_TASK,
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND id = {tb} AND snooze_count = 1)")),
        case(":click task:snooze:{tb}:1h", MANAGERS, NO_TASK,
            Some("EXISTS (SELECT 1 FROM tasks WHERE workspace_id = {ws} AND id = {tb} AND snooze_count = 1)")),
        // Settings: admins configure, managers set quotas, anyone sets their own time zone.
        case("/settings timezone zone:Europe/Berlin", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND timezone = 'Europe/Berlin')")),
        case("/settings timezone zone:Europe/Berlin scope:workspace", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND timezone = 'Europe/Berlin')")),
        case("/settings timezone zone:Europe/Berlin scope:me", ALL, "",
            Some("EXISTS (SELECT 1 FROM members WHERE workspace_id = {ws} AND user_id = {actor} AND timezone = 'Europe/Berlin')")),
        Case {
            setup: Setup::Members,
            ..case("/settings currency code:EUR", ADMINS, NEED_ADMIN,
                Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND currency = 'EUR')"))
        },
        case("/settings language locale:zh-CN", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND locale = 'zh-CN')")),
        case("/settings stages action:add name:Demo probability:40", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM stages WHERE workspace_id = {ws} AND name = 'Demo')")),
        case("/settings stages action:rename stage:Proposal name:Offer", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM stages WHERE workspace_id = {ws} AND name = 'Offer')")),
        case("/settings stages action:probability stage:Proposal probability:55", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM stages WHERE workspace_id = {ws} AND name = 'Proposal' AND probability = 55)")),
        case("/settings stages action:move stage:Proposal position:1", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM stages WHERE workspace_id = {ws} AND name = 'Proposal' AND position = 1)")),
        case("/settings stages action:remove stage:Proposal", ADMINS, NEED_ADMIN,
            Some("NOT EXISTS (SELECT 1 FROM stages WHERE workspace_id = {ws} AND name = 'Proposal')")),
        case("/settings digest channel:<#555> day:fri time:16:30", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND digest_channel_id = 555 AND digest_weekday = 5 AND digest_time = '16:30')")),
        case("/settings stale days:21", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND stale_days = 21)")),
        case("/settings manager-role role:<@&777>", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND manager_role_id = 777)")),
        case("/settings quota member:<@10> amount:50k", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM members WHERE workspace_id = {ws} AND user_id = 10 AND quota_minor = 5000000)")),
        case("/settings quota member:<@{actor}> amount:50k", MANAGERS, NEED_MANAGER,
            Some("EXISTS (SELECT 1 FROM members WHERE workspace_id = {ws} AND user_id = {actor} AND quota_minor = 5000000)")),
        case("/settings visibility mode:own", ADMINS, NEED_ADMIN,
            Some("EXISTS (SELECT 1 FROM workspaces WHERE id = {ws} AND visibility = 'own')")),
        // Reading is for everyone (and writes nothing), except other members' task lists.
        case("/settings show", ALL, "", None),
        case("/settings stages action:list", ALL, "", None),
        case("/tasks list", ALL, "", None),
        case("/tasks list member:<@11>", MANAGERS, NEED_MANAGER, None),
        case("/deal list status:all", ALL, "", None),
        case("/pipeline stats period:all-time owner:<@11>", ALL, "", None),
    ]
}

async fn as_bool(h: &Harness, condition: &str) -> bool {
    h.count(&format!("SELECT ({condition})::int::bigint")).await == 1
}

#[sqlx::test(migrations = "./migrations")]
async fn every_mutating_command_against_rep_manager_and_admin(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let mut failures = Vec::new();
    let mut ws = 100;
    for case in cases() {
        for (i, (user, role)) in CALLERS.into_iter().enumerate() {
            ws += 1;
            let ids = fixture(&mut h, ws, case.setup).await;
            let line = ids.fill(case.line, user);
            let check = case.check.map(|c| ids.fill(c, user));
            let who = format!("{role} {user}: {line}");
            if let Some(c) = &check {
                if as_bool(&h, c).await {
                    failures.push(format!("{who}: check already true before: {c}"));
                    continue;
                }
            }
            h.run(&format!(":as {user} {role}")).await;
            let before = h.fingerprint().await;
            let reply = h.one(&line).await;
            let content = reply["content"].as_str().unwrap_or_default();
            let is_err = content.starts_with("⚠️");
            let changed = h.fingerprint().await != before;
            if case.allowed[i] {
                if is_err {
                    failures.push(format!("{who}: should be allowed, got {content}"));
                    continue;
                }
                match &check {
                    Some(c) if !as_bool(&h, c).await => {
                        failures.push(format!("{who}: allowed but did not change: {c} ({reply})"))
                    }
                    None if changed => failures.push(format!("{who}: read-only but wrote")),
                    _ => {}
                }
            } else {
                if !is_err || reply["ephemeral"] != true {
                    failures.push(format!("{who}: should be refused ephemerally, got {reply}"));
                } else if !content.contains(case.refusal) {
                    failures.push(format!(
                        "{who}: refusal should say '{}', got {content}",
                        case.refusal
                    ));
                }
                if changed {
                    failures.push(format!("{who}: refused but the database changed"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Workspace 1 under `/settings visibility own`: rep A (10) owns D-1 ($10,000, Qualified) and
/// contact "Ann A"; rep B (11) owns D-2 ($20,000, Lead), D-3 (won, $5,000) and "Ben B".
async fn own_visibility(h: &mut Harness) -> (i64, i64) {
    let ids = fixture(h, 1, Setup::Full).await;
    h.ok("/deal move deal:D-1 stage:Qualified").await;
    h.ok("/deal new title:Charlie amount:5k owner:<@11>").await;
    h.ok("/deal won deal:D-3").await;
    h.ok("/contact add name:Bea email:bea@b.example owner:<@11>")
        .await;
    h.ok("/settings visibility mode:own").await;
    (ids.contact_a, ids.contact_b)
}

#[sqlx::test(migrations = "./migrations")]
async fn visibility_own_limits_reps_to_their_own_records(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let (ca, cb) = own_visibility(&mut h).await;
    h.run(":as 10 rep").await;
    let before = h.fingerprint().await;

    let r = h.ok("/deal list status:all").await;
    let t = text(&r);
    assert!(t.contains("D-1 Alpha"), "{t}");
    assert!(!t.contains("Bravo") && !t.contains("Charlie"), "{t}");
    let r = h.ok("/deal list").await;
    assert!(!text(&r).contains("Bravo"), "{r}");
    let err = h.err("/deal list owner:<@11>").await;
    assert!(err.contains("only their own"), "{err}");
    h.ok("/deal list owner:<@10>").await;

    // Another rep's deal does not exist for this rep, whichever way it is named; never
    // "forbidden", which would tell them it is there.
    for line in [
        "/deal show deal:D-2",
        "/deal show deal:Bravo",
        "/deal move deal:D-2 stage:Proposal",
        "/deal won deal:D-2",
        "/deal lost deal:D-2 reason:x",
        ":click deal:next:2",
        ":click deal:won:2",
        ":click deal:show:3",
        r#"/remind what:x when:"tomorrow 9am" deal:D-2"#,
        "/contact log contact:C-{ca} kind:call summary:x deal:Bravo",
    ] {
        let line = line.replace("{ca}", &ca.to_string());
        let err = h.err(&line).await;
        assert!(err.contains("No deal"), "{line}: {err}");
    }
    for line in [
        format!("/contact show contact:C-{cb}"),
        r#"/contact show contact:"Ben B""#.to_string(),
        "/contact show contact:bea@b.example".to_string(),
        format!("/contact tag contact:C-{cb} add:vip"),
        format!("/contact log contact:C-{cb} kind:call summary:x"),
        format!(r#"/remind what:x when:"tomorrow 9am" contact:C-{cb}"#),
        format!("/deal new title:Sneaky amount:1k contact:C-{cb}"),
    ] {
        let err = h.err(&line).await;
        assert!(err.contains("No contact"), "{line}: {err}");
    }
    let r = h.ok(&format!("/contact show contact:C-{ca}")).await;
    assert!(text(&r).contains("Ann A"), "{r}");
    let r = h.ok("/contact find query:b").await;
    assert!(
        !text(&r).contains("Ben B") && !text(&r).contains("Bea"),
        "{r}"
    );

    // Figures are the rep's own: D-1 only, nothing won.
    let r = h.ok("/pipeline stats period:all-time").await;
    let t = text(&r);
    assert!(t.contains("Pipeline · user 10 ·"), "{t}");
    assert!(t.contains("Open pipeline: 1 · $10,000"), "{t}");
    assert!(t.contains("Won: 0 · $0"), "{t}");
    assert!(!t.contains("$20,000") && !t.contains("$5,000"), "{t}");
    let err = h.err("/pipeline stats period:all-time owner:<@11>").await;
    assert!(err.contains("only their own"), "{err}");
    let r = h.ok("/pipeline stats period:all-time owner:<@10>").await;
    assert!(text(&r).contains("Open pipeline: 1 · $10,000"), "{r}");
    assert_eq!(h.fingerprint().await, before, "reads wrote something");

    // Rep B sees their side only.
    h.run(":as 11 rep").await;
    let r = h.ok("/deal list status:all").await;
    let t = text(&r);
    assert!(
        t.contains("Bravo") && t.contains("Charlie") && !t.contains("Alpha"),
        "{t}"
    );
    let r = h.ok("/pipeline stats period:all-time").await;
    let t = text(&r);
    assert!(
        t.contains("Open pipeline: 1 · $20,000") && t.contains("Won: 1 · $5,000"),
        "{t}"
    );
    let err = h.err(&format!("/contact show contact:C-{ca}")).await;
    assert!(err.contains("No contact"), "{err}");

    // Managers (and admins) still see everything.
    for who in [":as 20 manager", ":as 1 admin"] {
        h.run(who).await;
        let r = h.ok("/deal list status:all").await;
        let t = text(&r);
        assert!(
            t.contains("Alpha") && t.contains("Bravo") && t.contains("Charlie"),
            "{who}: {t}"
        );
        let r = h.ok("/deal show deal:D-2").await;
        assert!(text(&r).contains("Bravo"), "{who}: {r}");
        let r = h.ok(&format!("/contact show contact:C-{cb}")).await;
        assert!(text(&r).contains("Ben B"), "{who}: {r}");
        let r = h.ok("/contact find query:b").await;
        assert!(
            text(&r).contains("Ben B") && text(&r).contains("Bea"),
            "{who}: {r}"
        );
        let r = h.ok("/pipeline stats period:all-time").await;
        let t = text(&r);
        assert!(
            t.contains("Pipeline · Team ·") && t.contains("Open pipeline: 2 · $30,000"),
            "{who}: {t}"
        );
        let r = h.ok("/pipeline stats period:all-time owner:<@11>").await;
        assert!(text(&r).contains("Won: 1 · $5,000"), "{who}: {r}");
    }
    h.run(":as 20 manager").await;
    h.ok("/deal move deal:D-2 stage:Proposal").await;

    // Back to "all": reps see the team again.
    h.run(":as 1 admin").await;
    h.ok("/settings visibility mode:all").await;
    h.run(":as 10 rep").await;
    let r = h.ok("/deal show deal:D-2").await;
    assert!(text(&r).contains("Bravo"), "{r}");
    let r = h.ok("/pipeline stats period:all-time").await;
    assert!(text(&r).contains("Open pipeline: 2 · $30,000"), "{r}");
}

/// Under `visibility own` a company card shown to a rep counts only what that rep may see:
/// the card's contact count, open deals and revenue must not reveal other reps' records.
#[sqlx::test(migrations = "./migrations")]
async fn visibility_own_company_card_counts_only_the_reps_records(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    own_visibility(&mut h).await;
    // Acme: rep A's open D-1 and contact "Ann A"; rep B's open D-4, won D-5 ($7,000) and
    // contact "Bo".
    h.run(":as 1 admin").await;
    h.ok("/deal new title:Delta amount:3k company:Acme owner:<@11>")
        .await;
    h.ok("/deal new title:Echo amount:7k company:Acme owner:<@11>")
        .await;
    h.ok("/deal won deal:D-5").await;
    h.ok("/contact add name:Bo company:Acme owner:<@11>").await;
    h.run(":as 20 manager").await;
    let r = h.ok("/company show company:Acme").await;
    let t = text(&r);
    assert!(
        t.contains("Contacts: 2")
            && t.contains("Open deals: 2")
            && t.contains("Revenue won: $7,000"),
        "{t}"
    );
    h.run(":as 10 rep").await;
    let r = h.ok("/company show company:Acme").await;
    let t = text(&r);
    assert!(
        t.contains("Contacts: 1") && t.contains("Open deals: 1") && t.contains("Revenue won: $0"),
        "the company card counts other reps' contacts and deals for a rep under visibility own: {t}"
    );
}

/// Under `visibility own` an email another rep's contact has must not be refused (which would
/// tell the rep that contact exists, even without naming it): the rep gets a contact of their
/// own; among the contacts they see, the email is still unique.
#[sqlx::test(migrations = "./migrations")]
async fn visibility_own_duplicate_email_does_not_name_a_hidden_contact(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    own_visibility(&mut h).await;
    h.run(":as 10 rep").await;
    let r = h.ok("/contact add name:Copy email:bea@b.example").await;
    assert!(
        !text(&r).contains("Bea"),
        "adding a contact names another rep's hidden contact: {r}"
    );
    let err = h.err("/contact add name:Again email:bea@b.example").await;
    assert!(err.contains("Copy") && !err.contains("Bea"), "{err}");
}
