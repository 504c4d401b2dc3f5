//! The progress display: a bar on a terminal, a plain line every few seconds in a
//! log (cron), or nothing. It consumes the same outcomes as the run log.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::counts::Counts;
use crate::model::counts::Ends;
use crate::model::event::{Consumer, Event};
use crate::model::outage::OutageNow;
use crate::model::outcome::Status;
use crate::model::pacing::Pacing;

/// `--progress`: `auto` is resolved once, in the options, by whether stderr is a
/// terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, lines otherwise.
    Auto,
    /// A progress bar on stderr.
    Bar,
    /// A plain line every few seconds, for a log.
    Lines,
    /// Nothing.
    None,
}

/// How often the line display prints.
const LINE_EVERY: Duration = Duration::from_secs(5);

enum Display {
    Bar(ProgressBar),
    Lines { last: Instant },
    Hidden,
}

impl Display {
    /// Nothing to show when there is nothing to do (a resume of a finished run).
    fn new(mode: ProgressMode, total: u64) -> Display {
        if total == 0 {
            return Display::Hidden;
        }
        match mode {
            ProgressMode::Bar | ProgressMode::Auto => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                    )
                    .expect("template parses")
                    .progress_chars("=> "),
                );
                crate::output::log::show_bar(Some(&bar));
                bar.enable_steady_tick(Duration::from_millis(200));
                Display::Bar(bar)
            }
            ProgressMode::Lines => Display::Lines {
                last: Instant::now(),
            },
            ProgressMode::None => Display::Hidden,
        }
    }

    /// A line display is due every `LINE_EVERY`.
    fn line_due(&mut self) -> bool {
        match self {
            Display::Lines { last } if last.elapsed() >= LINE_EVERY => {
                *last = Instant::now();
                true
            }
            _ => false,
        }
    }

    fn finish(&self, line: impl FnOnce() -> String) {
        match self {
            Display::Bar(bar) => {
                bar.finish_and_clear();
                crate::output::log::show_bar(None);
            }
            Display::Lines { .. } => tracing::info!("{}", line()),
            Display::Hidden => {}
        }
    }
}

/// The display while following executions to their end: how many have ended, and
/// how they stand.
pub(crate) struct FollowProgress {
    display: Display,
    total: u64,
    ends: Ends,
}

impl FollowProgress {
    /// A display of `total` executions, in `mode`.
    pub(crate) fn new(mode: ProgressMode, total: u64) -> FollowProgress {
        FollowProgress {
            display: Display::new(mode, total),
            total,
            ends: Ends::default(),
        }
    }

    /// Called after each look at AWS.
    fn show(&mut self, ends: Ends) {
        self.ends = ends;
        if let Display::Bar(bar) = &self.display {
            bar.set_position(self.total.saturating_sub(ends.running));
            bar.set_message(ends.human());
        }
        if self.display.line_due() {
            tracing::info!("{}", self.line());
        }
    }

    /// Ends the display: clears the bar, or prints a last line.
    pub(crate) fn finish(&self) {
        self.display.finish(|| self.line());
    }

    fn line(&self) -> String {
        format!(
            "following: {}/{} ended: {}",
            self.total.saturating_sub(self.ends.running),
            self.total,
            self.ends.human()
        )
    }
}

/// The display while launching: rows gone through, how, and how fast.
pub(crate) struct Progress {
    display: Display,
    started: Instant,
    /// Rows this run will go through (a resume leaves out those already done).
    total: u64,
    counts: Counts,
    pacing: Pacing,
}

impl Progress {
    /// A display of `total` rows, in `mode`.
    pub(crate) fn new(mode: ProgressMode, total: u64) -> Progress {
        let display = Display::new(mode, total);
        Progress {
            display,
            started: Instant::now(),
            total,
            counts: Counts::default(),
            pacing: Pacing::default(),
        }
    }

    /// Counts one row's outcome.
    fn record(&mut self, status: Status) {
        self.counts.add(status);
        if let Display::Bar(bar) = &self.display {
            bar.inc(1);
            bar.set_message(self.counts_text());
        }
    }

    /// Called on a timer with the pacer's state: redraws, or prints a line when
    /// one is due.
    fn tick(&mut self, pacing: Pacing) {
        self.pacing = pacing;
        if let Display::Bar(bar) = &self.display {
            bar.set_message(self.counts_text());
        }
        if self.display.line_due() {
            tracing::info!("{}", self.line());
        }
    }

    /// Called on a timer while new starts are paused, AWS unreachable: says so, on
    /// the bar or in a line when one is due.
    fn paused(&mut self, outage: &OutageNow) {
        if let Display::Bar(bar) = &self.display {
            bar.set_message(outage.human());
        }
        if self.display.line_due() {
            tracing::warn!("{}", outage.human());
        }
    }

    /// Outcomes of this run so far.
    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    /// Time since the display began.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the display: clears the bar, or prints a last line.
    pub(crate) fn finish(&self) {
        self.display.finish(|| self.line());
    }

    fn counts_text(&self) -> String {
        let c = &self.counts;
        format!(
            "started {} · existing {} · failed to start {} · invalid {} · {:.1} rows/s · pace {:.1}/s · throttles {}",
            c.started,
            c.existing,
            c.failed,
            c.invalid,
            self.rows_per_second(),
            self.pacing.pace,
            self.pacing.throttles
        )
    }

    fn rows_per_second(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        match secs > 0.0 {
            true => self.counts.total() as f64 / secs,
            false => 0.0,
        }
    }

    fn line(&self) -> String {
        let done = self.counts.total();
        let rate = self.rows_per_second();
        let eta = match rate > 0.0 {
            true => format!("{:.0}s", self.total.saturating_sub(done) as f64 / rate),
            false => "?".to_string(),
        };
        format!(
            "progress: {done}/{} rows, {}, ETA {eta}",
            self.total,
            self.counts_text()
        )
    }
}

/// Launching: each outcome moves the bar; each second redraws it.
impl Consumer for Progress {
    fn consume(&mut self, event: &Event<'_>) {
        match event {
            Event::Launched { outcome, .. } => self.record(outcome.status),
            Event::Paced(pacing) => self.tick(*pacing),
            Event::Paused(outage) => self.paused(outage),
            Event::Ended { .. } | Event::Swept(_) => {}
        }
    }
}

/// Following: each look at AWS redraws it.
impl Consumer for FollowProgress {
    fn consume(&mut self, event: &Event<'_>) {
        if let Event::Swept(ends) = event {
            self.show(*ends);
        }
    }
}
