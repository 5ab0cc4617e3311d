//! Bad input through the console: wrong types, missing options, unknown names and choices,
//! unknown stages, negative or absurd amounts, unparseable times, over-long text, ids from
//! another workspace, and SQL and markup injection. Each must get exactly one ephemeral
//! error that names the option (or the thing not found) and says what is accepted, must
//! leave the database exactly as it was, and must never panic.

use crate::support::{text, Harness};
use serde_json::Value;
use sqlx::PgPool;

/// Every table the schema creates; SQL injection must not have dropped any.
use crate::support::TABLES;

/// A workspace with a little of everything: a company, a contact, open deals in three stages
/// (plus one won and one lost) and an open task.
pub(crate) async fn seeded(pool: PgPool) -> Harness {
    let mut h = Harness::new(pool).await;
    for line in [
        "/company add name:Acme industry:software",
        r#"/contact add name:"Wei Wang" email:wei@acme.com company:Acme"#, // C-1
        r#"/deal new title:"Acme - 200 seats" amount:12k company:Acme contact:C-1"#, // D-1 Lead
        "/deal new title:Globex amount:5000",                              // D-2
        "/deal move deal:D-2 stage:Proposal",
        "/deal new title:Initech amount:1000", // D-3
        "/deal move deal:D-3 stage:Negotiation",
        "/deal new title:Hooli amount:8k", // D-4
        "/deal won deal:D-4",
        "/deal new title:Umbrella amount:3k", // D-5
        r#"/deal lost deal:D-5 reason:"no budget""#,
        r#"/remind what:"call Wei back" when:"tomorrow 9am" deal:D-1 contact:C-1"#, // T-1
    ] {
        h.ok(line).await;
    }
    h
}

/// Checks one reply to a bad line; returns the problems found (empty when it is right).
fn check_error(line: &str, out: &[Value], needles: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    if out.len() != 1 {
        problems.push(format!(
            "{line}\n    expected one reply, got {}: {out:?}",
            out.len()
        ));
        return problems;
    }
    let reply = &out[0];
    let content = reply["content"].as_str().unwrap_or_default();
    if !content.starts_with("⚠️") {
        problems.push(format!(
            "{line}\n    expected an error, got: {}",
            text(reply)
        ));
        return problems;
    }
    if reply["ephemeral"] != true {
        problems.push(format!("{line}\n    error is not ephemeral: {content}"));
    }
    let lower = content.to_lowercase();
    for needle in needles {
        // A needle starting with `!` is something the error must not say.
        match needle.strip_prefix('!') {
            Some(wrong) if lower.contains(&wrong.to_lowercase()) => {
                problems.push(format!(
                    "{line}\n    error wrongly says {wrong:?}: {content}"
                ));
            }
            Some(_) => {}
            None if !lower.contains(&needle.to_lowercase()) => {
                problems.push(format!(
                    "{line}\n    error does not mention {needle:?}: {content}"
                ));
            }
            None => {}
        }
    }
    if content.contains("%{") {
        problems.push(format!("{line}\n    unreplaced placeholder: {content}"));
    }
    if let Some((_, accepted)) = content.split_once("Accepted:") {
        if accepted.trim().trim_end_matches('.').trim().is_empty() {
            problems.push(format!("{line}\n    'Accepted:' says nothing: {content}"));
        }
    }
    problems
}

/// Runs a table of (line, fragments the error must contain, or with a leading `!` must not);
/// returns every miss.
async fn run_table(h: &mut Harness, table: &[(&str, &[&str])]) -> Vec<String> {
    let mut problems = Vec::new();
    for (line, needles) in table {
        let out = h.run(line).await;
        problems.extend(check_error(line, &out, needles));
    }
    problems
}

/// Fails listing every problem at once.
fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

async fn assert_tables_exist(h: &Harness) {
    for t in TABLES {
        let exists = h
            .count(&format!(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '{t}'"
            ))
            .await;
        assert_eq!(exists, 1, "table {t} is gone");
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn every_command_refuses_bad_input_and_changes_nothing(pool: PgPool) {
    let mut h = seeded(pool).await;
    let before = h.fingerprint().await;

    let long_151 = "x".repeat(151);
    let long_101 = "y".repeat(101);
    let long_1001 = "z".repeat(1001);
    let long_501 = "n".repeat(501);
    let long_301 = "r".repeat(301);
    let long_201 = "w".repeat(201);
    let long_41 = "s".repeat(41);

    let new_title_151 = format!("/deal new title:{long_151} amount:5k");
    let company_name_101 = format!("/company add name:{long_101}");
    let contact_title_101 = format!("/contact add name:Ann title:{long_101}");
    let summary_1001 = format!("/contact log contact:C-1 kind:call summary:{long_1001}");
    let find_101 = format!("/contact find query:{long_101}");
    let move_note_501 = format!("/deal move deal:D-1 stage:Qualified note:{long_501}");
    let won_note_501 = format!("/deal won deal:D-1 note:{long_501}");
    let lost_reason_301 = format!("/deal lost deal:D-1 reason:{long_301}");
    let remind_what_201 = format!(r#"/remind what:{long_201} when:"tomorrow 9am""#);
    let stage_name_41 = format!("/settings stages action:add name:{long_41} probability:5");
    let show_deal_151 = format!("/deal show deal:{long_151}");

    #[rustfmt::skip]
    let table: Vec<(&str, &[&str])> = vec![
        // Unknown commands, subcommands and options; duplicates; missing subcommands.
        ("/dael new title:X amount:5", &["/dael", "Commands:", "/deal"]),
        ("/", &["Commands:", "/contact"]),
        ("/deal create title:X amount:5", &["create", "Subcommands:", "new"]),
        ("/deal title:X amount:5", &["subcommand", "new, move, won, lost, assign, show, list"]),
        ("/pipeline", &["subcommand", "stats"]),
        ("/pipeline graph", &["graph", "stats"]),
        ("/settings", &["subcommand", "timezone"]),
        ("/settings colour value:red", &["colour", "visibility"]),
        ("/contact delete contact:C-1", &["delete", "add, log, show, find, tag"]),
        ("/company remove company:Acme", &["remove", "add, show"]),
        ("/tasks delete task:T-1", &["delete", "list, done, snooze"]),
        ("/deal new title:X amount:5 colour:red", &["colour", "Options:", "title"]),
        ("/deal show deal:D-1 deal:D-2", &["deal", "twice"]),
        ("/undo now:yes", &["now", "no options"]),
        ("/help extra:1", &["extra", "command"]),
        ("/remind what:x when:tomorrow priority:high", &["priority", "what, when"]),

        // /company add
        ("/company add industry:software", &["name", "/company add"]),
        (r#"/company add name:"""#, &["name", "at least 1"]),
        (r#"/company add name:"   ""#, &["name", "at least 1"]),
        (&company_name_101, &["name", "101", "at most 100"]),
        ("/company add name:Acme", &["Acme", "already exists"]),
        ("/company add name:Foo tier:gold", &["tier", "gold", "enterprise, mid-market, smb"]),
        (r#"/company add name:Foo website:"not a site""#, &["website", "acme.com"]),
        ("/company add name:Foo website:javascript:alert(document.cookie)", &["website", "acme.com"]),
        ("/company add name:Foo tags:a,b,c,d,e,f,g,h,i,j,k", &["tags", "more than 10", "up to 10"]),
        ("/company add name:Foo tags:<script>", &["tags", "letters, digits"]),
        (r#"/company add name:Foo contract_end:"next blursday""#, &["contract_end", "next blursday", "2026-12-01"]),
        ("/company add name:Foo contract_end:2027-02-30", &["contract_end", "2027-02-30", "Accepted:"]),
        ("/company add name:Foo contract_end:2099-01-01", &["contract_end", "5 years"]),
        ("/company add name:Foo owner:notauser", &["owner", "notauser", "member"]),
        ("/company add name:Foo owner:<@&123>", &["owner", "member"]),
        ("/company add name:Foo owner:0", &["owner", "member"]),
        // markup injection
        (r#"/company add name:"@everyone""#, &["name", "mentions", "plain text"]),
        (r#"/company add name:"<script>alert(1)</script>""#, &["name", "plain text"]),
        ("/company add name:Foo industry:@here", &["industry", "mentions"]),

        // /company show
        ("/company show", &["company", "/company show"]),
        ("/company show company:Nope", &["Nope", "no company"]),
        ("/company show company:CO-999", &["CO-999", "no company"]),
        ("/company show company:CO-0", &["company", "CO-7"]),
        (r#"/company show company:"' OR 1=1 --""#, &["' OR 1=1 --", "no company"]),
        (r#"/company show company:"Acme'; DROP TABLE companies; --""#, &["DROP TABLE companies", "no company"]),

        // /contact add
        ("/contact add email:ann@acme.com", &["name", "/contact add"]),
        ("/contact add name:Ann email:not-an-email", &["email", "not-an-email", "name@example.com"]),
        ("/contact add name:Ann email:wei@acme.com", &["wei@acme.com", "C-1 Wei Wang"]),
        ("/contact add name:Ann phone:call-me", &["phone", "call-me", "5 to 20 digits"]),
        ("/contact add name:Ann phone:123", &["phone", "5 to 20 digits"]),
        ("/contact add name:Ann birthday:13-45", &["birthday", "13-45", "YYYY-MM-DD"]),
        ("/contact add name:Ann birthday:yesterday", &["birthday", "YYYY-MM-DD"]),
        (r#"/contact add name:Ann tags:"bad!tag""#, &["tags", "bad!tag", "letters, digits"]),
        (&contact_title_101, &["title", "at most 100"]),
        ("/contact add name:Ann owner:bob", &["owner", "bob", "member"]),
        (r#"/contact add name:"<@1> hi""#, &["name", "mentions"]),
        (r#"/contact add name:Ann company:"<@&5>""#, &["company", "mentions"]),
        ("/contact add name:Ann title:@everyone", &["title", "mentions"]),
        ("/contact add name:A\u{7}nn", &["name", "control characters"]),
        ("/contact add name:A\u{0}nn", &["name", "control characters"]),

        // /contact log
        ("/contact log contact:C-1 summary:hi", &["kind", "/contact log"]),
        ("/contact log contact:C-1 kind:call", &["summary", "/contact log"]),
        ("/contact log kind:call summary:hi", &["contact", "/contact log"]),
        ("/contact log contact:C-1 kind:fax summary:hi", &["kind", "fax", "call, email, meeting, visit, message, note"]),
        ("/contact log contact:C-1 kind:call summary:hi satisfaction:abc", &["satisfaction", "abc", "whole number"]),
        ("/contact log contact:C-1 kind:call summary:hi satisfaction:4.5", &["satisfaction", "whole number"]),
        ("/contact log contact:C-1 kind:call summary:hi satisfaction:6", &["satisfaction", "1 to 5"]),
        ("/contact log contact:C-1 kind:call summary:hi satisfaction:0", &["satisfaction", "1 to 5"]),
        ("/contact log contact:C-1 kind:call summary:hi satisfaction:-3", &["satisfaction", "1 to 5"]),
        (&summary_1001, &["summary", "1001", "at most 1000"]),
        (r#"/contact log contact:C-1 kind:call summary:"" "#, &["summary", "at least 1"]),
        (r#"/contact log contact:C-1 kind:call summary:"told <@1> about it""#, &["summary", "mentions"]),
        (r#"/contact log contact:C-1 kind:call summary:hi next_step:"send quote""#, &["due", "next_step", "tomorrow 9am"]),
        (r#"/contact log contact:C-1 kind:call summary:hi next_step:x due:"next blursday""#, &["due", "next blursday", "tomorrow 9am"]),
        (r#"/contact log contact:C-1 kind:call summary:hi next_step:x due:"2020-01-01 10:00""#, &["due", "past"]),
        (r#"/contact log contact:C-1 kind:call summary:hi when:"next blursday""#, &["when", "next blursday", "past time"]),
        (r#"/contact log contact:C-1 kind:call summary:hi when:"in 3 days""#, &["when", "in 3 days", "past time", "!5 years"]),
        (r#"/contact log contact:"' OR 1=1 --" kind:call summary:hi"#, &["' OR 1=1 --", "no contact"]),
        ("/contact log contact:Nobody kind:call summary:hi", &["Nobody", "no contact"]),
        ("/contact log contact:C-999 kind:call summary:hi", &["C-999", "no contact"]),
        ("/contact log contact:C-1 kind:call summary:hi deal:D-999", &["D-999", "no deal"]),
        (r#"/contact log contact:C-1 kind:call summary:hi deal:"1; DROP TABLE deals; --""#, &["1; DROP TABLE deals; --", "no deal"]),

        // /contact show
        ("/contact show", &["contact", "/contact show"]),
        ("/contact show contact:C-999", &["C-999", "no contact"]),
        ("/contact show contact:C-0", &["contact", "C-12"]),
        ("/contact show contact:nobody@nowhere.com", &["nobody@nowhere.com", "no contact"]),
        (r#"/contact show contact:"' OR 1=1 --""#, &["' OR 1=1 --", "no contact"]),
        (r#"/contact show contact:"x'); DELETE FROM contacts; --""#, &["DELETE FROM contacts", "no contact"]),

        // /contact find
        ("/contact find", &["query", "/contact find"]),
        (r#"/contact find query:"""#, &["query", "at least 1"]),
        (&find_101, &["query", "at most 100"]),
        ("/contact find query:@everyone", &["query", "mentions"]),

        // /contact tag
        ("/contact tag contact:C-1", &["add", "tags"]),
        (r#"/contact tag contact:C-1 add:"bad!tag""#, &["add", "bad!tag", "letters, digits"]),
        ("/contact tag contact:C-1 remove:a,b,c,d,e,f,g,h,i,j,k", &["remove", "more than 10", "up to 10"]),
        ("/contact tag contact:C-999 add:vip", &["C-999", "no contact"]),
        (r#"/contact tag contact:"' OR 1=1 --" add:vip"#, &["' OR 1=1 --", "no contact"]),
        ("/contact tag add:vip", &["contact", "/contact tag"]),

        // /deal new
        ("/deal new amount:5k", &["title", "/deal new"]),
        ("/deal new title:Foo", &["amount", "give an amount or products"]),
        (r#"/deal new title:"" amount:5k"#, &["title", "at least 1"]),
        (&new_title_151, &["title", "151", "at most 150"]),
        (r#"/deal new title:"<@&123> hi" amount:5k"#, &["title", "mentions"]),
        (r#"/deal new title:"@here deal" amount:5k"#, &["title", "mentions"]),
        ("/deal new title:Foo amount:-5", &["amount", "negative", "an amount in USD"]),
        ("/deal new title:Foo amount:99999999999999", &["amount", "larger than any real deal", "an amount in USD"]),
        ("/deal new title:Foo amount:1.234", &["amount", "decimals", "an amount in USD"]),
        ("/deal new title:Foo amount:€500", &["amount", "€", "USD", "an amount in USD"]),
        ("/deal new title:Foo amount:¥500", &["amount", "¥", "USD"]),
        ("/deal new title:Foo amount:abc", &["amount", "abc", "an amount in USD"]),
        ("/deal new title:Foo amount:1e6", &["amount", "1e6", "an amount in USD"]),
        (r#"/deal new title:Foo amount:"""#, &["amount", "nothing was given"]),
        (r#"/deal new title:Foo amount:"1; DROP TABLE deals""#, &["amount", "an amount in USD"]),
        ("/deal new title:Foo amount:5k stage:negociation", &["stage", "negociation", "did you mean 'Negotiation'", "Lead, Qualified, Proposal, Negotiation"]),
        ("/deal new title:Foo amount:5k stage:Won", &["stage", "Won", "Lead, Qualified, Proposal, Negotiation"]),
        ("/deal new title:Foo amount:5k stage:Lost", &["stage", "Lost"]),
        (r#"/deal new title:Foo amount:5k close:"next blursday""#, &["close", "next blursday", "2026-12-01"]),
        ("/deal new title:Foo amount:5k close:2020-01-01", &["close", "past"]),
        ("/deal new title:Foo amount:5k company:CO-999", &["CO-999", "no company"]),
        ("/deal new title:Foo amount:5k contact:C-999", &["C-999", "no contact"]),
        (r#"/deal new title:Foo amount:5k contact:"' OR 1=1 --""#, &["' OR 1=1 --", "no contact"]),
        ("/deal new title:Foo amount:5k owner:notauser", &["owner", "notauser", "member"]),

        // /deal move
        ("/deal move stage:Qualified", &["deal", "/deal move"]),
        ("/deal move deal:D-1", &["stage", "/deal move"]),
        ("/deal move deal:D-1 stage:negociation", &["stage", "did you mean 'Negotiation'"]),
        ("/deal move deal:D-1 stage:Closed", &["stage", "Closed", "Lead, Qualified, Proposal, Negotiation, Won, Lost"]),
        (r#"/deal move deal:D-1 stage:"""#, &["stage", "at least 1"]),
        ("/deal move deal:D-1 stage:Lost", &["stage", "/deal lost"]),
        ("/deal move deal:D-1 stage:Lead", &["D-1", "already in Lead"]),
        ("/deal move deal:D-999 stage:Qualified", &["D-999", "no deal"]),
        ("/deal move deal:D-0 stage:Qualified", &["deal", "D-42"]),
        ("/deal move deal:D--1 stage:Qualified", &["deal", "D-42"]),
        (r#"/deal move deal:"1; DROP TABLE deals; --" stage:Qualified"#, &["1; DROP TABLE deals; --", "no deal"]),
        (&move_note_501, &["note", "at most 500"]),
        (r#"/deal move deal:D-1 stage:Qualified note:"cc <@&9>""#, &["note", "mentions"]),

        // /deal won
        ("/deal won", &["deal", "/deal won"]),
        ("/deal won deal:D-1 amount:-5", &["amount", "negative"]),
        ("/deal won deal:D-1 amount:99999999999999", &["amount", "larger than any real deal"]),
        ("/deal won deal:D-1 amount:1.234", &["amount", "decimals"]),
        ("/deal won deal:D-1 amount:€500", &["amount", "€", "USD"]),
        ("/deal won deal:D-1 amount:lots", &["amount", "lots", "an amount in USD"]),
        ("/deal won deal:D-4", &["D-4", "already won"]),
        ("/deal won deal:D-999", &["D-999", "no deal"]),
        (r#"/deal won deal:"' OR 1=1 --""#, &["' OR 1=1 --", "no deal"]),
        (&won_note_501, &["note", "at most 500"]),

        // /deal lost
        ("/deal lost deal:D-1", &["reason", "/deal lost"]),
        (r#"/deal lost deal:D-1 reason:"""#, &["reason", "at least 1"]),
        (&lost_reason_301, &["reason", "at most 300"]),
        (r#"/deal lost deal:D-1 reason:"@everyone they left""#, &["reason", "mentions"]),
        ("/deal lost deal:D-5 reason:again", &["D-5", "already lost"]),
        ("/deal lost deal:D-999 reason:x", &["D-999", "no deal"]),

        // /deal assign
        ("/deal assign deal:D-1", &["owner", "/deal assign"]),
        ("/deal assign owner:42", &["deal", "/deal assign"]),
        ("/deal assign deal:D-1 owner:notauser", &["owner", "notauser", "member"]),
        ("/deal assign deal:D-1 owner:<@&42>", &["owner", "member"]),
        ("/deal assign deal:D-1 owner:-42", &["owner", "member"]),
        ("/deal assign deal:D-1 owner:1", &["D-1", "already belongs"]),
        ("/deal assign deal:D-999 owner:42", &["D-999", "no deal"]),

        // /deal show
        ("/deal show", &["deal", "/deal show"]),
        ("/deal show deal:D-999", &["D-999", "no deal"]),
        ("/deal show deal:Nope", &["Nope", "no deal"]),
        ("/deal show deal:D-99999999999999999999999", &["deal", "D-42"]),
        (r#"/deal show deal:"1; DROP TABLE deals; --""#, &["1; DROP TABLE deals; --", "no deal"]),
        (r#"/deal show deal:"' OR '1'='1""#, &["' OR '1'='1", "no deal"]),
        (r#"/deal show deal:"%""#, &["%", "no deal"]),
        (&show_deal_151, &["deal", "at most 150"]),

        // /deal list
        ("/deal list limit:x", &["limit", "'x'", "whole number"]),
        ("/deal list limit:0", &["limit", "1 to 25"]),
        ("/deal list limit:26", &["limit", "1 to 25"]),
        ("/deal list limit:-1", &["limit", "1 to 25"]),
        ("/deal list limit:99999999999999999999", &["limit", "whole number"]),
        ("/deal list stale:maybe", &["stale", "maybe", "true or false"]),
        ("/deal list status:closed", &["status", "closed", "open, won, lost, all"]),
        ("/deal list owner:notauser", &["owner", "notauser", "member"]),
        ("/deal list stage:negociation", &["stage", "did you mean 'Negotiation'"]),

        // /pipeline stats
        ("/pipeline stats period:yesterday", &["period", "yesterday", "this-week"]),
        (r#"/pipeline stats from:"next blursday""#, &["from", "next blursday", "2026-12-01"]),
        ("/pipeline stats to:2026-12-31", &["from", "to"]),
        ("/pipeline stats period:this-month from:2026-11-01", &["period", "from/to"]),
        ("/pipeline stats from:2026-12-31 to:2026-01-01", &["from", "2026-12-31", "Accepted:"]),
        ("/pipeline stats owner:notauser", &["owner", "notauser", "member"]),

        // /kpi, /report, /forecast
        ("/kpi period:someday", &["period", "someday", "this-week"]),
        ("/kpi member:notauser", &["member", "notauser"]),
        ("/report trends by:day", &["by", "day", "week", "month"]),
        ("/report trends period:all-time by:week from:2020-01-01", &["period", "from/to"]),
        ("/report trends from:2020-01-01 to:2026-11-30 by:week", &["by", "more than 60", "month"]),
        ("/report products to:2026-12-31", &["from", "to"]),
        ("/report customers from:2026-12-31 to:2026-01-01", &["from", "2026-12-31"]),
        ("/forecast what-if", &["conversion", "nothing to change", "deal_size"]),
        ("/forecast what-if stage:Proposal", &["conversion", "stage"]),
        ("/forecast what-if conversion:60", &["stage", "conversion"]),
        ("/forecast what-if stage:Won conversion:60", &["stage", "Won", "open stage"]),
        ("/forecast what-if stage:Negociation conversion:60", &["stage", "did you mean 'Negotiation'"]),
        ("/forecast what-if stage:Proposal conversion:101", &["conversion", "100"]),
        ("/forecast what-if deal_size:-95", &["deal_size", "-90"]),
        ("/forecast show member:notauser", &["member", "notauser"]),

        // /product, /deal product, products on /deal new
        ("/product add name:Widget", &["price", "/product add"]),
        ("/product add name:Widget price:abc", &["price", "abc", "an amount in USD"]),
        ("/product add name:Widget price:€5", &["price", "€", "USD"]),
        (r#"/product add name:"" price:5"#, &["name", "at least 1"]),
        ("/deal product deal:D-1 product:Gadget", &["quantity", "/deal product"]),
        ("/deal product deal:D-1 product:Gadget quantity:-1", &["quantity", "0"]),
        ("/deal product deal:D-1 product:Gadget quantity:1", &["Gadget", "/product add"]),
        ("/deal product deal:D-999 product:Gadget quantity:1", &["D-999"]),
        (r#"/deal new title:Foo products:"Widget x0""#, &["products", "x0", "1 to 100,000"]),
        (r#"/deal new title:Foo products:"Widget @abc""#, &["products", "abc", "Widget x3 @1200"]),
        (r#"/deal new title:Foo products:"Widget; widget""#, &["products", "twice"]),
        (r#"/deal new title:Foo products:" ; ""#, &["products", "no name"]),
        (r#"/deal new title:Foo products:"Gadget x2""#, &["Gadget", "/product add"]),

        // /remind
        ("/remind when:tomorrow", &["what", "/remind"]),
        ("/remind what:x", &["when", "/remind"]),
        (r#"/remind what:x when:"yesterday""#, &["when", "yesterday", "past", "a future time"]),
        (r#"/remind what:x when:"next blursday""#, &["when", "next blursday", "a future time"]),
        (r#"/remind what:x when:"2020-01-01 10:00""#, &["when", "past", "a future time"]),
        (r#"/remind what:x when:"2040-01-01 10:00""#, &["when", "5 years", "a future time"]),
        (r#"/remind what:x when:"""#, &["when", "at least 1"]),
        (&remind_what_201, &["what", "at most 200"]),
        (r#"/remind what:"@everyone standup" when:tomorrow"#, &["what", "mentions"]),
        ("/remind what:x when:tomorrow deal:D-999", &["D-999", "no deal"]),
        (r#"/remind what:x when:tomorrow contact:"' OR 1=1 --""#, &["' OR 1=1 --", "no contact"]),
        ("/remind what:x when:tomorrow for:someone", &["for", "someone", "member"]),

        // /tasks
        ("/tasks list status:closed", &["status", "closed", "open, done, all"]),
        ("/tasks list member:abc", &["member", "abc", "member"]),
        ("/tasks done", &["task", "/tasks done"]),
        ("/tasks done task:abc", &["task", "abc", "T-12"]),
        ("/tasks done task:T-999", &["T-999", "no task"]),
        ("/tasks done task:T-0", &["task", "T-12"]),
        (r#"/tasks done task:"1; DROP TABLE tasks""#, &["task", "T-12"]),
        ("/tasks snooze task:T-1", &["until", "/tasks snooze"]),
        (r#"/tasks snooze task:T-1 until:"next blursday""#, &["until", "next blursday", "a future time"]),
        (r#"/tasks snooze task:T-1 until:"yesterday""#, &["until", "past"]),
        ("/tasks snooze task:T-999 until:tomorrow", &["T-999", "no task"]),
        (r#"/tasks snooze task:abc until:tomorrow"#, &["task", "T-12"]),

        // /settings
        ("/settings timezone", &["zone", "/settings timezone"]),
        ("/settings timezone zone:Mars/Olympus", &["zone", "Mars/Olympus", "IANA"]),
        ("/settings timezone zone:Europe/Berlim", &["zone", "Europe/Berlim", "Europe/Berlin"]),
        ("/settings timezone zone:UTC scope:galaxy", &["scope", "galaxy", "workspace, me"]),
        ("/settings currency code:EURO", &["code", "at most 3"]),
        ("/settings currency code:XYZ", &["code", "XYZ", "ISO", "!an amount in"]),
        ("/settings currency code:EUR", &["USD", "EUR"]),
        ("/settings currency", &["code", "/settings currency"]),
        ("/settings language locale:fr", &["locale", "fr", "en, zh-CN"]),
        ("/settings stages", &["action", "/settings stages"]),
        ("/settings stages action:explode", &["action", "explode", "list, add, rename"]),
        ("/settings stages action:add", &["name", "add", "add needs name and probability"]),
        ("/settings stages action:add name:Demo", &["probability", "add"]),
        ("/settings stages action:add name:Lead probability:10", &["Lead", "already exists"]),
        (r#"/settings stages action:add name:"<@&1>" probability:5"#, &["name", "mentions"]),
        (&stage_name_41, &["name", "at most 40"]),
        ("/settings stages action:add name:Demo probability:101", &["probability", "0 to 100"]),
        ("/settings stages action:add name:Demo probability:ten", &["probability", "whole number"]),
        ("/settings stages action:rename stage:negociation name:Talks", &["stage", "did you mean 'Negotiation'"]),
        ("/settings stages action:rename stage:Lead", &["name", "rename"]),
        ("/settings stages action:rename stage:Lead name:Qualified", &["Qualified", "already exists"]),
        ("/settings stages action:probability stage:Lead probability:-1", &["probability", "0 to 100"]),
        ("/settings stages action:probability stage:Won probability:50", &["stage", "Won"]),
        ("/settings stages action:move stage:Lead position:0", &["position", "1 to 20"]),
        ("/settings stages action:move stage:Lead", &["position", "move"]),
        ("/settings stages action:remove", &["stage", "remove"]),
        ("/settings stages action:remove stage:Lead", &["Lead", "cannot be removed"]),
        ("/settings stages action:remove stage:Won", &["stage", "Won"]),
        ("/settings digest", &["channel", "day or time"]),
        ("/settings digest day:someday", &["day", "someday", "mon, tue"]),
        ("/settings digest time:25:99", &["time", "25:99", "09:00", "!date"]),
        ("/settings digest channel:general", &["channel", "general", "a channel"]),
        ("/settings stale days:0", &["days", "1 to 365"]),
        ("/settings stale days:366", &["days", "1 to 365"]),
        ("/settings stale days:abc", &["days", "whole number"]),
        ("/settings stale", &["days", "/settings stale"]),
        ("/settings manager-role role:admins", &["role", "admins", "a role"]),
        ("/settings manager-role", &["role", "/settings manager-role"]),
        ("/settings quota member:<@42> amount:-5", &["amount", "negative"]),
        ("/settings quota member:<@42> amount:99999999999999", &["amount", "larger than any real deal"]),
        ("/settings quota member:<@42> amount:€500", &["amount", "€", "USD"]),
        ("/settings quota member:abc amount:5k", &["member", "abc", "member"]),
        ("/settings quota member:<@42>", &["amount", "/settings quota"]),
        ("/settings visibility mode:secret", &["mode", "secret", "all, own"]),

        // /help
        ("/help command:nope", &["command", "nope", "contact, company, deal"]),

        // Buttons that do not exist or point at nothing.
        (":click garbage", &["no longer valid"]),
        (":click deal:next:abc", &["no longer valid"]),
        (":click deal:next:-1", &["no longer valid"]),
        (":click deal:explode:1", &["no longer valid"]),
        (":click task:snooze:1:2y", &["no longer valid"]),
        (":click deal:next:999", &["D-999", "no deal"]),
        (":click deal:won:4", &["D-4", "already won"]),
        (":click task:done:999", &["T-999", "no task"]),
    ];
    // Every row is checked before failing, so one report lists every wrong answer.
    let mut problems = run_table(&mut h, &table).await;
    if h.fingerprint().await != before {
        problems.push("a refused command changed the database".into());
    }
    assert_tables_exist(&h).await;

    // Injection text in a search is searched for literally: it matches nothing, and LIKE
    // wildcards match only themselves.
    for query in ["' OR 1=1 --", "%", "_", "\\\\"] {
        let r = h.run(&format!(r#"/contact find query:"{query}""#)).await;
        let t = r.first().map(text).unwrap_or_default();
        if r.len() != 1 || t.contains("Wei Wang") {
            problems.push(format!("find {query:?} matched more than itself: {r:?}"));
        }
    }
    if h.fingerprint().await != before {
        problems.push("a search changed the database".into());
    }

    // The workspace still works.
    let r = h.ok("/deal move deal:D-1 stage:Qualified").await;
    assert!(text(&r).contains("Lead → Qualified"), "{r}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 5);
    assert_ne!(h.fingerprint().await, before);
    assert_no_problems(&problems);
}

#[sqlx::test(migrations = "./migrations")]
async fn injection_text_in_free_text_fields_is_stored_literally(pool: PgPool) {
    let mut h = seeded(pool).await;
    let title = "Robert'); DROP TABLE deals;--";
    let r = h
        .ok(&format!(r#"/deal new title:"{title}" amount:1k"#))
        .await;
    assert!(text(&r).contains(&format!("D-6 {title}")), "{r}");
    let r = h.ok("/deal show deal:D-6").await;
    assert_eq!(r["embeds"][0]["title"], format!("D-6 {title}"), "{r}");
    // Found again by the start of its title, quote and all.
    let r = h.ok(r#"/deal show deal:"Robert'); DROP""#).await;
    assert_eq!(r["embeds"][0]["title"], format!("D-6 {title}"), "{r}");
    let stored: String = sqlx::query_scalar("SELECT title FROM deals WHERE number = 6")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(stored, title);

    // A name with quotes, a backslash and a LIKE wildcard, in a contact and a note.
    let name = r#"O'Brien \"100%\" Ltd; DELETE FROM contacts"#;
    let typed = name.replace('\\', "\\\\").replace('"', "\\\"");
    let r = h.ok(&format!(r#"/contact add name:"{typed}""#)).await;
    // Shown as typed: Discord reads the backslash escaped for its markdown as one backslash.
    let shown = name.replace('\\', r"\\");
    assert!(text(&r).contains(&shown), "{r}");
    let r = h.ok(r#"/contact find query:"100%""#).await;
    assert!(
        text(&r).contains(&shown) && !text(&r).contains("Wei Wang"),
        "{r}"
    );
    let summary = "said '); TRUNCATE activities; -- **bold** `code`";
    h.ok(&format!(
        r#"/contact log contact:C-2 kind:note summary:"{summary}""#
    ))
    .await;
    let stored: String = sqlx::query_scalar("SELECT summary FROM activities")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(stored, summary);
    let r = h.ok("/contact show contact:C-2").await;
    let shown = r"said '); TRUNCATE activities; -- \*\*bold\*\* \`code\`";
    assert!(text(&r).contains(shown), "{r}");

    assert_tables_exist(&h).await;
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 6);
    assert_eq!(h.count("SELECT count(*) FROM contacts").await, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn ids_from_another_workspace_are_not_found(pool: PgPool) {
    let mut h = seeded(pool).await;
    // Workspace 2 gets its own records, with ids and numbers workspace 1 does not have.
    h.run(":workspace 2").await;
    for line in [
        "/company add name:Zenith",
        r#"/contact add name:"Zed Zhou" email:zed@zenith.com company:Zenith"#,
        "/deal new title:Zenith-1 amount:1k",
        "/deal new title:Zenith-2 amount:1k",
        "/deal new title:Zenith-3 amount:1k",
        "/deal new title:Zenith-4 amount:1k",
        "/deal new title:Zenith-5 amount:1k",
        "/deal new title:Zenith-big amount:9k company:Zenith contact:zed@zenith.com", // D-6
        r#"/remind what:"zenith call" when:tomorrow"#,
    ] {
        h.ok(line).await;
    }
    let company = h
        .count("SELECT id FROM companies WHERE name = 'Zenith'")
        .await;
    let contact = h
        .count("SELECT id FROM contacts WHERE name = 'Zed Zhou'")
        .await;
    let task = h
        .count("SELECT id FROM tasks WHERE title = 'zenith call'")
        .await;
    h.run(":workspace 1").await;
    let before = h.fingerprint().await;

    let lines = [
        format!("/company show company:CO-{company}"),
        "/company show company:Zenith".to_string(),
        format!("/contact show contact:C-{contact}"),
        "/contact show contact:zed@zenith.com".to_string(),
        r#"/contact show contact:"Zed Zhou""#.to_string(),
        format!("/contact log contact:C-{contact} kind:call summary:hi"),
        format!("/contact tag contact:C-{contact} add:vip"),
        "/deal show deal:D-6".to_string(),
        "/deal show deal:Zenith".to_string(),
        "/deal move deal:D-6 stage:Qualified".to_string(),
        "/deal won deal:D-6".to_string(),
        "/deal lost deal:D-6 reason:x".to_string(),
        "/deal assign deal:D-6 owner:42".to_string(),
        format!("/deal new title:Foo amount:1k contact:C-{contact}"),
        format!("/deal new title:Foo amount:1k company:CO-{company}"),
        format!("/remind what:x when:tomorrow contact:C-{contact}"),
        "/remind what:x when:tomorrow deal:D-6".to_string(),
        format!("/tasks done task:T-{task}"),
        format!("/tasks snooze task:T-{task} until:tomorrow"),
        ":click deal:next:6".to_string(),
        ":click deal:won:6".to_string(),
        ":click deal:show:6".to_string(),
        format!(":click task:done:{task}"),
        format!(":click task:snooze:{task}:1h"),
    ];
    let mut problems = Vec::new();
    for line in &lines {
        let out = h.run(line).await;
        problems.extend(check_error(line, &out, &["no "]));
        // The reply may echo what was typed, but nothing else of workspace 2.
        if let Some(reply) = out.first() {
            let t = text(reply);
            for secret in ["Zenith", "Zed Zhou", "zenith call", "zed@zenith.com"] {
                if t.contains(secret) && !line.contains(secret) {
                    problems.push(format!("{line}\n    leaks the other workspace: {t}"));
                }
            }
        }
    }
    assert_no_problems(&problems);
    assert_eq!(h.fingerprint().await, before, "workspace 1 or 2 changed");
    // The lists of workspace 1 do not show them either.
    for line in [
        "/deal list status:all",
        "/tasks list status:all",
        "/contact find query:z",
    ] {
        let r = h.one(line).await;
        assert!(
            !text(&r).contains("Zenith") && !text(&r).contains("Zed"),
            "{line}: {r}"
        );
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn console_parsing_errors_are_explained(pool: PgPool) {
    let mut h = seeded(pool).await;
    let before = h.fingerprint().await;
    #[rustfmt::skip]
    let table: Vec<(&str, &[&str])> = vec![
        (r#"/deal new title:"Acme amount:5k"#, &["quote", "note:\"sent contract\""]),
        (r#"/deal show deal:"D-1"#, &["quote"]),
        ("/deal show D-1", &["'D-1'", "name:value"]),
        ("/deal move D-1 Qualified", &["'D-1'", "name:value"]),
        ("/remind call Wei tomorrow", &["'call'", "name:value"]),
        ("deal show deal:D-1", &["Commands start with /", "/help"]),
        ("hello", &["Commands start with /"]),
        (":as abc", &["'abc'", "user id", "123"]),
        (":as 5 emperor", &["'emperor'", "rep, manager, admin"]),
        (":workspace zero", &["'zero'", "positive number"]),
        (":workspace -3", &["'-3'", "positive number"]),
        (":now garbage", &["'garbage'", "2026-12-01T09:00:00Z"]),
        (":now 2026-13-45T99:00:00Z", &["2026-12-01T09:00:00Z"]),
        (":locale xx", &["'xx'", "en, zh-CN"]),
        (":locale", &["Unknown console control", ":help"]),
        (":frobnicate", &["':frobnicate'", ":help"]),
        (":click", &["Unknown console control", ":help"]),
    ];
    assert_no_problems(&run_table(&mut h, &table).await);
    assert_eq!(h.fingerprint().await, before);

    // A refused control changes nothing about the session: still user 1, workspace 1, en, START.
    let r = h.ok("/deal show deal:D-1").await;
    let t = text(&r);
    assert!(
        t.contains("D-1 Acme - 200 seats") && t.contains("Stage"),
        "{t}"
    );
    let r = h.ok(r#"/remind what:x when:"in 1 hour""#).await;
    assert!(text(&r).contains("Dec 1, 2026 10:00"), "{r}");
}

#[sqlx::test(migrations = "./migrations")]
async fn odd_lines_never_panic(pool: PgPool) {
    let mut h = seeded(pool).await;
    let internal_error = "Something went wrong on our side";
    // Each line gets some reply (or, for blank lines and comments, deliberately none);
    // reaching the end of the loop proves nothing panicked.
    let silent = ["", "   ", "# a comment"];
    for line in silent {
        assert!(h.run(line).await.is_empty(), "{line:?}");
    }
    let lines = [
        "/",
        "//",
        "/ deal",
        "/deal",
        "/deal show deal:",
        "/deal show :D-1",
        "/deal show deal::",
        "/deal show deal:D-1:D-2",
        r#"/deal show deal:"""""#,
        "/deal show deal:\\",
        r#"/deal show deal:"\"""#,
        "/deal new title:é amount:¥",
        "/deal new title:🎉 amount:💰",
        "/deal new title:x amount:1,2,3",
        "/deal new title:x amount:1..2",
        "/deal new title:x amount:NaN",
        "/deal new title:x amount:inf",
        "/deal new title:x amount:0x10",
        "/deal new title:x amount:9223372036854775807",
        "/deal new title:x amount:-9223372036854775808",
        "/deal new title:x amount:1万亿",
        "/deal list limit:9223372036854775807",
        "/deal list limit:-9223372036854775808",
        "/contact log contact:C-1 kind:call summary:x satisfaction:9223372036854775807",
        "/settings stages action:move stage:Lead position:9223372036854775807",
        "/settings stale days:-9223372036854775808",
        "/deal assign deal:D-1 owner:99999999999999999999",
        ":click deal:next:9223372036854775807",
        ":click deal:next:99999999999999999999",
        ":click task:done:9223372036854775807",
        "/remind what:x when:\"in 99999999999 days\"",
        "/remind what:x when:\"9999-12-31 23:59\"",
        "/remind what:x when:\"in -3 days\"",
        "/tasks snooze task:T-1 until:\"in 0 minutes ago\"",
        "/pipeline stats from:0001-01-01 to:9999-12-31",
        "/pipeline stats from:1900-01-01",
        "/contact add name:x birthday:0000-00-00",
        "/contact add name:x birthday:02-30",
        "/settings timezone zone:../../etc/passwd",
        "/settings timezone zone:\"\"",
        "/settings digest time:24:00",
    ];
    let mut problems = Vec::new();
    for line in lines {
        let out = h.run(line).await;
        if out.len() != 1 {
            problems.push(format!("{line}\n    expected one reply, got {out:?}"));
            continue;
        }
        let content = out[0]["content"].as_str().unwrap_or_default();
        if content.contains(internal_error) {
            problems.push(format!(
                "{line}\n    an internal error instead of a clear answer"
            ));
        }
        if content.starts_with("⚠️") && out[0]["ephemeral"] != true {
            problems.push(format!("{line}\n    error is not ephemeral: {content}"));
        }
        if content.contains("%{") {
            problems.push(format!("{line}\n    unreplaced placeholder: {content}"));
        }
    }
    assert_no_problems(&problems);
    // Some of those lines are valid (an emoji title, a far-back report); the workspace
    // must still be consistent and usable.
    assert_tables_exist(&h).await;
    h.ok("/deal show deal:D-1").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn member_channel_and_role_ids_beyond_the_id_range_are_refused(pool: PgPool) {
    // Discord ids are positive 63-bit numbers; a bigger number (up to u64::MAX) is no member,
    // channel or role, and must be refused by name rather than dropped, zeroed or crashed on.
    let mut h = seeded(pool).await;
    let before = h.fingerprint().await;
    #[rustfmt::skip]
    let table: Vec<(&str, &[&str])> = vec![
        ("/deal assign deal:D-1 owner:18446744073709551615", &["owner", "member"]),
        ("/deal assign deal:D-1 owner:<@9223372036854775808>", &["owner", "member"]),
        ("/deal new title:Big amount:5k owner:9223372036854775808", &["owner", "member"]),
        ("/contact add name:Ann owner:9223372036854775808", &["owner", "member"]),
        ("/company add name:Foo owner:9223372036854775808", &["owner", "member"]),
        ("/deal list owner:9223372036854775808", &["owner", "member"]),
        ("/pipeline stats owner:9223372036854775808", &["owner", "member"]),
        ("/remind what:x when:tomorrow for:9223372036854775808", &["for", "member"]),
        ("/tasks list member:9223372036854775808", &["member"]),
        ("/settings quota member:9223372036854775808 amount:5k", &["member"]),
        ("/settings manager-role role:<@&9223372036854775808>", &["role"]),
        ("/settings digest channel:<#9223372036854775808>", &["channel", "!nothing was given"]),
    ];
    let mut problems = run_table(&mut h, &table).await;
    if h.fingerprint().await != before {
        problems.push("a refused command changed the database".into());
    }
    assert_no_problems(&problems);
}
