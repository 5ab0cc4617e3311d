//! From bytes to text and records: the encoding (BOM, strict UTF-8, then GB18030), the sniffed
//! delimiter, and the csv crate's records with the line each one starts on.

use super::{FileEncoding, FileError};

/// Decodes `bytes` in the documented order. GB18030 comes only after strict UTF-8 fails, since
/// almost any byte string decodes as GB18030 and would turn a UTF-8 file into mojibake.
pub(super) fn decode(bytes: &[u8]) -> Result<(String, FileEncoding), FileError> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let which = if encoding == encoding_rs::UTF_8 {
            FileEncoding::Utf8Bom
        } else if encoding == encoding_rs::UTF_16LE {
            FileEncoding::Utf16Le
        } else {
            FileEncoding::Utf16Be
        };
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if had_errors {
            return Err(FileError::Undecodable { encoding: which });
        }
        return Ok((text.into_owned(), which));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_string(), FileEncoding::Utf8));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(FileError::Undecodable {
            encoding: FileEncoding::Gb18030,
        });
    }
    Ok((text.into_owned(), FileEncoding::Gb18030))
}

/// The delimiters a file may use, in the order a tie is broken.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many records the sniffer looks at.
const SNIFF_RECORDS: usize = 20;

/// Picks the delimiter that gives every one of the first records the same number of columns,
/// the most columns among those; counts only outside quotes, so a quoted `1,5` or a quoted
/// newline does not mislead it. A one-column file reads as `,`.
pub(super) fn sniff(text: &str) -> u8 {
    let mut counts: Vec<[usize; 4]> = vec![[0; 4]];
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
            continue;
        }
        if quoted {
            continue;
        }
        if c == '\n' {
            if counts.len() >= SNIFF_RECORDS {
                break;
            }
            counts.push([0; 4]);
            continue;
        }
        if let Some(i) = DELIMITERS.iter().position(|d| char::from(*d) == c) {
            if let Some(last) = counts.last_mut() {
                last[i] += 1;
            }
        }
    }
    // A trailing newline leaves an empty last record that says nothing.
    if counts.len() > 1 && counts.last().is_some_and(|c| c.iter().all(|n| *n == 0)) {
        counts.pop();
    }
    let mut best: Option<(usize, usize)> = None;
    for i in 0..DELIMITERS.len() {
        let first = counts[0][i];
        let consistent = first > 0 && counts.iter().all(|c| c[i] == first);
        if consistent && best.is_none_or(|(_, n)| first > n) {
            best = Some((i, first));
        }
    }
    let fallback = || {
        (0..DELIMITERS.len())
            .max_by_key(|i| (counts[0][*i], std::cmp::Reverse(*i)))
            .filter(|i| counts[0][*i] > 0)
            .unwrap_or(0)
    };
    DELIMITERS[best.map_or_else(fallback, |(i, _)| i)]
}

/// One record as read, before any column means anything.
pub(super) struct Record {
    /// The 1-based line the record starts on (a quoted newline makes a record span lines).
    pub line: u64,
    pub cells: Vec<String>,
}

/// Splits `text` into its header and records. Records of the wrong width are kept: the caller
/// refuses them one by one.
pub(super) fn records(text: &str, delimiter: u8) -> Result<(Vec<String>, Vec<Record>), FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for result in reader.records() {
        let record = result.map_err(|e| FileError::Csv {
            line: e.position().map_or(0, csv::Position::line),
            reason: e.to_string(),
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if header.is_none() {
            header = Some(cells);
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            rows.push(Record { line, cells });
        }
    }
    let header = header.ok_or(FileError::Empty)?;
    Ok((header, rows))
}
