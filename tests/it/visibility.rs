//! `/settings visibility own`, path by path: a rep reads replies, suggestions, buttons and
//! forms, errors, DMs, the digest's channel post, `/help` and every report (with and without
//! `member:`), and nothing of another rep's records shows: not a title, a name, an email, an
//! amount, a quota, nor that the record exists. Managers still get the named detail (the
//! digest's by DM, once a week each).

use crate::support::{text, Harness};
use salesbot::domain::role::Role;
use salesbot::engine::{AutocompleteRequest, Engine, RoleSource};
use salesbot::store::Store;
use serde_json::Value;
use sqlx::PgPool;

const ADMIN: i64 = 1;
const REP_A: i64 = 10; // the rep who reads
const REP_B: i64 = 11; // the rep whose records must stay hidden
const MANAGER: i64 = 20;

/// Every trace of rep B's records: titles, names, email, industry, amounts, quota, B's name,
/// a task title and an activity summary.
const SECRETS: [&str; 12] = [
    "Bravo",
    "Ben B",
    "ben@bravo",
    "mining",
    "55,555",
    "44,400",
    "66,666",
    "77,000",
    "user 11",
    "call Ben",
    "bravo pricing",
    "Acme B",
];

/// The secrets found in a text.
fn leaks(t: &str) -> Vec<&'static str> {
    SECRETS.iter().copied().filter(|s| t.contains(s)).collect()
}

/// The secrets found in a reply beyond what the rep typed (an error may echo the reference
/// given; it must add nothing to it).
fn leaks_beyond(t: &str, typed: &str) -> Vec<&'static str> {
    leaks(t)
        .into_iter()
        .filter(|s| !typed.to_lowercase().contains(&s.to_lowercase()))
        .collect()
}

/// Workspace 1 under "own". Rep B (11): company "Bravo Corp" (mining), contact "Ben B"
/// (ben@bravo.example), D-1 "Bravo secret" $55,555 (open, at Bravo with Ben), D-2 "Bravo
/// won" (Gizmo x444 @100 = $44,400, won), D-3 "Acme B" $66,666 at Acme (the admin's company,
/// where rep A works too), a task "call Ben secretly", a call "bravo pricing", a quota of
/// $77,000. Rep A (10): "Alpha Co", "Ann A", D-4 "Alpha deal" $10,000, D-5 "Acme A" $12,000,
/// a quota of $30,000. Stale after 1 day; the digest on Thursdays 09:00 in channel 555.
/// Leaves the console acting as rep A.
async fn fixture(h: &mut Harness) {
    h.join(&[REP_A, REP_B], ":as 20 manager").await;
    h.ok("/tasks list").await;
    h.run(":as 1 admin").await;
    for line in [
        "/settings quota member:<@10> amount:30k",
        "/settings quota member:<@11> amount:77k",
        "/company add name:Acme",
        r#"/company add name:"Bravo Corp" industry:mining owner:<@11>"#,
        r#"/company add name:"Alpha Co" owner:<@10>"#,
        r#"/contact add name:"Ben B" email:ben@bravo.example company:"Bravo Corp" owner:<@11>"#,
        r#"/contact add name:"Ann A" email:ann@alpha.example company:"Alpha Co" owner:<@10>"#,
        "/product add name:Gizmo price:100",
        r#"/deal new title:"Bravo secret" amount:55555 company:"Bravo Corp" contact:ben@bravo.example owner:<@11>"#,
        r#"/deal new title:"Bravo won" products:"Gizmo x444" company:"Bravo Corp" owner:<@11>"#,
        "/deal won deal:D-2",
        r#"/deal new title:"Acme B" amount:66666 company:Acme owner:<@11>"#,
        r#"/deal new title:"Alpha deal" amount:10k company:"Alpha Co" contact:ann@alpha.example owner:<@10>"#,
        r#"/deal new title:"Acme A" amount:12k company:Acme owner:<@10>"#,
        r#"/remind what:"call Ben secretly" when:"tomorrow 9am" contact:ben@bravo.example for:<@11>"#,
        "/settings stale days:1",
        "/settings digest channel:<#555> day:thu time:09:00",
        "/settings visibility mode:own",
    ] {
        h.ok(line).await;
    }
    h.run(":as 11 rep").await;
    h.ok(r#"/contact log contact:ben@bravo.example kind:call summary:"bravo pricing""#)
        .await;
    h.run(":as 10 rep").await;
}

/// Rep B's ids, read from the database.
async fn hidden_ids(h: &Harness) -> (i64, i64, i64) {
    let company = h
        .count("SELECT id FROM companies WHERE name = 'Bravo Corp'")
        .await;
    let contact = h
        .count("SELECT id FROM contacts WHERE name = 'Ben B'")
        .await;
    let task = h.count("SELECT id FROM tasks WHERE assignee_id = 11").await;
    (company, contact, task)
}

/// Runs lines as rep A; every reply must be free of rep B's records.
async fn check_lines(h: &mut Harness, lines: &[String], failures: &mut Vec<String>) {
    for line in lines {
        for m in h.run(line).await {
            let t = text(&m);
            let found = leaks_beyond(&t, line);
            if !found.is_empty() {
                failures.push(format!("{line}: shows {found:?}:\n{t}"));
            }
            if m["to"] != "reply" {
                failures.push(format!("{line}: sent {m}"));
            }
        }
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn settings_show_lists_only_the_reps_own_quota(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    let r = h.ok("/settings show").await;
    let t = text(&r);
    assert!(t.contains("$30,000"), "{t}");
    assert!(leaks(&t).is_empty(), "{t}");
    // Managers see every quota.
    h.run(":as 20 manager").await;
    let r = h.ok("/settings show").await;
    assert!(text(&r).contains("$77,000"), "{r}");
}

#[sqlx::test(migrations = "./migrations")]
async fn another_reps_company_does_not_exist_for_a_rep(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    let (company, _, _) = hidden_ids(&h).await;
    for line in [
        format!("/company show company:CO-{company}"),
        r#"/company show company:"Bravo Corp""#.to_string(),
        "/company show company:Bra".to_string(),
    ] {
        let err = h.err(&line).await;
        assert!(err.contains("No company"), "{line}: {err}");
        assert!(leaks_beyond(&err, &line).is_empty(), "{line}: {err}");
    }
    // A team account (the admin's Acme, where both reps have a deal): the card counts only the
    // rep's own records.
    let r = h.ok("/company show company:Acme").await;
    let t = text(&r);
    assert!(
        t.contains("Open deals: 1") && t.contains("Owner: user 1"),
        "{t}"
    );
    assert!(leaks(&t).is_empty(), "{t}");
    // An account of rep B's where rep A has a deal (a manager's doing) is seen, but not whose.
    h.run(":as 20 manager").await;
    h.ok(r#"/deal new title:Shared amount:1k company:"Bravo Corp" owner:<@10>"#)
        .await;
    h.run(":as 10 rep").await;
    let r = h.ok(r#"/company show company:"Bravo Corp""#).await;
    let t = text(&r);
    assert!(!t.contains("Owner") && t.contains("Open deals: 1"), "{t}");
    assert!(!t.contains("55,555") && !t.contains("user 11"), "{t}");
    h.run(":as 20 manager").await;
    h.ok("/deal assign deal:Shared owner:<@20>").await;
    h.run(":as 10 rep").await;
    // Their own account shows its owner.
    let r = h.ok(r#"/company show company:"Alpha Co""#).await;
    assert!(text(&r).contains("Owner: user 10"), "{r}");
    // The name is free for the rep: a company of their own, not "already exists".
    let r = h.ok(r#"/company add name:"Bravo Corp""#).await;
    assert!(leaks(&text(&r)).len() == 1, "only the name they typed: {r}");
    assert_eq!(
        h.count("SELECT count(*) FROM companies WHERE name = 'Bravo Corp'")
            .await,
        2
    );
    // A manager now sees two, and must pick one by id.
    h.run(":as 20 manager").await;
    let err = h.err(r#"/company show company:"Bravo Corp""#).await;
    assert!(
        err.contains("more than one") || err.contains("CO-"),
        "{err}"
    );
    // Under "all" the name is taken workspace-wide again.
    h.run(":as 1 admin").await;
    h.ok("/settings visibility mode:all").await;
    h.run(":as 10 rep").await;
    let err = h.err("/company add name:Acme").await;
    assert!(err.contains("already exists"), "{err}");
}

#[sqlx::test(migrations = "./migrations")]
async fn another_reps_email_is_neither_refused_nor_named(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    let r = h
        .ok(r#"/contact add name:"Bo Copy" email:ben@bravo.example"#)
        .await;
    assert!(text(&r).contains("Bo Copy"), "{r}");
    assert!(
        leaks(&text(&r)) == ["ben@bravo"] || leaks(&text(&r)).is_empty(),
        "{r}"
    );
    // Looked up by email, the rep gets their own.
    let r = h.ok("/contact show contact:ben@bravo.example").await;
    assert!(
        text(&r).contains("Bo Copy") && !text(&r).contains("Ben B"),
        "{r}"
    );
    // Their own email stays unique for them.
    let err = h
        .err("/contact add name:Again email:ann@alpha.example")
        .await;
    assert!(err.contains("Ann A"), "{err}");
    // A manager sees both, and an email naming two contacts asks which.
    h.run(":as 20 manager").await;
    let err = h.err("/contact show contact:ben@bravo.example").await;
    assert!(err.contains("Ben B") && err.contains("Bo Copy"), "{err}");
}

#[sqlx::test(migrations = "./migrations")]
async fn replies_errors_buttons_and_forms_show_nothing_of_another_rep(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    let (company, contact, task) = hidden_ids(&h).await;
    let before = h.fingerprint().await;
    let lines: Vec<String> = [
        // Replies.
        "/deal list status:all",
        "/deal list stale:true",
        "/deal show deal:D-5",
        "/deal show deal:Acme",
        "/contact find query:b",
        "/contact find query:bravo",
        "/contact show contact:\"Ann A\"",
        "/company show company:Acme",
        "/tasks list status:all",
        "/settings show",
        "/settings stages action:list",
        "/product list",
        // Errors: what is hidden is "not found", never "forbidden", and names nothing.
        "/deal show deal:D-1",
        "/deal show deal:\"Bravo secret\"",
        "/deal move deal:D-3 stage:Proposal",
        "/deal won deal:D-1",
        "/deal lost deal:D-1 reason:x",
        "/deal product deal:D-1 set:\"Gizmo x1\"",
        "/contact show contact:C-{contact}",
        "/contact show contact:ben@bravo.example",
        "/contact log contact:C-{contact} kind:call summary:x",
        "/contact tag contact:\"Ben B\" add:x",
        "/company show company:CO-{company}",
        "/tasks done task:T-{task}",
        "/tasks snooze task:T-{task} until:\"in 2 days\"",
        "/remind what:x when:\"tomorrow 9am\" deal:D-1",
        "/deal new title:x amount:1k contact:ben@bravo.example",
        "/deal list owner:<@11>",
        // Buttons and forms.
        ":click deal:show:1",
        ":click deal:next:1",
        ":click deal:won:3",
        ":click deal:lost:1",
        ":click deal:log:1",
        ":click contact:show:{contact}",
        ":click task:done:{task}",
        ":click task:snooze:{task}:1h",
        ":submit deal:lost:1 reason:x",
        ":submit deal:log:1 kind:call summary:x",
        // Help and its examples.
        "/help",
        "/help command:deal",
        "/help command:company",
        "/undo",
    ]
    .iter()
    .map(|l| {
        l.replace("{contact}", &contact.to_string())
            .replace("{company}", &company.to_string())
            .replace("{task}", &task.to_string())
    })
    .collect();
    let mut failures = Vec::new();
    let undo = lines
        .iter()
        .position(|l| l == "/undo")
        .unwrap_or(lines.len());
    check_lines(&mut h, &lines[..undo], &mut failures).await;
    if h.fingerprint().await != before {
        failures.push("reads and refusals wrote something".into());
    }
    check_lines(&mut h, &lines[undo..], &mut failures).await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_setting_this_version_does_not_know_hides_as_own_does(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    fixture(&mut h).await;
    // A newer version's setting, read by this one during a rolling upgrade: its migration
    // widened the column's check, which this stands in for.
    sqlx::query(
        "DO $$ DECLARE c text; BEGIN
           FOR c IN SELECT conname FROM pg_constraint
                    WHERE conrelid = 'workspaces'::regclass AND contype = 'c'
                      AND pg_get_constraintdef(oid) LIKE '%visibility%'
           LOOP EXECUTE format('ALTER TABLE workspaces DROP CONSTRAINT %I', c); END LOOP;
         END $$",
    )
    .execute(&pool)
    .await
    .expect("a newer schema");
    sqlx::query("UPDATE workspaces SET visibility = 'team' WHERE id = 1")
        .execute(&pool)
        .await
        .expect("a newer setting");
    let mut failures = Vec::new();
    let lines = [
        "/pipeline stats period:all-time",
        "/deal list",
        "/deal show deal:D-1",
        "/kpi period:this-month",
    ]
    .map(String::from);
    check_lines(&mut h, &lines, &mut failures).await;
    let r = h.ok("/pipeline stats period:all-time").await;
    assert!(text(&r).contains("Open pipeline: 2 · $22,000"), "{r}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The admin's settings say what applies, not a missing text.
    h.run(":as 1 admin").await;
    let t = text(&h.ok("/settings show").await);
    assert!(
        t.contains("reps see their own") && !t.contains("visibility."),
        "{t}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn reports_with_and_without_member_show_only_the_reps_figures(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    let mut failures = Vec::new();
    let reports = [
        "/pipeline stats period:all-time",
        "/kpi period:this-month",
        "/report trends period:this-quarter",
        "/report products period:this-month",
        "/report customers period:all-time",
        "/forecast show period:this-year",
        "/forecast what-if stage:Proposal conversion:90 period:this-year",
        "/forecast what-if deal_size:50 period:this-year",
    ];
    let mut lines: Vec<String> = reports.iter().map(|l| l.to_string()).collect();
    for line in reports {
        let member = if line.starts_with("/pipeline") {
            "owner"
        } else {
            "member"
        };
        lines.push(format!("{line} {member}:<@10>"));
        // Naming another rep is refused without a figure.
        let err = h.err(&format!("{line} {member}:<@11>")).await;
        if !err.contains("only their own") || !leaks(&err).is_empty() {
            failures.push(format!("{line} {member}:<@11>: {err}"));
        }
    }
    check_lines(&mut h, &lines, &mut failures).await;
    let r = h.ok("/pipeline stats period:all-time").await;
    assert!(text(&r).contains("Open pipeline: 2 · $22,000"), "{r}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[sqlx::test(migrations = "./migrations")]
async fn suggestions_offer_only_the_reps_records(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    fixture(&mut h).await;
    let engine = Engine::new(Store::from_pool(pool)).expect("engine");
    let mut failures = Vec::new();
    for (command, sub, option, typed) in [
        ("deal", Some("show"), "deal", ""),
        ("deal", Some("show"), "deal", "b"),
        ("deal", Some("show"), "deal", "D-"),
        ("deal", Some("show"), "deal", "acme"),
        ("contact", Some("show"), "contact", ""),
        ("contact", Some("show"), "contact", "b"),
        ("company", Some("show"), "company", ""),
        ("company", Some("show"), "company", "b"),
        ("deal", Some("new"), "company", ""),
        ("tasks", Some("done"), "task", ""),
    ] {
        let choices = engine
            .autocomplete(AutocompleteRequest {
                workspace_id: 1,
                user_id: REP_A,
                role: RoleSource::Known(Role::Rep),
                command: command.into(),
                subcommand: sub.map(String::from),
                option: option.into(),
                value: typed.into(),
            })
            .await;
        let shown = choices
            .iter()
            .map(|c| format!("{} = {}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("\n");
        if !leaks(&shown).is_empty() {
            failures.push(format!("{command} {option} {typed:?}: {shown}"));
        }
        if option == "company" && typed.is_empty() && !shown.contains("Acme") {
            failures.push(format!(
                "{command} {option}: the rep's accounts are missing: {shown}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The messages of a `:now` run, by where they went.
fn deliveries<'a>(out: &'a [Value], to: &str, user: Option<i64>) -> Vec<&'a Value> {
    out.iter()
        .filter(|m| m["to"] == to && user.is_none_or(|u| m["user"] == u))
        .collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn the_digest_posts_team_totals_and_dms_managers_the_names(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    // Thursday 09:05: reminders, agendas (every deal is idle past 1 day) and the digest.
    let out = h.run(":now 2026-12-03T09:05:00Z").await;
    let channel = deliveries(&out, "channel", None);
    assert_eq!(channel.len(), 1, "{out:?}");
    let post = text(channel[0]);
    // Team totals may equal one rep's figure when only they had one (the month's $44,400 won
    // is rep B's deal), but nothing is named or given per rep.
    let named: Vec<&str> = leaks(&post)
        .into_iter()
        .filter(|s| *s != "44,400")
        .collect();
    assert!(
        named.is_empty(),
        "the channel names rep B's records: {named:?} {post}"
    );
    assert!(
        !post.contains("Alpha deal") && !post.contains("user 10"),
        "{post}"
    );
    // Team totals only: the four open deals, all idle past a day, and their sum.
    assert!(post.contains("4 deals · $144,221"), "{post}");
    // Rep A's DMs (agenda, reminders) are theirs only; reps get no digest detail.
    for m in deliveries(&out, "dm", Some(REP_A)) {
        let t = text(m);
        assert!(leaks(&t).is_empty(), "{t}");
        assert!(!t.contains("Weekly digest"), "{t}");
    }
    for rep in [REP_A, REP_B] {
        assert!(
            deliveries(&out, "dm", Some(rep))
                .iter()
                .all(|m| !text(m).contains("named detail")),
            "{out:?}"
        );
    }
    // Each manager and admin gets the named detail by DM.
    for reader in [ADMIN, MANAGER] {
        let detail: Vec<String> = deliveries(&out, "dm", Some(reader))
            .iter()
            .map(|m| text(m))
            .filter(|t| t.contains("named detail"))
            .collect();
        assert_eq!(detail.len(), 1, "{reader}: {out:?}");
        assert!(
            detail[0].contains("D-1 Bravo secret") && detail[0].contains("user 11"),
            "{}",
            detail[0]
        );
    }
    // Once a week each: a later tick sends nothing again.
    let again = h.run(":now 2026-12-03T10:00:00Z").await;
    assert!(
        again.iter().all(|m| !text(m).contains("digest")),
        "{again:?}"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'digest-detail:1:%:2026-W49'")
            .await,
        2
    );
    // Under "all" the channel names the deals again, and no detail DM is needed.
    h.run(":as 1 admin").await;
    h.ok("/settings visibility mode:all").await;
    let out = h.run(":now 2026-12-10T09:05:00Z").await;
    let channel = deliveries(&out, "channel", None);
    assert!(text(channel[0]).contains("Bravo secret"), "{out:?}");
    assert!(
        out.iter().all(|m| !text(m).contains("named detail")),
        "{out:?}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn a_reps_deal_card_and_reminders_hide_another_reps_contact(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    // A manager links rep B's contact to a deal of rep A's.
    h.run(":as 20 manager").await;
    h.ok(r#"/deal new title:Mixed amount:1k owner:<@10> contact:ben@bravo.example company:"Alpha Co""#)
        .await;
    // A reminder for rep A about rep B's records would name them in rep A's DM: refused.
    for (line, option) in [
        (
            r#"/remind what:x when:"tomorrow 9am" deal:D-1 for:<@10>"#,
            "deal",
        ),
        (
            r#"/remind what:x when:"tomorrow 9am" contact:ben@bravo.example for:<@10>"#,
            "contact",
        ),
    ] {
        let err = h.err(line).await;
        assert!(
            err.contains(&format!("{option}: ")) && err.contains("cannot see it"),
            "{line}: {err}"
        );
    }
    h.run(":as 10 rep").await;
    let r = h.ok("/deal show deal:Mixed").await;
    let t = text(&r);
    assert!(leaks(&t).is_empty(), "{t}");
    assert!(
        t.contains("Contact: —") || t.contains("Contact: none"),
        "{t}"
    );
    assert!(
        !t.contains("deal:log:"),
        "no Log button for a hidden contact: {t}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn a_company_typo_is_told_with_a_did_you_mean(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    let r = h
        .ok(r#"/deal new title:Typo amount:1k company:"Alpha Coo""#)
        .await;
    let t = text(&r);
    assert!(
        t.contains("No company had that name") && t.contains("Did you mean Alpha Co?"),
        "{t}"
    );
    // Never a name the rep cannot see.
    let r = h.ok(r#"/contact add name:Zed company:"Bravo Crop""#).await;
    let t = text(&r);
    assert!(
        t.contains("No company had that name") && !t.contains("Did you mean"),
        "{t}"
    );
    // A name that exists is used, with no notice.
    let r = h
        .ok(r#"/deal new title:Plain amount:1k company:Acme"#)
        .await;
    assert!(!text(&r).contains("No company had that name"), "{r}");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_task_on_a_deal_reassigned_away_no_longer_names_it(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    fixture(&mut h).await;
    h.ok(r#"/remind what:"chase alpha" when:"tomorrow 9am" deal:D-4 contact:ann@alpha.example"#)
        .await;
    // The manager gives rep A's deal (and so its contact's work) to rep B.
    h.run(":as 20 manager").await;
    h.ok("/deal assign deal:D-4 owner:<@11>").await;
    h.run(":as 10 rep").await;
    let r = h.ok("/tasks list").await;
    let t = text(&r);
    assert!(t.contains("chase alpha") && !t.contains("D-4"), "{t}");
    // Rep A's DMs name neither the deal nor give an Open button for it.
    let out = h.run(":now 2026-12-02T09:01:00Z").await;
    let dm: Vec<String> = deliveries(&out, "dm", Some(REP_A))
        .iter()
        .map(|m| text(m))
        .filter(|t| t.contains("chase alpha"))
        .collect();
    // The reminder and the morning agenda.
    assert_eq!(dm.len(), 2, "{out:?}");
    for t in dm {
        assert!(
            !t.contains("Alpha deal") && !t.contains("deal:show:4"),
            "{t}"
        );
    }
}
