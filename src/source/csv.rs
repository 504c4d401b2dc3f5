//! CSV with a header row. The `csv` crate handles quoting (commas, quotes and line
//! breaks inside quoted fields, kept byte for byte), CRLF, and skips blank lines.

use std::io::BufRead;

use serde_json::Value;

use super::{ErrorAt, Fields, Flow, Item, ManifestError};

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
        .from_reader(reader);
    let mut records = csv.records();
    let header = match records.next() {
        None => return Ok(()),
        Some(record) => record.map_err(|e| error(e, None, at))?,
    };
    let header: Vec<String> = header
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
    for (index, record) in records.enumerate() {
        let row = index as u64 + 1;
        let record = record.map_err(|e| error(e, Some(row), at))?;
        let line = record.position().map(|p| p.line());
        let fields: Fields = header
            .iter()
            .zip(record.iter())
            .map(|(name, value)| (name.clone(), Value::String(value.to_string())))
            .collect();
        if let Flow::Stop = each(Item { row, line, fields }) {
            break;
        }
    }
    Ok(())
}

fn error(e: csv::Error, row: Option<u64>, at: ErrorAt) -> ManifestError {
    let line = e.position().map(|p| p.line());
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
