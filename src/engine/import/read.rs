//! Opening an import file and reading it in batches of typed rows: the I/O around
//! `domain::import`, which decides what every cell says.

use std::path::PathBuf;

use crate::domain::import::{
    read_csv, DateOrder, FileEncoding, FileError, Mapping, ReadOptions, Row, RowError,
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
    /// `csv`, `xlsx` or `xls`.
    pub format: &'static str,
    /// The text encoding (`None` for a workbook).
    pub encoding: Option<FileEncoding>,
    /// The delimiter (`None` for a workbook).
    pub delimiter: Option<u8>,
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

/// An open file, read batch by batch.
pub struct FileReader {
    pub info: FileInfo,
    rows: std::vec::IntoIter<Row>,
    refused: Vec<RowError>,
    total: u64,
    done: u64,
}

impl FileReader {
    /// Opens and checks a file: encoding, delimiter, header mapping and the day/month order
    /// of its date columns. A file-wide problem is an error and nothing of it is written.
    pub fn open(input: Input, settings: &ReadSettings) -> Result<FileReader, FileError> {
        let name = input.name();
        let bytes = match input {
            Input::Path(p) => std::fs::read(&p).map_err(|e| FileError::Csv {
                line: 0,
                reason: format!("cannot read {}: {e}", p.display()),
            })?,
            Input::Bytes { bytes, .. } => bytes,
        };
        let table = read_csv(&bytes, &settings.options)?;
        let total = (table.rows.len() + table.refused.len()) as u64;
        Ok(FileReader {
            info: FileInfo {
                name,
                format: "csv",
                encoding: Some(table.encoding),
                delimiter: Some(table.delimiter),
                headers: table.headers,
                mapping: table.mapping,
                date_order: table.date_order,
            },
            rows: table.rows.into_iter(),
            refused: table.refused,
            total,
            done: 0,
        })
    }

    /// The next records, `None` at the end of the file.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, FileError> {
        let rows: Vec<Row> = self.rows.by_ref().take(max.max(1)).collect();
        let refused = std::mem::take(&mut self.refused);
        if rows.is_empty() && refused.is_empty() {
            return Ok(None);
        }
        self.done += (rows.len() + refused.len()) as u64;
        Ok(Some(Batch { rows, refused }))
    }

    /// `(done, total)` in whatever unit the reader counts (records or bytes), for a progress bar.
    pub fn progress(&self) -> (u64, u64) {
        (self.done, self.total)
    }
}
