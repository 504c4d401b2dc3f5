//! `sfn-batch report`: every format, rendered from a fixed run dir
//! (`tests/fixtures/report-run`) and compared with its insta snapshot. The run
//! log there holds each kind of row: started and followed to SUCCEEDED or FAILED,
//! failed then started by a resume, existing, failed, invalid, never logged.

use crate::fixture::sfn_batch;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn report(args: &[&str]) -> String {
    let output = sfn_batch()
        .current_dir(FIXTURES)
        .args(["report", "report-run"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A run dir holding these files of the fixture's.
fn fixture_files(files: &[&str]) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    for file in files {
        std::fs::copy(
            format!("{FIXTURES}/report-run/{file}"),
            work.path().join(file),
        )
        .unwrap();
    }
    work
}

#[test]
fn table() {
    insta::assert_snapshot!(report(&[]));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(report(&["--format", "markdown"]));
}

#[test]
fn csv() {
    insta::assert_snapshot!(report(&["--format", "csv"]));
}

#[test]
fn json() {
    let text = report(&["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(json["rows"].as_array().unwrap().len(), 7);
    insta::assert_snapshot!(text);
}

#[test]
fn a_run_dir_without_a_run_log_is_all_not_attempted() {
    let work = fixture_files(&["run.json", "rows.json"]);
    sfn_batch()
        .arg("report")
        .arg(work.path())
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "7 rows: 0 started, 0 existing, 0 failed to start, 0 invalid, 7 not attempted",
        ));
}

#[test]
fn not_a_run_dir() {
    sfn_batch()
        .args(["report", FIXTURES])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "not the run dir of an sfn-batch run",
        ));
}

/// The HTML page, loaded in real headless Chromium (Debian's `chromium`, which
/// `scripts/test` installs): no console error, no request beyond the file, the
/// charts' elements in the DOM, and their colours on the screenshot.
#[test]
fn html_renders_in_chromium() {
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("report.html");
    sfn_batch()
        .current_dir(FIXTURES)
        .args(["report", "report-run", "--html"])
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "self-contained"
    );

    let chromium = |args: &[&str]| {
        let output = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--window-size=1200,1800",
            ])
            .arg(format!(
                "--user-data-dir={}",
                work.path().join("profile").display()
            ))
            .args(args)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs: install it with scripts/test (Debian's chromium package)");
        assert!(output.status.success(), "{output:?}");
        output
    };
    let dom = chromium(&["--dump-dom"]);
    let dom = String::from_utf8(dom.stdout).unwrap();
    for id in [
        "counts-chart",
        "executions-chart",
        "starts-chart",
        "throttles-chart",
        "latency-chart",
        "attention-table",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id} in the DOM");
    }
    assert!(dom.matches("class=\"bar\"").count() > 20, "bars drawn");

    let screenshot = work.path().join("report.png");
    let shot = chromium(&[&format!("--screenshot={}", screenshot.display())]);
    let log = String::from_utf8_lossy(&shot.stderr);
    for bad in ["CONSOLE", "Failed to load resource", "net::ERR"] {
        assert!(!log.contains(bad), "{bad} in chromium's log:\n{log}");
    }
    let pixels = rgb_pixels(&screenshot);
    for (what, colour) in [
        ("a started bar", [0x2c, 0xa0, 0x2c]),
        ("a failed bar", [0xd6, 0x27, 0x28]),
        ("the starts chart", [0x2b, 0x7b, 0xb9]),
        ("the throttles chart", [0xd9, 0x82, 0x2b]),
        ("the latency chart", [0x6a, 0x51, 0xa3]),
    ] {
        let seen = pixels.iter().filter(|&&p| p == colour).count();
        assert!(
            seen > 50,
            "{what}: {seen} pixels of {colour:?} on the screenshot"
        );
    }
}

/// The screenshot's pixels as RGB.
fn rgb_pixels(path: &std::path::Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

#[test]
fn a_summary_older_than_the_run_log_is_not_believed() {
    let work = tempfile::tempdir().unwrap();
    for file in ["run.json", "rows.json", "results.jsonl", "summary.json"] {
        std::fs::copy(
            format!("{FIXTURES}/report-run/{file}"),
            work.path().join(file),
        )
        .unwrap();
    }
    // A resume under way (or killed) has logged row 7 since the summary.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(work.path().join("results.jsonl"))
        .unwrap();
    std::io::Write::write_all(
        &mut log,
        br#"{"row":7,"line":8,"name":"job-7","status":"started","attempts":1,"fields":{"id":"7"}}
"#,
    )
    .unwrap();
    let output = sfn_batch().arg("report").arg(work.path()).output().unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("7 rows: 4 started"), "{table}");
    assert!(!table.contains("this run:"), "{table}");
    assert!(!table.contains("following took"), "{table}");
}

/// `report | head`: a reader that leaves early is no error, whatever the format,
/// under a real pipe (a report of 20,000 rows is far larger than a pipe's buffer).
#[test]
fn a_reader_that_leaves_early_ends_it_quietly() {
    let work = fixture_files(&["run.json", "results.jsonl"]);
    std::fs::write(work.path().join("rows.json"), "[[1,20000]]").unwrap();
    let binary = env!("CARGO_BIN_EXE_sfn-batch");
    for format in ["json", "csv", "json", "csv", "json"] {
        let script = format!(
            "set -o pipefail; '{binary}' report '{}' --format {format} | head -3 > /dev/null",
            work.path().display()
        );
        let output = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(output.status.success(), "{format}: {output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{format}");
    }
}
