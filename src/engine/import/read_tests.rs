//! The reader on real files (`tests/fixtures/import/`, written by its `make.py`) and on a
//! workbook written here with rust_xlsxwriter.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::*;
use crate::domain::import::{read_csv, Cell, CellDate, Field, Kind, Outcome};
use crate::domain::money::Currency;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn settings(currency: &str) -> ReadSettings {
    ReadSettings {
        options: ReadOptions::new(Currency::parse(currency).expect("a currency")),
        sheet: None,
    }
}

/// Every batch of a reader, `max` records at a time.
fn drain(reader: &mut FileReader, max: usize) -> (Vec<Row>, Vec<RowError>) {
    let (mut rows, mut refused) = (Vec::new(), Vec::new());
    while let Some(batch) = reader.next_batch(max).expect("a batch") {
        assert!(batch.rows.len() <= max.max(1));
        rows.extend(batch.rows);
        refused.extend(batch.refused);
    }
    (rows, refused)
}

/// Reads a fixture from its path and from its bytes, in batches of one, and checks both agree
/// with the in-memory `read_csv` of the same bytes; returns the reader's info and rows.
fn read_text(name: &str, currency: &str) -> (FileInfo, Vec<Row>, Vec<RowError>) {
    let settings = settings(currency);
    let path = fixture(name);
    let bytes = std::fs::read(&path).expect("the fixture");
    let mut from_path = FileReader::open(Input::Path(path), &settings).expect("the file opens");
    let (rows, refused) = drain(&mut from_path, 1);
    let (done, total) = from_path.progress();
    assert_eq!((done, total), (bytes.len() as u64, bytes.len() as u64));

    let mut from_bytes = FileReader::open(
        Input::Bytes {
            name: name.to_string(),
            bytes: bytes.clone(),
        },
        &settings,
    )
    .expect("the bytes open");
    assert_eq!(
        drain(&mut from_bytes, 1000),
        (rows.clone(), refused.clone())
    );

    let table = read_csv(&bytes, &settings.options).expect("read_csv");
    assert_eq!(
        (table.rows.clone(), table.refused.clone()),
        (rows.clone(), refused.clone())
    );
    assert_eq!(Some(table.encoding), from_path.info.encoding);
    assert_eq!(Some(table.delimiter), from_path.info.delimiter);
    assert_eq!(table.headers, from_path.info.headers);
    (from_path.info, rows, refused)
}

fn day(y: i32, m: u32, d: u32) -> Cell {
    Cell::Date(CellDate::Day(
        NaiveDate::from_ymd_opt(y, m, d).expect("a date"),
    ))
}

fn text(row: &Row, field: Field) -> Option<&str> {
    row.text(field)
}

#[test]
fn gbk_csv_from_chinese_excel() {
    let (info, rows, refused) = read_text("gbk.csv", "CNY");
    assert_eq!(info.encoding, Some(FileEncoding::Gb18030));
    assert_eq!(info.format, "csv");
    assert_eq!(info.headers, ["公司", "联系人", "邮箱", "金额", "阶段"]);
    assert_eq!(info.mapping.kind, Kind::Deals);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(text(&rows[0], Field::Company), Some("华为"));
    assert_eq!(text(&rows[0], Field::Contact), Some("张伟"));
    assert_eq!(text(&rows[0], Field::Email), Some("zw@huawei.test"));
    assert_eq!(
        rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(12_000_000))
    );
    assert_eq!(rows[0].outcome, Some(Outcome::Won));
    assert_eq!(text(&rows[1], Field::Company), Some("小米"));
    assert_eq!(
        rows[1].cells.get(&Field::Amount),
        Some(&Cell::Money(850_050))
    );
    assert_eq!(text(&rows[1], Field::Stage), Some("谈判"));
    assert_eq!(rows[1].outcome, None);
    assert_eq!((rows[0].line, rows[1].line), (2, 3));
}

#[test]
fn utf8_bom_csv() {
    let (info, rows, refused) = read_text("utf8-bom.csv", "EUR");
    assert_eq!(info.encoding, Some(FileEncoding::Utf8Bom));
    // The BOM is not part of the first header.
    assert_eq!(info.headers, ["Company", "Email", "Phone"]);
    assert!(refused.is_empty());
    assert_eq!(rows.len(), 2);
    assert_eq!(text(&rows[0], Field::Company), Some("Acme GmbH"));
    assert_eq!(text(&rows[0], Field::Phone), Some("+49 30 1"));
    assert_eq!(text(&rows[1], Field::Company), Some("Über Café"));
    assert_eq!(text(&rows[1], Field::Phone), None);
}

#[test]
fn utf16_le_bom_tab_separated() {
    let (info, rows, refused) = read_text("utf16le-tab.txt", "EUR");
    assert_eq!(info.encoding, Some(FileEncoding::Utf16Le));
    assert_eq!(info.delimiter, Some(b'\t'));
    assert_eq!(info.headers, ["Name", "Email", "Phone"]);
    assert_eq!(info.mapping.kind, Kind::Contacts);
    assert!(refused.is_empty());
    assert_eq!(text(&rows[0], Field::Contact), Some("Müller 王"));
    assert_eq!(text(&rows[0], Field::Email), Some("m@x.test"));
    assert_eq!(text(&rows[1], Field::Contact), Some("O'Brien"));
    assert_eq!(rows.len(), 2);
}

#[test]
fn semicolon_csv_with_decimal_commas() {
    let (info, rows, refused) = read_text("semicolon-decimal-comma.csv", "EUR");
    assert_eq!(info.delimiter, Some(b';'));
    assert_eq!(info.encoding, Some(FileEncoding::Utf8));
    assert_eq!(info.date_order, Some(DateOrder::DayFirst));
    assert!(refused.is_empty());
    let amounts: Vec<_> = rows.iter().map(|r| r.cells.get(&Field::Amount)).collect();
    assert_eq!(
        amounts,
        [
            Some(&Cell::Money(123_456)),
            Some(&Cell::Money(9_950)),
            Some(&Cell::Money(700))
        ]
    );
    assert_eq!(rows[1].cells.get(&Field::CloseDate), Some(&day(2024, 4, 1)));
    assert_eq!(text(&rows[0], Field::Company), Some("Acme"));
}

#[test]
fn quoted_fields_with_newlines_keep_their_lines() {
    let (_, rows, refused) = read_text("quoted-newlines.csv", "USD");
    assert!(refused.is_empty());
    assert_eq!(rows.len(), 3);
    assert_eq!(
        text(&rows[0], Field::Notes),
        Some("first line\nsecond line")
    );
    assert_eq!(text(&rows[1], Field::Notes), Some("she said \"yes\""));
    assert_eq!(text(&rows[2], Field::Notes), Some("a, b"));
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4, 5]);
    assert_eq!(
        rows[2].cells.get(&Field::Amount),
        Some(&Cell::Money(30_000))
    );
}

#[test]
fn ambiguous_dates_are_refused() {
    let open = FileReader::open(
        Input::Path(fixture("ambiguous-dates.csv")),
        &settings("USD"),
    );
    assert_eq!(
        open.err(),
        Some(FileError::AmbiguousDates {
            column: "Close date".to_string(),
            example: "01/02/2024".to_string()
        })
    );
}

#[test]
fn a_column_that_contradicts_itself_is_refused() {
    let open = FileReader::open(
        Input::Path(fixture("contradicting-dates.csv")),
        &settings("USD"),
    );
    assert_eq!(
        open.err(),
        Some(FileError::DateOrderConflict {
            column: "Close date".to_string(),
            day_first_line: 2,
            month_first_line: 4,
        })
    );
}

#[test]
fn undecodable_and_empty_files() {
    // Valid as neither UTF-8 nor GB18030 (0x80 alone is not a GB18030 lead byte).
    let bad = FileReader::open(
        Input::Bytes {
            name: "bad.csv".into(),
            bytes: b"Name,Email\n\x80\xff,a@b.test\n".to_vec(),
        },
        &settings("USD"),
    );
    assert_eq!(
        bad.err(),
        Some(FileError::Undecodable {
            encoding: FileEncoding::Gb18030
        })
    );
    let empty = FileReader::open(
        Input::Bytes {
            name: "empty.csv".into(),
            bytes: vec![0xEF, 0xBB, 0xBF],
        },
        &settings("USD"),
    );
    assert_eq!(empty.err(), Some(FileError::Empty));
}

#[test]
fn a_long_utf8_file_whose_last_line_is_gbk_is_gb18030() {
    // The encoding is decided over the whole file, not its first chunk.
    let mut bytes = b"Company,Email\n".to_vec();
    for i in 0..20_000 {
        bytes.extend_from_slice(format!("Acme {i},a{i}@acme.test\n").as_bytes());
    }
    let (tail, _, _) = encoding_rs::GBK.encode("华为,zw@huawei.test\n");
    bytes.extend_from_slice(&tail);
    let mut reader = FileReader::open(
        Input::Bytes {
            name: "long.csv".into(),
            bytes,
        },
        &settings("USD"),
    )
    .expect("opens");
    assert_eq!(reader.info.encoding, Some(FileEncoding::Gb18030));
    let (rows, _) = drain(&mut reader, 5_000);
    assert_eq!(rows.len(), 20_001);
    assert_eq!(text(&rows[20_000], Field::Company), Some("华为"));
}

/// The deals sheet both workbooks hold: a float amount, an integer, a text amount; a date cell
/// and a text date whose order the column decides; Chinese text; a second sheet.
fn expect_deals(info: &FileInfo, rows: &[Row], refused: &[RowError], format: &str) {
    assert_eq!(info.format, format);
    assert_eq!(info.encoding, None);
    assert_eq!(info.delimiter, None);
    assert_eq!(info.sheet.as_deref(), Some("Deals"));
    assert_eq!(
        info.headers,
        ["Deal", "公司", "Amount", "Close date", "Stage"]
    );
    assert_eq!(info.mapping.kind, Kind::Deals);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(text(&rows[0], Field::Title), Some("Alpha"));
    assert_eq!(text(&rows[0], Field::Company), Some("华为"));
    assert_eq!(
        rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(123_450))
    );
    assert_eq!(
        rows[0].cells.get(&Field::CloseDate),
        Some(&day(2024, 3, 31))
    );
    assert_eq!(rows[0].outcome, Some(Outcome::Won));
    assert_eq!(rows[1].cells.get(&Field::Amount), Some(&Cell::Money(9_900)));
    assert_eq!(
        rows[1].cells.get(&Field::CloseDate),
        Some(&day(2024, 4, 15))
    );
    assert_eq!(
        rows[2].cells.get(&Field::Amount),
        Some(&Cell::Money(125_075))
    );
    assert_eq!(rows[2].cells.get(&Field::CloseDate), Some(&day(2024, 5, 2)));
    assert_eq!(rows[2].outcome, Some(Outcome::Lost));
    assert_eq!(info.date_order, Some(DateOrder::DayFirst));
}

/// Writes the same workbook as `make.py`'s `deals.xls`, as an xlsx.
fn deals_xlsx() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = book.add_worksheet();
    sheet.set_name("Deals").expect("a name");
    for (c, h) in ["Deal", "公司", "Amount", "Close date", "Stage"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    let d = |y: u16, m: u8, day: u8| ExcelDateTime::from_ymd(y, m, day).expect("a date");
    sheet.write_string(1, 0, "Alpha").expect("cell");
    sheet.write_string(1, 1, "华为").expect("cell");
    sheet.write_number(1, 2, 1234.5).expect("cell");
    sheet
        .write_datetime_with_format(1, 3, d(2024, 3, 31), &date)
        .expect("cell");
    sheet.write_string(1, 4, "Closed Won").expect("cell");
    sheet.write_string(2, 0, "Beta").expect("cell");
    sheet.write_string(2, 1, "Acme").expect("cell");
    sheet.write_number(2, 2, 99).expect("cell");
    sheet.write_string(2, 3, "15/04/2024").expect("cell");
    sheet.write_string(2, 4, "Proposal").expect("cell");
    sheet.write_string(3, 0, "Gamma").expect("cell");
    sheet.write_string(3, 1, "Beta GmbH").expect("cell");
    sheet.write_string(3, 2, "1,250.75").expect("cell");
    sheet
        .write_datetime_with_format(3, 3, d(2024, 5, 2), &date)
        .expect("cell");
    sheet.write_string(3, 4, "Closed Lost").expect("cell");
    let other = book.add_worksheet();
    other.set_name("Contacts").expect("a name");
    other.write_string(0, 0, "Name").expect("cell");
    other.write_string(0, 1, "Email").expect("cell");
    other.write_string(1, 0, "王芳").expect("cell");
    other.write_string(1, 1, "wf@x.test").expect("cell");
    book.save_to_buffer().expect("the workbook")
}

#[test]
fn xlsx_reads_back_what_was_written() {
    let bytes = deals_xlsx();
    // Told by its bytes: the name says csv.
    let mut reader = FileReader::open(
        Input::Bytes {
            name: "deals.csv".into(),
            bytes: bytes.clone(),
        },
        &settings("USD"),
    )
    .expect("opens");
    let (rows, refused) = drain(&mut reader, 2);
    expect_deals(&reader.info, &rows, &refused, "xlsx");
    assert_eq!(reader.progress(), (3, 3));

    let path = std::env::temp_dir().join(format!("salesbot-read-{}.xlsx", std::process::id()));
    std::fs::write(&path, &bytes).expect("written");
    let mut from_path = FileReader::open(Input::Path(path.clone()), &settings("USD"));
    let _ = std::fs::remove_file(&path);
    let from_path = from_path.as_mut().expect("opens from a path");
    assert_eq!(drain(from_path, 100), (rows, refused));
}

#[test]
fn xls_reads_the_same_rows() {
    let mut reader =
        FileReader::open(Input::Path(fixture("deals.xls")), &settings("USD")).expect("opens");
    let (rows, refused) = drain(&mut reader, 100);
    expect_deals(&reader.info, &rows, &refused, "xls");
}

#[test]
fn a_sheet_by_name_and_an_unknown_sheet() {
    let mut s = settings("USD");
    s.sheet = Some("contacts".into());
    let bytes = deals_xlsx();
    let mut reader = FileReader::open(
        Input::Bytes {
            name: "book.xlsx".into(),
            bytes: bytes.clone(),
        },
        &s,
    )
    .expect("opens");
    assert_eq!(reader.info.sheet.as_deref(), Some("Contacts"));
    assert_eq!(reader.info.mapping.kind, Kind::Contacts);
    let (rows, _) = drain(&mut reader, 10);
    assert_eq!(text(&rows[0], Field::Contact), Some("王芳"));

    s.sheet = Some("Leads".into());
    let open = FileReader::open(
        Input::Bytes {
            name: "book.xlsx".into(),
            bytes,
        },
        &s,
    );
    assert_eq!(
        open.err(),
        Some(FileError::UnknownSheet {
            sheet: "Leads".into(),
            sheets: vec!["Deals".into(), "Contacts".into()],
        })
    );
    let message = FileError::UnknownSheet {
        sheet: "Leads".into(),
        sheets: vec!["Deals".into(), "Contacts".into()],
    }
    .to_string();
    assert!(message.contains("Deals, Contacts"), "{message}");
}

#[test]
fn a_zip_that_is_no_workbook_is_a_workbook_error() {
    let open = FileReader::open(
        Input::Bytes {
            name: "x.xlsx".into(),
            bytes: b"PK\x03\x04 not really a zip".to_vec(),
        },
        &settings("USD"),
    );
    assert!(matches!(open.err(), Some(FileError::Workbook(_))));
}
