//! An import's summary and an undo's report in words, in the reader's language: the CLI prints
//! them, the console shows them, `/import` sends them (with every name from the file escaped by
//! the `esc` it is given).

use std::fmt::Write as _;

use super::{FileSummary, ImportError, Summary};
use crate::domain::locale::Locale;
use crate::i18n::Msg;
use crate::store::{ImportEntity, UndoReport};

/// How many refusals, stages or owners a text lists per file before "and N more".
const LISTED: usize = 10;

fn entity_name(e: ImportEntity) -> &'static str {
    e.table()
}

/// The summary as plain text.
pub fn summary(s: &Summary, locale: Locale) -> String {
    summary_with(s, locale, &|t| t.to_string())
}

/// The summary, each name from the file passed through `esc`.
pub fn summary_with(s: &Summary, locale: Locale, esc: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let head = if s.dry_run {
        Msg::new("import.dry_run_head")
    } else {
        Msg::new("import.done_head").arg("id", s.import_id.unwrap_or_default())
    };
    let _ = writeln!(out, "{}", head.render(locale));
    for f in &s.files {
        file(&mut out, f, locale, esc);
    }
    let _ = writeln!(
        out,
        "{}",
        Msg::new("import.totals")
            .count("rows", s.rows)
            .arg("created", s.created)
            .arg("updated", s.updated)
            .arg("matched", s.matched)
            .arg("refused", s.refused)
            .render(locale)
    );
    if let (false, Some(id)) = (s.dry_run, s.import_id) {
        let _ = writeln!(
            out,
            "{}",
            Msg::new("import.undo_hint").arg("id", id).render(locale)
        );
    }
    out
}

fn file(out: &mut String, f: &FileSummary, locale: Locale, esc: &dyn Fn(&str) -> String) {
    let how = match (&f.encoding, &f.delimiter) {
        (Some(e), Some(d)) => format!("{}, {e}, '{d}'", f.format),
        _ => f.format.clone(),
    };
    let _ = writeln!(
        out,
        "\n{}",
        Msg::new("import.file_head")
            .arg("name", esc(&f.name))
            .arg("source", &f.source)
            .arg("kind", &f.kind)
            .arg("how", how)
            .render(locale)
    );
    let mapping: Vec<String> = f
        .mapping
        .iter()
        .map(|(theirs, ours)| format!("{} → {ours}", esc(theirs)))
        .collect();
    let _ = writeln!(
        out,
        "{}",
        Msg::new("import.mapping")
            .arg("columns", mapping.join(", "))
            .render(locale)
    );
    if !f.unmapped_columns.is_empty() {
        let cols: Vec<String> = f.unmapped_columns.iter().map(|c| esc(c)).collect();
        let _ = writeln!(
            out,
            "{}",
            Msg::new("import.unmapped_columns")
                .arg("columns", cols.join(", "))
                .render(locale)
        );
    }
    let _ = writeln!(
        out,
        "{}",
        Msg::new("import.file_counts")
            .count("rows", f.rows)
            .arg("created", f.created)
            .arg("updated", f.updated)
            .arg("matched", f.matched)
            .arg("refused", f.refused)
            .render(locale)
    );
    for (key, map) in [
        ("import.unmapped_stages", &f.unmapped_stages),
        ("import.unmapped_owners", &f.unmapped_owners),
    ] {
        if !map.is_empty() {
            let listed: Vec<String> = map
                .iter()
                .take(LISTED)
                .map(|(name, n)| format!("{} ({n})", esc(name)))
                .collect();
            let _ = writeln!(
                out,
                "{}",
                Msg::new(key).arg("names", listed.join(", ")).render(locale)
            );
        }
    }
    for r in f.refusals.iter().take(LISTED) {
        let msg = if r.column.is_empty() {
            Msg::new("import.refusal_row").arg("line", r.line)
        } else {
            Msg::new("import.refusal")
                .arg("line", r.line)
                .arg("column", esc(&r.column))
        };
        let msg = msg.arg("reason", esc(&r.message.render(locale)));
        let _ = writeln!(out, "  {}", msg.render(locale));
    }
    if f.refused as usize > LISTED.min(f.refusals.len()) {
        let _ = writeln!(
            out,
            "  {}",
            Msg::new("import.more_refusals")
                .count("count", f.refused as usize - LISTED.min(f.refusals.len()))
                .render(locale)
        );
    }
}

/// Why an import wrote nothing, in words.
pub fn error(e: &ImportError, locale: Locale) -> String {
    e.message(&|t| t.to_string()).render(locale)
}

/// An undo's report as plain text.
pub fn undo(id: i64, r: &UndoReport, locale: Locale) -> String {
    undo_with(id, r, locale, &|t| t.to_string())
}

/// An undo's report, each name passed through `esc`.
pub fn undo_with(id: i64, r: &UndoReport, locale: Locale, esc: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        Msg::new("import.undone")
            .arg("id", id)
            .arg("removed", r.removed)
            .arg("restored", r.restored)
            .render(locale)
    );
    if !r.left.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            Msg::new("import.undo_left")
                .count("count", r.left.len())
                .render(locale)
        );
        for l in r.left.iter().take(50) {
            let why = if l.changed {
                Msg::new("import.left_changed")
            } else {
                Msg::new("import.left_in_use")
            };
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                entity_name(l.entity),
                l.id,
                esc(&l.label),
                why.render(locale)
            );
        }
        if r.left.len() > 50 {
            let _ = writeln!(
                out,
                "  {}",
                Msg::new("import.more_refusals")
                    .count("count", r.left.len() - 50)
                    .render(locale)
            );
        }
    }
    out
}

/// An undo's report as JSON.
pub fn undo_json(id: i64, r: &UndoReport) -> serde_json::Value {
    serde_json::json!({
        "import_id": id,
        "removed": r.removed,
        "restored": r.restored,
        "left": r.left.iter().map(|l| serde_json::json!({
            "entity": entity_name(l.entity),
            "id": l.id,
            "label": l.label,
            "reason": if l.changed { "changed since" } else { "in use since" },
        })).collect::<Vec<_>>(),
    })
}
