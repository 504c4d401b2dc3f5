//! Staging: the rows the Distributed Map is to start, written as the JSON array its
//! ItemReader reads (`items.json`, uploaded as it is), and as the outcomes the run
//! log gets once the Map Run's results are read back (`staged.jsonl`). Both go to
//! the run dir first: the upload's size is then known (PutObject or multipart),
//! its hash names the parent execution, and the run dir keeps what was staged.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::outcome::Outcome;
use crate::model::rows::Launch;

/// The staged rows, as uploaded.
pub(crate) const ITEMS: &str = "items.json";
/// The staged rows' outcomes-to-be: their fields, names and lines, not yet started.
pub(crate) const STAGED: &str = "staged.jsonl";

/// One item of the array: what the Map's step needs (`Name`, `Input`) and the row,
/// by which its result comes back. `Input` is the rendered input as a string,
/// byte for byte what a local launch sends.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MapItem<'a> {
    row: u64,
    name: &'a str,
    input: &'a str,
}

/// Writes the two files, row by row.
pub(crate) struct Stager {
    items: HashingWriter<BufWriter<File>>,
    staged: BufWriter<File>,
    rows: u64,
}

/// What was staged.
pub(crate) struct Staged {
    /// How many rows.
    pub rows: u64,
    /// The SHA-256 of `items.json`, in hex.
    pub sha256: String,
}

impl Stager {
    /// Creates (or empties) both files in `dir`.
    pub(crate) fn create(dir: &Path) -> io::Result<Stager> {
        let mut items = HashingWriter::new(BufWriter::new(File::create(dir.join(ITEMS))?));
        items.write_all(b"[")?;
        Ok(Stager {
            items,
            staged: BufWriter::new(File::create(dir.join(STAGED))?),
            rows: 0,
        })
    }

    /// Stages one row.
    pub(crate) fn add(&mut self, launch: Launch) -> io::Result<()> {
        let separator: &[u8] = if self.rows == 0 { b"\n" } else { b",\n" };
        self.items.write_all(separator)?;
        let item = MapItem {
            row: launch.row,
            name: &launch.name,
            input: &launch.input,
        };
        serde_json::to_writer(&mut self.items, &item)?;
        serde_json::to_writer(&mut self.staged, &Outcome::not_attempted(launch))?;
        self.staged.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }

    /// Closes the array and flushes both files to disk.
    pub(crate) fn finish(mut self) -> io::Result<Staged> {
        self.items.write_all(b"\n]\n")?;
        let (items, sha256) = self.items.finish();
        items.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        self.staged
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok(Staged {
            rows: self.rows,
            sha256,
        })
    }
}

/// A writer that hashes what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::Fields;

    fn launch(row: u64, input: &str) -> Launch {
        Launch {
            row,
            line: Some(row + 1),
            name: format!("batch-{row}"),
            input: input.to_string(),
            fields: Fields::default(),
        }
    }

    #[test]
    fn items_are_a_json_array_of_names_and_inputs_as_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let mut stager = Stager::create(dir.path()).unwrap();
        stager.add(launch(1, r#"{"a": "x\"y"}"#)).unwrap();
        stager.add(launch(3, "{}")).unwrap();
        let staged = stager.finish().unwrap();
        let bytes = std::fs::read(dir.path().join(ITEMS)).unwrap();
        assert_eq!(staged.rows, 2);
        assert_eq!(staged.sha256, hex::encode(Sha256::digest(&bytes)));
        let items: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(items[0]["Input"], r#"{"a": "x\"y"}"#);
        assert_eq!(items[1]["Row"], 3);
        assert_eq!(items[1]["Name"], "batch-3");
        let staged = std::fs::read_to_string(dir.path().join(STAGED)).unwrap();
        assert_eq!(staged.lines().count(), 2);
    }

    #[test]
    fn no_rows_is_an_empty_array() {
        let dir = tempfile::tempdir().unwrap();
        Stager::create(dir.path()).unwrap().finish().unwrap();
        let bytes = std::fs::read(dir.path().join(ITEMS)).unwrap();
        let items: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        assert!(items.is_empty());
    }
}
