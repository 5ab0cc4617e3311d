//! `salesbot export`: the rows after real commands, RFC 4180 quoting, formula cells
//! neutralised, the BOM, 100,000 deals streamed whole, and one workspace's file never holding
//! another's rows.

use crate::support::Harness;
use salesbot::console::{ExportChoice, ExportFormat, ExportQuery};
use salesbot::engine::export::{export, ExportKind, ExportOptions};
use salesbot::engine::Engine;
use salesbot::store::Store;
use sqlx::PgPool;
use std::collections::HashMap;

/// The workspace's `kind` file, as bytes.
async fn export_bytes(pool: &PgPool, ws: i64, kind: ExportKind, options: ExportOptions) -> Vec<u8> {
    let mut out = Vec::new();
    export(&Store::from_pool(pool.clone()), ws, kind, options, &mut out)
        .await
        .expect("export");
    out
}

/// The file read back as header-keyed rows.
fn rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

async fn export_rows(pool: &PgPool, ws: i64, kind: ExportKind) -> Vec<HashMap<String, String>> {
    rows(&export_bytes(pool, ws, kind, ExportOptions::default()).await)
}

#[sqlx::test(migrations = "./migrations")]
async fn export_after_commands_has_every_field(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/settings timezone zone:Europe/Berlin").await;
    h.ok("/company add name:Acme industry:software website:acme.com tags:key contract_end:2027-06-30")
        .await;
    h.ok(r#"/contact add name:"Wei Wang" email:wei@acme.com phone:"+86 138 0000 0000" company:Acme birthday:04-12"#)
        .await;
    h.ok(r#"/deal new title:"Acme, 200 seats" amount:1250.50 company:Acme contact:C-1 close:2026-12-31"#)
        .await;
    h.ok("/deal new title:Second amount:7k").await;
    h.ok("/deal won deal:D-1").await;
    h.ok("/deal lost deal:D-2 reason:budget").await;
    h.ok(r#"/contact log contact:C-1 kind:call summary:"pricing call" deal:D-1 satisfaction:4"#)
        .await;
    // Text a person could paste in another front-end: quotes, a comma and a line break.
    sqlx::query("UPDATE deals SET lost_reason = 'said \"no\", then\nleft' WHERE number = 2")
        .execute(&pool)
        .await
        .unwrap();

    let bytes = export_bytes(&pool, 1, ExportKind::Deals, ExportOptions::default()).await;
    let raw = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        raw.starts_with("number,title,stage,status,amount,currency,company,contact,contact_email,owner_id,expected_close,created_at_utc,created_at_local,closed_at_utc,closed_at_local,lost_reason,workspace_id\r\n"),
        "{raw}"
    );
    assert!(raw.contains("\"Acme, 200 seats\""), "{raw}");
    // Records end with CRLF (RFC 4180); a line break inside a field stays as typed.
    assert!(
        raw.contains("\"said \"\"no\"\", then\nleft\",1\r\n"),
        "{raw}"
    );
    let deals = rows(&bytes);
    assert_eq!(deals.len(), 2);
    let d1 = &deals[0];
    assert_eq!(d1["number"], "1");
    assert_eq!(d1["title"], "Acme, 200 seats");
    assert_eq!(d1["status"], "won");
    assert_eq!(d1["amount"], "1250.50");
    assert_eq!(d1["currency"], "USD");
    assert_eq!(d1["company"], "Acme");
    assert_eq!(d1["contact"], "Wei Wang");
    assert_eq!(d1["contact_email"], "wei@acme.com");
    assert_eq!(d1["owner_id"], "1");
    assert_eq!(d1["workspace_id"], "1");
    assert_eq!(d1["expected_close"], "2026-12-31");
    assert_eq!(d1["created_at_utc"], "2026-12-01T09:00:00Z");
    assert_eq!(d1["created_at_local"], "2026-12-01T10:00:00+01:00");
    assert_eq!(d1["closed_at_utc"], "2026-12-01T09:00:00Z");
    assert_eq!(d1["closed_at_local"], "2026-12-01T10:00:00+01:00");
    assert_eq!(d1["lost_reason"], "");
    let d2 = &deals[1];
    assert_eq!(
        (d2["status"].as_str(), d2["amount"].as_str()),
        ("lost", "7000.00")
    );
    assert_eq!(d2["lost_reason"], "said \"no\", then\nleft");
    assert_eq!(
        (d2["company"].as_str(), d2["closed_at_local"].is_empty()),
        ("", false)
    );

    let contacts = export_rows(&pool, 1, ExportKind::Contacts).await;
    assert_eq!(contacts.len(), 1);
    let c = &contacts[0];
    assert_eq!(c["name"], "Wei Wang");
    // A phone number's leading + is neutralised like any formula start: it is not a plain number.
    assert_eq!(c["phone"], "'+86 138 0000 0000");
    assert_eq!(
        (c["company"].as_str(), c["birthday"].as_str()),
        ("Acme", "'--04-12")
    );

    let companies = export_rows(&pool, 1, ExportKind::Companies).await;
    assert_eq!(companies.len(), 1);
    let co = &companies[0];
    assert_eq!(
        (
            co["name"].as_str(),
            co["industry"].as_str(),
            co["website"].as_str()
        ),
        ("Acme", "software", "acme.com")
    );
    assert_eq!(
        (co["tags"].as_str(), co["contract_end"].as_str()),
        ("key", "2027-06-30")
    );

    let activities = export_rows(&pool, 1, ExportKind::Activities).await;
    assert_eq!(activities.len(), 1);
    let a = &activities[0];
    assert_eq!(
        (
            a["kind"].as_str(),
            a["summary"].as_str(),
            a["deal_number"].as_str()
        ),
        ("call", "pricing call", "1")
    );
    assert_eq!(
        (a["contact_email"].as_str(), a["satisfaction"].as_str()),
        ("wei@acme.com", "4")
    );
    assert_eq!(a["happened_at_local"], "2026-12-01T10:00:00+01:00");
}

#[sqlx::test(migrations = "./migrations")]
async fn formula_cells_are_neutralised(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    for title in [
        "=1+1",
        "+cmd|' /C calc'!A0",
        "@SUM(A1)",
        "-2+3",
        "-12.5",
        "plain",
    ] {
        h.ok(&format!(r#"/deal new title:"{title}" amount:10"#))
            .await;
    }
    // Tab and carriage return cannot be typed into a command; rows written otherwise still
    // get them.
    sqlx::query("UPDATE deals SET title = E'\\tTAB' WHERE number = 6")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO deals (workspace_id, number, title, owner_id, amount_minor, currency, stage_id, furthest_position)
                 SELECT 1, 7, E'\\rCR', 1, 0, 'USD', stage_id, 0 FROM deals WHERE number = 1")
        .execute(&pool)
        .await
        .unwrap();
    let titles: Vec<String> = export_rows(&pool, 1, ExportKind::Deals)
        .await
        .into_iter()
        .map(|r| r["title"].clone())
        .collect();
    assert_eq!(
        titles,
        [
            "'=1+1",
            "'+cmd|' /C calc'!A0",
            "'@SUM(A1)",
            "'-2+3",
            "-12.5", // a plain number is a number, nothing to run
            "'\tTAB",
            "'\rCR",
        ]
    );
    let amounts: Vec<String> = export_rows(&pool, 1, ExportKind::Deals)
        .await
        .into_iter()
        .map(|r| r["amount"].clone())
        .collect();
    assert_eq!(amounts[0], "10.00");
}

#[sqlx::test(migrations = "./migrations")]
async fn the_bom_is_there_only_when_asked(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Café amount:10").await;
    let with = export_bytes(
        &pool,
        1,
        ExportKind::Deals,
        ExportOptions {
            bom: true,
            owner: None,
            after: None,
        },
    )
    .await;
    let without = export_bytes(&pool, 1, ExportKind::Deals, ExportOptions::default()).await;
    assert!(with.starts_with(b"\xEF\xBB\xBFnumber,title,"));
    assert!(without.starts_with(b"number,title,"));
    assert_eq!(&with[3..], &without[..]);
    assert!(String::from_utf8(without).unwrap().contains("Café"));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_hundred_thousand_deals_come_out_whole(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:First amount:1").await;
    // The rollup triggers would make this insert take minutes; the export reads only deals.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO deals (workspace_id, number, title, owner_id, amount_minor, currency, stage_id, furthest_position)
         SELECT 1, g + 1, 'Bulk ' || g, 1, g, 'USD', (SELECT stage_id FROM deals WHERE number = 1), 0
           FROM generate_series(1, 99999) g",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let bytes = export_bytes(&pool, 1, ExportKind::Deals, ExportOptions::default()).await;
    let deals = rows(&bytes);
    assert_eq!(deals.len(), 100_000);
    // Every number once, in order: no page skipped or repeated at a page edge.
    for (i, d) in deals.iter().enumerate() {
        assert_eq!(d["number"], (i + 1).to_string());
    }
    assert_eq!(deals[99_999]["amount"], "999.99");
}

#[sqlx::test(migrations = "./migrations")]
async fn one_workspace_never_holds_another_ones_rows(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.join(&[42], ":as 1 admin").await;
    h.ok("/contact add name:Ours email:ours@a.example company:OurCo")
        .await;
    h.ok("/deal new title:OurDeal amount:10 contact:Ours").await;
    h.ok("/deal new title:RepDeal amount:10 owner:<@42>").await;
    h.ok("/deal new title:LinkedDeal amount:10 owner:<@42> contact:Ours")
        .await;
    h.ok("/contact log contact:Ours kind:call summary:ours")
        .await;
    h.run(":workspace 2").await;
    h.ok("/contact add name:Theirs email:theirs@b.example company:TheirCo")
        .await;
    h.ok("/deal new title:TheirDeal amount:10 contact:Theirs")
        .await;
    h.ok("/contact log contact:Theirs kind:call summary:theirs")
        .await;
    for kind in ExportKind::ALL {
        for (ws, mine, theirs) in [(1, "Our", "Their"), (2, "Their", "Our")] {
            let text =
                String::from_utf8(export_bytes(&pool, ws, kind, ExportOptions::default()).await)
                    .unwrap()
                    .to_lowercase();
            assert!(text.contains(&mine.to_lowercase()), "{kind:?} {ws}: {text}");
            assert!(
                !text.contains(&theirs.to_lowercase()),
                "{kind:?} {ws}: {text}"
            );
        }
    }
    // The owner filter a rep's export will use: only their own deals.
    let rep = rows(
        &export_bytes(
            &pool,
            1,
            ExportKind::Deals,
            ExportOptions {
                bom: false,
                owner: Some(42),
                after: None,
            },
        )
        .await,
    );
    let titles: Vec<&str> = rep.iter().map(|r| r["title"].as_str()).collect();
    assert_eq!(titles, ["RepDeal", "LinkedDeal"]);
    // LinkedDeal is the rep's, but its contact is the admin's: the rep's card hides that
    // contact, and so does the rep's file; the admin's file names it.
    assert_eq!(rep[1]["contact"], "");
    assert_eq!(rep[1]["contact_email"], "");
    let all = export_rows(&pool, 1, ExportKind::Deals).await;
    let linked = all
        .iter()
        .find(|r| r["title"] == "LinkedDeal")
        .expect("LinkedDeal in the admin's file");
    assert_eq!(linked["contact"], "Ours");
    assert_eq!(linked["contact_email"], "ours@a.example");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_rep_s_activities_file_names_only_the_records_they_may_see(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.join(&[42, 43], ":as 1 admin").await;
    h.ok("/contact add name:Hidden email:hidden@secret.test company:SecretCo")
        .await;
    h.ok("/contact add name:Open company:OpenCo").await;
    h.ok("/deal new title:TheirDeal amount:10 contact:Hidden")
        .await;
    h.ok("/contact log contact:Hidden kind:call summary:secret deal:D-1")
        .await;
    h.ok("/contact log contact:Open kind:call summary:open")
        .await;
    // Rep 43's customer SecretCo, whose contact rep 42 called about 43's deal; OpenCo is
    // rep 42's own.
    sqlx::raw_sql(
        "UPDATE companies SET owner_id = 43 WHERE name = 'SecretCo';
         UPDATE contacts SET owner_id = 43 WHERE name = 'Hidden';
         UPDATE deals SET owner_id = 43 WHERE title = 'TheirDeal';
         UPDATE companies SET owner_id = 42 WHERE name = 'OpenCo';
         UPDATE contacts SET owner_id = 42 WHERE name = 'Open';
         UPDATE activities SET member_id = 42;",
    )
    .execute(&pool)
    .await
    .expect("owners");
    let options = ExportOptions {
        bom: false,
        owner: Some(42),
        after: None,
    };
    let rep = rows(&export_bytes(&pool, 1, ExportKind::Activities, options).await);
    let seen: Vec<[&str; 5]> = rep
        .iter()
        .map(|r| {
            [
                "summary",
                "contact",
                "contact_email",
                "contact_company",
                "deal_number",
            ]
            .map(|c| r[c].as_str())
        })
        .collect();
    assert_eq!(
        seen,
        [
            ["secret", "", "", "", ""],
            ["open", "Open", "", "OpenCo", ""]
        ]
    );
    // The admin's file names them all.
    let all = export_rows(&pool, 1, ExportKind::Activities).await;
    let named: Vec<[&str; 4]> = all
        .iter()
        .map(|r| {
            ["contact", "contact_email", "contact_company", "deal_number"].map(|c| r[c].as_str())
        })
        .collect();
    assert_eq!(
        named,
        [
            ["Hidden", "hidden@secret.test", "SecretCo", "1"],
            ["Open", "", "OpenCo", ""]
        ]
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn the_command_line_writes_whole_files_or_nothing(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:One amount:10 company:Acme").await;
    let engine = Engine::new(Store::from_pool(pool.clone())).unwrap();
    let dir = std::env::temp_dir().join(format!("salesbot-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let query = |workspace, kind, out: Option<std::path::PathBuf>| ExportQuery {
        workspace,
        kind,
        format: ExportFormat::Csv,
        bom: false,
        out,
    };
    // Unknown workspace, and `all` with nowhere to put four files: exit 1, nothing written.
    let file = dir.join("deals-9.csv");
    let code =
        salesbot::console::export(&engine, &query(9, ExportChoice::Deals, Some(file.clone())))
            .await
            .unwrap();
    assert_eq!(code, 1);
    assert!(!file.exists());
    assert_eq!(
        salesbot::console::export(&engine, &query(1, ExportChoice::All, None))
            .await
            .unwrap(),
        1
    );
    // `all` into a directory: one whole file per kind.
    let code = salesbot::console::export(&engine, &query(1, ExportChoice::All, Some(dir.clone())))
        .await
        .unwrap();
    assert_eq!(code, 0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "activities.csv",
            "companies.csv",
            "contacts.csv",
            "deals.csv"
        ]
    );
    let deals = rows(&std::fs::read(dir.join("deals.csv")).unwrap());
    assert_eq!((deals.len(), deals[0]["company"].as_str()), (1, "Acme"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An export is a file the import recognises as salesbot's own, every row read back whole.
#[sqlx::test(migrations = "./migrations")]
async fn an_export_is_recognised_by_the_import_as_salesbot_s_own(pool: PgPool) {
    use salesbot::domain::import::{read_csv, Kind, ReadOptions, Source};
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:\"Acme - 200 seats\" amount:12k company:Acme")
        .await;
    h.ok("/deal new title:=cmd|calc amount:99.50").await;
    let bytes = export_bytes(
        &pool,
        1,
        ExportKind::Deals,
        ExportOptions {
            bom: true,
            owner: None,
            after: None,
        },
    )
    .await;
    let currency = salesbot::domain::money::Currency::parse("USD").expect("USD is a currency");
    let table = read_csv(&bytes, &ReadOptions::new(currency)).expect("the export reads");
    assert_eq!(
        (table.mapping.source, table.mapping.kind),
        (Source::Salesbot, Kind::Deals)
    );
    assert_eq!(table.rows.len(), 2);
    assert!(table.refused.is_empty(), "{:?}", table.refused);
}

/// The xlsx export holds the CSV's cells (amounts as numbers of the same value), one bold
/// header row in a sheet named after the kind, and reads back through the importer as
/// salesbot's own file; `--kind all --format xlsx` writes one workbook per kind.
#[sqlx::test(migrations = "./migrations")]
async fn the_xlsx_export_holds_the_csv_cells(pool: PgPool) {
    use calamine::{Data, Reader};
    use salesbot::domain::import::{Kind, ReadOptions, Source};
    use salesbot::engine::export::{export_bytes as bytes_in, ExportFormat as Format};
    use salesbot::engine::import::{FileReader, Input, ReadSettings};
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:\"Acme - 200 seats\" amount:1234.50 company:Acme")
        .await;
    h.ok("/deal new title:=cmd|calc amount:99.99 company:华为")
        .await;
    h.ok("/deal new title:Round amount:12k").await;
    let store = Store::from_pool(pool.clone());
    for kind in ExportKind::ALL {
        let csv_bytes = export_bytes(&pool, 1, kind, ExportOptions::default()).await;
        let csv_rows = {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(&csv_bytes[..]);
            reader
                .records()
                .map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        let (xlsx, n) = bytes_in(&store, 1, kind, Format::Xlsx, ExportOptions::default())
            .await
            .expect("xlsx export");
        assert_eq!(n.rows as usize, csv_rows.len() - 1);
        let mut book =
            calamine::open_workbook_auto_from_rs(std::io::Cursor::new(xlsx)).expect("a workbook");
        assert_eq!(book.sheet_names(), [kind.name()]);
        let range = book.worksheet_range(kind.name()).expect("the sheet");
        let cells: Vec<Vec<String>> = range
            .rows()
            .map(|row| {
                let mut texts: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(c, cell)| match cell {
                        Data::Empty => String::new(),
                        Data::String(s) => s.clone(),
                        Data::Float(f) => {
                            assert_eq!(kind.header()[c], "amount", "only amounts are numbers");
                            format!("{f:.2}")
                        }
                        other => panic!("unexpected cell {other:?}"),
                    })
                    .collect();
                texts.resize(kind.header().len(), String::new());
                texts
            })
            .collect();
        // Without the CSV's neutralising quote: a workbook's text cell never runs, and it
        // carries Excel's quote prefix instead.
        let unquoted: Vec<Vec<String>> = csv_rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| match c.strip_prefix('\'') {
                        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_string(),
                        _ => c.clone(),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(cells, unquoted, "{}", kind.name());
    }

    let (xlsx, _) = bytes_in(
        &store,
        1,
        ExportKind::Deals,
        Format::Xlsx,
        ExportOptions::default(),
    )
    .await
    .unwrap();
    let currency = salesbot::domain::money::Currency::parse("USD").expect("USD");
    let mut reader = FileReader::open(
        Input::Bytes {
            name: "deals.xlsx".into(),
            bytes: xlsx,
        },
        &ReadSettings {
            options: ReadOptions::new(currency),
            sheet: None,
        },
    )
    .expect("the workbook reads");
    assert_eq!(
        (
            reader.info.format,
            reader.info.mapping.source,
            reader.info.mapping.kind
        ),
        ("xlsx", Source::Salesbot, Kind::Deals)
    );
    let batch = reader.next_batch(100).unwrap().expect("rows");
    assert!(batch.refused.is_empty(), "{:?}", batch.refused);
    let amounts: Vec<_> = batch
        .rows
        .iter()
        .map(|r| {
            r.cells
                .get(&salesbot::domain::import::Field::Amount)
                .cloned()
        })
        .collect();
    use salesbot::domain::import::Cell;
    assert_eq!(
        amounts,
        [
            Some(Cell::Money(123_450)),
            Some(Cell::Money(9_999)),
            Some(Cell::Money(1_200_000))
        ]
    );
    assert_eq!(
        batch.rows[1].text(salesbot::domain::import::Field::Title),
        Some("=cmd|calc")
    );

    let engine = Engine::new(Store::from_pool(pool.clone())).unwrap();
    let dir = std::env::temp_dir().join(format!("salesbot-export-xlsx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let query = ExportQuery {
        workspace: 1,
        kind: ExportChoice::All,
        format: ExportFormat::Xlsx,
        bom: false,
        out: Some(dir.clone()),
    };
    assert_eq!(salesbot::console::export(&engine, &query).await.unwrap(), 0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "activities.xlsx",
            "companies.xlsx",
            "contacts.xlsx",
            "deals.xlsx"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
