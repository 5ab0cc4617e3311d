//! Opening an import file and reading it in batches of typed rows: the I/O around
//! `domain::import`, which decides what every cell says.
//!
//! A delimited text file is streamed, so memory stays flat however large it is: a first pass
//! checks the encoding (BOM, else strict UTF-8 over the whole file, else GB18030), a second
//! sniffs the delimiter from the start and feeds every record to the domain's column scan
//! (each date column's day/month order and each amount column's decimal commas are decided by
//! the whole column), and the batches then re-read the file from the start, one record at a
//! time. A workbook (`.xlsx`, `.xls`, told by its first bytes, not its name) is read with
//! calamine, which holds the sheet's cells in memory.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use calamine::{Data, Range, Reader as _};

use crate::domain::import::{
    bom, csv_builder, csv_error, map_headers, record_cells, record_header, sniff, ColumnScan,
    DateOrder, EncodingCheck, FileEncoding, FileError, Mapping, RawCell, ReadOptions, Row,
    RowError, RowReader,
};

/// Where a file's bytes come from: a path on the server (the CLI, the console) or bytes
/// already downloaded (a Discord attachment).
#[derive(Debug, Clone)]
pub enum Input {
    Path(PathBuf),
    Bytes { name: String, bytes: Vec<u8> },
}

impl Input {
    /// The name a summary shows.
    pub fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Bytes { name, .. } => name.clone(),
        }
    }
}

/// What the caller says about how to read a file.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    pub options: ReadOptions,
    /// The workbook sheet to read; the first when `None`.
    pub sheet: Option<String>,
}

/// How a file was written and what its columns mean, for the preview.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub name: String,
    /// `csv`, `xlsx` or `xls` (`xlsb` and `ods` too, which calamine also reads).
    pub format: &'static str,
    /// The text encoding (`None` for a workbook).
    pub encoding: Option<FileEncoding>,
    /// The delimiter (`None` for a workbook).
    pub delimiter: Option<u8>,
    /// The sheet read (`None` for a text file).
    pub sheet: Option<String>,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    pub date_order: Option<DateOrder>,
}

/// Up to the asked number of records: the accepted rows and the refused ones.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Row>,
    pub refused: Vec<RowError>,
}

/// An open file, read batch by batch. `Send + 'static`: the importer moves it in and out of
/// `spawn_blocking`.
pub struct FileReader {
    pub info: FileInfo,
    rows: RowReader,
    body: Body,
}

enum Body {
    Text {
        records: csv::Reader<Box<dyn Read + Send>>,
        record: csv::StringRecord,
        /// Bytes of the file the second pass has taken in, for progress.
        consumed: Arc<AtomicU64>,
        total: u64,
    },
    Sheet {
        range: Range<Data>,
        /// The spreadsheet row number of the range's first row (the header).
        first_line: u64,
        width: usize,
        /// The next row of the range to read.
        next: usize,
    },
}

/// The bytes a file is read from, opened afresh for each pass.
#[derive(Clone)]
enum Origin {
    Path(PathBuf),
    Bytes(Shared),
}

/// Bytes shared between passes without copying them.
#[derive(Clone)]
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// How much of a text file is read at a time, and how much of its start the delimiter is
/// sniffed from.
const CHUNK: usize = 256 * 1024;
const SNIFF_BYTES: usize = 64 * 1024;

impl Origin {
    fn open(&self) -> Result<Box<dyn ReadSeek>, FileError> {
        match self {
            Origin::Path(p) => {
                let file = File::open(p).map_err(|e| unreadable(p, &e))?;
                Ok(Box::new(BufReader::with_capacity(CHUNK, file)))
            }
            Origin::Bytes(b) => Ok(Box::new(Cursor::new(b.clone()))),
        }
    }

    fn len(&self) -> Result<u64, FileError> {
        match self {
            Origin::Path(p) => Ok(std::fs::metadata(p).map_err(|e| unreadable(p, &e))?.len()),
            Origin::Bytes(b) => Ok(b.0.len() as u64),
        }
    }
}

fn unreadable(path: &std::path::Path, e: &io::Error) -> FileError {
    FileError::Unreadable(format!("{}: {e}", path.display()))
}

fn io_error(e: &io::Error) -> FileError {
    FileError::Unreadable(e.to_string())
}

/// Reads into `buf` until it is full or the file ends; how many bytes it holds.
fn fill(from: &mut dyn Read, buf: &mut [u8]) -> Result<usize, FileError> {
    let mut n = 0;
    while n < buf.len() {
        match from.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(&e)),
        }
    }
    Ok(n)
}

/// What a file's first bytes say it is.
enum Shape {
    Text,
    /// A zip (`PK\x03\x04`: xlsx, also xlsb and ods) or an OLE compound file (`D0 CF 11 E0`:
    /// xls).
    Workbook,
}

fn shape(origin: &Origin) -> Result<Shape, FileError> {
    let mut magic = [0u8; 4];
    let n = fill(&mut origin.open()?, &mut magic)?;
    Ok(match &magic[..n] {
        b"PK\x03\x04" | [0xD0, 0xCF, 0x11, 0xE0] => Shape::Workbook,
        _ => Shape::Text,
    })
}

impl FileReader {
    /// Opens and checks a file: encoding, delimiter, header mapping and the day/month order
    /// of its date columns. A file-wide problem is an error and nothing of it is written.
    pub fn open(input: Input, settings: &ReadSettings) -> Result<FileReader, FileError> {
        let name = input.name();
        let origin = match input {
            Input::Path(p) => Origin::Path(p),
            Input::Bytes { bytes, .. } => Origin::Bytes(Shared(Arc::new(bytes))),
        };
        match shape(&origin)? {
            Shape::Text => open_text(name, origin, &settings.options),
            Shape::Workbook => open_sheet(name, origin, settings),
        }
    }

    /// The next records (up to `max` of them, blank ones aside), `None` at the end of the file.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, FileError> {
        let mut batch = Batch::default();
        let mut read = 0;
        while read < max.max(1) {
            let result = match &mut self.body {
                Body::Text {
                    records, record, ..
                } => {
                    if !records.read_record(record).map_err(|e| csv_error(&e))? {
                        break;
                    }
                    let line = record.position().map_or(0, csv::Position::line);
                    self.rows.read(line, &record_cells(record))
                }
                Body::Sheet {
                    range,
                    first_line,
                    width,
                    next,
                } => {
                    let Some(row) = range.rows().nth(*next) else {
                        break;
                    };
                    let line = *first_line + *next as u64;
                    *next += 1;
                    self.rows.read(line, &sheet_cells(row, *width))
                }
            };
            match result {
                Some(Ok(row)) => batch.rows.push(row),
                Some(Err(errors)) => batch.refused.extend(errors),
                None => continue,
            }
            read += 1;
        }
        if batch.rows.is_empty() && batch.refused.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    /// `(done, total)` for a progress bar: bytes of a text file, rows of a sheet.
    pub fn progress(&self) -> (u64, u64) {
        match &self.body {
            Body::Text {
                consumed, total, ..
            } => (consumed.load(Ordering::Relaxed).min(*total), *total),
            Body::Sheet { range, next, .. } => {
                let rows = range.height().saturating_sub(1) as u64;
                ((*next as u64).saturating_sub(1).min(rows), rows)
            }
        }
    }
}

/// Counts the bytes read through it, for progress while the csv reader pulls.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The file's encoding and the length of its BOM: a BOM names it (and the rest must be valid
/// in it); else the whole file must be strict UTF-8; else it is GB18030 if it is valid as
/// that. Never GB18030 first: almost any bytes decode as GB18030, UTF-8 text included.
fn detect(origin: &Origin) -> Result<(FileEncoding, usize), FileError> {
    let mut start = [0u8; 3];
    let n = fill(&mut origin.open()?, &mut start)?;
    let (named, skip) = match bom(&start[..n]) {
        Some((encoding, len)) => (Some(encoding), len),
        None => (None, 0),
    };
    let candidates = match named {
        Some(encoding) => vec![encoding],
        None => vec![FileEncoding::Utf8, FileEncoding::Gb18030],
    };
    let mut last = FileEncoding::Utf8;
    for encoding in candidates {
        last = encoding;
        let mut from = origin.open()?;
        let mut skipped = vec![0u8; skip];
        fill(&mut from, &mut skipped)?;
        let mut check = EncodingCheck::new(encoding);
        let mut buf = vec![0u8; CHUNK];
        let valid = loop {
            let n = fill(&mut from, &mut buf)?;
            let end = n < buf.len();
            if !check.feed(&buf[..n], end) {
                break false;
            }
            if end {
                break true;
            }
        };
        if valid {
            return Ok((encoding, skip));
        }
    }
    Err(FileError::Undecodable { encoding: last })
}

/// The file's text as UTF-8, from its start (the BOM skipped), decoded as it is read.
/// `count` sees the file's own bytes.
fn text(
    origin: &Origin,
    encoding: FileEncoding,
    skip: usize,
    count: Option<Arc<AtomicU64>>,
) -> Result<Box<dyn Read + Send>, FileError> {
    let mut raw: Box<dyn Read + Send> = match count {
        Some(count) => Box::new(Counting {
            inner: origin.open()?,
            count,
        }),
        None => origin.open()?,
    };
    let mut skipped = vec![0u8; skip];
    fill(&mut raw, &mut skipped)?;
    Ok(match encoding {
        // Already checked to be valid UTF-8: it goes to the csv reader as it is.
        FileEncoding::Utf8 | FileEncoding::Utf8Bom => raw,
        other => Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(other.decoder()))
                .build(raw),
        ),
    })
}

fn open_text(name: String, origin: Origin, options: &ReadOptions) -> Result<FileReader, FileError> {
    let total = origin.len()?;
    let (encoding, skip) = detect(&origin)?;
    let sample = {
        let mut start = vec![0u8; SNIFF_BYTES];
        let n = fill(&mut text(&origin, encoding, skip, None)?, &mut start)?;
        // A character cut at the end of the sample only costs the sniffer a U+FFFD.
        String::from_utf8_lossy(&start[..n]).into_owned()
    };
    let delimiter = sniff(&sample);

    let mut records = csv_builder(delimiter, &sample)
        .buffer_capacity(CHUNK)
        .from_reader(text(&origin, encoding, skip, None)?);
    let mut record = csv::StringRecord::new();
    if !records
        .read_record(&mut record)
        .map_err(|e| csv_error(&e))?
    {
        return Err(FileError::Empty);
    }
    let header_line = record.position().map_or(1, csv::Position::line);
    let headers_read = record_header(&record);
    let mapping = map_headers(&headers_read, options)?;
    let mut scan = ColumnScan::new(&mapping, Some(delimiter));
    while records
        .read_record(&mut record)
        .map_err(|e| csv_error(&e))?
    {
        let line = record.position().map_or(0, csv::Position::line);
        scan.feed(line, &record_cells(&record));
    }
    let decided = scan.finish(&headers_read, options)?;
    let date_order = decided.date_order;

    let consumed = Arc::new(AtomicU64::new(0));
    let mut records = csv_builder(delimiter, &sample)
        .buffer_capacity(CHUNK)
        .from_reader(text(&origin, encoding, skip, Some(consumed.clone()))?);
    // The header again, which the first pass already read.
    if !records
        .read_record(&mut record)
        .map_err(|e| csv_error(&e))?
    {
        return Err(FileError::Csv {
            line: header_line,
            reason: "the file changed while it was read".to_string(),
        });
    }
    Ok(FileReader {
        info: FileInfo {
            name,
            format: "csv",
            encoding: Some(encoding),
            delimiter: Some(delimiter),
            sheet: None,
            headers: headers_read.clone(),
            mapping: mapping.clone(),
            date_order,
        },
        rows: RowReader::new(headers_read, &mapping, decided, options.currency),
        body: Body::Text {
            records,
            record,
            consumed,
            total,
        },
    })
}

fn open_sheet(
    name: String,
    origin: Origin,
    settings: &ReadSettings,
) -> Result<FileReader, FileError> {
    let workbook = |e: calamine::Error| FileError::Workbook(e.to_string());
    let mut book = match &origin {
        // calamine tries each format on a clone of the reader, so a path is opened once per
        // try; a byte buffer is shared.
        Origin::Path(p) => {
            let file = File::open(p).map_err(|e| unreadable(p, &e))?;
            calamine::open_workbook_auto_from_rs(SharedFile(Arc::new(file), 0))
                .map(Book::File)
                .map_err(workbook)?
        }
        Origin::Bytes(b) => calamine::open_workbook_auto_from_rs(Cursor::new(b.clone()))
            .map(Book::Bytes)
            .map_err(workbook)?,
    };
    let (format, sheets) = book.names();
    let sheet = match &settings.sheet {
        Some(wanted) => sheets
            .iter()
            .find(|s| *s == wanted)
            .or_else(|| sheets.iter().find(|s| s.eq_ignore_ascii_case(wanted)))
            .cloned()
            .ok_or_else(|| FileError::UnknownSheet {
                sheet: wanted.clone(),
                sheets: sheets.clone(),
            })?,
        None => sheets.first().cloned().ok_or(FileError::Empty)?,
    };
    let range = book.range(&sheet)?;
    let mut rows = range.rows();
    let header_row = rows.next().ok_or(FileError::Empty)?;
    let headers_read: Vec<String> = {
        let mut h: Vec<String> = header_row.iter().map(|c| c.to_string()).collect();
        while h.last().is_some_and(|c| c.trim().is_empty()) {
            h.pop();
        }
        h
    };
    if headers_read.is_empty() {
        return Err(FileError::Empty);
    }
    let first_line = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
    let width = headers_read.len();
    let options = &settings.options;
    let mapping = map_headers(&headers_read, options)?;
    let mut scan = ColumnScan::new(&mapping, None);
    for (i, row) in rows.enumerate() {
        scan.feed(first_line + 1 + i as u64, &sheet_cells(row, width));
    }
    let decided = scan.finish(&headers_read, options)?;
    Ok(FileReader {
        info: FileInfo {
            name,
            format,
            encoding: None,
            delimiter: None,
            sheet: Some(sheet),
            headers: headers_read.clone(),
            mapping: mapping.clone(),
            date_order: decided.date_order,
        },
        rows: RowReader::new(headers_read, &mapping, decided, options.currency),
        body: Body::Sheet {
            range,
            first_line,
            width,
            next: 1,
        },
    })
}

/// A workbook opened from a path or from bytes.
enum Book {
    File(calamine::Sheets<SharedFile>),
    Bytes(calamine::Sheets<Cursor<Shared>>),
}

impl Book {
    fn names(&self) -> (&'static str, Vec<String>) {
        fn of<RS: Read + Seek>(s: &calamine::Sheets<RS>) -> (&'static str, Vec<String>) {
            let format = match s {
                calamine::Sheets::Xls(_) => "xls",
                calamine::Sheets::Xlsx(_) => "xlsx",
                calamine::Sheets::Xlsb(_) => "xlsb",
                calamine::Sheets::Ods(_) => "ods",
            };
            (format, s.sheet_names())
        }
        match self {
            Book::File(s) => of(s),
            Book::Bytes(s) => of(s),
        }
    }

    fn range(&mut self, sheet: &str) -> Result<Range<Data>, FileError> {
        let result = match self {
            Book::File(s) => s.worksheet_range(sheet),
            Book::Bytes(s) => s.worksheet_range(sheet),
        };
        result.map_err(|e| FileError::Workbook(e.to_string()))
    }
}

/// A file calamine can clone for each format it tries: each clone reads at its own position
/// (`pread`-style through `&File`), so the clones do not move each other.
#[derive(Clone)]
struct SharedFile(Arc<File>, u64);

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.0.read_at(buf, self.1)?;
        self.1 += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let len = self.0.metadata()?.len();
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.1.checked_add_signed(d),
        };
        self.1 = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.1)
    }
}

/// One sheet row as the domain's cells, `width` of them unless something is written past the
/// header (then the row is refused for its width, as a text file's would be).
fn sheet_cells(row: &[Data], width: usize) -> Vec<RawCell<'_>> {
    let used = row
        .iter()
        .rposition(|c| !matches!(c, Data::Empty))
        .map_or(0, |i| i + 1);
    let mut cells: Vec<RawCell<'_>> = row[..used.max(width.min(row.len()))]
        .iter()
        .map(raw_cell)
        .collect();
    cells.resize(cells.len().max(width), RawCell::Text(""));
    cells
}

fn raw_cell(cell: &Data) -> RawCell<'_> {
    match cell {
        Data::Empty => RawCell::Text(""),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => RawCell::Text(s),
        Data::Float(f) => RawCell::Number(*f),
        // Exact for every integer a spreadsheet can hold (they are floats there).
        Data::Int(i) => RawCell::Number(*i as f64),
        Data::Bool(true) => RawCell::Text("TRUE"),
        Data::Bool(false) => RawCell::Text("FALSE"),
        Data::DateTime(d) => match d.as_datetime() {
            Some(at) if !d.is_duration() => RawCell::Date(at),
            _ => RawCell::Number(d.as_f64()),
        },
        Data::Error(e) => RawCell::Text(match e {
            calamine::CellErrorType::Div0 => "#DIV/0!",
            calamine::CellErrorType::NA => "#N/A",
            calamine::CellErrorType::Name => "#NAME?",
            calamine::CellErrorType::Null => "#NULL!",
            calamine::CellErrorType::Num => "#NUM!",
            calamine::CellErrorType::Ref => "#REF!",
            calamine::CellErrorType::Value => "#VALUE!",
            calamine::CellErrorType::GettingData => "#DATA!",
        }),
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;

// The importer moves a reader in and out of `spawn_blocking`.
const _: fn() = || {
    fn send<T: Send + 'static>() {}
    send::<FileReader>();
};
