//! The live path's benchmark: `sfn-batch-lambda` (the release binary) beside the
//! handler users write today (`benches/peers/boto3_handler.py`, run by
//! awslambdaric, the runtime client of AWS's Python images), each as a function
//! process under the same Lambda Runtime API (`benches/runtime_api.rs`), against the
//! same stub of Step Functions (nginx: `benches/nginx_stub.rs`), on the same SQS
//! events of S3 notifications.
//!
//!     cargo bench --bench live --features lambda      # every figure; writes its part of BENCHMARKS.md
//!     SFN_BATCH_BENCH=functions cargo bench --bench live --features lambda   # not the package; writes nothing
//!
//! The figures: the init (from the process's start to its first poll for an
//! invocation; the median of several starts), the peak memory and the CPU time
//! after 1,000 records, and the size of the zipped arm64 package that `cargo lambda
//! build` makes (about 7 minutes on two cores). `cargo test --all-targets
//! --all-features` runs the same on a few records in a debug build, as a smoke
//! test, without the package, and writes nothing.

mod nginx_stub;
mod procfs;
mod runtime_api;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nginx_stub::Stub;
use runtime_api::RuntimeApi;

/// The job file of sfn-batch-lambda: deploy/job.toml's, for the state machine that
/// benches/nginx_stub.conf answers for. The peer renders the same input from the
/// same object.
const JOB: &str = r#"
state_machine = "arn:aws:states:us-east-1:123456789012:stateMachine:stub"
s3_prefix = "s3://raw-data/incoming/"
include = ["**/*.parquet"]
output_template = "s3://processed-data/{relative}"
input_template = '{"PreprocessingJobName": "{name}", "Input": "{input}", "Output": "{output}"}'
"#;
/// Where a function's stdout and stderr go, in the bench's folder.
const FUNCTION_LOG: &str = "function.log";
/// Records in an SQS event: the event source mapping's default batch size.
const PER_EVENT: usize = 10;

struct Scale {
    records: usize,
    /// Starts timed, for the init.
    starts: usize,
    /// Processes through every record, for the memory and CPU time.
    runs: usize,
}

const FULL: Scale = Scale {
    records: 1_000,
    starts: 15,
    runs: 5,
};
const SMOKE: Scale = Scale {
    records: 20,
    starts: 2,
    runs: 1,
};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale = if benchmarking { FULL } else { SMOKE };
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(&dir.path().join("stub"));
    let job = dir.path().join("job.toml");
    std::fs::write(&job, JOB).unwrap();
    let bench = Bench { stub, dir, job };

    let ours = bench.measure(Function::SfnBatch, &scale);
    let peer = bench.measure(Function::Boto3, &scale);
    let mut report = Report::default();
    report.functions(&ours, &peer, scale.records);
    if !benchmarking {
        println!("live: smoke test ok (`cargo bench --bench live --features lambda` measures)");
        return;
    }
    if std::env::var("SFN_BATCH_BENCH").is_ok_and(|b| b == "functions") {
        print!("{}", report.text);
        return;
    }
    report.package(package_size());
    print!("{}", report.text);
    report.save(&Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"));
}

/// The two handlers measured.
#[derive(Clone, Copy)]
enum Function {
    SfnBatch,
    Boto3,
}

struct Bench {
    // Declared first, so dropped first: nginx stops before its folder goes.
    stub: Stub,
    dir: tempfile::TempDir,
    job: PathBuf,
}

/// One function, measured: each figure's runs, sorted.
struct Measured {
    /// From the process's start to its first poll.
    inits: Vec<Duration>,
    /// After every record: the process's peak RSS, and its CPU time (user plus
    /// system, init included).
    peak_rss_kib: Vec<u64>,
    cpu: Vec<Duration>,
    /// The stub's CPU time answering those records' calls.
    stub_cpu: Vec<Duration>,
}

/// The middle of sorted runs.
fn median<T: Copy>(runs: &[T]) -> T {
    runs[runs.len() / 2]
}

impl Bench {
    fn measure(&self, function: Function, scale: &Scale) -> Measured {
        // A first start, not counted, brings the files into the page cache.
        self.init(function);
        let mut measured = Measured {
            inits: (0..scale.starts).map(|_| self.init(function)).collect(),
            peak_rss_kib: Vec::new(),
            cpu: Vec::new(),
            stub_cpu: Vec::new(),
        };
        for _ in 0..scale.runs {
            self.records(function, scale.records, &mut measured);
        }
        measured.inits.sort();
        measured.peak_rss_kib.sort();
        measured.cpu.sort();
        measured.stub_cpu.sort();
        measured
    }

    /// One process through `records` records: its figures, once it polls for more.
    fn records(&self, function: Function, records: usize, measured: &mut Measured) {
        let api = RuntimeApi::serve(sqs_events(records));
        let stub_cpu_before = self.stub.cpu();
        let mut process = self.start(function, &api);
        self.idle(&api, &mut process, Duration::from_secs(300));
        measured
            .peak_rss_kib
            .push(procfs::peak_rss_kib(process.id()).unwrap());
        measured.cpu.push(procfs::cpu_time(process.id()));
        measured.stub_cpu.push(self.stub.cpu() - stub_cpu_before);
        process.kill().unwrap();
        process.wait().unwrap();

        let answers = api.answers();
        assert_eq!(answers.len(), records / PER_EVENT);
        for answer in answers {
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(
                answer["batchItemFailures"],
                serde_json::json!([]),
                "every record started"
            );
        }
        let calls = self.stub.take();
        assert_eq!(calls.names.len(), records, "one execution per record");
        assert!(
            calls.names.values().all(|&n| n == 1),
            "a name started twice"
        );
    }

    /// From the process's start to its first poll for an invocation.
    fn init(&self, function: Function) -> Duration {
        let api = RuntimeApi::serve(Vec::new());
        let started = Instant::now();
        let mut process = self.start(function, &api);
        let init = self.idle(&api, &mut process, Duration::from_secs(30)) - started;
        process.kill().unwrap();
        process.wait().unwrap();
        init
    }

    /// When the function is idle, polling for more; panics with why it is not,
    /// and what it logged.
    fn idle(&self, api: &RuntimeApi, function: &mut Child, limit: Duration) -> Instant {
        api.idle_at(function, limit).unwrap_or_else(|why| {
            let logs = std::fs::read_to_string(self.dir.path().join(FUNCTION_LOG));
            panic!("{why}; it logged:\n{}", logs.unwrap_or_default())
        })
    }

    /// The function as Lambda runs it: its environment, its logs to a file.
    fn start(&self, function: Function, api: &RuntimeApi) -> Child {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cmd = match function {
            Function::SfnBatch => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfn-batch-lambda"));
                cmd.env("SFN_BATCH_JOB", &self.job);
                cmd
            }
            Function::Boto3 => {
                let mut cmd = Command::new(root.join(".venv/bin/python"));
                cmd.args(["-m", "awslambdaric", "boto3_handler.handler"])
                    .env("PYTHONPATH", root.join("benches/peers"))
                    .env("AWS_ACCOUNT_ID", "123456789012")
                    .env("STATE_MACHINE_NAME", "stub");
                cmd
            }
        };
        let logs = std::fs::File::create(self.dir.path().join(FUNCTION_LOG)).unwrap();
        cmd.current_dir(self.dir.path())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_ENDPOINT_URL", &self.stub.url)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(logs.try_clone().unwrap())
            .stderr(logs)
            .spawn()
            .unwrap()
    }
}

/// `records` new objects, announced by S3 to SQS and delivered `PER_EVENT` to an
/// event, as Lambda's event source mapping delivers them.
fn sqs_events(records: usize) -> Vec<String> {
    let messages: Vec<serde_json::Value> = (0..records)
        .map(|i| {
            let key = format!("incoming/2026/12/06/part-{i:06}.parquet");
            let notification = serde_json::json!({"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-12-06T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
                "s3": {
                    "s3SchemaVersion": "1.0", "configurationId": "new",
                    "bucket": {"name": "raw-data", "ownerIdentity": {"principalId": "EXAMPLE"},
                               "arn": "arn:aws:s3:::raw-data"},
                    "object": {"key": key, "size": 1_048_576,
                               "eTag": format!("{i:032x}"), "sequencer": format!("{i:016X}")},
                },
            }]});
            serde_json::json!({
                "messageId": format!("{i:08}-0000-4000-8000-000000000000"),
                "receiptHandle": "bench", "body": notification.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1765000000000",
                               "SenderId": "EXAMPLE", "ApproximateFirstReceiveTimestamp": "1765000000000"},
                "messageAttributes": {}, "md5OfBody": "bench", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:new", "awsRegion": "us-east-1",
            })
        })
        .collect();
    messages
        .chunks(PER_EVENT)
        .map(|records| serde_json::json!({"Records": records}).to_string())
        .collect()
}

/// The zipped arm64 package, as the README builds it for deploying; its size in
/// bytes.
fn package_size() -> u64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = format!(
        "{}:{}",
        root.join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("cargo")
        .args([
            "lambda",
            "build",
            "--release",
            "--arm64",
            "--features",
            "lambda",
        ])
        .args(["--bin", "sfn-batch-lambda", "--include", "deploy/job.toml"])
        .args(["--output-format", "zip"])
        .current_dir(root)
        .env("PATH", path)
        .status()
        .expect("run cargo lambda (scripts/tools install puts it in .venv)");
    assert!(status.success(), "cargo lambda build failed");
    let zip = root.join("target/lambda/sfn-batch-lambda/bootstrap.zip");
    std::fs::metadata(zip).unwrap().len()
}

/// The figures, as the Markdown table BENCHMARKS.md holds.
#[derive(Default)]
struct Report {
    text: String,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl Report {
    fn row(&mut self, figure: &str, measured: String, target: &str) {
        writeln!(self.text, "| {figure} | {measured} | {target} |").unwrap();
    }

    fn functions(&mut self, ours: &Measured, peer: &Measured, records: usize) {
        let init = |m: &Measured| {
            let (fastest, slowest) = (m.inits[0], m.inits[m.inits.len() - 1]);
            let median = median(&m.inits);
            format!(
                "{:.1} ms ({:.0}–{:.0})",
                ms(median),
                ms(fastest),
                ms(slowest)
            )
        };
        let ratio = |ours: f64, peer: f64| format!("**{:.2}×**", ours / peer);
        self.row(
            &format!(
                "init: process start to first poll, median of {}",
                ours.inits.len()
            ),
            format!(
                "sfn-batch-lambda **{}**; boto3 handler {}: {}",
                init(ours),
                init(peer),
                ratio(ms(median(&ours.inits)), ms(median(&peer.inits)))
            ),
            "≤ 50 ms",
        );
        let (our_rss, peer_rss) = (median(&ours.peak_rss_kib), median(&peer.peak_rss_kib));
        self.row(
            &format!(
                "peak RSS after {records} records, median of {}",
                ours.peak_rss_kib.len()
            ),
            format!(
                "sfn-batch-lambda **{:.1} MiB**; boto3 handler {:.1} MiB: {}",
                procfs::mib(our_rss),
                procfs::mib(peer_rss),
                ratio(our_rss as f64, peer_rss as f64)
            ),
            "≤ 40 MiB",
        );
        let (our_cpu, peer_cpu) = (median(&ours.cpu), median(&peer.cpu));
        self.row(
            &format!(
                "CPU time, init and {records} records (user + sys), median of {}",
                ours.cpu.len()
            ),
            format!(
                "sfn-batch-lambda {:.0} ms; boto3 handler {:.0} ms: {} \
                 (the stub's: {:.0} ms answering sfn-batch-lambda, {:.0} ms the handler)",
                ms(our_cpu),
                ms(peer_cpu),
                ratio(ms(our_cpu), ms(peer_cpu)),
                ms(median(&ours.stub_cpu)),
                ms(median(&peer.stub_cpu)),
            ),
            "",
        );
    }

    fn package(&mut self, bytes: u64) {
        self.row(
            "zipped arm64 package (`cargo lambda build --release --arm64 --features lambda \
             --bin sfn-batch-lambda --include deploy/job.toml --output-format zip`)",
            format!("**{:.2} MB** ({bytes} bytes)", bytes as f64 / 1e6),
            "≤ 10 MB",
        );
    }

    /// Writes the table into its place in BENCHMARKS.md, between its markers, or at
    /// the end the first time; the rest of the file is benches/launch.rs's and
    /// hand-written.
    fn save(&self, path: &Path) {
        const BEGIN: &str = "<!-- Written by `cargo bench --bench live";
        const END: &str = "<!-- End of what benches/live.rs writes. -->";
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let section = format!(
            "{BEGIN} --features lambda` (benches/live.rs), \
             up to its end marker. -->\n\
             Measured on {date}, {cores} cores: each function under the same Runtime API \
             (benches/runtime_api.rs), against the nginx stub.\n\n\
             | figure | measured | target |\n|---|---|---|\n{}{END}",
            self.text,
            date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        );
        let text = std::fs::read_to_string(path).unwrap();
        let text = match (text.find(BEGIN), text.find(END)) {
            (Some(begin), Some(end)) => {
                format!("{}{section}{}", &text[..begin], &text[end + END.len()..])
            }
            _ => format!("{}\n{section}\n", text.trim_end()),
        };
        std::fs::write(path, text).unwrap();
    }
}
