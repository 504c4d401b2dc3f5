//! CSV with a header row. The `csv` crate handles quoting (commas, quotes and line
//! breaks inside quoted fields, kept byte for byte), CRLF, and skips blank lines.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use serde_json::Value;

use super::{ErrorAt, Fields, Flow, Item, ManifestError, RESERVED_KEY};

const UTF8_BOM: &str = "\u{feff}";

pub(super) fn read(
    reader: impl BufRead,
    delimiter: u8,
    mut each: impl FnMut(Item) -> Flow,
    at: ErrorAt,
) -> Result<(), ManifestError> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(Tap::new(reader));
    let mut record = csv::StringRecord::new();
    if next(&mut csv, &mut record, None, at)?.is_none() {
        return Ok(());
    }
    let header: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i == 0 {
                name.trim_start_matches(UTF8_BOM)
            } else {
                name
            }
        })
        .map(str::to_string)
        .collect();
    if header.iter().any(|h| h == RESERVED_KEY) {
        return Err(at(
            None,
            Some(1),
            format!("column `{RESERVED_KEY}` is a name the JSON library reserves: rename it"),
        ));
    }
    if let Some(dup) = header
        .iter()
        .enumerate()
        .find(|(i, h)| header[..*i].contains(h))
    {
        return Err(at(
            None,
            Some(1),
            format!("column `{}` appears twice in the header", dup.1),
        ));
    }
    for row in 1.. {
        let Some(line) = next(&mut csv, &mut record, Some(row), at)? else {
            break;
        };
        let fields: Fields = header
            .iter()
            .zip(record.iter())
            .map(|(name, value)| (name.clone(), Value::String(value.to_string())))
            .collect();
        if let Flow::Stop = each(Item {
            row,
            line: Some(line),
            fields,
        }) {
            break;
        }
    }
    Ok(())
}

/// Reads the next record; returns the line it starts on, or `None` at the end.
fn next<R: Read>(
    csv: &mut csv::Reader<Tap<R>>,
    record: &mut csv::StringRecord,
    row: Option<u64>,
    at: ErrorAt,
) -> Result<Option<u64>, ManifestError> {
    let read = csv.read_record(record);
    let mut line_of = |p: &csv::Position| p.line() + csv.get_mut().newlines_from(p.byte());
    match read {
        Ok(false) => Ok(None),
        Ok(true) => {
            let line = line_of(record.position().expect("a read record has a position"));
            // A NUL is valid UTF-8 but no CSV a person wrote has one: it is nearly
            // always a UTF-16 export (spreadsheet "Unicode text") or a binary file.
            match record.iter().position(|field| field.contains('\0')) {
                Some(field) => Err(at(
                    row,
                    Some(line),
                    format!(
                        "has a NUL byte (field {}): is the file UTF-16 or binary? \
                         save it as UTF-8 text",
                        field + 1
                    ),
                )),
                None => Ok(Some(line)),
            }
        }
        Err(e) => {
            let line = e.position().map(&mut line_of);
            Err(error(e, row, line, at))
        }
    }
}

fn error(e: csv::Error, row: Option<u64>, line: Option<u64>, at: ErrorAt) -> ManifestError {
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("is not valid UTF-8 (field {})", err.field() + 1)
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields, the header has {expected_len}")
        }
        _ => e.to_string(),
    };
    at(row, line, message)
}

/// Keeps the bytes the CSV parser has read but not yet passed, so that a record's
/// line can be told exactly. The `csv` crate reports a record as starting where the
/// previous one ended: before the `\n` of a CRLF and before skipped blank lines.
struct Tap<R> {
    inner: R,
    /// Bytes from offset `base` on.
    window: VecDeque<u8>,
    base: u64,
}

impl<R> Tap<R> {
    fn new(inner: R) -> Self {
        Tap {
            inner,
            window: VecDeque::new(),
            base: 0,
        }
    }

    /// Line breaks between `offset` (where the parser says a record starts) and its
    /// first byte; forgets everything before `offset`.
    fn newlines_from(&mut self, offset: u64) -> u64 {
        let consumed = (offset - self.base) as usize;
        self.window.drain(..consumed.min(self.window.len()));
        self.base = offset;
        self.window
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .filter(|&&b| b == b'\n')
            .count() as u64
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.extend(&buf[..n]);
        Ok(n)
    }
}
