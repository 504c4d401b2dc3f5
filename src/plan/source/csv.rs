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
    if next(&mut csv, &mut record, None, at)
        .map_err(Unread::into_error)?
        .is_none()
    {
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
    let mut ragged = Ragged::default();
    // Where the last record read starts: a quote it opened and never closed took
    // the rest of the file into its last field.
    let mut last = (None, None);
    let mut at_the_end = false;
    for row in 1.. {
        let line = match next(&mut csv, &mut record, Some(row), at) {
            Ok(Some(line)) => line,
            Ok(None) => {
                at_the_end = true;
                break;
            }
            Err(Unread::Ragged(error)) => {
                last = (error.row, error.line);
                ragged.add(error);
                continue;
            }
            Err(Unread::Fatal(error)) => return Err(error),
        };
        last = (Some(row), Some(line));
        // Past a ragged record, the file is only read on for the others.
        if ragged.count > 0 {
            continue;
        }
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
    if at_the_end && csv.get_ref().ends_inside_quotes(delimiter) {
        let (row, line) = last;
        let start = line.map_or(String::new(), |l| format!(" starting on line {l}"));
        return Err(at(
            row,
            line,
            format!("has an unterminated quote{start}: it runs to the end of the file"),
        ));
    }
    ragged.into_result()
}

/// How many ragged records are named in the error.
const RAGGED_SHOWN: usize = 20;

/// Records with more or fewer fields than the header: the first few, and how many.
#[derive(Default)]
struct Ragged {
    first: Vec<ManifestError>,
    count: u64,
}

impl Ragged {
    fn add(&mut self, error: ManifestError) {
        self.count += 1;
        if self.first.len() < RAGGED_SHOWN {
            self.first.push(error);
        }
    }

    /// One error naming the first ragged records, one a line.
    fn into_result(self) -> Result<(), ManifestError> {
        let mut errors = self.first.into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            first.message += &format!("\n{error}");
        }
        let more = self.count.saturating_sub(RAGGED_SHOWN as u64);
        if more > 0 {
            first.message += &format!("\n... and {more} more");
        }
        if self.count > 1 {
            first.message += &format!(
                "\n{} records do not have as many fields as the header",
                self.count
            );
        }
        Err(first)
    }
}

/// Why a record could not be read.
enum Unread {
    /// It has more or fewer fields than the header: the records after it can still
    /// be read, to name them too.
    Ragged(ManifestError),
    /// Nothing after it can be trusted.
    Fatal(ManifestError),
}

impl Unread {
    fn into_error(self) -> ManifestError {
        match self {
            Unread::Ragged(error) | Unread::Fatal(error) => error,
        }
    }
}

/// Reads the next record; returns the line it starts on, or `None` at the end.
fn next<R: Read>(
    csv: &mut csv::Reader<Tap<R>>,
    record: &mut csv::StringRecord,
    row: Option<u64>,
    at: ErrorAt,
) -> Result<Option<u64>, Unread> {
    let read = csv.read_record(record);
    let mut line_of = |p: &csv::Position| p.line() + csv.get_mut().newlines_from(p.byte());
    match read {
        Ok(false) => Ok(None),
        Ok(true) => {
            let line = line_of(record.position().expect("a read record has a position"));
            // A NUL is valid UTF-8 but no CSV a person wrote has one: it is nearly
            // always a UTF-16 export (spreadsheet "Unicode text") or a binary file.
            match record.iter().position(|field| field.contains('\0')) {
                Some(field) => Err(Unread::Fatal(at(
                    row,
                    Some(line),
                    format!(
                        "has a NUL byte (field {}): is the file UTF-16 or binary? \
                         save it as UTF-8 text",
                        field + 1
                    ),
                ))),
                None => Ok(Some(line)),
            }
        }
        Err(e) => {
            let line = e.position().map(&mut line_of);
            let ragged = matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
            let error = error(e, row, line, at);
            Err(match ragged {
                true => Unread::Ragged(error),
                false => Unread::Fatal(error),
            })
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

impl<R> Tap<R> {
    /// Whether the bytes from the last record's start to the end of the file end
    /// inside a quoted field: a quote opens a field only at its start, and `""`
    /// within one is a quote, as the CSV parser reads them. Called at the end of
    /// the file, when those bytes are all that is left in the window.
    fn ends_inside_quotes(&self, delimiter: u8) -> bool {
        let mut inside = false;
        let mut at_field_start = true;
        let mut bytes = self.window.iter().copied().peekable();
        while let Some(byte) = bytes.next() {
            match (inside, byte) {
                (true, b'"') if bytes.peek() == Some(&b'"') => {
                    bytes.next();
                }
                (true, b'"') => inside = false,
                (true, _) => {}
                (false, b'"') if at_field_start => inside = true,
                (false, _) => {}
            }
            at_field_start = !inside && (byte == delimiter || byte == b'\n' || byte == b'\r');
        }
        inside
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.extend(&buf[..n]);
        Ok(n)
    }
}
