//! The source options of `run` and `validate`: a manifest and its format, an S3
//! listing and its filters, a date range, and which of their items a run takes.

use crate::aws::s3_url::split_s3_url;
use crate::cli::args::RunArgs;
use crate::error::Error;
use crate::model::rows::Fields;
use crate::plan::source::{
    DateRange, Filter, Format, Listing, Location, ParseOptions, Selection, Shard, Source, Step,
};
use crate::plan::template::{Context, TextTemplate};

/// Where the items come from: a manifest, an S3 listing, a date range, or a
/// listing per date.
pub(super) fn source(args: &RunArgs) -> Result<(Source, ParseOptions), Error> {
    let usage = |m: String| Error::Usage(m);
    let generated = ParseOptions::GENERATED;
    let dates = args
        .dates
        .as_deref()
        .map(|range| {
            let every = Step::parse(args.every.as_deref().unwrap_or("1d"))
                .map_err(|e| usage(format!("--every: {e}")))?;
            DateRange::parse(range, every, args.reverse).map_err(|e| usage(format!("--dates: {e}")))
        })
        .transpose()?;
    if let Some(prefix) = &args.s3_prefix {
        return Ok((
            Source::Listing(Box::new(listing(args, prefix, dates)?)),
            generated,
        ));
    }
    let listing_only = [
        ("--include", !args.include.is_empty()),
        ("--exclude", !args.exclude.is_empty()),
        ("--modified-after", args.modified_after.is_some()),
        ("--modified-before", args.modified_before.is_some()),
        ("--min-size", args.min_size.is_some()),
        ("--recursive", args.recursive),
        ("--start-after", args.start_after.is_some()),
    ];
    if let Some((flag, _)) = listing_only.iter().find(|(_, given)| *given) {
        return Err(usage(format!(
            "{flag} applies to --s3-prefix listings only"
        )));
    }
    if let Some(dates) = dates {
        return Ok((Source::Dates(dates), generated));
    }
    manifest(args)
}

/// `--manifest`, its `--format` and `--delimiter`.
fn manifest(args: &RunArgs) -> Result<(Source, ParseOptions), Error> {
    let usage = |m: String| Error::Usage(m);
    let Some(manifest) = args.manifest.as_deref() else {
        return Err(usage(
            "no rows to read: give --manifest, --s3-prefix or --dates (or one of them in the --job file)"
                .into(),
        ));
    };
    let location = Location::parse(manifest);
    let looks_like_a_url = manifest.contains("://") || manifest.starts_with("s3:");
    match &location {
        Location::S3 { key, .. } if key.is_empty() => {
            return Err(usage(format!(
                "--manifest {manifest} names a bucket, not an object: give s3://BUCKET/KEY"
            )));
        }
        Location::File(path) if looks_like_a_url && !path.exists() => {
            return Err(usage(format!(
                "--manifest takes a path, `-` (stdin) or s3://BUCKET/KEY, not {manifest}"
            )));
        }
        _ => {}
    }
    let format = match (args.format, &location) {
        (Some(format), _) => format.into(),
        (None, Location::Stdin) => {
            return Err(usage(
                "--format is required when the manifest is stdin".into(),
            ));
        }
        (None, location) => Format::from_name(&location.display_name()).ok_or_else(|| {
            usage(format!(
                "cannot tell the format of {} from its name; pass --format csv|json|jsonl",
                location.display_name()
            ))
        })?,
    };
    let delimiter = args.delimiter.as_deref().unwrap_or(",");
    let [delimiter] = delimiter.as_bytes() else {
        return Err(usage(format!(
            "--delimiter {delimiter:?} must be one ASCII character"
        )));
    };
    Ok((
        Source::Manifest(location),
        ParseOptions {
            format,
            delimiter: *delimiter,
        },
    ))
}

/// `--s3-prefix` and its filters; with `--dates`, one prefix per date.
fn listing(args: &RunArgs, prefix: &str, dates: Option<DateRange>) -> Result<Listing, Error> {
    let usage = |m: String| Error::Usage(m);
    let Some((bucket, prefix_template)) = split_s3_url(prefix) else {
        return Err(usage(format!(
            "--s3-prefix must be s3://BUCKET/PREFIX, not {prefix:?}"
        )));
    };
    let prefixes = prefixes(prefix, prefix_template, dates.as_ref())?;
    let filter = filter(args)?;
    let delimiter = args.delimiter.clone();
    if delimiter.is_some()
        && (filter.modified_after.is_some()
            || filter.modified_before.is_some()
            || filter.min_size.is_some())
    {
        return Err(usage(
            "--delimiter lists common prefixes, which have no size or modification time: \
             drop --modified-after, --modified-before and --min-size"
                .into(),
        ));
    }
    let description = match &dates {
        Some(range) => format!("{prefix} for dates {}", range.description()),
        None => prefix.to_string(),
    };
    // Everything that decides what is listed: the batch id derives from it, never
    // from what the listing returned (that changes as objects come and go).
    let identity = format!(
        "{description}\ninclude {:?}\nexclude {:?}\nmodified {:?}..{:?}\nmin size {:?}\ndelimiter {:?}\nstart after {:?}",
        args.include,
        args.exclude,
        filter.modified_after,
        filter.modified_before,
        filter.min_size,
        delimiter,
        args.start_after
    );
    Ok(Listing {
        bucket: bucket.to_string(),
        prefixes,
        filter,
        delimiter,
        start_after: args.start_after.clone(),
        description,
        identity,
        short_name: prefix_template
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    })
}

/// A date (midnight UTC) or an RFC 3339 time.
fn parse_time(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(time) = text.parse::<jiff::Timestamp>() {
        return Ok(time);
    }
    crate::plan::source::parse_date(text)
        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!(
                "`{text}` is not a date (2024-01-01) or an RFC 3339 time (2024-01-01T00:00:00Z)"
            )
        })
}

/// The prefixes to list: the one given, or with `--dates` one per date, its
/// placeholders filled from the date's fields.
fn prefixes(
    prefix: &str,
    prefix_template: &str,
    dates: Option<&DateRange>,
) -> Result<Vec<(String, Fields)>, Error> {
    let usage = |m: String| Error::Usage(m);
    let template =
        TextTemplate::parse(prefix_template).map_err(|e| usage(format!("--s3-prefix: {e}")))?;
    let prefixes = match dates {
        None if template.has_placeholders() => {
            return Err(usage(format!(
                "--s3-prefix {prefix} has placeholders: give --dates to fill them"
            )));
        }
        None => vec![(prefix_template.to_string(), Fields::new())],
        Some(range) if !template.has_placeholders() => {
            return Err(usage(format!(
                "--dates with --s3-prefix needs a placeholder in the prefix \
                 (s3://bucket/events/dt={{date}}/), or the same prefix is listed for every date: {} ",
                range.description()
            )));
        }
        Some(range) => range
            .items()
            .map(|fields| {
                let ctx = Context {
                    fields: &fields,
                    row: 0,
                    batch: "",
                    name: "",
                };
                let rendered = template
                    .render(&ctx)
                    .map_err(|e| usage(format!("--s3-prefix: {e}")))?;
                Ok((rendered, fields))
            })
            .collect::<Result<_, Error>>()?,
    };
    Ok(prefixes)
}

/// `--include`, `--exclude`, `--modified-after`, `--modified-before`, `--min-size`.
fn filter(args: &RunArgs) -> Result<Filter, Error> {
    let usage = |m: String| Error::Usage(m);
    let time = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| parse_time(t).map_err(|e| usage(format!("{flag}: {e}"))))
            .transpose()
    };
    Ok(Filter {
        include: Filter::globs(&args.include).map_err(|e| usage(format!("--include: {e}")))?,
        exclude: Filter::globs(&args.exclude).map_err(|e| usage(format!("--exclude: {e}")))?,
        modified_after: time("--modified-after", &args.modified_after)?,
        modified_before: time("--modified-before", &args.modified_before)?,
        min_size: args.min_size,
    })
}

/// `--shard`, `--offset` and `--limit`: which of the source's items a run takes.
pub(super) fn selection(args: &RunArgs, source: &Source) -> Result<Selection, Error> {
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|e| Error::Usage(format!("--shard: {e}")))?;
    Ok(Selection {
        shard: shard.map(|shard| Shard {
            key: source.item_key(),
            ..shard
        }),
        offset: args.offset.unwrap_or(0),
        limit: args.limit,
    })
}
