//! Manifest sources: each yields `Item`s one at a time, never the whole manifest.
//!
//! A manifest is first made into a local, re-readable file (`ManifestFile`): a local
//! path is used in place; stdin and S3 objects are spooled once to a temporary file.
//! Validation reads it once and the launch reads it again, so both passes see the
//! very same bytes.

mod csv;
mod json;
mod location;

use serde_json::{Map, Value};
use std::fmt;

pub use location::{Location, ManifestFile};

/// The fields of one row: CSV header → string, or a JSON object as given.
pub type Fields = Map<String, Value>;

/// One row of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// 1-based data row number.
    pub row: u64,
    /// The line a person opens to see the row (where a CSV record starts, the JSON
    /// Lines line); `None` where lines mean nothing (an element of a JSON array).
    pub line: Option<u64>,
    pub fields: Fields,
}

/// The manifest's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
}

impl Format {
    /// The format a file name implies: `.csv`, `.json`, `.jsonl`/`.ndjson`, each
    /// optionally followed by `.gz`.
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// A manifest that could not be read: names the file and, where known, the row.
#[derive(Debug, thiserror::Error)]
pub struct ManifestError {
    pub file: String,
    pub row: Option<u64>,
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}: {}",
            self.file,
            place(self.row, self.line),
            self.message
        )
    }
}

/// `: row 3 (line 4)`, `: row 3`, `: line 1` or nothing: where in a manifest.
pub fn place(row: Option<u64>, line: Option<u64>) -> String {
    match (row, line) {
        (Some(row), Some(line)) => format!(": row {row} (line {line})"),
        (Some(row), None) => format!(": row {row}"),
        (None, Some(line)) => format!(": line {line}"),
        (None, None) => String::new(),
    }
}

/// What the reader of items wants next.
pub enum Flow {
    Continue,
    Stop,
}

/// Options that shape how a manifest is parsed.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    pub format: Format,
    pub delimiter: u8,
}

/// Reads every item of `file` in order and hands it to `each`, which may stop early.
/// Runs synchronously: call it from a blocking thread.
pub fn for_each_item(
    file: &ManifestFile,
    options: ParseOptions,
    each: impl FnMut(Item) -> Flow,
) -> Result<(), ManifestError> {
    let reader = file.open().map_err(|e| ManifestError {
        file: file.display_name().to_string(),
        row: None,
        line: None,
        message: format!("cannot open: {e}"),
    })?;
    let at = |row, line, message| ManifestError {
        file: file.display_name().to_string(),
        row,
        line,
        message,
    };
    match options.format {
        Format::Csv => csv::read(reader, options.delimiter, each, &at),
        Format::Json => json::read_array(reader, each, &at),
        Format::Jsonl => json::read_lines(reader, each, &at),
    }
}

/// Builds a `ManifestError` for a row and line; lets the readers stay ignorant of
/// the file's name.
type ErrorAt<'a> = &'a dyn Fn(Option<u64>, Option<u64>, String) -> ManifestError;
