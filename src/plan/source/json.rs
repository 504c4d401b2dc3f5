//! JSON manifests: an array of objects (streamed element by element) or JSON Lines.

use std::fmt;
use std::io::BufRead;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::{ErrorAt, Flow, Item, ManifestError, RESERVED_KEY};

/// A JSON array of objects, read one element at a time so that a huge array never
/// sits in memory.
pub(super) fn read_array(
    reader: impl BufRead,
    each: impl FnMut(Item) -> Flow,
    at: ErrorAt,
) -> Result<(), ManifestError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut visitor = ArrayVisitor {
        each,
        at,
        failure: None,
        stopped: false,
    };
    let parsed = (&mut de).deserialize_seq(&mut visitor);
    if let Some(failure) = visitor.failure {
        return Err(failure);
    }
    if visitor.stopped {
        return Ok(());
    }
    parsed
        .and_then(|()| de.end())
        .map_err(|e| at(None, Some(e.line() as u64), syntax_message(&e)))
}

struct ArrayVisitor<'a, F> {
    each: F,
    at: ErrorAt<'a>,
    /// A row-level error found inside the array; serde only carries strings.
    failure: Option<ManifestError>,
    /// The caller stopped early: the rest of the array is left unread.
    stopped: bool,
}

impl<'de, F: FnMut(Item) -> Flow> Visitor<'de> for &mut ArrayVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut row = 0;
        while let Some(value) = seq.next_element::<Value>()? {
            row += 1;
            let Value::Object(fields) = value else {
                self.failure = Some((self.at)(Some(row), None, not_an_object(&value)));
                return Err(de::Error::custom("row is not an object"));
            };
            if let Flow::Stop = (self.each)(Item {
                row,
                line: None,
                fields,
            }) {
                self.stopped = true;
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// JSON Lines: one object per line, split on `\n` only; blank lines are skipped. The
/// row number counts data rows, the line number counts lines.
pub(super) fn read_lines(
    mut reader: impl BufRead,
    mut each: impl FnMut(Item) -> Flow,
    at: ErrorAt,
) -> Result<(), ManifestError> {
    let mut buf = Vec::new();
    let (mut line, mut row) = (0, 0);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| at(None, Some(line + 1), format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        row += 1;
        // Without its line break the line is all on serde's line 1.
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let fields = match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) if contains(text, RESERVED_KEY) => {
                let message =
                    format!("uses the key `{RESERVED_KEY}`, which the JSON library reserves");
                return Err(at(Some(row), Some(line), message));
            }
            Ok(other) => return Err(at(Some(row), Some(line), not_an_object(&other))),
            Err(e) => return Err(at(Some(row), Some(line), line_syntax_message(&e))),
        };
        if let Flow::Stop = each(Item {
            row,
            line: Some(line),
            fields,
        }) {
            return Ok(());
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn not_an_object(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("is {kind}, expected a JSON object")
}

/// A read error (a truncated gzip file) is not invalid JSON.
fn syntax_message(e: &serde_json::Error) -> String {
    if e.is_io() {
        format!("cannot read: {}", without_position(e))
    } else {
        format!("invalid JSON: {e}")
    }
}

/// A JSON Lines line is parsed on its own: serde's "line 1" would contradict the
/// file's line, so only the column is given.
fn line_syntax_message(e: &serde_json::Error) -> String {
    format!(
        "invalid JSON at column {}: {}",
        e.column(),
        without_position(e)
    )
}

/// serde's message without its " at line L column C".
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position).unwrap_or(&text).to_string()
}
