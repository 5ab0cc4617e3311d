//! Every option in `commands/*.json` is read by its command's parser, and no parser asks for an
//! option its manifest lacks: a renamed option in either place fails here instead of silently
//! never arriving. Parsers run without a database, on sample values, with `Args` recording
//! every name they ask for.

use super::Command;
use crate::domain::locale::Locale;
use crate::domain::role::Role;
use crate::engine::ctx::Ctx;
use crate::engine::manifest::{kind, Args, Manifests, OptionSpec};
use crate::engine::{Action, Invocation, OptionValue, Request, RoleSource};
use crate::store::{MemberRow, StageRow, WorkspaceRow};
use chrono::{NaiveTime, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};

fn ctx() -> Ctx {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .expect("a time");
    let request = Request {
        workspace_id: 1,
        user_id: 1,
        display_name: None,
        role: RoleSource::Known(Role::Admin),
        locale: None,
        channel_id: None,
        interaction_id: None,
        idempotency: None,
        now,
        action: Action::Command(Invocation::default()),
        in_dm: false,
        guild_members: Vec::new(),
    };
    let ws = WorkspaceRow {
        id: 1,
        timezone: "UTC".into(),
        currency: "USD".into(),
        locale: "en".into(),
        digest_channel_id: None,
        digest_weekday: 1,
        digest_time: NaiveTime::from_hms_opt(9, 0, 0).expect("a time"),
        stale_days: 14,
        manager_role_id: None,
        visibility: "all".into(),
    };
    let member = MemberRow {
        user_id: 1,
        display_name: "Ann".into(),
        role: "admin".into(),
        timezone: None,
        quota_minor: None,
        locale: None,
        dm_closed: false,
    };
    let stages = [
        ("Lead", 10, "open"),
        ("Qualified", 25, "open"),
        ("Proposal", 50, "open"),
        ("Won", 100, "won"),
        ("Lost", 0, "lost"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, probability, kind))| StageRow {
        id: i as i64 + 1,
        name: name.to_string(),
        position: i as i32 + 1,
        probability: *probability,
        kind: kind.to_string(),
    })
    .collect();
    Ctx::new(&request, Role::Admin, ws, member, stages, Locale::En).expect("a context")
}

/// A value a person could type for this option.
fn sample(o: &OptionSpec) -> OptionValue {
    if let Some(choice) = o.choices.first() {
        return match &choice.value {
            serde_json::Value::Number(n) => OptionValue::Integer(n.as_i64().unwrap_or(1)),
            v => OptionValue::String(v.as_str().unwrap_or_default().to_string()),
        };
    }
    match o.kind {
        kind::INTEGER => OptionValue::Integer(o.min_value.map_or(1, |m| m.max(1.0) as i64)),
        kind::NUMBER => OptionValue::Number(o.min_value.unwrap_or(1.0).max(1.0)),
        kind::BOOLEAN => OptionValue::Boolean(true),
        kind::USER => OptionValue::User(42),
        kind::CHANNEL => OptionValue::Channel(42),
        kind::ROLE => OptionValue::Role(42),
        kind::ATTACHMENT => OptionValue::Attachment(crate::engine::manifest::FileValue {
            filename: "deals.csv".into(),
            bytes: std::sync::Arc::new(b"title,amount\nAcme,1000\n".to_vec()),
        }),
        _ => OptionValue::String(
            match o.name.as_str() {
                "amount" | "price" => "1200",
                "deal" => "D-1",
                "contact" => "C-1",
                "task" => "T-1",
                "stage" => "Qualified",
                "email" => "ann@example.com",
                "phone" => "+1 555 0100",
                "birthday" => "1990-05-17",
                "close" | "contract_end" | "from" => "2026-12-01",
                "to" => "2026-12-31",
                "when" | "due" | "until" => "tomorrow 9am",
                "time" => "09:00",
                "zone" => "Europe/Berlin",
                "code" => "EUR",
                "website" => "example.com",
                "tags" | "add" | "remove" => "vip",
                "products" => "Widget x3 @1200",
                "product" => "Widget",
                _ => "Acme",
            }
            .to_string(),
        ),
    }
}

/// The names a parser asks for when given `values`.
fn asked(
    command: &str,
    sub: Option<&str>,
    values: BTreeMap<String, OptionValue>,
) -> BTreeSet<String> {
    let ctx = ctx();
    let inv = Invocation {
        command: command.to_string(),
        subcommand: sub.map(str::to_string),
        options: Vec::new(),
    };
    let (args, asked): (Args, _) = Args::probing(values);
    // Errors are fine here: only which options were read matters.
    let _ = Command::parse(&inv, &args, &ctx);
    let names = asked.lock().map(|a| a.clone()).unwrap_or_default();
    names
}

/// Every command and subcommand the manifests declare.
fn paths(manifests: &Manifests) -> Vec<(String, Option<String>)> {
    let mut paths = Vec::new();
    for command in manifests.commands() {
        let subs: Vec<Option<String>> =
            if command.options.iter().any(|o| o.kind == kind::SUB_COMMAND) {
                command
                    .options
                    .iter()
                    .filter(|o| o.kind == kind::SUB_COMMAND)
                    .map(|o| Some(o.name.clone()))
                    .collect()
            } else {
                vec![None]
            };
        paths.extend(subs.into_iter().map(|sub| (command.name.clone(), sub)));
    }
    paths
}

/// The engine decides from a command's path, before parsing it, whether to mark the
/// interaction as processed; a path counted as a read must parse only into commands that read.
#[test]
fn the_paths_counted_as_reads_are_the_commands_that_only_read() {
    let manifests = Manifests::load().expect("manifests");
    let ctx = ctx();
    let mut problems = Vec::new();
    let mut reads = 0;
    for (command, sub) in paths(&manifests) {
        let sub = sub.as_deref();
        let specs = manifests.option_specs(&command, sub).expect("specs");
        let runs = sample_runs(specs);
        let inv = Invocation {
            command: command.clone(),
            subcommand: sub.map(str::to_string),
            options: Vec::new(),
        };
        let counted = super::path_only_reads(&command, sub);
        reads += usize::from(counted);
        let mut parsed = 0;
        for values in runs {
            let (args, _) = Args::probing(values);
            let Ok(parsed_command) = Command::parse(&inv, &args, &ctx) else {
                continue;
            };
            parsed += 1;
            if counted && !parsed_command.only_reads() {
                problems.push(format!(
                    "/{command} {sub:?} counts as a read but parsed into {parsed_command:?}"
                ));
            }
            // A path whose writes may run without a transaction is a write path, and only
            // its own commands may skip the transaction (`Command::one_write`, checked again
            // after parsing; anything else opens one first).
            let one_write_path = super::path_one_write(&command, sub);
            if parsed_command.one_write(&ctx) && !one_write_path {
                problems.push(format!(
                    "/{command} {sub:?} parsed into {parsed_command:?}, one write, off the one-write paths"
                ));
            }
            if one_write_path && (counted || parsed_command.only_reads()) {
                problems.push(format!(
                    "/{command} {sub:?} is a one-write path but reads: {parsed_command:?}"
                ));
            }
            if !counted && parsed_command.only_reads() {
                // Harmless (it keeps its marker), but the lists should say the same.
                problems.push(format!(
                    "/{command} {sub:?} only reads ({parsed_command:?}) but is not counted"
                ));
            }
        }
        if parsed == 0 {
            problems.push(format!("/{command} {sub:?}: no sample parses"));
        }
    }
    assert!(reads > 10, "only {reads} paths count as reads");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The option values a path's parser is run with. Options that exclude each other (a period
/// or a from/to range) and choices that open other options (a stage action) need more than one
/// run: all options, none, all but one, and each choice of each option.
fn sample_runs(specs: &[OptionSpec]) -> Vec<BTreeMap<String, OptionValue>> {
    let all: BTreeMap<String, OptionValue> =
        specs.iter().map(|o| (o.name.clone(), sample(o))).collect();
    let mut runs = vec![all.clone(), BTreeMap::new()];
    for o in specs {
        let mut without = all.clone();
        without.remove(&o.name);
        runs.push(without);
        for choice in &o.choices {
            let mut with = all.clone();
            with.insert(o.name.clone(), sample_choice(&choice.value));
            runs.push(with);
        }
    }
    runs
}

fn sample_choice(value: &serde_json::Value) -> OptionValue {
    match value {
        serde_json::Value::Number(n) => OptionValue::Integer(n.as_i64().unwrap_or(1)),
        v => OptionValue::String(v.as_str().unwrap_or_default().to_string()),
    }
}

#[test]
fn every_manifest_option_is_read_and_nothing_else() {
    let manifests = Manifests::load().expect("manifests");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (command_name, sub) in paths(&manifests) {
        let sub = sub.as_deref();
        let specs = manifests.option_specs(&command_name, sub).expect("specs");
        let declared: BTreeSet<String> = specs.iter().map(|o| o.name.clone()).collect();
        let runs = sample_runs(specs);
        let mut read = BTreeSet::new();
        for values in runs {
            read.extend(asked(&command_name, sub, values));
        }
        let name = match sub {
            Some(s) => format!("/{command_name} {s}"),
            None => format!("/{command_name}"),
        };
        for unread in declared.difference(&read) {
            problems.push(format!(
                "{name}: option '{unread}' is in the manifest but never read"
            ));
        }
        for unknown in read.difference(&declared) {
            problems.push(format!(
                "{name}: the parser reads '{unknown}', which the manifest lacks"
            ));
        }
        checked += 1;
    }
    assert!(checked > 30, "only {checked} commands checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
