//! From bytes to text and records: the encoding (BOM, strict UTF-8, then GB18030), the sniffed
//! delimiter, and the csv crate's records with the line each one starts on. [`decode`] takes a
//! whole file at once; [`bom`] and [`EncodingCheck`] let a reader decide the encoding of a file
//! it streams, chunk by chunk.

use super::{FileEncoding, FileError};

impl FileEncoding {
    /// The decoder for this encoding (a BOM, if any, is the caller's to skip).
    pub fn decoder(self) -> &'static encoding_rs::Encoding {
        match self {
            FileEncoding::Utf8 | FileEncoding::Utf8Bom => encoding_rs::UTF_8,
            FileEncoding::Utf16Le => encoding_rs::UTF_16LE,
            FileEncoding::Utf16Be => encoding_rs::UTF_16BE,
            FileEncoding::Gb18030 => encoding_rs::GB18030,
        }
    }
}

/// The encoding a file's byte order mark names and the mark's length, from its first bytes
/// (three are enough).
pub fn bom(start: &[u8]) -> Option<(FileEncoding, usize)> {
    let (encoding, len) = encoding_rs::Encoding::for_bom(start)?;
    let which = if encoding == encoding_rs::UTF_8 {
        FileEncoding::Utf8Bom
    } else if encoding == encoding_rs::UTF_16LE {
        FileEncoding::Utf16Le
    } else {
        FileEncoding::Utf16Be
    };
    Some((which, len))
}

/// Checks that a stream of bytes (after any BOM) is valid in one encoding, strictly: a byte
/// sequence the encoding has no character for fails, where a decoder would put U+FFFD and go
/// on. Fed chunk by chunk; a character split between chunks is fine.
pub struct EncodingCheck {
    decoder: encoding_rs::Decoder,
    scratch: Vec<u8>,
    valid: bool,
}

impl EncodingCheck {
    pub fn new(encoding: FileEncoding) -> EncodingCheck {
        EncodingCheck {
            decoder: encoding.decoder().new_decoder_without_bom_handling(),
            scratch: vec![0; 64 * 1024],
            valid: true,
        }
    }

    /// Takes the next chunk (`last` for the final one, which may be empty) and says whether
    /// everything so far was valid.
    pub fn feed(&mut self, mut chunk: &[u8], last: bool) -> bool {
        while self.valid {
            let (result, read, _) =
                self.decoder
                    .decode_to_utf8_without_replacement(chunk, &mut self.scratch, last);
            chunk = &chunk[read..];
            match result {
                encoding_rs::DecoderResult::InputEmpty => break,
                encoding_rs::DecoderResult::OutputFull => continue,
                encoding_rs::DecoderResult::Malformed(_, _) => self.valid = false,
            }
        }
        self.valid
    }
}

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
pub fn sniff(text: &str) -> u8 {
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

/// The csv reader every delimited file is read with: no header handling (the first record is
/// the header, read like the others) and records of any width, which the row reader refuses
/// one by one. Records end at `\n`, so that the csv crate's line numbers are right for
/// Excel's CRLF files (with its CRLF terminator a record after `\r\n` is placed a line too
/// early); the `\r` left on a record's last cell is taken off by [`record_cells`]. Only a file
/// whose `sample` (its start) has `\r` and no `\n` at all, an old Mac file, ends records at
/// `\r`.
pub fn csv_builder(delimiter: u8, sample: &str) -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true);
    if sample.contains('\n') || !sample.contains('\r') {
        builder.terminator(csv::Terminator::Any(b'\n'));
    }
    builder
}

/// A record's cells, without the `\r` of a CRLF line end.
pub fn record_cells(record: &csv::StringRecord) -> Vec<super::RawCell<'_>> {
    let last = record.len().saturating_sub(1);
    record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let cell = if i == last {
                cell.strip_suffix('\r').unwrap_or(cell)
            } else {
                cell
            };
            super::RawCell::Text(cell)
        })
        .collect()
}

/// The header record's names.
pub fn record_header(record: &csv::StringRecord) -> Vec<String> {
    record_cells(record)
        .into_iter()
        .map(|c| match c {
            super::RawCell::Text(t) => t.to_string(),
            _ => String::new(),
        })
        .collect()
}

/// A csv error as a file error, at the line it happened on.
pub fn csv_error(e: &csv::Error) -> FileError {
    FileError::Csv {
        line: e.position().map_or(0, csv::Position::line),
        reason: e.to_string(),
    }
}
