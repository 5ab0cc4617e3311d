//! `/import` and `/export` in the console (issue 11): a file path instead of an attachment,
//! the same dry-run preview with Import and Cancel buttons, the import's summary, `/import
//! undo`, `/import list`, and the permission and visibility rules the engine applies.

use crate::support::{is_error, text, Harness};
use serde_json::Value;
use sqlx::PgPool;
use std::path::PathBuf;

/// A generic spreadsheet of deals: plain column names, stages the workspace has, one row with
/// an amount that is not one.
const DEALS: &str = "title,amount,stage,company\n\
Acme rollout,12000,Lead,Acme\n\
Globex renewal,8000,Proposal,Globex\n\
Initech pilot,not money,Lead,Initech\n";

fn write_file(name: &str, body: &str) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join(name);
    std::fs::write(&path, body).expect("write the test file");
    (dir, path)
}

/// A directory that is removed when dropped, under the system's temp directory.
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir()
                .join(format!("salesbot-import-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The button ids of a reply.
fn buttons(reply: &Value) -> Vec<String> {
    reply["components"]
        .as_array()
        .map(|b| {
            b.iter()
                .filter_map(|b| b["custom_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[sqlx::test(migrations = "./migrations")]
async fn console_import_previews_runs_lists_and_undoes(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let (_dir, path) = write_file("deals.csv", DEALS);

    // The preview: a dry run that writes nothing, with its counts and the refused line.
    let preview = h.ok(&format!("/import file file:{}", path.display())).await;
    assert_eq!(preview["ephemeral"], true, "{preview}");
    let body = text(&preview);
    assert!(body.contains("Dry run"), "{body}");
    assert!(body.contains("deals.csv"), "{body}");
    assert!(body.contains("line 4") || body.contains('4'), "{body}");
    let ids = buttons(&preview);
    assert_eq!(ids.len(), 2, "{preview}");
    assert!(ids[0].starts_with("import:run:"), "{ids:?}");
    assert!(ids[1].starts_with("import:cancel:"), "{ids:?}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM imports").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM pending_imports").await, 1);

    // Another member cannot run someone else's upload, even a manager.
    h.run(":as 2 manager").await;
    let refused = h.err(&format!(":click {}", ids[0])).await;
    assert!(refused.contains("no longer waiting"), "{refused}");
    h.run(":as 1 admin").await;

    // Import: the rows are in, the upload is gone, the summary names the import.
    let done = h.ok(&format!(":click {}", ids[0])).await;
    let body = text(&done);
    assert!(body.contains("finished"), "{body}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 2);
    assert_eq!(
        h.count("SELECT count(*) FROM deals WHERE owner_id = 1")
            .await,
        2,
        "rows without a member owner are the caller's"
    );
    assert_eq!(h.count("SELECT count(*) FROM pending_imports").await, 0);
    // A second click finds nothing to run.
    let again = h.err(&format!(":click {}", ids[0])).await;
    assert!(again.contains("no longer waiting"), "{again}");

    let list = h.ok("/import list").await;
    assert!(text(&list).contains("deals.csv"), "{list}");

    // Undo without an id takes back the caller's latest import.
    let undone = h.ok("/import undo").await;
    assert!(text(&undone).contains("taken back"), "{undone}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 0);
    let nothing = h.err("/import undo").await;
    assert!(
        nothing.contains("no import that can still be taken back"),
        "{nothing}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn console_import_cancel_and_refusals(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    let (_dir, path) = write_file("deals.csv", DEALS);
    let preview = h.ok(&format!("/import file file:{}", path.display())).await;
    let ids = buttons(&preview);
    let cancelled = h.ok(&format!(":click {}", ids[1])).await;
    assert!(text(&cancelled).contains("Cancelled"), "{cancelled}");
    assert_eq!(h.count("SELECT count(*) FROM pending_imports").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 0);
    let gone = h.err(&format!(":click {}", ids[0])).await;
    assert!(gone.contains("no longer waiting"), "{gone}");

    // An upload waits an hour for its button, no longer.
    let preview = h.ok(&format!("/import file file:{}", path.display())).await;
    let ids = buttons(&preview);
    h.run(":now 2026-12-01T10:01:00Z").await;
    let expired = h.err(&format!(":click {}", ids[0])).await;
    assert!(expired.contains("no longer waiting"), "{expired}");
    assert_eq!(h.count("SELECT count(*) FROM deals").await, 0);
    // The next upload clears it out.
    let preview = h.ok(&format!("/import file file:{}", path.display())).await;
    assert_eq!(h.count("SELECT count(*) FROM pending_imports").await, 1);
    h.ok(&format!(":click {}", buttons(&preview)[1])).await;
    assert_eq!(h.count("SELECT count(*) FROM pending_imports").await, 0);

    // A rep may not import, undo or list imports.
    h.join(&[7], ":as 7 rep").await;
    let before = h.fingerprint().await;
    for line in [
        format!("/import file file:{}", path.display()),
        "/import undo id:1".to_string(),
        "/import list".to_string(),
    ] {
        let e = h.err(&line).await;
        assert!(e.contains("manager"), "{line}: {e}");
    }
    assert_eq!(
        h.fingerprint().await,
        before,
        "a refused import writes nothing"
    );

    // A path that is not there is named, and nothing runs.
    h.run(":as 1 admin").await;
    let e = h.err("/import file file:/no/such/file.csv").await;
    assert!(e.contains("/no/such/file.csv"), "{e}");

    // A file the importer cannot read refuses the whole import before anything is kept.
    let (_dir2, empty) = write_file("empty.csv", "");
    let e = h
        .err(&format!("/import file file:{}", empty.display()))
        .await;
    assert!(e.contains("Nothing was imported"), "{e}");
    assert_eq!(h.count("SELECT count(*) FROM pending_imports").await, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn console_export_answers_with_files_a_rep_sees_their_own(pool: PgPool) {
    let mut h = Harness::new(pool).await;
    h.join(&[2, 3], ":as 1 admin").await;
    h.ok("/settings visibility mode:own").await;
    h.ok(r#"/deal new title:"Alpha deal" amount:1k owner:2 company:Alpha"#)
        .await;
    h.ok(r#"/deal new title:"Beta deal" amount:2k owner:3 company:Beta"#)
        .await;
    h.ok(r#"/deal new title:"Team deal" amount:3k"#).await;

    let all = h.ok("/export kind:all").await;
    let names: Vec<&str> = all["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "companies.csv",
            "contacts.csv",
            "deals.csv",
            "activities.csv"
        ]
    );
    assert!(text(&all).contains("3 rows"), "{all}");

    h.run(":as 2 rep").await;
    let own = h.ok("/export kind:deals").await;
    assert_eq!(own["ephemeral"], true);
    assert!(text(&own).contains("deals.csv: 1 row"), "{own}");

    // A workbook: one .xlsx of the rep's own deals, read back with calamine.
    let book = h.ok("/export kind:deals format:xlsx").await;
    assert_eq!(book["attachments"][0]["filename"], "deals.xlsx", "{book}");
    assert!(text(&book).contains("deals.xlsx: 1 row"), "{book}");
    assert!(!is_error(&h.ok("/export kind:companies").await));
}
