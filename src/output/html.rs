//! `report --html FILE`: one self-contained page (inline CSS and SVG; no script,
//! font or image from anywhere) with the counts by status, how the executions
//! ended, starts and throttles per second over the launch, StartExecution latency
//! percentiles, and the rows that need attention.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use crate::model::final_status::FinalStatus;
use crate::model::outcome::{Outcome, Status};
use crate::record::batch_rows::BatchRows;
use crate::record::report::LastOutcomes;
use crate::record::summary::Summary;

/// Bars in a chart over time: a longer launch is shown in wider steps.
const MAX_BARS: i64 = 240;
/// Latencies are counted per millisecond up to this; slower calls count here.
const LATENCY_CAP_MS: usize = 60_000;

/// What the charts need from every row's last outcome.
struct Measures {
    /// Calls and throttles per second of the launch (by each row's `at`).
    seconds: BTreeMap<i64, (u64, u64)>,
    /// Rows per latency of their last call, in ms.
    latency: Vec<u64>,
}

impl Measures {
    fn read(outcomes: &LastOutcomes, rows: &BatchRows) -> io::Result<Measures> {
        let mut measures = Measures {
            seconds: BTreeMap::new(),
            latency: vec![0; LATENCY_CAP_MS + 1],
        };
        outcomes.for_each(rows, |outcome| {
            measures.add(outcome);
            Ok(())
        })?;
        Ok(measures)
    }

    fn add(&mut self, outcome: &Outcome) {
        let at = outcome
            .at
            .as_deref()
            .and_then(|at| at.parse::<jiff::Timestamp>().ok());
        // Only rows that made calls: one found started by another run dir made none.
        if let Some(at) = at.filter(|_| outcome.attempts > 0) {
            let second = self.seconds.entry(at.as_second()).or_default();
            second.0 += 1;
            second.1 += u64::from(outcome.throttles);
        }
        if let Some(ms) = outcome.latency_ms {
            self.latency[(ms as usize).min(LATENCY_CAP_MS)] += 1;
        }
    }

    /// The latency under which `fraction` of the calls answered, in ms.
    fn percentile(&self, fraction: f64) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        let wanted = ((total as f64 * fraction).ceil() as u64).max(1);
        let mut seen = 0;
        self.latency
            .iter()
            .position(|&n| {
                seen += n;
                total > 0 && seen >= wanted
            })
            .map(|ms| ms as u64)
    }
}

/// The page for a run.
pub(crate) fn page(
    summary: &Summary,
    outcomes: &LastOutcomes,
    rows: &BatchRows,
) -> io::Result<String> {
    let measures = Measures::read(outcomes, rows)?;
    let s = summary;
    let c = &s.counts;
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>sfn-batch: {batch}</title><style>{STYLE}</style></head><body>\n\
         <h1>sfn-batch: batch <code>{batch}</code></h1>\n\
         <p>State machine <code>{arn}</code>, run dir <code>{dir}</code>: {rows} rows, exit code {exit}.</p>\n",
        batch = escape(&s.batch_id),
        arn = escape(&s.state_machine_arn),
        dir = escape(&s.run_dir),
        rows = s.rows,
        exit = s.exit_code,
    );
    let statuses: Vec<(&str, u64, &str)> = Status::ALL
        .iter()
        .map(|&status| (status.as_str(), c.get(status), color(status.as_str())))
        .collect();
    section(
        &mut html,
        "counts",
        "Rows by status",
        &bars("counts-chart", &statuses),
    );
    if let Some(followed) = &s.followed {
        let e = &followed.ends;
        let ends = [
            ("SUCCEEDED", e.succeeded),
            ("FAILED", e.failed),
            ("TIMED_OUT", e.timed_out),
            ("ABORTED", e.aborted),
            ("UNKNOWN", e.unknown),
            ("RUNNING", e.running),
        ]
        .map(|(label, n)| (label, n, color(label)));
        section(
            &mut html,
            "executions",
            "How the executions ended",
            &bars("executions-chart", &ends),
        );
    }
    let calls: Vec<(i64, u64)> = measures
        .seconds
        .iter()
        .map(|(&t, &(n, _))| (t, n))
        .collect();
    let throttles: Vec<(i64, u64)> = measures
        .seconds
        .iter()
        .map(|(&t, &(_, n))| (t, n))
        .collect();
    section(
        &mut html,
        "starts",
        "Calls answered per second",
        &over_time("starts-chart", &calls, "#2b7bb9"),
    );
    section(
        &mut html,
        "throttles",
        "Throttles per second",
        &over_time("throttles-chart", &throttles, "#d9822b"),
    );
    let percentiles = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)]
        .map(|(label, f)| (label, measures.percentile(f), "#6a51a3"));
    let latency = match percentiles.map(|(label, ms, color)| Some((label, ms?, color))) {
        [Some(p50), Some(p90), Some(p99), Some(max)] => {
            bars("latency-chart", &[p50, p90, p99, max])
                + "<p class=\"note\">milliseconds, last call of each row</p>"
        }
        _ => "<p id=\"latency-chart\">No call recorded its latency.</p>".to_string(),
    };
    section(
        &mut html,
        "latency",
        "StartExecution latency (ms)",
        &latency,
    );
    section(
        &mut html,
        "attention",
        &format!("Rows that need attention: {}", s.attention.rows),
        &attention(s),
    );
    html += "</body></html>\n";
    Ok(html)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}\
code{background:#f3f3f3;padding:0 .2em}section{margin:1.5em 0}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;\
vertical-align:top}svg text{font-size:12px;fill:#222}.note{color:#666;font-size:.9em}";

fn section(html: &mut String, id: &str, title: &str, body: &str) {
    let _ = write!(
        html,
        "<section id=\"{id}\"><h2>{}</h2>\n{body}</section>\n",
        escape(title)
    );
}

fn color(status: &str) -> &'static str {
    match status {
        "started" | "SUCCEEDED" => "#2ca02c",
        "existing" => "#98df8a",
        "failed" | "FAILED" | "TIMED_OUT" | "ABORTED" => "#d62728",
        "invalid" => "#ff7f0e",
        "RUNNING" => "#1f77b4",
        _ => "#999999",
    }
}

/// Horizontal bars, one per label, scaled to the largest.
fn bars(id: &str, items: &[(&str, u64, &str)]) -> String {
    let (label_width, bar_width, row) = (110, 420, 24);
    let most = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let height = row * items.len();
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" width=\"{}\" height=\"{height}\" role=\"img\">",
        label_width + bar_width + 80
    );
    for (i, (label, value, color)) in items.iter().enumerate() {
        let y = i * row;
        let width = (*value as f64 / most as f64 * bar_width as f64).round();
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\">{}</text><rect class=\"bar\" x=\"{label_width}\" y=\"{}\" \
             width=\"{width}\" height=\"{}\" fill=\"{color}\"><title>{}: {value}</title></rect>\
             <text x=\"{}\" y=\"{}\">{value}</text>",
            y + 16,
            escape(label),
            y + 4,
            row - 8,
            escape(label),
            label_width as f64 + width + 6.0,
            y + 16,
        );
    }
    svg + "</svg>"
}

/// Vertical bars over the launch, per second, or per step of a few seconds
/// (averaged per second) when the launch was long.
fn over_time(id: &str, points: &[(i64, u64)], color: &str) -> String {
    let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) else {
        return format!(
            "<svg id=\"{id}\" class=\"chart\" width=\"600\" height=\"30\"><text x=\"0\" y=\"20\">no launch recorded</text></svg>"
        );
    };
    let span = last - first + 1;
    let step = (span + MAX_BARS - 1) / MAX_BARS;
    let mut sums = vec![0u64; ((span + step - 1) / step) as usize];
    for &(t, n) in points {
        sums[((t - first) / step) as usize] += n;
    }
    let per_second: Vec<f64> = sums.iter().map(|&n| n as f64 / step as f64).collect();
    let most = per_second.iter().copied().fold(0.0, f64::max).max(1.0);
    let (left, width, height) = (50.0, 600.0, 160.0);
    let bar = width / per_second.len() as f64;
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" width=\"{}\" height=\"{}\" role=\"img\">\
         <text x=\"0\" y=\"12\">{most:.1}/s</text><text x=\"0\" y=\"{height}\">0</text>",
        left + width + 10.0,
        height + 30.0
    );
    for (i, value) in per_second.iter().enumerate() {
        let h = value / most * (height - 10.0);
        let t = first + i as i64 * step;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{color}\">\
             <title>{}: {value:.1}/s</title></rect>",
            left + i as f64 * bar,
            height - h,
            (bar - 0.5).max(0.5),
            timestamp(t),
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ({step} s per bar)</text></svg>",
        height + 20.0,
        timestamp(first),
        left + width,
        height + 20.0,
        timestamp(last),
    );
    svg
}

fn timestamp(second: i64) -> String {
    jiff::Timestamp::from_second(second).map_or_else(|_| second.to_string(), |t| t.to_string())
}

/// The first rows that need attention, as a table.
fn attention(summary: &Summary) -> String {
    if summary.attention.first.is_empty() {
        return "<p>None.</p>\n".to_string();
    }
    let mut table = String::from(
        "<table id=\"attention-table\"><tr><th>row</th><th>name</th><th>status</th>\
         <th>final status</th><th>error</th><th>message</th></tr>\n",
    );
    for o in &summary.attention.first {
        let text = |v: &Option<String>| escape(v.as_deref().unwrap_or_default());
        let message = o.cause.as_ref().or(o.message.as_ref());
        let _ = writeln!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            o.row,
            text(&o.name),
            o.status.as_str(),
            o.final_status.as_ref().map_or("", FinalStatus::as_str),
            text(&o.error),
            text(&message.cloned()),
        );
    }
    table += "</table>\n";
    let more = summary.attention.rows - summary.attention.first.len() as u64;
    if more > 0 {
        let _ = writeln!(
            table,
            "<p class=\"note\">... and {more} more: every row is in report.csv.</p>"
        );
    }
    table
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
