//! Everything sfn-batch tells a person on stderr goes through `tracing`: `-v` and
//! `-q` choose how much, `--log-format json` makes every line one JSON object (for
//! log shippers), and no line is ever drawn into a progress bar.
//!
//! Text lines read as the tool's own words: an info line is just its message, a
//! warning starts `warning:`, an error `sfn-batch:`. JSON lines carry `time`,
//! `level`, `message` and the event's fields; a `summary` field holds the
//! end-of-run summary as a JSON object, the same as `summary.json`.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, WeakProgressBar};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

use crate::model::event::{self as run, Consumer};
use crate::model::final_status::FinalStatus;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// Fields whose value is JSON text, written into a JSON line as JSON.
const JSON_FIELDS: [&str; 1] = ["summary"];

/// The bar on screen, if any: a log line is written while it is cleared. Weak, so
/// that a bar dropped without being finished (a run ending in an error) is gone.
static BAR: Mutex<Option<WeakProgressBar>> = Mutex::new(None);
/// Other crates' warnings said so far, by target and message.
static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// Whether stderr is for people: plain text, and not `-q`.
static FOR_PEOPLE: AtomicBool = AtomicBool::new(true);

/// Sets up logging for the process. `verbosity` is the count of `-v` less that of
/// `-q`: -2 errors only, -1 warnings too, 0 what a run does, 1 each retried call, 2
/// every row; from 3 on, the AWS SDK's own debug lines too. `RUST_LOG` overrides.
pub fn init(verbosity: i8, format: LogFormat) {
    let ours = match verbosity {
        ..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // The AWS SDK's own warnings (a credential provider that found nothing, a
    // missing config file) are its account of what it tried: `-v` shows them, and
    // errors always reach the user as sfn-batch's own words.
    let others = match verbosity {
        ..=0 => "error",
        1 | 2 => "warn",
        _ => "debug",
    };
    // RUST_LOG adds to these (a later directive for the same target wins), so that
    // RUST_LOG=hyper=debug cannot silence sfn-batch's own errors.
    let extra = std::env::var("RUST_LOG").unwrap_or_default();
    let filter = EnvFilter::builder().parse_lossy(format!("{others},sfn_batch={ours},{extra}"));
    FOR_PEOPLE.store(
        format == LogFormat::Text && verbosity >= 0,
        Ordering::Relaxed,
    );
    Registry::default()
        .with(Lines { format }.with_filter(filter))
        .init();
}

/// Whether a progress bar may be drawn: not under `--log-format json` (every line
/// must be JSON) nor `-q`.
pub(crate) fn for_people() -> bool {
    FOR_PEOPLE.load(Ordering::Relaxed)
}

/// Registers the bar being drawn (or none, once it is cleared).
pub(crate) fn show_bar(bar: Option<&ProgressBar>) {
    *BAR.lock().expect("bar lock") = bar.map(ProgressBar::downgrade);
}

struct Lines {
    format: LogFormat,
}

impl<S: Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        // Another crate's warning is said once: the SDK repeats some (a missing
        // config file, once per client). Its errors are all said.
        let target = event.metadata().target();
        if level == Level::WARN
            && !target.starts_with("sfn_batch")
            && !(SAID.lock().expect("said lock")).insert(format!("{target} {}", fields.message))
        {
            return;
        }
        let line = match self.format {
            LogFormat::Text => text_line(level, &fields.message),
            LogFormat::Json => json_line(level, fields),
        };
        let write = || {
            // Nothing sensible is left to do when stderr is gone.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        };
        match BAR
            .lock()
            .expect("bar lock")
            .as_ref()
            .and_then(|b| b.upgrade())
        {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

fn text_line(level: Level, message: &str) -> String {
    match level {
        Level::ERROR => format!("sfn-batch: {message}"),
        Level::WARN => format!("warning: {message}"),
        Level::INFO => message.to_string(),
        Level::DEBUG => format!("debug: {message}"),
        Level::TRACE => format!("trace: {message}"),
    }
}

fn json_line(level: Level, fields: JsonFields) -> String {
    let mut line = Map::new();
    line.insert(
        "time".into(),
        Value::String(jiff::Timestamp::now().to_string()),
    );
    line.insert(
        "level".into(),
        Value::String(level.as_str().to_ascii_lowercase()),
    );
    line.insert("message".into(), Value::String(fields.message));
    line.extend(fields.others);
    Value::Object(line).to_string()
}

#[derive(Default)]
struct JsonFields {
    message: String,
    others: Map<String, Value>,
}

impl JsonFields {
    fn insert(&mut self, field: &Field, value: Value) {
        self.others.insert(field.name().to_string(), value);
    }

    /// A field given as text (`%value` or a `&str`).
    fn record_text(&mut self, field: &Field, text: String) {
        if field.name() == "message" {
            self.message = text;
        } else if let Some(json) = JSON_FIELDS
            .contains(&field.name())
            .then(|| serde_json::from_str(&text).ok())
            .flatten()
        {
            self.insert(field, json);
        } else {
            self.insert(field, Value::String(text));
        }
    }
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.record_text(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }
}

/// `-vv`: a line for each row as its outcome, or its execution's end, is logged.
pub(crate) struct RowLog;

impl Consumer for RowLog {
    fn consume(&mut self, event: &run::Event<'_>) {
        let (outcome, word) = match event {
            run::Event::Launched { outcome, .. } => (outcome, outcome.status.as_str()),
            run::Event::Ended { outcome } => (
                outcome,
                outcome
                    .final_status
                    .as_ref()
                    .map_or("", FinalStatus::as_str),
            ),
            run::Event::Swept(_) | run::Event::Paced(_) | run::Event::Paused(_) => return,
        };
        tracing::trace!(
            row = outcome.row,
            status = word,
            "row {}: {} {}",
            outcome.row,
            word,
            outcome.name.as_deref().unwrap_or_default()
        );
    }
}
