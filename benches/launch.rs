//! The benchmark harness: sfn-batch (the release binary) side by side with the
//! script users write today (`benches/peers/boto3_launch.py`, a boto3 thread pool),
//! both against the same fast local stub of Step Functions (nginx, out of process:
//! `benches/nginx_stub.rs`), on the same generated manifests, with the same names
//! and inputs.
//!
//!     cargo bench --bench launch      # every figure; writes BENCHMARKS.md
//!
//!     SFN_BATCH_BENCH=launch cargo bench --bench launch   # sfn-batch's launch only
//!     SFN_BATCH_BENCH=pacing cargo bench --bench launch   # the pacing only
//!     SFN_BATCH_BENCH=big cargo bench --bench launch      # memory, validation, resume, following
//!     SFN_BATCH_BENCH=stub cargo bench --bench launch     # serve the stub alone, to profile
//!
//! `cargo test --all-targets` runs the same scenarios on small manifests in a debug
//! build, as a smoke test that the harness and the peer still work; it writes
//! nothing, and prints one line instead of the table, whose figures mean nothing at
//! that size. The peer runs on the project's `.venv` (`scripts/emulator install`).

mod nginx_stub;
mod procfs;

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nginx_stub::Stub;

/// benches/nginx_stub.conf answers for this state machine.
const STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:stub";
const TEMPLATE: &str =
    r#"{"PreprocessingJobName": "{name}", "Input": "{input}", "Output": "{output}"}"#;
/// Calls in flight for sfn-batch's throughput runs.
const CONCURRENCY: &str = "64";
/// The peer's thread counts; its best is the one compared.
const PEER_THREADS: [u32; 4] = [8, 16, 32, 64];

/// Rows and seconds of each scenario: the real ones, or a smoke test's.
struct Scale {
    rows: u64,
    big_rows: u64,
    peer_rows: u64,
    pacing_seconds: u64,
    resume_left: u64,
    huge_rows: u64,
}

const FULL: Scale = Scale {
    rows: 100_000,
    big_rows: 1_000_000,
    peer_rows: 20_000,
    pacing_seconds: 60,
    resume_left: 1_000,
    huge_rows: 10_000_000,
};
const SMOKE: Scale = Scale {
    rows: 1_000,
    big_rows: 2_000,
    peer_rows: 300,
    pacing_seconds: 2,
    resume_left: 100,
    huge_rows: 3_000,
};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    if std::env::args().any(|a| a == "--list") {
        // `cargo test -- --list`: a listing runs nothing (libtest's way).
        return;
    }
    let scale = if benchmarking { FULL } else { SMOKE };
    let bench = Bench::new();
    let mut report = Report::default();

    let only = std::env::var("SFN_BATCH_BENCH").unwrap_or_default();
    if only == "stub" {
        println!("AWS_ENDPOINT_URL={}", bench.stub.url);
        loop {
            std::thread::sleep(Duration::from_secs(1));
            bench.stub.take();
        }
    }
    if only == "pacing" {
        report.pacing(&bench, &scale);
        report.show(benchmarking);
        return;
    }
    let manifest = bench.manifest("rows.csv", scale.rows);
    let ours = bench.sfn_batch(&manifest, "throughput", &["--rate", "1000000"]);
    bench.assert_each_name_once(scale.rows);
    if only == "launch" {
        let cpu = ours.cpu_per_thousand().as_secs_f64() * 1e3;
        println!(
            "{:.0} starts/s, {cpu:.0} ms CPU per 1,000",
            ours.per_second()
        );
        return;
    }
    if only != "big" {
        let peer = PEER_THREADS
            .iter()
            .map(|&threads| {
                let peer_manifest = bench.manifest("peer.csv", scale.peer_rows);
                let run = bench.peer(&peer_manifest, threads);
                bench.assert_each_name_once(scale.peer_rows);
                (threads, run)
            })
            .max_by(|a, b| a.1.per_second().total_cmp(&b.1.per_second()))
            .expect("the peer ran");
        report.throughput(&ours, peer);
    }

    let big_manifest = bench.manifest("big.csv", scale.big_rows);
    let dry = bench.sfn_batch(&big_manifest, "dry", &["--dry-run"]);
    let big = bench.sfn_batch(&big_manifest, "big", &["--rate", "1000000"]);
    bench.assert_each_name_once(scale.big_rows);
    report.memory(&ours, &big);
    report.validation(&dry);

    bench.forget_last_lines("big", scale.resume_left);
    let resume = bench.sfn_batch(&big_manifest, "big", &["--rate", "1000000"]);
    let resumed = bench.stub.take().arrivals;
    report.resume(&resume, &dry, scale.resume_left, &resumed);
    // Every row of both runs started, and the stub has none of them ended.
    let following_small = bench.status("throughput", scale.rows);
    let following_big = bench.status("big", scale.big_rows);
    report.following_memory(&following_small, &following_big);
    if only == "big" {
        report.show(benchmarking);
        return;
    }

    report.pacing(&bench, &scale);

    let huge = bench.manifest("huge.csv", scale.huge_rows);
    let huge_dry = bench.sfn_batch(&huge, "huge-dry", &["--dry-run"]);
    let first_start = bench.first_start(&huge);
    report.first_start(&huge_dry, first_start);

    report.show(benchmarking);
    if benchmarking {
        report.save(Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"));
    }
}

/// The stub, and a folder for its files, the manifests and the run dirs.
struct Bench {
    // Declared first, so dropped first: nginx stops before its folder goes.
    stub: Stub,
    dir: tempfile::TempDir,
}

/// One process, measured.
struct Run {
    rows: u64,
    /// The wall clock when it started, to compare with the stub's arrival times.
    started: SystemTime,
    elapsed: Duration,
    /// User plus system time.
    cpu: Duration,
    /// The stub's user plus system time while the process ran.
    stub_cpu: Duration,
    peak_rss_kib: u64,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_per_thousand(&self) -> Duration {
        self.cpu.mul_f64(1000.0 / self.rows as f64)
    }

    fn stub_cpu_per_thousand(&self) -> Duration {
        self.stub_cpu.mul_f64(1000.0 / self.rows as f64)
    }

    /// Its start, as the stub's arrival times count.
    fn started_since_epoch(&self) -> Duration {
        since_epoch(self.started)
    }
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(SystemTime::UNIX_EPOCH).unwrap()
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        Bench {
            stub: Stub::start(&dir.path().join("stub")),
            dir,
        }
    }

    /// A CSV manifest of `rows` preprocessing jobs (input and output URLs).
    fn manifest(&self, name: &str, rows: u64) -> (PathBuf, u64) {
        let path = self.dir.path().join(name);
        let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(out, "input,output").unwrap();
        for i in 0..rows {
            writeln!(
                out,
                "s3://bench-raw/2024/{i:08}/part.parquet,s3://bench-out/{i:08}/"
            )
            .unwrap();
        }
        out.flush().unwrap();
        (path, rows)
    }

    fn sfn_batch(&self, manifest: &(PathBuf, u64), run_dir: &str, args: &[&str]) -> Run {
        self.measure(self.sfn_batch_command(manifest, run_dir, args), manifest.1)
    }

    fn sfn_batch_command(
        &self,
        manifest: &(PathBuf, u64),
        run_dir: &str,
        args: &[&str],
    ) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfn-batch"));
        cmd.args(["run", "--state-machine", STATE_MACHINE, "--manifest"])
            .arg(&manifest.0)
            .args(["--input-template", TEMPLATE, "--batch-id", "bench"])
            .args(["--run-dir", run_dir, "--progress", "none"])
            .args(["--concurrency", CONCURRENCY])
            .args(args);
        self.against_stub(&mut cmd);
        cmd
    }

    /// Runs in the bench folder, against the stub, with test credentials.
    fn against_stub(&self, cmd: &mut Command) {
        cmd.current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.stub.url)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
    }

    fn peer(&self, manifest: &(PathBuf, u64), threads: u32) -> Run {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cmd = Command::new(root.join(".venv/bin/python"));
        cmd.arg(root.join("benches/peers/boto3_launch.py"))
            .args(["--state-machine", STATE_MACHINE, "--manifest"])
            .arg(&manifest.0)
            .args(["--batch-id", "bench", "--threads", &threads.to_string()]);
        self.against_stub(&mut cmd);
        self.measure(cmd, manifest.1)
    }

    /// `sfn-batch status` of a run dir whose `rows` rows all started and none
    /// ended: it exits 3, executions still running.
    fn status(&self, run_dir: &str, rows: u64) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfn-batch"));
        cmd.args(["status", run_dir]);
        self.against_stub(&mut cmd);
        self.measure_exiting(cmd, rows, 3)
    }

    /// Runs the command to its end, with its peak memory (VmHWM,
    /// read from /proc while it runs) and its CPU time; it must succeed.
    fn measure(&self, cmd: Command, rows: u64) -> Run {
        self.measure_exiting(cmd, rows, 0)
    }

    /// As `measure`, for a command that must exit with `code`.
    fn measure_exiting(&self, mut cmd: Command, rows: u64, code: i32) -> Run {
        let cpu_before = children_cpu();
        let stub_cpu_before = self.stub.cpu();
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let mut peak_rss_kib = 0;
        while child.try_wait().unwrap().is_none() {
            if let Some(hwm) = procfs::peak_rss_kib(child.id()) {
                peak_rss_kib = peak_rss_kib.max(hwm);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let elapsed = clock.elapsed();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            rows,
            started,
            elapsed,
            cpu: children_cpu() - cpu_before,
            stub_cpu: self.stub.cpu() - stub_cpu_before,
            peak_rss_kib,
        }
    }

    /// Both launchers start the same executions: each name exactly once a run.
    fn assert_each_name_once(&self, rows: u64) {
        let calls = self.stub.take();
        assert_eq!(calls.names.len() as u64, rows, "one name per row");
        assert!(calls.names.values().all(|&n| n == 1), "a name called twice");
    }

    /// How long a launch takes to its first StartExecution (then it is killed).
    fn first_start(&self, manifest: &(PathBuf, u64)) -> Duration {
        let mut cmd = self.sfn_batch_command(manifest, "huge", &["--rate", "1000000"]);
        cmd.stderr(Stdio::null());
        self.stub.take();
        let started = since_epoch(SystemTime::now());
        let mut child = cmd.spawn().unwrap();
        // The stub's log says when the first start arrived; this loop only waits
        // for it.
        while !self.stub.started_any() {
            assert!(child.try_wait().unwrap().is_none(), "ended before a start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        self.stub.take().arrivals[0] - started
    }

    /// Cuts the last `lines` lines off a run log, as if the run had stopped there.
    fn forget_last_lines(&self, run_dir: &str, lines: u64) {
        let path = self.dir.path().join(run_dir).join("results.jsonl");
        let log = std::fs::read(&path).unwrap();
        let keep = log
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .nth_back(lines as usize)
            .unwrap_or(0);
        std::fs::write(&path, &log[..keep]).unwrap();
    }
}

/// User plus system time of this process's waited-for children, so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given, nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The figures, as the Markdown table BENCHMARKS.md holds.
#[derive(Default)]
struct Report {
    text: String,
}

impl Report {
    /// The figures: the table when benchmarking; after a smoke test (`cargo test`),
    /// whose small debug-build runs make them meaningless, one line that it passed.
    fn show(&self, benchmarking: bool) {
        if benchmarking {
            print!("{}", self.text);
        } else {
            println!(
                "launch: smoke test ok, {} figures measured on small manifests \
                 (`cargo bench --bench launch` prints them and writes BENCHMARKS.md)",
                self.text.lines().count()
            );
        }
    }

    fn row(&mut self, figure: &str, measured: String, target: &str) {
        writeln!(self.text, "| {figure} | {measured} | {target} |").unwrap();
    }

    fn throughput(&mut self, ours: &Run, (threads, peer): (u32, Run)) {
        self.row(
            &format!("starts/s, pacing off, {} rows", ours.rows),
            format!(
                "sfn-batch {:.0}/s (64 in flight); boto3 peer {:.0}/s at its best ({threads} threads, {} rows): **{:.1}×**",
                ours.per_second(),
                peer.per_second(),
                peer.rows,
                ours.per_second() / peer.per_second()
            ),
            "≥ 10,000/s and ≥ 10× the peer",
        );
        let (a, b) = (ours.cpu_per_thousand(), peer.cpu_per_thousand());
        self.row(
            "CPU time per 1,000 starts (user + sys)",
            format!(
                "sfn-batch {:.0} ms; peer {:.0} ms: **{:.2}×** the peer's",
                a.as_secs_f64() * 1e3,
                b.as_secs_f64() * 1e3,
                a.as_secs_f64() / b.as_secs_f64()
            ),
            "≤ 1/10 of the peer's",
        );
        let (stub_for_ours, stub_for_peer) =
            (ours.stub_cpu_per_thousand(), peer.stub_cpu_per_thousand());
        self.row(
            "the stub's own CPU time per 1,000 starts (nginx, user + sys)",
            format!(
                "**{:.0} ms** answering sfn-batch: **{:.2}×** sfn-batch's; {:.0} ms answering the peer",
                stub_for_ours.as_secs_f64() * 1e3,
                stub_for_ours.as_secs_f64() / a.as_secs_f64(),
                stub_for_peer.as_secs_f64() * 1e3,
            ),
            "a small part of what it measures",
        );
    }

    fn memory(&mut self, small: &Run, big: &Run) {
        self.row(
            "peak RSS of a launch",
            format!(
                "{:.1} MiB at {} rows, {:.1} MiB at {} rows: **{:+.0}%**",
                procfs::mib(small.peak_rss_kib),
                small.rows,
                procfs::mib(big.peak_rss_kib),
                big.rows,
                (big.peak_rss_kib as f64 / small.peak_rss_kib as f64 - 1.0) * 100.0
            ),
            "≤ 64 MiB at 1M, within 10% of 100k",
        );
    }

    /// `status` on two run dirs whose executions are all open: what following keeps
    /// per open execution is the growth in peak memory from one to the other.
    fn following_memory(&mut self, small: &Run, big: &Run) {
        let grown_bytes = big.peak_rss_kib.saturating_sub(small.peak_rss_kib) * 1024;
        self.row(
            "following memory: peak RSS of `status`, every execution open",
            format!(
                "{:.1} MiB at {} open, {:.1} MiB at {} open: **{:.0} B per open execution**",
                procfs::mib(small.peak_rss_kib),
                small.rows,
                procfs::mib(big.peak_rss_kib),
                big.rows,
                grown_bytes as f64 / (big.rows - small.rows) as f64
            ),
            "≤ 100 B per open execution",
        );
    }

    fn validation(&mut self, dry: &Run) {
        self.row(
            &format!(
                "validation (`--dry-run`), {} rows with a template",
                dry.rows
            ),
            format!(
                "{:.2} s: **{:.0} rows/s**",
                dry.elapsed.as_secs_f64(),
                dry.per_second()
            ),
            "≥ 500,000 rows/s",
        );
    }

    /// The resume's phases, from the stub's side: validation (as long as the dry
    /// run), then skipping the done rows up to the first call, then the calls, then
    /// the report of every row.
    fn resume(&mut self, resume: &Run, dry: &Run, left: u64, calls: &[Duration]) {
        let first = calls.iter().min().expect("the resume made calls");
        let last = calls.iter().max().expect("the resume made calls");
        let to_first_call = first.saturating_sub(resume.started_since_epoch());
        let skipping = to_first_call.saturating_sub(dry.elapsed);
        let report = (resume.started_since_epoch() + resume.elapsed).saturating_sub(*last);
        self.row(
            &format!("resume: {} rows recorded, {left} left", resume.rows - left),
            format!(
                "validation {:.2} s, then **{:.2} s skipping** the done rows to the first \
                 call; **{} calls** for the {left} left; then {:.2} s writing the report of \
                 all {} rows ({:.2} s in all)",
                dry.elapsed.as_secs_f64(),
                skipping.as_secs_f64(),
                calls.len(),
                report.as_secs_f64(),
                resume.rows,
                resume.elapsed.as_secs_f64(),
            ),
            "skipping ≤ 3 s, no calls for done rows",
        );
    }

    /// `--rate 300`, measured at the stub: the mean rate from the first call to
    /// the last, and the most calls in any one second (a window opening at each
    /// call).
    fn pacing(&mut self, bench: &Bench, scale: &Scale) {
        let rate = 300;
        let manifest = bench.manifest("paced.csv", rate * scale.pacing_seconds);
        bench.sfn_batch(&manifest, "paced", &["--rate", &rate.to_string()]);
        let arrivals = bench.stub.take().arrivals;
        let rate = rate as f64;
        let span = arrivals[arrivals.len() - 1] - arrivals[0];
        let mean = (arrivals.len() - 1) as f64 / span.as_secs_f64();
        let mut most = 0;
        let mut end = 0;
        for (start, &at) in arrivals.iter().enumerate() {
            while end < arrivals.len() && arrivals[end] - at < Duration::from_secs(1) {
                end += 1;
            }
            most = most.max(end - start);
        }
        self.row(
            &format!("pacing, `--rate {rate}` for {:.0} s", span.as_secs_f64()),
            format!(
                "mean **{mean:.1}/s** ({:+.2}%), at most **{most}** in any one second",
                (mean / rate - 1.0) * 100.0
            ),
            "mean within ±1%, no second above rate + burst",
        );
    }

    fn first_start(&mut self, dry: &Run, first: Duration) {
        self.row(
            &format!("time to first start, {} rows", dry.rows),
            format!(
                "{:.1} s; validating every row (`--dry-run`) takes {:.1} s: the launch \
                 begins once every row is checked, never before",
                first.as_secs_f64(),
                dry.elapsed.as_secs_f64()
            ),
            "≤ validation time",
        );
    }

    fn save(&self, path: PathBuf) {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let text = format!(
            "# Benchmarks\n\n\
             Written by `cargo bench --bench launch` (benches/launch.rs) on {date}.\n\
             Machine: {cores} cores, {cpu}. The stub is nginx answering fixed bodies\n\
             on loopback (benches/nginx_stub.rs), a process of its own on the same cores;\n\
             its CPU time is measured, and shown beside sfn-batch's.\n\
             The peer is benches/peers/boto3_launch.py (a boto3 ThreadPoolExecutor\n\
             sharing one client), run against the same stub on the same kind of manifest.\n\
             Ratios are the headline: absolute figures move with the machine.\n\n\
             | figure | measured | target |\n|---|---|---|\n{}{}",
            self.text,
            hand_written(&path),
            date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        );
        std::fs::write(path, text).unwrap();
    }
}

/// The hand-written part of BENCHMARKS.md (from its marker on), kept when the
/// figures above it are written anew.
fn hand_written(path: &Path) -> String {
    const MARKER: &str = "<!-- Hand-written from here on.";
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.find(MARKER)
        .map_or(String::new(), |at| format!("\n{}", &text[at..]))
}
