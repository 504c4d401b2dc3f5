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
    read_items(reader, file.display_name(), options, each)
}

/// Parses manifest bytes (already decompressed) from any reader; `name` is the
/// file that errors name.
pub fn read_items(
    reader: impl std::io::BufRead,
    name: &str,
    options: ParseOptions,
    each: impl FnMut(Item) -> Flow,
) -> Result<(), ManifestError> {
    let at = |row, line, message| ManifestError {
        file: name.to_string(),
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn read(format: Format, content: impl AsRef<[u8]>) -> Result<Vec<Item>, ManifestError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content.as_ref()).unwrap();
        let manifest = ManifestFile::local("m", file.path());
        let mut items = Vec::new();
        let options = ParseOptions {
            format,
            delimiter: b',',
        };
        for_each_item(&manifest, options, |item| {
            items.push(item);
            Flow::Continue
        })?;
        Ok(items)
    }

    fn lines(items: &[Item]) -> Vec<Option<u64>> {
        items.iter().map(|i| i.line).collect()
    }

    #[test]
    fn csv_lines_point_at_where_records_start() {
        let lf = "a,b\n1,x\n\n2,y\n3,\"p\nq\"\n4,z\n";
        let crlf = lf.replace('\n', "\r\n");
        for content in [lf.to_string(), crlf] {
            let items = read(Format::Csv, &content).unwrap();
            assert_eq!(
                lines(&items),
                [Some(2), Some(4), Some(5), Some(7)],
                "{content:?}"
            );
            assert_eq!(
                items.iter().map(|i| i.row).collect::<Vec<_>>(),
                [1, 2, 3, 4]
            );
        }
    }

    #[test]
    fn csv_errors_name_the_row_and_line() {
        let err = read(Format::Csv, "a,b\n1,2\n\n3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 2 (line 4): has 1 fields, the header has 2"
        );
        let err = read(Format::Csv, "a,a\n1,2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: line 1: column `a` appears twice in the header"
        );
    }

    #[test]
    fn jsonl_rows_and_lines_differ_by_blank_lines() {
        let items = read(Format::Jsonl, "{\"a\":1}\n\n{\"a\":\"x\u{2028}y\"}\n").unwrap();
        assert_eq!(lines(&items), [Some(1), Some(3)]);
        assert_eq!(items[1].fields["a"], "x\u{2028}y");
        let err = read(Format::Jsonl, "{\"a\":1}\n\n[1]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 2 (line 3): is an array, expected a JSON object"
        );
        let err = read(Format::Jsonl, "{\"a\":\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("m: row 1 (line 1): invalid JSON"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_syntax_errors_give_the_column_not_a_second_line() {
        let err = read(Format::Jsonl, "{\"a\":1}\n{\"a\":2}\n{\"a\": nope}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 3 (line 3): invalid JSON at column 8: expected ident"
        );
        let err = read(Format::Jsonl, "{\"a\":1}\n{\"a\":2}\n{\"a\":\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 3 (line 3): invalid JSON at column 5: EOF while parsing a value"
        );
    }

    #[test]
    fn a_truncated_gzip_file_is_named_as_such_in_every_format() {
        use flate2::{Compression, write::GzEncoder};
        let values: Vec<String> = (0..2000).map(|i| format!("{{\"a\":{i}}}")).collect();
        let csv: String = (0..2000).map(|i| format!("{i}\n")).collect();
        for (format, content) in [
            (Format::Csv, format!("a\n{csv}")),
            (Format::Json, format!("[{}]", values.join(","))),
            (Format::Jsonl, values.join("\n")),
        ] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(content.as_bytes()).unwrap();
            let gz = gz.finish().unwrap();
            let err = read(format, &gz[..gz.len() / 2]).unwrap_err().to_string();
            assert!(
                err.contains("cannot decompress gzip, the file is truncated or corrupt")
                    && !err.contains("invalid JSON"),
                "{format:?}: {err}"
            );
        }
    }

    #[test]
    fn json_array_elements_must_be_objects() {
        let items = read(Format::Json, "[{\"a\":1},\n{\"a\":2}]").unwrap();
        assert_eq!(items.len(), 2);
        let err = read(Format::Json, "[{\"a\":1}, 7]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 2: is a number, expected a JSON object"
        );
        let err = read(Format::Json, "[{\"a\":1},").unwrap_err();
        assert!(
            err.to_string().starts_with("m: line 1: invalid JSON"),
            "{err}"
        );
        assert!(read(Format::Json, "{\"a\":1}").is_err());
    }

    #[test]
    fn format_from_name() {
        assert_eq!(Format::from_name("x.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_name("s3://b/x.ndjson.gz"), Some(Format::Jsonl));
        assert_eq!(Format::from_name("x.json.gz"), Some(Format::Json));
        assert_eq!(Format::from_name("x.txt"), None);
        assert_eq!(Format::from_name("x"), None);
    }
}
