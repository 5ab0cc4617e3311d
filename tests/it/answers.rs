//! Answers a person can act on: the console survives input that is not UTF-8; errors and help
//! in Chinese name options as a Chinese Discord shows them; plurals and articles are right; lists
//! say how much they hold and how to see the rest; `/help deal` works and lists choices; an
//! unknown member is refused by name; `/help` and the console's controls answer during a
//! database outage.

use crate::support::{database_url, is_error, text, Harness};
use salesbot::console::{render_json, Console, ConsoleOptions};
use salesbot::domain::role::Role;
use salesbot::engine::Engine;
use salesbot::store::Store;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs the `salesbot` binary against the test's database with `stdin`; (exit ok, stdout, stderr).
async fn salesbot(pool: &PgPool, args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let url = database_url(pool).await;
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_salesbot"))
            .args(&args)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run salesbot");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&stdin)
            .expect("write stdin");
        let out = child.wait_with_output().expect("salesbot ends");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

#[sqlx::test(migrations = "./migrations")]
async fn the_console_answers_a_line_that_is_not_utf8_and_carries_on(pool: PgPool) {
    let input = b"/help\n\xff\xfe /deal list\n/help deal\n".as_slice();
    let args = ["console", "--json", "--workspace", "1", "--user", "1"];
    let (ok, stdout, stderr) = salesbot(&pool, &args, input).await;
    assert!(ok, "the console failed: {stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(text(&lines[0]).contains("salesbot"), "{}", lines[0]);
    assert!(is_error(&lines[1]), "{}", lines[1]);
    assert_eq!(lines[1]["ephemeral"], true);
    assert!(text(&lines[1]).contains("UTF-8"), "{}", lines[1]);
    assert!(text(&lines[2]).contains("/deal"), "{}", lines[2]);
}

#[sqlx::test(migrations = "./migrations")]
async fn the_report_command_refuses_an_unknown_member_with_a_message(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Acme amount:5k").await;
    let args = ["report", "kpi", "--workspace", "1", "--member", "999"];
    let (ok, stdout, stderr) = salesbot(&pool, &args, b"").await;
    assert!(!ok, "an unknown member must fail: {stdout}");
    assert!(
        stderr.contains("--member") && stderr.contains("no member 999"),
        "{stderr}"
    );
    let args = ["report", "kpi", "--workspace", "1", "--member", "1"];
    let (ok, _, stderr) = salesbot(&pool, &args, b"").await;
    assert!(ok, "a known member works: {stderr}");
}

#[sqlx::test(migrations = "./migrations")]
async fn kpi_for_a_member_without_data_names_them(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.run(":as 3 rep").await;
    h.ok("/help").await;
    h.run(":as 1 admin").await;
    let r = h.ok("/kpi member:<@3> period:this-month").await;
    let content = r["content"].as_str().unwrap_or_default();
    assert!(content.contains("No data for user 3"), "{r}");
    // Someone in the server who never used the bot has no figures yet: said by name too.
    let r = h.ok("/kpi member:<@999>").await;
    assert!(
        r["content"]
            .as_str()
            .unwrap_or_default()
            .contains("No data for user 999"),
        "{r}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn help_takes_the_command_bare_and_lists_choices(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let bare = h.ok("/help deal").await;
    let named = h.ok("/help command:deal").await;
    assert_eq!(bare, named);
    let all = text(&bare);
    assert!(all.contains("choices: Open, Won, Lost, All"), "{all}");
    let kpi = text(&h.ok("/help kpi").await);
    assert!(
        kpi.contains("This week (this-week), Last week (last-week)"),
        "{kpi}"
    );
    // The help says what the command does: period and from/to together are refused.
    assert!(kpi.contains("not both"), "{kpi}");
    let e = h
        .err("/kpi period:this-month from:2026-01-01 to:2026-01-31")
        .await;
    assert!(e.contains("not both"), "{e}");

    h.run(":locale zh-CN").await;
    let zh = text(&h.ok("/help kpi").await);
    assert!(zh.contains("周期") && zh.contains("本月"), "{zh}");
    assert!(zh.contains("/业绩指标 周期:本月"), "{zh}");
    assert!(!zh.contains("this-week"), "choice values leak: {zh}");
}

#[sqlx::test(migrations = "./migrations")]
async fn errors_in_chinese_name_options_as_discord_shows_them(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.run(":locale zh-CN").await;
    let cases: [(&str, &[&str]); 5] = [
        ("/deal new title:x amount:abc", &["金额", "abc"]),
        ("/deal new amount:5", &["/交易 新建", "标题"]),
        (
            "/deal new title:x amount:5 bogus:1",
            &["/交易 新建", "bogus", "金额"],
        ),
        ("/kpi period:this-month from:2026-01-01", &["周期", "开始"]),
        ("/settings stages action:add", &["添加阶段", "名称"]),
    ];
    for (line, needles) in cases {
        let e = h.err(line).await;
        for n in needles {
            assert!(e.contains(n), "{line}: {e} lacks {n}");
        }
        for english in ["amount", "title", "period"] {
            assert!(!e.contains(english), "{line}: {e} says {english}");
        }
    }
}

#[test]
fn the_chinese_catalog_uses_one_word_each_for_lost_quota_and_follow_up() {
    let catalog: Value =
        serde_json::from_str(salesbot::i18n::CATALOG_SOURCE).expect("catalog is JSON");
    let mut problems = Vec::new();
    let mut sources: Vec<(String, String)> = catalog
        .as_object()
        .expect("object")
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.get("zh-CN")?.as_str()?.to_string())))
        .collect();
    for (name, src) in salesbot::engine::manifest::MANIFEST_FILES {
        sources.push((format!("commands/{name}.json"), src.to_string()));
    }
    for (key, zh) in sources {
        // lost is 丢单, quota 配额, a follow-up 跟进 (an activity is 沟通), win rate 赢单率.
        let without_kpi = zh.replace("业绩指标", "");
        for (wrong, right) in [
            ("输单", "丢单"),
            ("指标", "配额"),
            ("赢率", "赢单率"),
            ("跟进记录", "沟通记录"),
        ] {
            if without_kpi.contains(wrong) {
                problems.push(format!("{key}: {wrong} where the catalog says {right}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[sqlx::test(migrations = "./migrations")]
async fn plurals_and_articles_read_right(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok(r#"/contact add name:"Wei Wang" email:wei@acme.com"#)
        .await;
    let r = h
        .ok("/contact log contact:C-1 kind:email summary:quote")
        .await;
    assert!(text(&r).contains("Logged an email with Wei Wang"), "{r}");
    let r = h.ok("/contact log contact:C-1 kind:call summary:x").await;
    assert!(text(&r).contains("Logged a call"), "{r}");
    h.ok("/deal new title:Acme amount:5k").await;
    let r = h.ok("/deal list").await;
    assert!(
        text(&r).contains("1 deal") && !text(&r).contains("1 deals"),
        "{r}"
    );
    h.ok(r#"/remind what:"call back" when:"tomorrow 9am""#)
        .await;
    let r = h.ok("/tasks list").await;
    assert!(
        text(&r).contains("1 task") && !text(&r).contains("1 tasks"),
        "{r}"
    );
    h.ok("/deal new title:Globex amount:5k").await;
    let r = h.ok("/deal list").await;
    assert!(text(&r).contains("2 deals"), "{r}");
    let r = h.ok("/settings stale days:1").await;
    assert!(text(&r).contains("after 1 day without"), "{r}");
}

#[sqlx::test(migrations = "./migrations")]
async fn lists_say_how_much_they_hold_and_how_to_see_the_rest(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    for i in 1..=12 {
        h.ok(&format!("/deal new title:\"Deal {i}\" amount:1k"))
            .await;
    }
    for i in 1..=17 {
        h.ok(&format!("/contact add name:\"Ann {i:02}\"")).await;
    }
    let r = h.ok("/deal list limit:5").await;
    assert!(text(&r).contains("5 of 12 deals; narrow with owner"), "{r}");
    let r = h.ok("/deal list").await;
    assert!(text(&r).contains("10 of 12 deals"), "{r}");
    let r = h.ok("/deal list limit:25").await;
    assert!(
        text(&r).contains("12 deals") && !text(&r).contains(" of 12"),
        "{r}"
    );
    let r = h.ok("/contact find query:Ann").await;
    assert!(
        text(&r).contains("15 of 17 contacts; narrow the search"),
        "{r}"
    );
    let r = h.ok("/contact find query:\"Ann 1\"").await;
    assert!(!text(&r).contains(" of "), "{r}");
    // Past 1,000 matches the count stops: "more than 1000", and the title says 1000+.
    sqlx::query(
        "INSERT INTO contacts (workspace_id, name, owner_id, created_at)
         SELECT 1, 'Bulk ' || g, 1, now() FROM generate_series(1, 1200) g",
    )
    .execute(&h.pool)
    .await
    .expect("bulk contacts");
    let r = h.ok("/contact find query:Bulk").await;
    assert!(
        text(&r).contains("(1000+)") && text(&r).contains("15 of more than 1000 contacts"),
        "{r}"
    );
    for i in 1..=27 {
        h.ok(&format!("/remind what:\"task {i}\" when:\"tomorrow 9am\""))
            .await;
    }
    let r = h.ok("/tasks list").await;
    assert!(
        text(&r).contains("25 of 27 tasks; narrow with status"),
        "{r}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn validation_messages_say_what_is_wrong(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    for code in ["US", "X", "U1"] {
        let e = h.err(&format!("/settings currency code:{code}")).await;
        assert!(e.contains("3 letters, an ISO 4217"), "{code}: {e}");
        assert!(!e.contains("must not be empty"), "{code}: {e}");
    }
    let e = h.err("/settings currency code:\"\"").await;
    assert!(e.contains("code"), "{e}");
}

#[sqlx::test(migrations = "./migrations")]
async fn the_company_tier_reaches_a_reader_in_words(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.ok("/company add name:Acme tier:smb").await;
    h.ok("/deal new title:Acme amount:5k company:Acme").await;
    h.ok("/deal won deal:D-1").await;
    h.run(":now 2026-12-02T09:00:00Z").await;
    let r = text(&h.ok("/report customers period:all-time").await);
    assert!(!r.contains("smb"), "{r}");
    assert!(r.contains("small business (1)"), "{r}");
}

async fn run(console: &mut Console, line: &str) -> Vec<Value> {
    console
        .handle_line(line)
        .await
        .iter()
        .map(render_json)
        .collect()
}

#[tokio::test]
async fn during_an_outage_help_answers_and_controls_say_the_database_is_away() {
    // A pool whose server never answers: every statement is an outage.
    let dead = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(300))
        .connect_lazy_with(PgConnectOptions::new().host("127.0.0.1").port(1));
    let engine = Engine::new(Store::from_pool(dead)).expect("manifests load");
    let options = ConsoleOptions {
        workspace: 1,
        user: 1,
        role: Role::Admin,
        json: true,
    };
    let mut console = Console::new(engine, options);
    let c = &mut console;
    let help = run(c, "/help").await;
    assert!(
        !is_error(&help[0]) && text(&help[0]).contains("/deal"),
        "{help:?}"
    );
    let help = run(c, "/help deal").await;
    assert!(text(&help[0]).contains("/deal new"), "{help:?}");
    let away = "database is not reachable";
    let r = run(c, "/deal list").await;
    assert!(text(&r[0]).contains(away), "{r:?}");
    let r = run(c, ":now 2026-12-01T09:00:00Z").await;
    let all = r.iter().map(text).collect::<Vec<_>>().join("\n");
    assert!(all.contains(away), "{all}");
    assert!(!all.contains("Something went wrong"), "{all}");
    let r = run(c, ":click deal:next:1").await;
    assert!(text(&r[0]).contains(away), "{r:?}");
}
