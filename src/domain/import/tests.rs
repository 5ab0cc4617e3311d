use super::*;

fn usd() -> ReadOptions {
    ReadOptions::new(Currency::parse("USD").expect("USD"))
}

fn eur() -> ReadOptions {
    ReadOptions::new(Currency::parse("EUR").expect("EUR"))
}

fn read(bytes: &[u8], options: &ReadOptions) -> Table {
    read_csv(bytes, options).expect("the file reads")
}

fn day(y: i32, m: u32, d: u32) -> Cell {
    Cell::Date(CellDate::Day(
        NaiveDate::from_ymd_opt(y, m, d).expect("a date"),
    ))
}

#[test]
fn utf8_bom_is_stripped_and_named() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice("Company,Email\nAcme,a@acme.test\n".as_bytes());
    let table = read(&bytes, &usd());
    assert_eq!(table.encoding, FileEncoding::Utf8Bom);
    assert_eq!(table.headers, ["Company", "Email"]);
    assert_eq!(table.mapping.kind, Kind::Contacts);
    assert_eq!(table.rows[0].text(Field::Email), Some("a@acme.test"));
    assert_eq!(table.rows[0].line, 2);
}

#[test]
fn gb18030_from_chinese_excel_reads_after_utf8_fails() {
    let text = "公司,联系人,邮箱,金额,阶段,负责人,成交日期\n华为,张伟,zw@huawei.test,\"120,000\",赢单,李娜,2024-03-31\n";
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err());
    let table = read(&bytes, &usd());
    assert_eq!(table.encoding, FileEncoding::Gb18030);
    assert_eq!(table.mapping.kind, Kind::Deals);
    let row = &table.rows[0];
    assert_eq!(row.text(Field::Company), Some("华为"));
    assert_eq!(row.text(Field::Contact), Some("张伟"));
    assert_eq!(row.text(Field::Owner), Some("李娜"));
    assert_eq!(
        row.cells.get(&Field::Amount),
        Some(&Cell::Money(12_000_000))
    );
    assert_eq!(row.cells.get(&Field::CloseDate), Some(&day(2024, 3, 31)));
    assert_eq!(row.outcome, Some(Outcome::Won));
}

#[test]
fn utf8_chinese_is_never_read_as_gb18030() {
    let table = read("公司,邮箱\n华为,a@b.test\n".as_bytes(), &usd());
    assert_eq!(table.encoding, FileEncoding::Utf8);
    assert_eq!(table.rows[0].text(Field::Company), Some("华为"));
}

#[test]
fn utf16_le_with_bom() {
    let text = "Name\tEmail\tPhone\nMüller 王\tm@x.test\t+49 1\n";
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let table = read(&bytes, &usd());
    assert_eq!(table.encoding, FileEncoding::Utf16Le);
    assert_eq!(table.delimiter, b'\t');
    assert_eq!(table.mapping.kind, Kind::Contacts);
    assert_eq!(table.rows[0].text(Field::Contact), Some("Müller 王"));
}

#[test]
fn semicolon_file_with_decimal_commas() {
    let text = "Deal;Account;Amount;Close date\nA;Acme;1.234,56;31/03/2024\nB;Beta;99,5;01/04/2024\nC;Gamma;7;02/04/2024\n";
    let table = read(text.as_bytes(), &eur());
    assert_eq!(table.delimiter, b';');
    let amounts: Vec<_> = table
        .rows
        .iter()
        .map(|r| r.cells.get(&Field::Amount))
        .collect();
    assert_eq!(
        amounts,
        [
            Some(&Cell::Money(123_456)),
            Some(&Cell::Money(9_950)),
            Some(&Cell::Money(700))
        ]
    );
    assert_eq!(table.date_order, Some(DateOrder::DayFirst));
    assert_eq!(
        table.rows[1].cells.get(&Field::CloseDate),
        Some(&day(2024, 4, 1))
    );
}

#[test]
fn only_a_decimal_comma_makes_a_semicolon_column_one() {
    // A comma in a cell that is no amount says nothing about the column's decimals.
    let text = "Deal;Amount\nA;1234.56\nB;TBD, later\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(
        table.rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(123_456))
    );
    assert_eq!(table.refused.len(), 1, "{:?}", table.refused);
    // In a decimal-comma column, a dot that is no thousands separator is refused, not read
    // a hundred times too large.
    let text = "Deal;Amount\nA;1.234,56\nB;1234.56\nC;2.500\n";
    let table = read(text.as_bytes(), &eur());
    assert_eq!(
        table.rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(123_456))
    );
    assert_eq!(
        table.refused[0].reason,
        CellError::CommaGrouping("1234.56".into())
    );
    assert_eq!(
        table.rows[1].cells.get(&Field::Amount),
        Some(&Cell::Money(250_000))
    );
    // Three decimals, for the currencies that have them; a currency around the number.
    let tnd = ReadOptions::new(Currency::parse("TND").expect("TND"));
    let text = "Deal;Amount\nA;12,345\nB;Bs. 1.234,5\n";
    let table = read(text.as_bytes(), &tnd);
    assert_eq!(
        table.rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(12_345))
    );
    assert!(
        table
            .refused
            .iter()
            .all(|r| !matches!(r.reason, CellError::CommaGrouping(_))),
        "a currency's dot is no grouping: {:?}",
        table.refused
    );
}

#[test]
fn comma_amounts_in_a_comma_file_stay_thousands() {
    let text = "Deal,Amount\nA,\"1,250\"\nB,\"1,250.50\"\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(
        table.rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(125_000))
    );
    assert_eq!(
        table.rows[1].cells.get(&Field::Amount),
        Some(&Cell::Money(125_050))
    );
}

#[test]
fn consistent_decimal_comma_column_in_a_comma_file() {
    let text = "Deal,Amount\nA,\"1.234,56\"\nB,\"12,5\"\n";
    let table = read(text.as_bytes(), &eur());
    assert_eq!(
        table.rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(123_456))
    );
    assert_eq!(
        table.rows[1].cells.get(&Field::Amount),
        Some(&Cell::Money(1_250))
    );
}

#[test]
fn one_unmistakable_decimal_comma_decides_a_comma_files_column() {
    // `2.500,50` can only be decimal-comma, so `1.250` beside it is a thousand and more, not
    // one dollar and a quarter; `1.25` cannot be dot-grouped and is refused, not guessed.
    let text = "Deal,Amount\nA,\"2.500,50\"\nB,1.250\nC,300\nD,1.25\nE,\"1,250\"\n";
    let table = read(text.as_bytes(), &usd());
    let amounts: Vec<_> = table
        .rows
        .iter()
        .map(|r| r.cells.get(&Field::Amount))
        .collect();
    assert_eq!(
        amounts,
        [
            Some(&Cell::Money(250_050)),
            Some(&Cell::Money(125_000)),
            Some(&Cell::Money(30_000))
        ]
    );
    // And `1,250` beside them could be either: refused, not read as 1.25.
    assert_eq!(table.refused.len(), 2, "{:?}", table.refused);
    assert_eq!(
        table.refused.iter().map(|r| r.line).collect::<Vec<_>>(),
        [5, 6]
    );
    assert!(table
        .refused
        .iter()
        .all(|r| matches!(r.reason, CellError::CommaGrouping(_))));
    // Both forms in one column: each amount is read as it unmistakably says.
    let text = "Deal,Amount\nA,\"2.500,50\"\nB,\"1,250.75\"\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(
        table.rows[0].cells.get(&Field::Amount),
        Some(&Cell::Money(250_050))
    );
    assert_eq!(
        table.rows[1].cells.get(&Field::Amount),
        Some(&Cell::Money(125_075))
    );
}

#[test]
fn a_contacts_own_fields_in_a_deals_file_are_left_unmapped() {
    // A deals file's "Renewal Date" is no deal's: its cells neither refuse a row nor, with
    // an order no cell decides, stop the file.
    let text = "Deal,Amount,Renewal Date,Birthday\nA,10,TBD,x\nB,20,03/04/2027,\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(table.mapping.kind, Kind::Deals);
    assert_eq!(table.rows.len(), 2, "{:?}", table.refused);
    assert_eq!(table.mapping.unmapped, ["Renewal Date", "Birthday"]);
}

#[test]
fn quoted_newlines_keep_line_numbers_and_bad_rows_are_refused_alone() {
    let text = "Deal,Notes,Amount\n\"A, Inc\",\"line one\nline two\",10\nB,plain,ten dollars\nC,,5\nD,too,many,cells\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(table.delimiter, b',');
    assert_eq!(table.rows.len(), 2);
    assert_eq!(table.rows[0].line, 2);
    assert_eq!(table.rows[0].text(Field::Notes), Some("line one\nline two"));
    assert_eq!(table.rows[0].text(Field::Title), Some("A, Inc"));
    assert_eq!(table.rows[1].line, 5);
    assert!(
        !table.rows[1].cells.contains_key(&Field::Notes),
        "a blank cell is no value"
    );
    assert_eq!(table.refused.len(), 2);
    assert_eq!(table.refused[0].line, 4);
    assert_eq!(table.refused[0].column, "Amount");
    assert!(matches!(table.refused[0].reason, CellError::Amount(_)));
    assert_eq!(table.refused[1].line, 6);
    assert_eq!(
        table.refused[1].reason,
        CellError::Width {
            expected: 3,
            found: 4
        }
    );
}

#[test]
fn pipe_delimiter_is_sniffed() {
    let table = read(b"Company|Domain\nAcme, Inc|acme.test\n", &usd());
    assert_eq!(table.delimiter, b'|');
    assert_eq!(table.mapping.kind, Kind::Companies);
    assert_eq!(table.rows[0].text(Field::Company), Some("Acme, Inc"));
}

/// A contact's company is the row's company only where no column names the company itself.
#[test]
fn a_contact_company_column_gives_way_to_the_company_column() {
    let deals = read(
        b"Title,Contact Company,Account Name,Amount\nRollout,Their Parent,Acme,10\n",
        &usd(),
    );
    assert_eq!(deals.rows[0].text(Field::Company), Some("Acme"));
    assert_eq!(deals.mapping.unmapped, vec!["Contact Company".to_string()]);
    let calls = read(
        b"activity_id,happened_at_utc,kind,contact,contact_email,contact_company,deal_number,member_id,summary,satisfaction\n\
          7,2026-03-01T10:00:00Z,call,Bo,,Acme,,1,Intro,\n",
        &usd(),
    );
    assert_eq!(calls.mapping.source, Source::Salesbot);
    assert_eq!(calls.mapping.kind, Kind::Activities);
    assert_eq!(calls.rows[0].text(Field::Company), Some("Acme"));
}

/// Each system's header set, in the case the system writes it and in upper case.
#[test]
fn each_source_is_recognised_by_its_headers() {
    let files: [(&str, Source, Kind); 7] = [
        ("Id,Name,AccountId,Amount,CloseDate,StageName,Probability,CurrencyIsoCode,OwnerId\n006A,Big deal,001A,5000,2024-03-31,Closed Won,100,USD,005A\n", Source::Salesforce, Kind::Deals),
        ("Id,AccountId,FirstName,LastName,Email,OwnerId\n003A,001A,Ann,Lee,ann@x.test,005A\n", Source::Salesforce, Kind::Contacts),
        ("Id,Name,Type,Website,Industry,OwnerId\n001A,Acme,Customer,acme.test,Tech,005A\n", Source::Salesforce, Kind::Companies),
        ("Deal - ID,Deal - Title,Deal - Value,Deal - Status,Person - Email,Organization - Name\n7,Big deal,5000,won,ann@x.test,Acme\n", Source::Pipedrive, Kind::Deals),
        ("Record ID,Deal Name,Deal Stage,Pipeline,Amount,Close Date,Deal owner,Create Date\n99,Big deal,closedwon,default,5000,2024-03-31,Ann Lee,2024-01-02\n", Source::Hubspot, Kind::Deals),
        ("Deal Name,Account Name,Stage,Amount,Closing Date,Deal Owner\nBig deal,Acme,Closed Won,5000,2024-03-31,Ann Lee\n", Source::Zoho, Kind::Deals),
        ("number,title,stage,status,amount,currency,company,contact,contact_email,owner_id,expected_close,created_at_utc,created_at_local,closed_at_utc,closed_at_local,lost_reason\n1,Big deal,Won,won,5000.00,USD,Acme,Ann Lee,ann@x.test,42,2024-03-31,2024-01-02T09:00:00Z,2024-01-02T10:00:00+01:00,2024-03-30T12:00:00Z,2024-03-30T13:00:00+01:00,\n", Source::Salesbot, Kind::Deals),
    ];
    for (text, source, kind) in files {
        for text in [text.to_string(), text.to_uppercase()] {
            let table = read(text.as_bytes(), &usd());
            assert_eq!(
                (table.mapping.source, table.mapping.kind),
                (source, kind),
                "{text}"
            );
            assert!(table.refused.is_empty(), "{text}: {:?}", table.refused);
            if kind == Kind::Deals {
                assert_eq!(table.rows[0].outcome, Some(Outcome::Won), "{text}");
                assert_eq!(
                    table.rows[0].cells.get(&Field::Amount),
                    Some(&Cell::Money(500_000))
                );
            }
        }
    }
}

#[test]
fn salesforce_opportunity_fields() {
    let text = "Id,Name,AccountId,Amount,CloseDate,StageName,Probability,CurrencyIsoCode,OwnerId\n006A,Big deal,001A,5000,2024-03-31,Closed Lost,0,USD,005A\n";
    let table = read(text.as_bytes(), &usd());
    let row = &table.rows[0];
    assert_eq!(row.text(Field::ExternalId), Some("006A"));
    assert_eq!(row.text(Field::CompanyId), Some("001A"));
    assert_eq!(row.text(Field::Currency), Some("USD"));
    assert_eq!(row.outcome, Some(Outcome::Lost));
    assert!(table.mapping.unmapped.is_empty());
}

#[test]
fn the_sample_data_set_maps_without_being_told() {
    let bytes = include_bytes!("../../../tests/fixtures/sales_pipeline_head.csv");
    let table = read(bytes, &usd());
    assert_eq!(
        (table.mapping.source, table.mapping.kind),
        (Source::Other, Kind::Deals)
    );
    let fields: Vec<Field> = table.mapping.columns.iter().map(|(_, f)| *f).collect();
    assert_eq!(
        fields,
        [
            Field::ExternalId,
            Field::Owner,
            Field::Product,
            Field::Company,
            Field::Stage,
            Field::CreatedDate,
            Field::CloseDate,
            Field::Amount,
        ]
    );
    let first = &table.rows[0];
    assert_eq!(first.text(Field::ExternalId), Some("1C1I7A6R"));
    assert_eq!(first.cells.get(&Field::Amount), Some(&Cell::Money(105_400)));
    assert_eq!(
        first.cells.get(&Field::CreatedDate),
        Some(&day(2016, 10, 20))
    );
    assert_eq!(first.outcome, Some(Outcome::Won));
    let outcomes: Vec<_> = table.rows.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Some(Outcome::Lost))
            .count(),
        2
    );
    let open = table.rows.last().expect("rows");
    assert_eq!(open.outcome, None);
    assert!(!open.cells.contains_key(&Field::CloseDate));
    assert!(table.refused.is_empty());
}

#[test]
fn overrides_map_the_rest() {
    let mut options = usd();
    options.overrides = vec![
        "Kunde=company".parse().expect("override"),
        "Wert=amount".parse().expect("override"),
    ];
    let table = read(b"Kunde,Wert,Extra\nAcme,10\xe2\x82\xac,x\n", &{
        let mut o = options.clone();
        o.currency = Currency::parse("EUR").expect("EUR");
        o
    });
    assert_eq!(table.mapping.kind, Kind::Deals);
    assert_eq!(table.rows[0].text(Field::Company), Some("Acme"));
    assert_eq!(table.mapping.unmapped, ["Extra"]);
    assert_eq!(
        "Kunde=nonsense".parse::<Override>(),
        Err(FileError::UnknownField("nonsense".into()))
    );
    options.overrides = vec!["Missing=email".parse().expect("override")];
    assert_eq!(
        read_csv(b"A,B\n1,2\n", &options).err(),
        Some(FileError::UnknownColumn("Missing".into()))
    );
}

#[test]
fn day_first_is_decided_by_the_whole_column() {
    let text = "Deal,Close date\nA,01/02/2024\nB,25/12/2024\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(table.date_order, Some(DateOrder::DayFirst));
    assert_eq!(
        table.rows[0].cells.get(&Field::CloseDate),
        Some(&day(2024, 2, 1))
    );
}

#[test]
fn month_first_is_decided_by_the_whole_column() {
    let text = "Deal,Close date\nA,01/02/2024\nB,12/25/2024\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(table.date_order, Some(DateOrder::MonthFirst));
    assert_eq!(
        table.rows[0].cells.get(&Field::CloseDate),
        Some(&day(2024, 1, 2))
    );
}

#[test]
fn ambiguous_and_contradictory_date_columns_are_refused() {
    let ambiguous = read_csv(b"Deal,Close date\nA,01/02/2024\nB,03/04/2024\n", &usd());
    assert_eq!(
        ambiguous.err(),
        Some(FileError::AmbiguousDates {
            column: "Close date".into(),
            example: "01/02/2024".into()
        })
    );
    let both = read_csv(b"Deal,Close date\nA,13/02/2024\nB,03/14/2024\n", &usd());
    assert_eq!(
        both.err(),
        Some(FileError::DateOrderConflict {
            column: "Close date".into(),
            day_first_line: 2,
            month_first_line: 3
        })
    );
    let mut told = usd();
    told.date_order = Some(DateOrder::MonthFirst);
    let table = read(b"Deal,Close date\nA,01/02/2024\n", &told);
    assert_eq!(
        table.rows[0].cells.get(&Field::CloseDate),
        Some(&day(2024, 1, 2))
    );
}

#[test]
fn iso_offsets_and_excel_serials() {
    let text = "Deal,Created,Close date\nA,2024-03-31T23:30:00-02:00,45382\nB,2024-03-31 09:15,2024/04/01\nC,yesterday,45382\n";
    let table = read(text.as_bytes(), &usd());
    let utc = DateTime::parse_from_rfc3339("2024-04-01T01:30:00Z")
        .expect("instant")
        .with_timezone(&Utc);
    assert_eq!(
        table.rows[0].cells.get(&Field::CreatedDate),
        Some(&Cell::Date(CellDate::Instant(utc)))
    );
    assert_eq!(
        table.rows[0].cells.get(&Field::CloseDate),
        Some(&day(2024, 3, 31))
    );
    assert!(matches!(
        table.rows[1].cells.get(&Field::CreatedDate),
        Some(Cell::Date(CellDate::Local(_)))
    ));
    assert_eq!(table.refused.len(), 1);
    assert_eq!(table.refused[0].reason, CellError::Date("yesterday".into()));
}

#[test]
fn amounts_over_the_cap_are_refused_per_row() {
    let table = read(b"Deal,Amount\nA,99999999999999\nB,5\n", &usd());
    assert_eq!(table.rows.len(), 1);
    assert!(matches!(
        table.refused[0].reason,
        CellError::Amount(MoneyError::TooLarge { .. })
    ));
}

#[test]
fn a_file_without_a_known_column_says_so() {
    assert_eq!(
        read_csv(b"foo,bar\n1,2\n", &usd()).err(),
        Some(FileError::UnknownKind)
    );
    assert_eq!(read_csv(b"", &usd()).err(), Some(FileError::Empty));
}

fn deal_mapping(headers: &[&str]) -> (Vec<String>, Mapping) {
    let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mapping = map_headers(&headers, &usd()).expect("maps");
    (headers, mapping)
}

#[test]
fn the_column_scan_decides_from_every_record_fed() {
    let (headers, mapping) = deal_mapping(&["Deal", "Close date", "Amount"]);
    let mut scan = ColumnScan::new(&mapping, Some(b','));
    scan.feed(
        2,
        &[
            RawCell::Text("A"),
            RawCell::Text("01/02/2024"),
            RawCell::Text("1"),
        ],
    );
    // Blank records and workbook cells say nothing.
    scan.feed(
        3,
        &[RawCell::Text(""), RawCell::Text(" "), RawCell::Text("")],
    );
    scan.feed(
        4,
        &[
            RawCell::Text("B"),
            RawCell::Number(45_000.0),
            RawCell::Number(2.5),
        ],
    );
    let undecided = scan.clone().finish(&headers, &usd());
    assert_eq!(
        undecided.err(),
        Some(FileError::AmbiguousDates {
            column: "Close date".into(),
            example: "01/02/2024".into()
        })
    );
    // The last record decides the whole column, the first included.
    scan.feed(
        90_000,
        &[
            RawCell::Text("C"),
            RawCell::Text("02/28/2024"),
            RawCell::Text("3"),
        ],
    );
    let decided = scan.clone().finish(&headers, &usd()).expect("decided");
    assert_eq!(decided.date_order, Some(DateOrder::MonthFirst));
    let reader = RowReader::new(headers.clone(), &mapping, decided, usd().currency);
    let row = reader
        .read(
            2,
            &[
                RawCell::Text("A"),
                RawCell::Text("01/02/2024"),
                RawCell::Text("1"),
            ],
        )
        .expect("not blank")
        .expect("a row");
    assert_eq!(row.cells.get(&Field::CloseDate), Some(&day(2024, 1, 2)));

    scan.feed(
        90_001,
        &[
            RawCell::Text("D"),
            RawCell::Text("28/02/2024"),
            RawCell::Text("4"),
        ],
    );
    assert_eq!(
        scan.finish(&headers, &usd()).err(),
        Some(FileError::DateOrderConflict {
            column: "Close date".into(),
            day_first_line: 90_001,
            month_first_line: 90_000
        })
    );
}

#[test]
fn the_row_reader_reads_one_record() {
    let (headers, mapping) = deal_mapping(&["Deal", "Stage", "Close date", "Amount"]);
    let scan = ColumnScan::new(&mapping, Some(b','));
    let reader = RowReader::new(
        headers.clone(),
        &mapping,
        scan.finish(&headers, &usd()).expect("nothing to decide"),
        usd().currency,
    );
    let at = NaiveDate::from_ymd_opt(2024, 3, 31)
        .expect("a date")
        .and_hms_opt(9, 30, 0)
        .expect("a time");
    let row = reader
        .read(
            7,
            &[
                RawCell::Number(42.0),
                RawCell::Text("Closed Won"),
                RawCell::Date(at),
                RawCell::Number(1234.5),
            ],
        )
        .expect("not blank")
        .expect("a row");
    assert_eq!(row.line, 7);
    assert_eq!(row.text(Field::Title), Some("42"));
    assert_eq!(row.outcome, Some(Outcome::Won));
    assert_eq!(
        row.cells.get(&Field::CloseDate),
        Some(&Cell::Date(CellDate::Local(at)))
    );
    assert_eq!(row.cells.get(&Field::Amount), Some(&Cell::Money(123_450)));

    let errors = reader
        .read(
            8,
            &[
                RawCell::Text("B"),
                RawCell::Text("Won"),
                RawCell::Text("someday"),
                RawCell::Number(1.005),
            ],
        )
        .expect("not blank")
        .expect_err("refused");
    assert_eq!(
        errors.iter().map(|e| e.column.as_str()).collect::<Vec<_>>(),
        ["Close date", "Amount"]
    );
    assert!(reader.read(9, &[RawCell::Text(""); 4]).is_none());
    let short = reader.read(10, &[RawCell::Text("x")]).expect("not blank");
    assert!(matches!(
        short.expect_err("refused")[0].reason,
        CellError::Width {
            expected: 4,
            found: 1
        }
    ));
}

#[test]
fn workbook_numbers_are_exact_minor_units() {
    let usd = usd().currency;
    let jpy = Currency::parse("JPY").expect("JPY");
    let eur = eur().currency;
    assert_eq!(stream::amount_number(1234.5, usd), Ok(123_450));
    assert_eq!(stream::amount_number(0.1 + 0.2, usd), Ok(30));
    assert_eq!(stream::amount_number(19.99, usd), Ok(1_999));
    // A float `1.234` is one point two three four, never read as EUR grouping.
    assert_eq!(
        stream::amount_number(1.234, eur),
        Err(CellError::Amount(MoneyError::TooPrecise {
            max_decimals: 2
        }))
    );
    assert_eq!(stream::amount_number(1500.0, jpy), Ok(1_500));
    assert_eq!(
        stream::amount_number(-5.0, usd),
        Err(CellError::Amount(MoneyError::Negative))
    );
    assert!(matches!(
        stream::amount_number(1e40, usd),
        Err(CellError::Amount(MoneyError::TooLarge { .. }))
    ));
    assert_eq!(stream::number_text(8_613_800_000_000.0), "8613800000000");
    assert_eq!(stream::number_text(0.1 + 0.2), "0.3");
    assert_eq!(stream::number_text(2.5), "2.5");
}

#[test]
fn the_encoding_check_takes_characters_split_between_chunks() {
    let text = "华为,张伟\n".repeat(3);
    let utf8 = text.as_bytes();
    let mut check = EncodingCheck::new(FileEncoding::Utf8);
    for piece in utf8.chunks(1) {
        assert!(check.feed(piece, false));
    }
    assert!(check.feed(&[], true));
    // A sequence cut off at the end of the file is not valid.
    let mut cut = EncodingCheck::new(FileEncoding::Utf8);
    assert!(cut.feed(&utf8[..utf8.len() - 2], false));
    let cut_bytes = [0xE5u8, 0x8D];
    assert!(!cut.feed(&cut_bytes, true));
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    assert!(!EncodingCheck::new(FileEncoding::Utf8).feed(&gbk, true));
    let mut gb = EncodingCheck::new(FileEncoding::Gb18030);
    for piece in gbk.chunks(3) {
        assert!(gb.feed(piece, false));
    }
    assert!(gb.feed(&[], true));
    assert_eq!(bom(&[0xFF, 0xFE, b'N']), Some((FileEncoding::Utf16Le, 2)));
    assert_eq!(bom(b"Name"), None);
}

#[test]
fn crlf_files_keep_their_line_numbers() {
    let text = "Deal,Amount\r\nA,1\r\n\r\n\"B\r\nmore\",x\r\nC,3\r\n";
    let table = read(text.as_bytes(), &usd());
    assert_eq!(table.headers, ["Deal", "Amount"]);
    assert_eq!(
        table.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 6]
    );
    assert_eq!(table.refused[0].line, 4);
    assert_eq!(
        table.rows[1].cells.get(&Field::Amount),
        Some(&Cell::Money(300))
    );
    // An old Mac file ends its lines with a lone `\r`.
    let mac = read(b"Deal,Amount\rA,1\rB,2\r", &usd());
    assert_eq!(mac.rows.len(), 2);
}
