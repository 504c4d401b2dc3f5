//! Manifest sources: each yields `Item`s one at a time, never the whole manifest.
//!
//! A manifest is first made into a local, re-readable file (`ManifestFile`): a local
//! path is used in place; stdin and S3 objects are spooled once to a temporary file.
//! Validation reads it once and the launch reads it again, so both passes see the
//! very same bytes.
//!
//! This file is longer than 500 lines: about 195 of them are its unit tests.

mod csv;
mod dates;
mod json;
mod listing;
pub(crate) mod location;

use crate::model::rows::Fields;
use crate::model::rows::Item;
use crate::model::rows::RESERVED_KEY;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

pub(crate) use dates::parse_date;
pub(crate) use dates::{DateRange, Step};
pub(crate) use listing::{Entry, Filter, Listing, Object, SkipReason};
pub(crate) use location::identity_of;
pub use location::{Location, ManifestFile};

/// Why a source in S3 is not read by `validate`.
const NOT_OFFLINE: &str =
    "in S3, and validate does not touch AWS: check it with `sfn-batch run --dry-run`";

/// The manifest's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values (or another delimiter), with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// JSON Lines: one object per line.
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
    /// The manifest, as messages name it.
    pub file: String,
    /// The data row, where known.
    pub row: Option<u64>,
    /// The line, where known.
    pub line: Option<u64>,
    /// What is wrong.
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
pub(crate) fn place(row: Option<u64>, line: Option<u64>) -> String {
    match (row, line) {
        (Some(row), Some(line)) => format!(": row {row} (line {line})"),
        (Some(row), None) => format!(": row {row}"),
        (None, Some(line)) => format!(": line {line}"),
        (None, None) => String::new(),
    }
}

/// What the reader of items wants next.
pub enum Flow {
    /// Go on to the next item.
    Continue,
    /// Stop reading.
    Stop,
}

/// Options that shape how a manifest is parsed.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// The manifest's syntax.
    pub format: Format,
    /// The CSV field separator.
    pub delimiter: u8,
}

impl ParseOptions {
    /// How the items a source generates (listings, dates, a program's) are spooled.
    pub const GENERATED: ParseOptions = ParseOptions {
        format: Format::Jsonl,
        delimiter: b',',
    };
}

/// Where a batch's items come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A manifest file: local, in S3, or on stdin.
    Manifest(Location),
    /// An S3 prefix listing: one item per kept object (or common prefix).
    Listing(Box<Listing>),
    /// A date range: one item per step.
    Dates(DateRange),
    /// Items a program gave (`Batch::items`), already spooled as JSON Lines.
    Items(Arc<ManifestFile>),
}

impl Source {
    /// The field that identifies one of its items, if not the whole row.
    pub(crate) fn item_key(&self) -> Option<&'static str> {
        match self {
            Source::Manifest(_) | Source::Items(_) => None,
            Source::Listing(_) => Some("input"),
            Source::Dates(_) => Some("datetime"),
        }
    }

    /// The fields every item has, when they are known before the items are read: a
    /// CSV manifest's header (read from `file`, the source made local), a
    /// listing's or a date range's own. `None` where each item brings its own
    /// (JSON, items from a program).
    pub(crate) fn known_fields(
        &self,
        file: &ManifestFile,
        parse: ParseOptions,
    ) -> Result<Option<Vec<String>>, ManifestError> {
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        Ok(match self {
            Source::Manifest(_) if parse.format == Format::Csv => {
                // Every row has the header's columns: the first row's fields are them.
                let mut header = None;
                for_each_item(file, parse, |item| {
                    header = Some(item.fields.keys().cloned().collect());
                    Flow::Stop
                })?;
                header
            }
            Source::Manifest(_) | Source::Items(_) => None,
            Source::Listing(listing) => {
                // With --delimiter the items are common prefixes: no size, time or
                // ETag.
                let kept = match listing.delimiter {
                    Some(_) => &listing::FIELDS[..listing::PREFIX_FIELDS],
                    None => &listing::FIELDS[..],
                };
                let mut fields = names(kept);
                if let Some((_, date)) = listing.prefixes.first() {
                    fields.extend(date.keys().cloned());
                }
                Some(fields)
            }
            Source::Dates(_) => Some(names(&dates::FIELDS)),
        })
    }

    /// Makes the source a local file read twice (see `ManifestFile`): a manifest is
    /// used in place or spooled; a listing or a date range is written out as JSON
    /// Lines items.
    /// Without an S3 client (`validate`), a source in S3 is refused.
    pub(crate) async fn materialize(
        &self,
        s3: Option<&aws_sdk_s3::Client>,
    ) -> Result<Arc<ManifestFile>, ManifestError> {
        let (name, short_name, identity, spool): (String, String, String, _) = match self {
            Source::Manifest(location) => {
                return ManifestFile::materialize(location, s3).await.map(Arc::new);
            }
            Source::Items(items) => return Ok(items.clone()),
            Source::Listing(listing) => {
                let error = |message| ManifestError {
                    file: listing.description.clone(),
                    row: None,
                    line: None,
                    message,
                };
                let s3 = s3.ok_or_else(|| error(NOT_OFFLINE.to_string()))?;
                let (spool, tally) = listing::spool(s3, listing).await.map_err(error)?;
                tracing::info!("listed {}: {}", listing.description, tally.describe());
                (
                    listing.description.clone(),
                    listing.short_name.clone(),
                    listing.identity.clone(),
                    spool,
                )
            }
            Source::Dates(range) => {
                let spool = spool_items(range.items()).map_err(|e| ManifestError {
                    file: range.description().to_string(),
                    row: None,
                    line: None,
                    message: format!("cannot write a spool file: {e}"),
                })?;
                let description = range.description().to_string();
                (description.clone(), "dates".to_string(), description, spool)
            }
        };
        ManifestFile::generated(name.clone(), short_name, &identity, spool)
            .map(Arc::new)
            .map_err(|e| ManifestError {
                file: name,
                row: None,
                line: None,
                message: format!("cannot read the spool file: {e}"),
            })
    }

    /// Items from a program, written once to a JSON Lines spool file, so that they
    /// are read twice like a manifest and never all held in memory. `name` names
    /// them in messages and starts the default batch id; their content identifies
    /// the batch.
    pub(crate) fn items(
        name: &str,
        items: impl IntoIterator<Item = Fields>,
    ) -> std::io::Result<Source> {
        let spool = spool_items(items)?;
        let identity = location::sha256_file(spool.path())?;
        let file = ManifestFile::generated(name.to_string(), name.to_string(), &identity, spool)?;
        Ok(Source::Items(Arc::new(file)))
    }
}

fn spool_items(
    items: impl IntoIterator<Item = Fields>,
) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(tempfile::NamedTempFile::new()?);
    for fields in items {
        serde_json::to_writer(&mut out, &fields)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())
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

/// `--shard I/N`, `--offset`, `--limit`: which items of a source this run takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// `--shard`: only the items that hash to this shard.
    pub shard: Option<Shard>,
    /// `--offset`: items of the shard skipped before any is taken.
    pub offset: u64,
    /// `--limit`: at most this many items are taken.
    pub limit: Option<u64>,
}

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    /// Which shard, from 1.
    pub index: u64,
    /// How many shards the batch is split into.
    pub count: u64,
    /// The field that identifies an item, when not the whole row: a listed
    /// object's `input` (its size or etag may differ between two hosts' listings).
    pub key: Option<&'static str>,
}

impl Shard {
    /// Parses `I/N` (`2/4`), with 1 <= I <= N.
    pub(crate) fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("expected I/N with 1 <= I <= N (2/4), not `{text}`");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (index.trim().parse(), count.trim().parse());
        match (index, count) {
            (Ok(index), Ok(count)) if index >= 1 && index <= count => Ok(Shard {
                index,
                count,
                key: None,
            }),
            _ => Err(bad()),
        }
    }

    /// An item belongs to the shard its content hashes to: the same on every host
    /// and in every order, so the shards of a batch are disjoint and cover it.
    fn holds(self, fields: &Fields) -> bool {
        use sha2::{Digest, Sha256};
        let identity = match self.key {
            Some(key) => fields.get(key).cloned().unwrap_or_default(),
            None => Value::Object(fields.clone()),
        };
        let json = serde_json::to_vec(&identity).expect("fields serialize");
        let digest = Sha256::digest(json);
        let hash = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        hash % self.count == self.index - 1
    }
}

impl Selection {
    /// Wraps `each` so that it sees only the selected items, and stops the reading
    /// once `limit` items were taken.
    pub(crate) fn apply(self, mut each: impl FnMut(Item) -> Flow) -> impl FnMut(Item) -> Flow {
        let (mut passed, mut taken) = (0u64, 0u64);
        move |item| {
            if self.limit.is_some_and(|limit| taken >= limit) {
                return Flow::Stop;
            }
            if self.shard.is_some_and(|shard| !shard.holds(&item.fields)) {
                return Flow::Continue;
            }
            passed += 1;
            if passed <= self.offset {
                return Flow::Continue;
            }
            taken += 1;
            each(item)
        }
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
    fn an_unterminated_quote_is_named_where_it_starts() {
        let err = read(
            Format::Csv,
            "in,out\ns3://a/1.csv,s3://b/1/\n\"s3://a/2.csv,s3://b/2/\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 2 (line 3): has an unterminated quote starting on line 3: it runs to the \
             end of the file"
        );
    }

    #[test]
    fn a_quote_left_open_in_the_last_column_is_named_too() {
        let err = read(Format::Csv, "in,out\na,b\nc,\"d\ne,f\ng,h\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 2 (line 3): has an unterminated quote starting on line 3: it runs to the \
             end of the file"
        );
        // A quote inside an unquoted field is a character, and "" within quotes a quote.
        let err = read(Format::Csv, "name,height\nbob,5'11\"\nann,5'2\",x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m: row 2 (line 3): has 3 fields, the header has 2"
        );
        // Read only up to a row (`Flow::Stop`), the file is not judged past it.
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"in,out\na,b\n\"c,d\n").unwrap();
        let manifest = ManifestFile::local("m", file.path());
        let csv = ParseOptions {
            format: Format::Csv,
            delimiter: b',',
        };
        let first = for_each_item(&manifest, csv, |_| Flow::Stop);
        assert!(first.is_ok(), "{first:?}");
        let items = read(Format::Csv, "a,b\n\"say \"\"hi\"\"\",2\n").unwrap();
        assert_eq!(items[0].fields["a"], "say \"hi\"");
    }

    #[test]
    fn a_ragged_file_names_its_first_twenty_bad_records() {
        let rows: String = (1..=30)
            .map(|i| match i % 2 {
                0 => format!("{i}\n"),
                _ => format!("{i},x\n"),
            })
            .collect();
        let err = read(Format::Csv, format!("a,b\n{rows}")).unwrap_err();
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "m: row 2 (line 3): has 1 fields, the header has 2"
        );
        assert_eq!(
            lines[1],
            "m: row 4 (line 5): has 1 fields, the header has 2"
        );
        assert_eq!(lines.len(), 15 + 1, "{text}");
        assert_eq!(
            lines.last().unwrap(),
            &"15 records do not have as many fields as the header"
        );
        let many: String = (1..=25).map(|i| format!("{i}\n")).collect();
        let text = read(Format::Csv, format!("a,b\n{many}"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("\n... and 5 more\n25 records"), "{text}");
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
    fn shards_are_disjoint_and_cover_everything() {
        let content: String = (1..=300).map(|i| format!("{{\"k\":{i}}}\n")).collect();
        let all = read(Format::Jsonl, &content).unwrap();
        let mut seen = Vec::new();
        for index in 1..=3 {
            let shard = Shard::parse(&format!("{index}/3")).unwrap();
            let selection = Selection {
                shard: Some(shard),
                ..Selection::default()
            };
            let mut take = selection.apply(|item| {
                seen.push(item.row);
                Flow::Continue
            });
            for item in all.clone() {
                take(item);
            }
        }
        seen.sort();
        assert_eq!(seen, (1..=300).collect::<Vec<u64>>());
        for bad in ["0/3", "4/3", "1", "a/b", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offset_then_limit() {
        let all = read(Format::Jsonl, "{}\n{}\n{}\n{}\n{}\n").unwrap();
        let selection = Selection {
            offset: 1,
            limit: Some(2),
            ..Selection::default()
        };
        let mut rows = Vec::new();
        let mut take = selection.apply(|item| {
            rows.push(item.row);
            Flow::Continue
        });
        for item in all {
            if let Flow::Stop = take(item) {
                break;
            }
        }
        drop(take);
        assert_eq!(rows, [2, 3]);
    }

    #[test]
    fn the_reserved_key_is_named() {
        let err = read(Format::Csv, format!("{RESERVED_KEY}\n}}\n")).unwrap_err();
        assert!(err.to_string().contains(RESERVED_KEY), "{err}");
        let err = read(Format::Jsonl, format!("{{\"{RESERVED_KEY}\":\"5\"}}\n")).unwrap_err();
        assert!(err.to_string().contains(RESERVED_KEY), "{err}");
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
