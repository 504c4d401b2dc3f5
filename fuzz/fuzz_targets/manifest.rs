//! Manifest readers + planner: any bytes, in any format, with any ASCII delimiter and
//! any read size, must give items or a `ManifestError`, never a panic; every launch
//! the planner lets through must have a valid name and JSON input under the limit.
//!
//! Input layout: `[mode, delimiter, chunk, manifest bytes...]`
//! - mode bits 0-1: format (0 csv, 1 json, 2 jsonl, 3 csv); bits 2-3: planner (see
//!   `planner`); bit 4: stop after the third item (the early-stop path).
//! - delimiter: `& 0x7f`, as the CLI accepts any ASCII character.
//! - chunk: 0 reads the manifest at once, n > 0 at most n bytes per read, so record
//!   and line boundaries land on read boundaries.
#![no_main]

use std::io::{self, BufReader, Read};

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use sfn_batch::internals::plan::NameSpill;
use sfn_batch::internals::plan::{MAX_INPUT_BYTES, Planner, check_name};
use sfn_batch::internals::source::{Flow, Format, ParseOptions, read_items};
use sfn_batch::internals::template::{InputTemplate, TextTemplate};

const ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:sm";
/// manifests/preprocessing.template.json
const PREPROCESSING: &str =
    r#"{"PreprocessingJobName": "{name}", "Input": "{input}", "Output": "{output}"}"#;
/// manifests/partitions.template.json
const PARTITIONS: &str = r#"{"Date": "{date}", "Bucket": "{source.bucket}", "Prefix": "{source.key}", "Priority": "{priority}", "Job": "{name}"}"#;

fn planner(which: u8) -> Planner {
    let input = |t: &str| Some(InputTemplate::parse(t).unwrap());
    let name = |t: &str| Some(TextTemplate::parse(t).unwrap());
    let (input, name) = match which {
        0 => (input(PREPROCESSING), None),
        1 => (input(PARTITIONS), None),
        2 => (None, None),
        _ => (input(r#"{"In": "{input.key}", "Row": "{row}"}"#), name("{batch}-{date}")),
    };
    Planner::new(ARN.into(), "batch1".into(), input, name)
}

/// Hands out at most `chunk` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, delimiter, chunk, manifest @ ..] = data else {
        return;
    };
    let format = match mode & 3 {
        1 => Format::Json,
        2 => Format::Jsonl,
        _ => Format::Csv,
    };
    let options = ParseOptions {
        format,
        delimiter: delimiter & 0x7f,
    };
    let stop_after = if mode & 0x10 != 0 { 3 } else { u64::MAX };
    let chunk = if *chunk == 0 { usize::MAX } else { *chunk as usize };
    let reader = BufReader::with_capacity(
        chunk.min(8192),
        Trickle {
            data: manifest,
            chunk,
        },
    );

    let planner = planner((mode >> 2) & 3);
    let mut names = NameSpill::default();
    let (mut rows, mut last_line, mut stopped) = (0u64, 0u64, false);
    let _ = read_items(reader, "fuzz", options, |item| {
        assert!(!stopped, "an item after Flow::Stop");
        rows += 1;
        assert_eq!(item.row, rows, "rows count 1, 2, 3, ...");
        if let Some(line) = item.line {
            assert!(line >= last_line, "line {line} after line {last_line}");
            last_line = line;
        }
        if let Ok(launch) = planner.plan(item) {
            names.add(launch.row, &launch.name);
            assert!(check_name(&launch.name).is_ok(), "{:?}", launch.name);
            assert!(launch.input.len() <= MAX_INPUT_BYTES);
            // JSON syntax only: parsing into a `Value` would also trip on serde_json's
            // reserved `$serde_json::private::Number` key (see fuzz/README.md, finding 1).
            if let Err(e) = serde_json::from_str::<IgnoredAny>(&launch.input) {
                panic!("launch input is not JSON ({e}): {:?}", launch.input);
            }
        }
        if rows >= stop_after {
            stopped = true;
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    let duplicates = names.finish().expect("names spill to a temporary file");
    assert!(duplicates.rows().all(|row| row <= rows));
});
