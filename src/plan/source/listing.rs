//! An S3 prefix listing as a source: ListObjectsV2, page by page, filtered, each
//! kept object (or common prefix, with a delimiter) written as one JSON Lines item
//! to a spool file. The spool is then a manifest like any other: checked whole,
//! then launched, and its SHA-256 guards a resume against a listing that changed.

use std::io::{self, BufWriter, Write};

use globset::{Glob, GlobSet, GlobSetBuilder};
use jiff::Timestamp;
use serde_json::Value;
use tempfile::NamedTempFile;

use super::Fields;
use crate::aws;

/// What to list and what to keep.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    /// The bucket listed.
    pub bucket: String,
    /// The prefix, or for a listing per date, the prefix of each date.
    pub prefixes: Vec<(String, Fields)>,
    /// Which entries to keep.
    pub filter: Filter,
    /// `--delimiter /`: one level, common prefixes as items.
    pub delimiter: Option<String>,
    /// `--start-after`: only keys after this one are listed.
    pub start_after: Option<String>,
    /// How messages name the listing: `s3://bucket/prefix`.
    pub description: String,
    /// Everything that decides what is listed (prefix, filters, dates), as text.
    pub identity: String,
    /// The prefix's last segment (`dt={date}` of `s3://b/events/dt={date}/`): what a
    /// default batch id starts with.
    pub short_name: String,
}

/// The filters, all on the key relative to the prefix.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// `--include`: only keys that match one of these globs are kept.
    pub include: Option<GlobSet>,
    /// `--exclude`: keys that match one of these globs are left out.
    pub exclude: Option<GlobSet>,
    /// `--modified-after`: objects modified before this are left out.
    pub modified_after: Option<Timestamp>,
    /// `--modified-before`: objects modified at or after this are left out.
    pub modified_before: Option<Timestamp>,
    /// `--min-size`: objects smaller than this many bytes are left out.
    pub min_size: Option<i64>,
}

impl Filter {
    /// Shell globs where `*` also matches `/`, as in the AWS CLI.
    pub(crate) fn globs(patterns: &[String]) -> Result<Option<GlobSet>, String> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut set = GlobSetBuilder::new();
        for pattern in patterns {
            set.add(Glob::new(pattern).map_err(|e| format!("bad glob {pattern:?}: {e}"))?);
        }
        set.build().map(Some).map_err(|e| e.to_string())
    }

    /// Why an entry is left out, if it is.
    fn rejects(&self, relative: &str, object: Option<(i64, Timestamp)>) -> Option<SkipReason> {
        if self.include.as_ref().is_some_and(|g| !g.is_match(relative))
            || self.exclude.as_ref().is_some_and(|g| g.is_match(relative))
        {
            return Some(SkipReason::Glob);
        }
        let (size, modified) = object?;
        if self.modified_after.is_some_and(|t| modified < t)
            || self.modified_before.is_some_and(|t| modified >= t)
        {
            return Some(SkipReason::Modified);
        }
        if self.min_size.is_some_and(|min| size < min) {
            return Some(SkipReason::Size);
        }
        None
    }
}

/// Why a listing leaves an entry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// `--include`/`--exclude`.
    Glob,
    /// `--modified-after`/`--modified-before`.
    Modified,
    /// `--min-size`.
    Size,
}

impl Listing {
    /// The item this listing gives for an entry listed under `prefix` (one of its
    /// `prefixes`, with its `extra` fields), or why it leaves the entry out. The one
    /// place that decides: the live path (`live/`) asks it of each new object, so
    /// that an object becomes the very row a backfill over the prefix makes.
    pub(crate) fn item(
        &self,
        prefix: &str,
        extra: &Fields,
        entry: &Entry<'_>,
    ) -> Result<Fields, SkipReason> {
        let relative = entry.key.strip_prefix(prefix).unwrap_or(entry.key);
        let facts = entry.object.as_ref().map(|o| (o.size, o.last_modified));
        match self.filter.rejects(relative, facts) {
            Some(reason) => Err(reason),
            None => Ok(entry.fields(&self.bucket, relative, extra)),
        }
    }
}

/// What a listing went through, for the message when nothing is left.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ListingTally {
    /// Entries listed.
    pub listed: u64,
    /// Left out by `--include`/`--exclude`.
    pub by_glob: u64,
    /// Left out by `--modified-after`/`--modified-before`.
    pub by_modified: u64,
    /// Left out by `--min-size`.
    pub by_size: u64,
    /// Kept, to become items.
    pub kept: u64,
}

impl ListingTally {
    /// One line saying how many entries were listed, left out by each filter, and kept.
    pub(super) fn describe(&self) -> String {
        format!(
            "{} listed, {} left out by --include/--exclude, {} by --modified-after/--modified-before, \
             {} by --min-size: {} kept",
            self.listed, self.by_glob, self.by_modified, self.by_size, self.kept
        )
    }
}

/// Lists every prefix in order and writes the kept entries to a spool file.
pub(super) async fn spool(
    s3: &aws_sdk_s3::Client,
    listing: &Listing,
) -> Result<(NamedTempFile, ListingTally), String> {
    let file = NamedTempFile::new().map_err(|e| format!("cannot create a spool file: {e}"))?;
    let mut out = BufWriter::new(file);
    let mut tally = ListingTally::default();
    for (prefix, extra) in &listing.prefixes {
        let mut pages = s3
            .list_objects_v2()
            .bucket(&listing.bucket)
            .prefix(prefix)
            .set_delimiter(listing.delimiter.clone())
            .set_start_after(listing.start_after.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| listing_error(&listing.bucket, prefix, &e))?;
            let entries = match listing.delimiter {
                Some(_) => page
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(|key| Entry { key, object: None })
                    .collect::<Vec<_>>(),
                None => page
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        Some(Entry {
                            key: o.key()?,
                            object: Some(Object {
                                size: o.size().unwrap_or(0),
                                last_modified: o.last_modified().and_then(aws::timestamp)?,
                                etag: o.e_tag().unwrap_or_default(),
                            }),
                        })
                    })
                    .collect(),
            };
            for entry in entries {
                tally.listed += 1;
                match listing.item(prefix, extra, &entry) {
                    Err(SkipReason::Glob) => tally.by_glob += 1,
                    Err(SkipReason::Modified) => tally.by_modified += 1,
                    Err(SkipReason::Size) => tally.by_size += 1,
                    Ok(fields) => {
                        tally.kept += 1;
                        write_item(&mut out, &fields)
                            .map_err(|e| format!("cannot write the spool file: {e}"))?;
                    }
                }
            }
        }
    }
    let file = out
        .into_inner()
        .map_err(|e| format!("cannot write the spool file: {e}"))?;
    Ok((file, tally))
}

/// How many of `FIELDS` a common prefix has: all but the last three.
pub(super) const PREFIX_FIELDS: usize = 7;

/// The fields of a listed object.
pub(super) const FIELDS: [&str; 10] = [
    "input",
    "bucket",
    "key",
    "relative",
    "basename",
    "stem",
    "ext",
    "size",
    "last_modified",
    "etag",
];

/// An entry of a listing: an object, or a common prefix.
pub(crate) struct Entry<'a> {
    pub key: &'a str,
    /// `None` for a common prefix.
    pub object: Option<Object<'a>>,
}

/// What S3 says of an object.
pub(crate) struct Object<'a> {
    pub size: i64,
    pub last_modified: Timestamp,
    /// As S3 gives it, quoted or not: the item has it unquoted.
    pub etag: &'a str,
}

impl Entry<'_> {
    /// `input`, `bucket`, `key`, `relative`, `basename`, `stem`, `ext`, and for an
    /// object `size`, `last_modified`, `etag`; after the `extra` fields (a date's).
    fn fields(&self, bucket: &str, relative: &str, extra: &Fields) -> Fields {
        let basename = self
            .key
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let (stem, ext) = match basename.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, ext),
            _ => (basename, ""),
        };
        let text = |s: &str| Value::String(s.to_string());
        let mut fields = extra.clone();
        fields.insert("input".into(), text(&format!("s3://{bucket}/{}", self.key)));
        fields.insert("bucket".into(), text(bucket));
        fields.insert("key".into(), text(self.key));
        fields.insert("relative".into(), text(relative));
        fields.insert("basename".into(), text(basename));
        fields.insert("stem".into(), text(stem));
        fields.insert("ext".into(), text(ext));
        if let Some(o) = &self.object {
            fields.insert("size".into(), Value::from(o.size));
            fields.insert("last_modified".into(), text(&o.last_modified.to_string()));
            fields.insert("etag".into(), text(o.etag.trim_matches('"')));
        }
        fields
    }
}

fn write_item(out: &mut impl Write, fields: &Fields) -> io::Result<()> {
    serde_json::to_writer(&mut *out, fields)?;
    out.write_all(b"\n")
}

fn listing_error<E>(bucket: &str, prefix: &str, e: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("NoSuchBucket") => format!("bucket {bucket} does not exist"),
        _ => format!(
            "cannot list s3://{bucket}/{prefix}: {}",
            crate::aws::error_text(e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Filter {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Filter {
            include: Filter::globs(&strings(include)).unwrap(),
            exclude: Filter::globs(&strings(exclude)).unwrap(),
            ..Filter::default()
        }
    }

    #[test]
    fn globs_cross_slashes_and_excludes_win() {
        let f = filter(&["*.parquet"], &["*_tmp*"]);
        assert!(f.rejects("a/b/c.parquet", None).is_none());
        assert!(f.rejects("c.csv", None).is_some());
        assert!(f.rejects("a/x_tmp/c.parquet", None).is_some());
    }

    #[test]
    fn fields_of_an_object_and_a_prefix() {
        let object = Entry {
            key: "raw/2024/a b+c=d%.tar.gz",
            object: Some(Object {
                size: 42,
                last_modified: "2024-01-02T03:04:05Z".parse().unwrap(),
                etag: "abc",
            }),
        };
        let f = object.fields("bk", "2024/a b+c=d%.tar.gz", &Fields::new());
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"input":"s3://bk/raw/2024/a b+c=d%.tar.gz","bucket":"bk","key":"raw/2024/a b+c=d%.tar.gz","relative":"2024/a b+c=d%.tar.gz","basename":"a b+c=d%.tar.gz","stem":"a b+c=d%.tar","ext":"gz","size":42,"last_modified":"2024-01-02T03:04:05Z","etag":"abc"}"#
        );
        assert!(f.keys().eq(FIELDS), "FIELDS names what an object has");
        let prefix = Entry {
            key: "raw/dt=2024-01-01/",
            object: None,
        };
        let f = prefix.fields("bk", "dt=2024-01-01/", &Fields::new());
        assert_eq!(f["basename"], "dt=2024-01-01");
        assert_eq!(f["ext"], "");
        assert!(!f.contains_key("size"));
    }
}
