//! A row on its way through the flow: an item read from the source, then
//! planned into a launch or found invalid.

use serde_json::{Map, Value};

/// A JSON key the JSON library reserves: with exact number digits on (serde_json's
/// `arbitrary_precision`), an object whose key is this reads as a number. A manifest
/// or template using it is refused, naming it, rather than read as something else.
pub(crate) const RESERVED_KEY: &str = "$serde_json::private::Number";

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
    /// The row's data: a CSV row's columns by header, or the JSON object.
    pub fields: Fields,
}

/// A row ready to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The manifest's data row, from 1.
    pub row: u64,
    /// The manifest line where the row starts, where lines mean something.
    pub line: Option<u64>,
    /// The execution's name.
    pub name: String,
    /// The execution's input: JSON.
    pub input: String,
    /// The row's fields (with `output`, under `--output-template`).
    pub fields: Fields,
}

/// A row that cannot be started, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The manifest's data row, from 1.
    pub row: u64,
    /// The manifest line where the row starts, where lines mean something.
    pub line: Option<u64>,
    /// Why it cannot be started.
    pub reason: String,
    /// The row's fields, as far as they were read.
    pub fields: Fields,
}

/// What planning makes of a row: ready to start, or invalid.
pub(crate) type Planned = Result<Launch, Invalid>;
