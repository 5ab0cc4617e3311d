//! `/export`: the caller's view of the workspace as files attached to the reply. A file over
//! the front-end's upload limit is gzipped, and if it is still too big, split into numbered
//! parts that each start with the header row, so every part opens on its own.

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Command;
use crate::engine::ctx::Ctx;
use crate::engine::export::{
    export, export_bytes, ExportError, ExportFormat, ExportKind, ExportOptions,
};
use crate::engine::manifest::Args;
use crate::engine::{errors, Attachment, EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{Store, Tx};

/// The file formats `/export` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// `/export`, parsed.
#[derive(Clone, Debug)]
pub struct ExportInput {
    kinds: Vec<ExportKind>,
    format: Format,
}

/// Parses `/export kind:… [format:…]` (the manifest holds both to their choices).
pub(super) fn parse(args: &Args) -> EngineResult<Command> {
    let kinds = match args.str("kind").unwrap_or_default() {
        "deals" => vec![ExportKind::Deals],
        "contacts" => vec![ExportKind::Contacts],
        "companies" => vec![ExportKind::Companies],
        "activities" => vec![ExportKind::Activities],
        _ => ExportKind::ALL.to_vec(),
    };
    let format = match args.str("format") {
        Some("xlsx") => Format::Xlsx,
        _ => Format::Csv,
    };
    Ok(Command::Export(ExportInput { kinds, format }))
}

fn stopped(e: ExportError) -> EngineError {
    match e {
        ExportError::Store(e) => e.into(),
        other => EngineError::Unexpected(anyhow::Error::new(other).context("export failed")),
    }
}

/// Runs `/export`: what the caller may see, every row, as attachments no larger than `limit`.
pub(crate) async fn run(
    tx: Tx,
    ctx: &Ctx,
    store: &Store,
    input: ExportInput,
    limit: usize,
) -> EngineResult<Reply> {
    // A rep under `visibility own` gets their own records only (and the companies their
    // lookups would find); everyone else, the team's.
    let owner = ctx.owner_filter();
    tx.commit().await?;
    // The files read from the replica when there is one, once it has what the caller saw.
    let after = store.read_after().await?;
    let mut files = Vec::new();
    let mut lines = Vec::new();
    let mut as_of = None;
    for kind in input.kinds {
        let (done, parts) = match input.format {
            Format::Xlsx => {
                let options = ExportOptions {
                    bom: false,
                    owner,
                    after,
                };
                let (bytes, done) =
                    export_bytes(store, ctx.ws_id(), kind, ExportFormat::Xlsx, options)
                        .await
                        .map_err(stopped)?;
                // A workbook is compressed already and cannot be cut into parts that open on
                // their own; one over the limit is for CSV (split) or `salesbot export`.
                if bytes.len() > limit {
                    return Err(errors::option(
                        "format",
                        Msg::new("export.xlsx_too_large").arg("kind", kind.name()),
                        Msg::new("export.formats"),
                    ));
                }
                let name = format!("{}.xlsx", kind.name());
                (done, vec![attachment(name, XLSX, bytes)])
            }
            Format::Csv => {
                let mut csv = Vec::new();
                // A BOM, since the people who ask in chat mostly open the file in Excel.
                let options = ExportOptions {
                    bom: true,
                    owner,
                    after,
                };
                let done = export(store, ctx.ws_id(), kind, options, &mut csv)
                    .await
                    .map_err(stopped)?;
                (done, package(kind.name(), csv, limit)?)
            }
        };
        let names: Vec<String> = parts.iter().map(|a| a.filename.clone()).collect();
        lines.push(
            ctx.m(Msg::new("export.file")
                .arg("files", names.join(", "))
                .count("rows", done.rows)),
        );
        // The oldest of the files' times, when they were read from a lagging replica.
        as_of = as_of.into_iter().chain(done.as_of).min();
        files.extend(parts);
    }
    if files.len() > MAX_FILES {
        return Err(EngineError::Conflict(
            Msg::new("export.too_many_files")
                .arg("count", files.len())
                .arg("max", MAX_FILES),
        ));
    }
    let mut head = vec![ctx.t(if owner.is_some() {
        "export.head_own"
    } else {
        "export.head"
    })];
    head.extend(lines);
    head.extend(as_of.map(|at| ctx.as_of_note(at)));
    let mut reply = Reply::private(head.join("\n"));
    reply.attachments = files;
    Ok(reply)
}

/// Files one message may carry (Discord's limit); a bigger export is for `salesbot export`.
const MAX_FILES: usize = 10;

const CSV: &str = "text/csv; charset=utf-8";
const GZIP: &str = "application/gzip";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn attachment(filename: String, content_type: &str, data: Vec<u8>) -> Attachment {
    Attachment {
        filename,
        content_type: content_type.to_string(),
        data,
    }
}

fn gzip(bytes: &[u8]) -> EngineResult<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| EngineError::Unexpected(anyhow::Error::new(e).context("gzip failed")))
}

/// A CSV file as attachments of at most `limit` bytes each: as it is, gzipped, or gzipped in
/// numbered parts (`deals.part1.csv.gz`, …), each part the header row and whole records.
///
/// gzip (flate2) rather than zip: one file in, one file out, and every spreadsheet user's
/// system opens it; a CSV shrinks to a fifth or less.
pub fn package(stem: &str, csv: Vec<u8>, limit: usize) -> EngineResult<Vec<Attachment>> {
    if csv.len() <= limit {
        return Ok(vec![attachment(format!("{stem}.csv"), CSV, csv)]);
    }
    let whole = gzip(&csv)?;
    if whole.len() <= limit {
        return Ok(vec![attachment(format!("{stem}.csv.gz"), GZIP, whole)]);
    }
    let starts = record_starts(&csv);
    let header_end = starts.get(1).copied().unwrap_or(csv.len());
    let (header, body) = csv.split_at(header_end);
    let bounds: Vec<(usize, usize)> = starts
        .iter()
        .skip(1)
        .zip(starts.iter().skip(2).chain(std::iter::once(&csv.len())))
        .map(|(a, b)| (a - header_end, b - header_end))
        .collect();
    // The first guess assumes the parts compress like the whole; a part that does not fit is
    // cut again with a smaller aim.
    let ratio = csv.len() as f64 / whole.len().max(1) as f64;
    let mut aim = ((limit as f64) * ratio * 0.9) as usize;
    loop {
        let mut parts = Vec::new();
        let mut fits = true;
        let mut from = 0;
        while from < bounds.len() {
            let start = bounds[from].0;
            let mut to = from + 1;
            while to < bounds.len() && bounds[to].1 - start + header.len() <= aim {
                to += 1;
            }
            let mut part = header.to_vec();
            part.extend_from_slice(&body[start..bounds[to - 1].1]);
            let packed = gzip(&part)?;
            // One record that will not fit whatever the aim is sent as it is rather than lost.
            if packed.len() > limit && to - from > 1 {
                fits = false;
                break;
            }
            parts.push(packed);
            from = to;
        }
        if fits {
            return Ok(parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| attachment(format!("{stem}.part{}.csv.gz", i + 1), GZIP, p))
                .collect());
        }
        aim /= 2;
    }
}

/// The byte offset where each record starts (the header's is 0), read with the csv crate so a
/// quoted field with line breaks stays in one record.
fn record_starts(csv: &[u8]) -> Vec<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut record = csv::ByteRecord::new();
    let mut starts = Vec::new();
    loop {
        let mut at = reader.position().byte() as usize;
        // A record ends at its CR; the reader takes the LF of a CRLF with the next one, which
        // must start after it, so that every part keeps whole CRLF records.
        if at > 0 && csv.get(at - 1) == Some(&b'\r') && csv.get(at) == Some(&b'\n') {
            at += 1;
        }
        match reader.read_byte_record(&mut record) {
            Ok(true) => starts.push(at),
            _ => break,
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(bytes: &[u8]) -> String {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut out)
            .expect("gzip");
        out
    }

    /// A file as the export writes it: CRLF records (RFC 4180), a quoted line break in each.
    fn sample(rows: usize) -> Vec<u8> {
        let mut csv = "\u{feff}number,title,note\r\n".to_string();
        for i in 0..rows {
            // Varied text so gzip cannot squeeze it to nothing.
            csv.push_str(&format!(
                "{i},\"Deal {i}\nsecond line\",{:x}{:x}\r\n",
                i.wrapping_mul(2654435761),
                i.wrapping_mul(40503)
            ));
        }
        csv.into_bytes()
    }

    #[test]
    fn small_files_go_as_they_are_and_large_ones_gzipped() {
        let csv = sample(10);
        let files = package("deals", csv.clone(), 1 << 20).expect("package");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].filename, "deals.csv");
        assert_eq!(files[0].data, csv);

        let files = package("deals", csv.clone(), csv.len() - 1).expect("package");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].filename, "deals.csv.gz");
        assert_eq!(gunzip(&files[0].data).into_bytes(), csv);
    }

    #[test]
    fn too_large_even_gzipped_splits_into_parts_with_the_header() {
        let csv = sample(5_000);
        let limit = 8_000;
        let files = package("deals", csv.clone(), limit).expect("package");
        assert!(files.len() > 2, "{} parts", files.len());
        let mut rows = Vec::new();
        for (i, f) in files.iter().enumerate() {
            assert_eq!(f.filename, format!("deals.part{}.csv.gz", i + 1));
            assert!(
                f.data.len() <= limit,
                "part {} is {} bytes",
                i + 1,
                f.data.len()
            );
            let text = gunzip(&f.data);
            assert!(
                text.starts_with("\u{feff}number,title,note\r\n") && text.ends_with("\r\n"),
                "part {}",
                i + 1
            );
            assert!(
                !text.contains("\r\r") && !text.replace("\r\n", "").contains('\r'),
                "part {}: a CR without its LF",
                i + 1
            );
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            for r in reader.records() {
                rows.push(r.expect("record")[0].to_string());
            }
        }
        let want: Vec<String> = (0..5_000).map(|i| i.to_string()).collect();
        assert_eq!(rows, want, "every row once, in order");
    }
}
