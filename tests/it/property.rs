//! A property test that keeps every answer sound: command lines generated from the manifests
//! themselves (every command, subcommand and option, with valid, boundary, malformed, huge,
//! unicode and cross-workspace values, as every role, in both languages; and a tenth of the
//! cases buttons and forms) run through the engine
//! via the console against one real database. Each case must not panic, must never answer the
//! generic "something went wrong", must answer every refusal ephemerally and say which option
//! (or which named thing) it is about, must leave the database as it was when it refuses, and
//! must keep every trigger-kept rollup equal to a recount.
//!
//! The cases share one database (seeded once), so a few hundred run in the normal `cargo test`.
//! `PROPTEST_CASES=5000 cargo test --test it property` is the longer run; the seed is fixed so CI
//! repeats itself, and `PROPTEST_RNG_SEED=N` picks another (a failure prints its seed).

use crate::support::{text, Harness};
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use salesbot::domain::locale::Locale;
use salesbot::engine::manifest::{kind, OptionSpec};
use salesbot::engine::Manifests;
use serde_json::Value;
use sqlx::PgPool;

/// The seed of the normal run; any other comes from `PROPTEST_RNG_SEED`.
const DEFAULT_SEED: u64 = 20_261_201;

/// One generated case: who types what, in which language.
#[derive(Clone, Debug)]
struct Case {
    /// `:as` line for the caller.
    caller: &'static str,
    /// `en` or `zh-CN`.
    locale: &'static str,
    /// The command line.
    line: String,
    /// The option names given (to check that a refusal names one of them).
    given: Vec<String>,
    /// The values given, for refusals that name the thing rather than the option.
    values: Vec<String>,
}

/// Values that mean something in the seeded workspaces, by option name; other names get text.
struct Pools {
    /// Global ids of workspace 2's contact, company and task (cross-workspace references).
    other_contact: i64,
    other_company: i64,
    other_task: i64,
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn texts(items: &[&str]) -> BoxedStrategy<String> {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    proptest::sample::select(items).boxed()
}

/// Text that is odd in some way: invisible, bidi, markup, injection, CJK, emoji, look-alikes.
fn odd_text() -> BoxedStrategy<String> {
    prop_oneof![
        texts(&[
            "王伟",
            "明天 再 联系",
            "🎉🎉",
            "\u{202E}evil",
            "a\u{200B}b",
            "\u{2800}",
            "\u{3164}",
            "\u{2060}",
            "\t",
            "ｅｖｅｒｙｏｎｅ",
            "@\u{200B}everyone",
            "@everyone",
            "<@1>",
            "**bold** [link](https://evil.example)",
            "Robert'); DROP TABLE deals;--",
            "%",
            "_",
            "\\",
            "e\u{301}",
            "🏳️‍🌈",
            "null",
            "NaN",
            "-0",
        ]),
        "\\PC{0,24}",
        "[ -~]{0,24}",
    ]
    .boxed()
}

fn huge_text() -> BoxedStrategy<String> {
    texts(&["x", "汉", "🎉", "9"])
        .prop_flat_map(|unit| (1000usize..12_000).prop_map(move |n| unit.repeat(n)))
        .boxed()
}

/// Values that parse for this option in the seeded workspace, or nearly do.
fn meaningful(name: &str, pools: &Pools) -> Option<BoxedStrategy<String>> {
    let contact_other = format!("C-{}", pools.other_contact);
    let company_other = format!("CO-{}", pools.other_company);
    let task_other = format!("T-{}", pools.other_task);
    Some(match name {
        "deal" => texts(&[
            "D-1", "D-2", "3", "D-4", "D-5", "Acme", "Glob", "D-999", "D-0", "D--1",
        ]),
        "contact" => proptest::sample::select(vec![
            "C-1".to_string(),
            "wei@acme.com".into(),
            "Wei Wang".into(),
            "Wei".into(),
            "nobody@nowhere.example".into(),
            contact_other,
        ])
        .boxed(),
        "company" => proptest::sample::select(vec![
            "Acme".to_string(),
            "CO-1".into(),
            "acme".into(),
            "Acmee".into(),
            "Globex Corp".into(),
            company_other,
        ])
        .boxed(),
        "task" => proptest::sample::select(vec![
            "T-1".to_string(),
            "1".into(),
            "T-999".into(),
            "T-0".into(),
            task_other,
        ])
        .boxed(),
        "stage" => texts(&[
            "Lead",
            "Qualified",
            "Proposal",
            "negotiation",
            "Won",
            "Lost",
            "negociation",
            "pro",
            "Demo",
        ]),
        "amount" | "price" | "deal_size" => texts(&[
            "12k",
            "1.2m",
            "$1,250.50",
            "120万",
            "0",
            "-5",
            "1,000.999",
            "99999999999999",
            "9223372036854775807",
            "1e400",
            "€500",
            "¥120,000",
            "1 250,50 €",
            "+20%",
            "-10%",
        ]),
        "when" | "due" | "until" | "happened" | "expected_close" | "at" => texts(&[
            "tomorrow 9am",
            "in 3 days",
            "fri 14:00",
            "2026-12-01 15:30",
            "明天上午9点",
            "yesterday 15:00",
            "2 hours ago",
            "now",
            "9999-12-31",
            "2026-02-30",
            "in 99999999999 days",
            "end of month",
        ]),
        "from" | "to" | "birthday" | "contract_end" => texts(&[
            "2026-01-01",
            "2026-12-31",
            "04-12",
            "02-30",
            "0000-00-00",
            "1900-01-01",
            "9999-12-31",
            "today",
        ]),
        "period" => texts(&[
            "this-month",
            "all-time",
            "last-quarter",
            "next-year",
            "本月",
        ]),
        "zone" => texts(&[
            "Europe/Berlin",
            "Asia/Shanghai",
            "UTC",
            "Mars/Base",
            "berlin",
            "../../etc/passwd",
        ]),
        "code" | "currency" => texts(&["USD", "EUR", "cny", "US", "DOLLARS", "XXX", "€"]),
        "email" => texts(&[
            "ann@example.com",
            "wei@acme.com",
            "not-an-email",
            "a@b",
            "@@",
        ]),
        "phone" => texts(&["+1 555 0100", "12", "call me", "+86 138 0000 0000"]),
        "tags" | "add" | "remove" => {
            texts(&["vip, cn", "vip", "a b", "x,x,x,x,x,x,x,x,x,x,x", "#tag"])
        }
        "products" => texts(&[
            "Widget x3 @1200; Support",
            "Widget x2",
            "Widget x100000 @99999999999",
            "Widget x100000 @999999999",
            "Nope x1",
            "Widget x0",
            "Widget; Widget",
            ";",
        ]),
        "time" => texts(&["09:00", "9am", "17:30", "25:99", "24:00", "noon"]),
        "day" => texts(&["mon", "fri", "someday", "周一"]),
        "website" => texts(&[
            "acme.com",
            "https://acme.com",
            "javascript:alert(1)",
            "ftp://x",
        ]),
        "command" => texts(&["deal", "kpi", "nope", "settings", "DEAL"]),
        "query" => texts(&["Wei", "acme", "' OR 1=1 --", "%", "_", "王"]),
        _ => return None,
    })
}

/// A value for one option, typed as text the way a person would type it at the console.
fn value(spec: &OptionSpec, pools: &Pools) -> BoxedStrategy<String> {
    match spec.kind {
        kind::INTEGER | kind::NUMBER => {
            let min = spec.min_value.unwrap_or(-1000.0) as i64;
            let max = spec.max_value.unwrap_or(1000.0) as i64;
            prop_oneof![
                4 => (min..=max).prop_map(|n| n.to_string()),
                2 => proptest::sample::select(vec![
                    min.saturating_sub(1).to_string(),
                    max.saturating_add(1).to_string(),
                    min.to_string(),
                    max.to_string(),
                ]),
                1 => texts(&["0", "-1", "9223372036854775807", "-9223372036854775808",
                             "99999999999999999999", "1.5", "abc", "", "NaN", "inf", "1e3"]),
            ]
            .boxed()
        }
        kind::BOOLEAN => texts(&["true", "false", "yes", "no", "maybe", ""]),
        kind::USER | kind::MENTIONABLE => texts(&[
            "1",
            "2",
            "<@3>",
            "<@!4>",
            "201",
            "999",
            "0",
            "18446744073709551615",
            "9223372036854775808",
            "abc",
            "<@&5>",
        ]),
        kind::CHANNEL => texts(&["<#123>", "123", "general", "0", "<#9223372036854775808>"]),
        kind::ROLE => texts(&["<@&55>", "55", "admins", "0"]),
        _ if !spec.choices.is_empty() => {
            let mut choices: Vec<String> = spec
                .choices
                .iter()
                .map(|c| match &c.value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            // A label a person might type instead of the value.
            choices.extend(
                spec.choices
                    .iter()
                    .filter_map(|c| c.name_localizations.get("zh-CN").cloned()),
            );
            prop_oneof![8 => proptest::sample::select(choices), 1 => odd_text()].boxed()
        }
        _ => {
            let max = spec.max_length.unwrap_or(100);
            let boundary = texts(&["", " "]).prop_union(
                proptest::sample::select(vec![
                    "x".repeat(max),
                    "x".repeat(max + 1),
                    "汉".repeat(max),
                    "汉".repeat(max + 1),
                ])
                .boxed(),
            );
            let plain = texts(&[
                "Acme - 200 seats",
                "Wei Wang",
                "pricing call",
                "O'Brien",
                "x",
            ]);
            match meaningful(&spec.name, pools) {
                Some(m) => prop_oneof![
                    8 => m,
                    2 => plain,
                    2 => odd_text(),
                    1 => boundary,
                    1 => huge_text(),
                ]
                .boxed(),
                None => prop_oneof![
                    5 => plain,
                    3 => odd_text(),
                    1 => boundary,
                    1 => huge_text(),
                ]
                .boxed(),
            }
        }
    }
}

/// A command path (`/deal new`) and the options chosen for it, as (name, value).
type Path = (String, Vec<Option<(String, String)>>);

/// Every command line the manifests allow, and a few they do not (unknown and repeated
/// options, a required option left out).
fn cases(manifests: &Manifests, pools: &Pools) -> BoxedStrategy<Case> {
    let mut paths: Vec<BoxedStrategy<Path>> = Vec::new();
    for command in manifests.commands() {
        let subs: Vec<&OptionSpec> = command
            .options
            .iter()
            .filter(|o| o.kind == kind::SUB_COMMAND)
            .collect();
        let mut targets: Vec<(String, &[OptionSpec])> = Vec::new();
        if subs.is_empty() {
            targets.push((format!("/{}", command.name), &command.options));
        } else {
            for sub in subs {
                targets.push((format!("/{} {}", command.name, sub.name), &sub.options));
            }
        }
        for (head, options) in targets {
            let mut parts: Vec<BoxedStrategy<Option<(String, String)>>> = options
                .iter()
                .map(|o| {
                    let name = o.name.clone();
                    let keep = if o.required { 0.97 } else { 0.35 };
                    proptest::option::weighted(keep, value(o, pools))
                        .prop_map(move |v| v.map(|v| (name.clone(), v)))
                        .boxed()
                })
                .collect();
            // Now and then an option the command does not have, or one given twice.
            parts.push(
                proptest::option::weighted(
                    0.05,
                    texts(&["bogus", "amount", "deal"]).prop_map(|n| (n, "1".to_string())),
                )
                .boxed(),
            );
            paths.push(parts.prop_map(move |p| (head.clone(), p)).boxed());
        }
    }
    let commands = Union::new(paths).prop_map(|(head, parts)| {
        let parts: Vec<(String, String)> = parts.into_iter().flatten().collect();
        let mut line = head;
        for (name, v) in &parts {
            line.push(' ');
            line.push_str(name);
            line.push(':');
            line.push_str(&quote(v));
        }
        (line, parts)
    });
    let callers = proptest::sample::select(vec![
        ":as 1 admin",
        ":as 2 manager",
        ":as 3 rep",
        ":as 4 rep",
    ]);
    let locales = proptest::sample::select(vec!["en", "zh-CN"]);
    let lines = prop_oneof![9 => commands, 1 => buttons(pools)];
    (lines, callers, locales)
        .prop_map(|((line, parts), caller, locale)| Case {
            caller,
            locale,
            line,
            given: parts.iter().map(|(n, _)| n.clone()).collect(),
            values: parts.into_iter().map(|(_, v)| v).collect(),
        })
        .boxed()
}

/// Buttons and forms, as a person would press and fill them in, on this workspace's records,
/// another workspace's and none: the same engine paths as commands, without a manifest.
fn buttons(pools: &Pools) -> BoxedStrategy<(String, Vec<(String, String)>)> {
    let numbers = vec![
        "1".to_string(),
        "2".into(),
        "3".into(),
        "4".into(),
        "5".into(),
        "6".into(),
        "999".into(),
        "0".into(),
        "-1".into(),
        "9223372036854775807".into(),
        pools.other_contact.to_string(),
        pools.other_task.to_string(),
    ];
    let number = proptest::sample::select(numbers);
    let click = (
        texts(&[
            "deal:next:",
            "deal:won:",
            "deal:lost:",
            "deal:log:",
            "deal:show:",
            "contact:show:",
            "task:done:",
            "task:snooze:",
            "deal:explode:",
        ]),
        number.clone(),
        texts(&["", ":1h", ":1d", ":2y", ":1", ":2", ":999"]),
    )
        .prop_map(|(head, n, tail)| {
            // A snooze names its span; a card's next-stage button the stage it showed.
            let tail = if head == "task:snooze:" || head == "deal:next:" {
                tail
            } else {
                String::new()
            };
            (
                format!(":click {head}{n}{tail}"),
                vec![("id".to_string(), n)],
            )
        });
    let lost = (number.clone(), odd_text()).prop_map(|(n, reason)| {
        let line = format!(":submit deal:lost:{n} reason:{}", quote(&reason));
        (
            line,
            vec![("id".to_string(), n), ("reason".to_string(), reason)],
        )
    });
    let log = (number, texts(&["call", "email", "fax", ""]), odd_text()).prop_map(
        |(n, kind, summary)| {
            let line = format!(
                ":submit deal:log:{n} kind:{} summary:{}",
                quote(&kind),
                quote(&summary)
            );
            let fields = vec![
                ("id".to_string(), n),
                ("kind".to_string(), kind),
                ("summary".to_string(), summary),
            ];
            (line, fields)
        },
    );
    prop_oneof![3 => click, 1 => lost, 1 => log].boxed()
}

/// Workspace 1 has a little of everything and four members (1 admin, 2 manager, 3 and 4
/// reps); workspace 2 has its own contact, company, deal and task, whose ids are handed to
/// the generator as cross-workspace references.
async fn seeded(pool: PgPool) -> (Harness, Pools) {
    let mut h = crate::bad_input::seeded(pool).await;
    for line in [
        "/product add name:Widget price:1200",
        "/product add name:Support price:300",
        ":as 2 manager",
        "/deal new title:\"Manager deal\" products:\"Widget x2; Support\"",
        ":as 3 rep",
        r#"/contact log contact:C-1 kind:call summary:"pricing call" satisfaction:4 next_step:"send quote" due:"tomorrow 9am""#,
        "/deal new title:\"Rep deal\" amount:2k company:Acme",
        ":as 4 rep",
        "/deal new title:\"Other rep deal\" amount:3k",
        ":as 1 admin",
        "/settings quota member:<@3> amount:20k",
        ":workspace 2",
        ":as 201 admin",
        "/company add name:\"Globex Corp\"",
        "/contact add name:\"Hans Gruber\" email:hans@globex.example company:\"Globex Corp\"",
        "/deal new title:\"Globex - 50 seats\" amount:9k company:\"Globex Corp\"",
        "/remind what:\"call Hans\" when:\"tomorrow 9am\"",
        ":workspace 1",
    ] {
        let out = h.run(line).await;
        assert!(
            out.iter().all(|o| !crate::support::is_error(o)),
            "seeding {line}: {out:?}"
        );
    }
    let pools = Pools {
        other_contact: h
            .count("SELECT max(id) FROM contacts WHERE workspace_id = 2")
            .await,
        other_company: h
            .count("SELECT max(id) FROM companies WHERE workspace_id = 2")
            .await,
        other_task: h
            .count("SELECT max(id) FROM tasks WHERE workspace_id = 2")
            .await,
    };
    (h, pools)
}

/// What a refusal may name: the options of the command (in both languages), its own name, a
/// value that was given, or the few refusals that are about the caller rather than an option.
fn names_something(manifests: &Manifests, case: &Case, content: &str) -> bool {
    let lower = content.to_lowercase();
    let mut words: Vec<String> = Vec::new();
    let mut head = case.line.split_whitespace();
    let command = head.next().unwrap_or_default().trim_start_matches('/');
    let sub = head.next().filter(|w| !w.contains(':'));
    if let Some(spec) = manifests.command(command) {
        words.push(spec.name.clone());
        words.extend(spec.name_localizations.values().cloned());
        for o in &spec.options {
            let nested: Vec<&OptionSpec> = if o.kind == kind::SUB_COMMAND {
                if Some(o.name.as_str()) != sub {
                    continue;
                }
                o.options.iter().collect()
            } else {
                vec![o]
            };
            for n in nested {
                words.push(n.name.clone());
                words.extend(n.name_localizations.values().cloned());
            }
        }
    }
    words.extend(case.given.iter().cloned());
    // A value is quoted back escaped for Discord's markdown; Discord shows it as typed.
    let shown = case
        .values
        .iter()
        .flat_map(|v| [v.clone(), salesbot::engine::format::escape(v)]);
    for v in shown {
        let v: String = v.trim().chars().take(20).collect();
        match v.chars().count() {
            0 => {}
            // A one-character value counts only where it is quoted or is a number in an id.
            1 => words.extend([
                format!("'{v}'"),
                format!("“{v}”"),
                format!("\"{v}\""),
                format!("-{v}"),
            ]),
            _ => words.push(v),
        }
    }
    if words
        .iter()
        .any(|w| !w.is_empty() && lower.contains(&w.to_lowercase()))
    {
        return true;
    }
    // Refusals about who is asking or what was pressed, not about what was typed.
    const ABOUT_THE_CALLER: [&str; 7] = [
        "error.unknown_button",
        "error.need_admin",
        "error.need_manager",
        "error.visibility_own",
        "error.not_owner",
        "error.last_open_stage",
        "undo.nothing",
    ];
    ABOUT_THE_CALLER.iter().any(|key| {
        [Locale::En, Locale::ZhCn].iter().any(|l| {
            // The template's fixed text between its placeholders.
            let template = salesbot::i18n::tr(*l, key, &[]);
            template
                .split("%{")
                .map(|piece| piece.split_once('}').map_or(piece, |(_, rest)| rest))
                .any(|fixed| fixed.chars().count() > 4 && content.contains(fixed))
        })
    })
}

#[sqlx::test(migrations = "./migrations")]
async fn generated_commands_are_answered_soundly(pool: PgPool) {
    let (mut h, pools) = seeded(pool).await;
    let manifests = Manifests::load().expect("manifests load");
    let strategy = cases(&manifests, &pools);
    let mut config = Config::default();
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    let seed = config.rng_seed;
    let total = config.cases;
    let mut runner = TestRunner::new(config);
    let unexpected: Vec<String> = [Locale::En, Locale::ZhCn]
        .iter()
        .map(|l| salesbot::i18n::tr(*l, "error.unexpected", &[]))
        .collect();
    let mut problems: Vec<String> = Vec::new();
    let mut before = h.fingerprint().await;
    let (mut refused, mut changed, mut pressed) = (0, 0, 0);
    // Once someone has typed a `%{`, a stored note or reason may show it back in a later case.
    let mut typed_placeholder = false;
    for _ in 0..total {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        pressed += usize::from(case.line.starts_with(':'));
        h.run(case.caller).await;
        h.run(&format!(":locale {}", case.locale)).await;
        let run = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            h.console.handle_line(&case.line),
        ))
        .await;
        let label = format!("[{} {}] {}", case.caller, case.locale, clip(&case.line));
        let out: Vec<Value> = match run {
            Ok(out) => out.iter().map(salesbot::console::render_json).collect(),
            Err(_) => {
                problems.push(format!("{label}\n    panicked"));
                continue;
            }
        };
        let mut case_problems = Vec::new();
        if out.len() != 1 {
            case_problems.push(format!("expected one reply, got {}", out.len()));
        }
        let reply = out.first().cloned().unwrap_or_default();
        let content = reply["content"].as_str().unwrap_or_default().to_string();
        let all = out.iter().map(text).collect::<Vec<_>>().join("\n");
        if unexpected.iter().any(|u| all.contains(u.as_str())) {
            case_problems.push(format!("answered \"something went wrong\": {}", clip(&all)));
        }
        // (Unless someone typed one.)
        typed_placeholder |= case.line.contains("%{");
        if all.contains("%{") && !typed_placeholder {
            case_problems.push(format!("unreplaced placeholder: {}", clip(&all)));
        }
        let after = h.fingerprint().await;
        if content.starts_with("⚠️") {
            refused += 1;
            if reply["ephemeral"] != true {
                case_problems.push(format!("refusal is not ephemeral: {}", clip(&content)));
            }
            if !names_something(&manifests, &case, &content) {
                case_problems.push(format!("refusal names no option: {}", clip(&content)));
            }
            if after != before {
                case_problems.push("a refusal changed the database".into());
            }
        } else if after != before {
            changed += 1;
            for drift in h.totals_drift().await {
                case_problems.push(format!("after this change, {drift}"));
            }
        }
        before = after;
        if case_problems.is_empty() {
            continue;
        }
        problems.push(format!("{label}\n    {}", case_problems.join("\n    ")));
    }
    eprintln!(
        "property: {total} cases ({pressed} buttons and forms), {refused} refused, {changed} changed the database"
    );
    assert!(
        problems.is_empty(),
        "{} of {total} generated cases went wrong (seed {seed:?}; rerun with PROPTEST_RNG_SEED):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn clip(s: &str) -> String {
    if s.chars().count() > 300 {
        format!(
            "{}… ({} chars)",
            s.chars().take(300).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_string()
    }
}
