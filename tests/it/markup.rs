//! Chat markup and mention injection: user text the bot echoes is shown as typed (escaped for
//! Discord's markdown) in replies, cards, lists, DMs and the digest; no mention can form; names
//! made of invisible or direction-changing characters are refused naming the option; stage
//! names the matcher cannot tell apart are refused.

use crate::support::{is_error, text, Harness};
use serde_json::Value;
use sqlx::PgPool;

const TITLE: &str = "**bold** [link](https://evil.example)";
const ESCAPED: &str = r"\*\*bold\*\* \[link\](https://evil.example)";

/// The text shows the title escaped and nowhere as live markup.
fn shows_literally(what: &str, all: &str) {
    assert!(all.contains(ESCAPED), "{what}: title not escaped: {all}");
    assert!(
        !all.contains("**bold**") && !all.contains("[link]("),
        "{what}: live markup: {all}"
    );
}

/// No `@everyone` or `@here` (any width of `@`) and no `<@…>`, `<@&…>`, `<#…>` reach the text.
fn no_mentions(what: &str, all: &str) {
    let lower = all.to_lowercase();
    for at in ["@", "＠", "﹫"] {
        for word in ["everyone", "here"] {
            assert!(
                !lower.contains(&format!("{at}{word}")),
                "{what}: {at}{word} formed: {all}"
            );
        }
    }
    for open in ["<@", "<#"] {
        let unescaped = all
            .match_indices(open)
            .any(|(i, _)| !all[..i].ends_with('\\'));
        assert!(!unescaped, "{what}: {open} formed: {all}");
    }
}

fn messages_to<'a>(out: &'a [Value], to: &str) -> Vec<&'a Value> {
    out.iter().filter(|o| o["to"] == to).collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_title_with_markup_is_shown_as_typed_in_replies_dms_and_the_digest(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings digest channel:<#555> day:mon time:09:00")
        .await;
    let r = h
        .ok(&format!(
            r#"/deal new title:"{TITLE}" amount:5k close:2026-12-02 company:"Acme_Corp [x](https://e.example)""#
        ))
        .await;
    assert_eq!(r["ephemeral"], false, "a new deal is announced: {r}");
    shows_literally("the public reply", &text(&r));
    assert!(
        text(&r).contains(r"Acme\_Corp \[x\](https://e.example)"),
        "{r}"
    );
    // The title is stored as typed: escaping is for display only.
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE title = '**bold** [link](https://evil.example)'")
            .await,
        1
    );

    shows_literally("/deal show", &text(&h.ok("/deal show deal:D-1").await));
    shows_literally("/deal list", &text(&h.ok("/deal list").await));
    shows_literally(
        "/deal move",
        &text(&h.ok("/deal move deal:D-1 stage:Proposal").await),
    );

    // A reminder about the deal comes by DM.
    h.ok(
        r#"/remind what:"call ＠everyone about [x](https://e.example)" when:"in 1 hour" deal:D-1"#,
    )
    .await;
    let out = h.run(":now 2026-12-01T10:00:00Z").await;
    // The reminder, and the morning agenda that lists the task.
    let dms = messages_to(&out, "dm");
    assert_eq!(dms.len(), 2, "a reminder and an agenda: {out:?}");
    let dm = dms.iter().map(|m| text(m)).collect::<Vec<_>>().join("\n");
    shows_literally("the reminder DM", &dm);
    no_mentions("the reminder DM", &dm);
    assert!(dm.contains(r"＠"), "{dm}");
    assert!(dm.contains(r"\[x\](https://e.example)"), "{dm}");

    // The deal is past its close date by Monday: the digest names it among the deals at risk.
    let out = h.run(":now 2026-12-07T09:00:00Z").await;
    let posts = messages_to(&out, "channel");
    assert_eq!(posts.len(), 1, "one digest: {out:?}");
    shows_literally("the digest", &text(posts[0]));
    shows_literally(
        "the digest preview",
        &text(&h.ok("/settings digest preview:true").await),
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn mentions_never_form_from_what_people_type(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let before = h.fingerprint().await;
    // Markup Discord would read as a mention is refused at the door, naming the option, and
    // so is any zero-width split of it.
    for (line, option) in [
        ("/deal new title:@everyone amount:5k", "title"),
        ("/deal new title:\"<@123> deal\" amount:5k", "title"),
        ("/deal new title:\"<@&456>\" amount:5k", "title"),
        ("/deal new title:\"see <#789>\" amount:5k", "title"),
        ("/deal new title:\"@\u{200B}everyone\" amount:5k", "title"),
        ("/deal new title:\"@\u{2060}here\" amount:5k", "title"),
        ("/company add name:\"@\u{FEFF}everyone\"", "name"),
    ] {
        let e = h.err(line).await;
        assert!(e.contains(option), "{line}: {e}");
    }
    assert_eq!(h.fingerprint().await, before, "nothing was written");

    // Full-width and small `@` are not markup to Discord, but they are shown with a break
    // after them all the same, and nothing is sent with mentions switched on (see discord.rs).
    let r = h
        .ok("/deal new title:\"＠everyone ﹫here\" amount:5k company:＠here")
        .await;
    let all = text(&r);
    no_mentions("the reply", &all);
    assert!(all.contains("＠\u{200B}everyone ﹫\u{200B}here"), "{all}");
    no_mentions("/deal show", &text(&h.ok("/deal show deal:D-1").await));
    no_mentions(
        "/company show",
        &text(&h.ok("/company show company:CO-1").await),
    );

    // An address at here.com or hereford.ac.uk is an address, not a mention: it is taken, found
    // again by that address, and echoed without forming one.
    let r = h
        .ok("/contact add name:Ann email:ann@here.com company:Hereford")
        .await;
    no_mentions("the contact's reply", &text(&r));
    let r = h.ok("/contact find query:ann@here.com").await;
    assert!(text(&r).contains("Ann"), "{r}");
    no_mentions("/contact find", &text(&r));
    h.ok("/contact add name:Bo email:it@hereford.ac.uk").await;
    let e = h
        .err(r#"/contact log contact:Ann kind:call summary:"ping @here""#)
        .await;
    assert!(e.contains("summary"), "{e}");
    for line in [
        "/deal new title:x@everyone amount:5k",
        "/deal new title:Q3-@here amount:5k",
    ] {
        let e = h.err(line).await;
        assert!(e.contains("title"), "{line}: {e}");
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn names_of_invisible_characters_are_refused_naming_the_option(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/deal new title:Real amount:5k").await;
    h.ok("/contact add name:Wei").await;
    h.ok("/product add name:Seat price:100").await;
    let before = h.fingerprint().await;
    let invisible = [
        "\u{200B}",
        "\u{2800}",
        "\u{3164}",
        "\u{2060}",
        "\u{202E}",
        "\u{FEFF}",
        "\u{115F}\u{3164}",
        "\u{200D}\u{2800}",
        "Won\u{202E}",
    ];
    for blank in invisible {
        for (line, option) in [
            (format!("/deal new title:\"{blank}\" amount:5k"), "title"),
            (
                format!("/deal new title:Fine amount:5k company:\"{blank}\""),
                "company",
            ),
            (format!("/company add name:\"{blank}\""), "name"),
            (
                format!("/company add name:Fine industry:\"{blank}\""),
                "industry",
            ),
            (format!("/contact add name:\"{blank}\""), "name"),
            (format!("/contact add name:Fine title:\"{blank}\""), "title"),
            (format!("/contact add name:Fine tags:\"{blank}\""), "tags"),
            (format!("/product add name:\"{blank}\" price:5"), "name"),
            (format!("/deal lost deal:D-1 reason:\"{blank}\""), "reason"),
            (
                format!("/deal move deal:D-1 stage:Proposal note:\"{blank}\""),
                "note",
            ),
            (
                format!("/contact log contact:C-1 kind:call summary:\"{blank}\""),
                "summary",
            ),
            (format!("/remind what:\"{blank}\" when:tomorrow"), "what"),
            (
                format!("/settings stages action:add name:\"{blank}\" probability:5"),
                "name",
            ),
        ] {
            let reply = h.one(&line).await;
            assert!(is_error(&reply), "{line:?} was accepted: {reply}");
            assert_eq!(reply["ephemeral"], true, "{line:?}");
            let e = reply["content"].as_str().unwrap_or_default();
            assert!(
                e.contains(option),
                "{line:?}: the error names no option: {e}"
            );
        }
    }
    // A tab or a line break has no place in a name either; a note keeps its lines.
    for (line, option) in [
        ("/deal new title:\"Acme\tdeal\" amount:5k", "title"),
        ("/company add name:\"Acme\nCorp\"", "name"),
        ("/product add name:\"Seat\tplus\" price:5", "name"),
    ] {
        let e = h.err(line).await;
        assert!(e.contains(option), "{line:?}: {e}");
    }
    assert_eq!(h.fingerprint().await, before, "nothing was written");
    h.ok("/deal move deal:D-1 stage:Proposal note:\"sent the quote\nwaiting\"")
        .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn stage_names_the_matcher_treats_as_equal_are_refused(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings stages action:add name:Pre_sale probability:15")
        .await;
    let before = h.fingerprint().await;
    for (line, names) in [
        (
            "/settings stages action:add name:Presale probability:15",
            &["Presale", r"Pre\_sale"][..],
        ),
        (
            "/settings stages action:add name:Pre-Sale probability:15",
            &["Pre-Sale", r"Pre\_sale"],
        ),
        (
            "/settings stages action:add name:\"pre sale\" probability:15",
            &["pre sale", r"Pre\_sale"],
        ),
        (
            "/settings stages action:add name:lead probability:15",
            &["lead"],
        ),
        (
            "/settings stages action:rename stage:Proposal name:PRESALE",
            &["PRESALE", r"Pre\_sale"],
        ),
        (
            "/settings stages action:add name:_ probability:15",
            &["name", "letter or digit"],
        ),
        (
            "/settings stages action:add name:- probability:15",
            &["name", "letter or digit"],
        ),
        (
            "/settings stages action:add name:\"- _\" probability:15",
            &["name", "letter or digit"],
        ),
    ] {
        let e = h.err(line).await;
        for name in names {
            assert!(e.contains(name), "{line}: {e}");
        }
    }
    assert_eq!(h.fingerprint().await, before, "nothing was written");
    // Renaming a stage to another spelling of its own name is fine, and every stage can be
    // named exactly.
    h.ok("/settings stages action:rename stage:Pre_sale name:Pre-sale")
        .await;
    h.ok("/deal new title:Acme amount:5k").await;
    let r = h.ok("/deal move deal:D-1 stage:Pre-sale").await;
    assert!(text(&r).contains("Pre-sale"), "{r}");
    // Folded, the name still finds the one stage (the deal is in it already: a conflict).
    let all = text(&h.one("/deal move deal:D-1 stage:presale").await);
    assert!(all.contains("already") && all.contains("Pre-sale"), "{all}");
}

#[sqlx::test(migrations = "./migrations")]
async fn token_names_in_refusals_are_shown_as_typed(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/settings api action:create name:**erp** scope:read")
        .await;
    // Taken already, and unknown: both refusals echo the name typed, escaped.
    for line in [
        "/settings api action:create name:**erp** scope:read",
        "/settings api action:revoke name:**nope**",
    ] {
        let e = h.err(line).await;
        assert!(e.contains(r"\*\*"), "{line}: {e}");
        assert!(!e.contains("**"), "{line}: live markup: {e}");
    }
}

/// An agenda of a rep with long lists (two hundred tasks, dozens of deals, birthdays and
/// contract ends, every title long) stays within what Discord takes in one message, so it is
/// not refused whole, and each list says how many it leaves out instead of ending mid-line.
/// Today's tasks come before a backlog of overdue ones.
#[sqlx::test(migrations = "./migrations")]
async fn a_long_agenda_fits_discords_limits_and_counts_what_it_leaves_out(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    for i in 0..30 {
        h.ok(&format!(
            r#"/deal new title:"Renewal of the enterprise licence for the northern region, phase {i}" amount:5k"#
        ))
        .await;
    }
    let long = "Call back about the renewal of the enterprise licence and the training days";
    for sql in [
        // 150 overdue since November, 50 still ahead today; reminded already, so the only DM
        // is the agenda.
        format!(
            "INSERT INTO tasks (workspace_id, assignee_id, created_by, title, due_at, reminded_due_at, source)
             SELECT 1, 1, 1, '{long} ' || g, t, t, 'manual'
             FROM generate_series(1, 200) g,
                  LATERAL (SELECT CASE WHEN g <= 150 THEN timestamptz '2026-11-01' + g * interval '1 hour'
                                       ELSE timestamptz '2026-12-01 18:00Z' + g * interval '1 second' END) x(t)"
        ),
        "UPDATE deals SET expected_close = '2026-11-20', last_activity_at = '2026-10-01'".into(),
        format!(
            "INSERT INTO contacts (workspace_id, name, owner_id, birthday_month, birthday_day)
             SELECT 1, '{long} ' || g, 1, 12, 1 + g % 3 FROM generate_series(1, 60) g"
        ),
        format!(
            "INSERT INTO companies (workspace_id, name, owner_id, contract_end)
             SELECT 1, '{long} ' || g, 1, date '2026-12-31' FROM generate_series(1, 40) g"
        ),
    ] {
        sqlx::query(&sql).execute(&pool).await.expect("setup");
    }
    let out = h.run(":now 2026-12-01T10:00:00Z").await;
    let dms = messages_to(&out, "dm");
    assert_eq!(dms.len(), 1, "the agenda: {out:?}");
    let embed = &dms[0]["embeds"][0];
    let fields = embed["fields"].as_array().expect("fields");
    let chars = |v: &Value| v.as_str().unwrap_or_default().chars().count();
    let total = chars(&embed["title"])
        + fields
            .iter()
            .map(|f| chars(&f["name"]) + chars(&f["value"]))
            .sum::<usize>();
    assert!(total <= 6000, "{total} characters in all: {embed}");
    assert!(fields.len() >= 5, "{embed}");
    for f in fields {
        assert!(chars(&f["value"]) <= 1024, "{f}");
        // Every line is whole: a list ends in its count of the rest, not mid-line.
        let value = f["value"].as_str().unwrap_or_default();
        let last = value.lines().last().unwrap_or_default();
        assert!(
            last.contains("more"),
            "a long list says what it leaves out: {value}"
        );
    }
    let tasks = fields[0]["value"].as_str().unwrap_or_default();
    let lines: Vec<&str> = tasks.lines().collect();
    assert!(
        lines[0].contains(&format!("{long} 151")),
        "today's first: {tasks}"
    );
    let shown = lines.len() - 1;
    let rest = format!("…and {} more", 200 - shown);
    assert!(
        lines[shown].contains(&rest) && lines[shown].contains("/tasks list"),
        "{tasks}"
    );
}

/// Friday's agenda lists today's birthdays and the weekend's in two fields, each counted on
/// its own: a crowded today does not push the weekend's out unseen.
#[sqlx::test(migrations = "./migrations")]
async fn a_crowded_birthday_today_leaves_the_weekends_in_view(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/tasks list").await;
    sqlx::query(
        "INSERT INTO contacts (workspace_id, name, owner_id, birthday_month, birthday_day)
         SELECT 1, 'Guest ' || g, 1, 12, CASE WHEN g <= 60 THEN 4 ELSE 5 END
         FROM generate_series(1, 63) g",
    )
    .execute(&pool)
    .await
    .expect("setup");
    let out = h.run(":now 2026-12-04T10:00:00Z").await;
    let dms = messages_to(&out, "dm");
    assert_eq!(dms.len(), 1, "Friday's agenda: {out:?}");
    let fields = dms[0]["embeds"][0]["fields"].as_array().expect("fields");
    assert_eq!(fields.len(), 2, "{fields:?}");
    let today = fields[0]["value"].as_str().unwrap_or_default();
    let shown = today.lines().count() - 1;
    assert!(
        today.ends_with(&format!("…and {} more", 60 - shown)),
        "{today}"
    );
    let coming = fields[1]["value"].as_str().unwrap_or_default();
    assert_eq!(coming.lines().count(), 3, "{coming}");
    assert!(!coming.contains("more"), "{coming}");
}
