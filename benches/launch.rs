//! Throughput and memory of `sfn-batch run`, measured on the release binary.
//!
//!     cargo bench --bench launch                    # 200,000 rows
//!     SFN_BATCH_BENCH_ROWS=10000000 cargo bench --bench launch
//!
//! Two measurements on one generated CSV manifest:
//! - `dry-run`: read, render and check every row (both the streaming reader and
//!   the planner), no AWS calls;
//! - `launch`: the whole run against a local stub of Step Functions that answers
//!   at once (the emulator serves ~250 calls/s, too slow to measure the launcher),
//!   pacing effectively off (`--rate 1000000`), 64 calls in flight.
//!
//! Peak memory is the child's VmHWM, read from /proc while it runs.

#[allow(dead_code)] // the benchmark uses only the stub
#[path = "../tests/common/proxy.rs"]
mod proxy;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    // `cargo test --all-targets` runs this too, without `--bench`: a quick smoke
    // test on a small manifest, in a debug build where timings mean nothing.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let rows: u64 = std::env::var("SFN_BATCH_BENCH_ROWS")
        .ok()
        .map(|v| v.parse().expect("SFN_BATCH_BENCH_ROWS is a number"))
        .unwrap_or(if benchmarking { 200_000 } else { 1_000 });
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("bench.csv");
    write_manifest(&manifest, rows);
    let size = std::fs::metadata(&manifest).unwrap().len();
    println!("manifest: {rows} rows, {:.1} MiB", size as f64 / 1048576.0);

    let stub = proxy::Proxy::stub();
    let template =
        r#"{"PreprocessingJobName": "{name}", "Input": "{input}", "Output": "{output}"}"#;
    let base = |run_dir: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfn-batch"));
        cmd.current_dir(dir.path())
            .env("AWS_ENDPOINT_URL", &stub.url)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .args([
                "run",
                "--state-machine",
                "arn:aws:states:us-east-1:123456789012:stateMachine:stub",
            ])
            .args([
                "--manifest",
                "bench.csv",
                "--input-template",
                template,
                "--run-dir",
                run_dir,
            ])
            .args([
                "--progress",
                "none",
                "--rate",
                "1000000",
                "--concurrency",
                "64",
            ]);
        cmd
    };
    report("dry-run", rows, measure(base("dry").arg("--dry-run")));
    report("launch", rows, measure(&mut base("launch")));
}

fn write_manifest(path: &Path, rows: u64) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "input,output").unwrap();
    for i in 0..rows {
        writeln!(
            out,
            "s3://bench-raw/2024/{:07}/part.parquet,s3://bench-out/{i:07}/",
            i
        )
        .unwrap();
    }
    out.flush().unwrap();
}

struct Measured {
    elapsed: Duration,
    peak_rss_kib: u64,
}

fn measure(cmd: &mut Command) -> Measured {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_rss_kib = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(hwm) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| vm_hwm(&s))
        {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Measured {
        elapsed,
        peak_rss_kib,
    }
}

fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report(what: &str, rows: u64, m: Measured) {
    println!(
        "{what:>8}: {:.2}s, {:.0} rows/s, peak RSS {:.1} MiB",
        m.elapsed.as_secs_f64(),
        rows as f64 / m.elapsed.as_secs_f64(),
        m.peak_rss_kib as f64 / 1024.0
    );
}
