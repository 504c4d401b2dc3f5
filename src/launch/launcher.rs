//! The only part that calls StartExecution: paced by the adaptive rate limiter,
//! bounded in calls in flight, retrying throttles and transient failures with backoff and
//! jitter up to the row's attempt budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::aws::sfn::{CallError, ErrorClass, StateMachine, StepFunctions};
use crate::launch::rate::Pacer;
use crate::launch::window::Window;
use crate::model::outcome::{Outcome, Status};
use crate::model::rows::Launch;

/// What the launcher is given for one row.
pub(crate) enum Work {
    /// Start the row's execution.
    Start(Launch),
    /// `retry`: launch the row again.
    Again(Again),
    /// The outcome is known without a call (an invalid row, a row started earlier
    /// under another number).
    Known(Outcome),
}

impl Work {
    /// What the log says of a row the launch stopped before: a row to start is
    /// `not_attempted`, with its name and fields, so that the report shows it; a
    /// known outcome stands; a row to launch again keeps its last line.
    pub(crate) fn not_reached(self) -> Option<Outcome> {
        match self {
            Work::Start(launch) => Some(Outcome::not_attempted(launch)),
            Work::Known(known) => Some(known),
            Work::Again(_) => None,
        }
    }
}

/// A row after its turn: a call to make, or none.
enum Turned {
    Known(Outcome),
    Call(Work, Turn),
    /// Stopped while it waited for its turn.
    Stopped(Work),
}

/// A row launched again by `retry`, from its last log line: its closed execution
/// redriven, or else (or when it failed to start) started as `launch`.
pub(crate) struct Again {
    /// The row as planned now: what is started when it is not redriven.
    pub launch: Launch,
    /// The row's last log line.
    pub last: Outcome,
    /// Redrive the closed execution of `last`, rather than start `launch`.
    pub redrive: bool,
}

/// How a redrive went.
enum Redriven {
    /// The execution runs again (or an earlier, unrecorded redrive already ran it).
    Yes { attempts: u32, note: Option<String> },
    /// The execution is still closed: AWS will not, or cannot, redrive it.
    Refused { reason: String },
    /// Not now (throttled), or not known (no answer): nothing else may start, and
    /// the next retry redrives again.
    NotNow { reason: String },
}

/// The calls made for one row.
#[derive(Debug, Clone, Copy, Default)]
struct Tries {
    attempts: u32,
    throttles: u32,
    /// How long the last one took.
    last_call: Duration,
}

/// How the launcher calls: in flight at once, attempts, backoff.
#[derive(Debug, Clone)]
pub(crate) struct LaunchOptions {
    /// StartExecution calls in flight at once.
    pub concurrency: usize,
    /// Calls per row, the first included.
    pub max_attempts: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// Default names are a hash of the state machine and the input: a name taken
    /// can only be this very row's execution, and needs no DescribeExecution
    /// (whose quota, 15/s, a re-run of a large batch would exhaust).
    pub names_identify_inputs: bool,
}

/// Exponential backoff with full jitter: attempt n waits a random time up to
/// `min(max, base × 2^(n-1))`, so retries of many rows spread out instead of
/// arriving together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// The ceiling of the first retry's random wait; it doubles with each attempt.
    pub base: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        let ceiling = self.base.saturating_mul(1 << doublings).min(self.max);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Starts (or redrives) rows' executions on `client`: paced, retried, and bounded in
/// calls in flight.
pub(crate) struct Launcher<C> {
    client: Arc<C>,
    state_machine: StateMachine,
    pacer: Pacer,
    options: LaunchOptions,
    window: Option<Arc<Window>>,
}

impl<C: StepFunctions> Launcher<C> {
    /// A launcher for `state_machine`, without a window.
    pub(crate) fn new(
        client: Arc<C>,
        state_machine: StateMachine,
        pacer: Pacer,
        options: LaunchOptions,
    ) -> Self {
        Launcher {
            client,
            state_machine,
            pacer,
            options,
            window: None,
        }
    }

    /// Bounds the executions open at once (`--max-running`), if `window` is given.
    pub(crate) fn with_window(self, window: Option<Arc<Window>>) -> Self {
        Launcher { window, ..self }
    }

    /// The pacer, for the pace and the throttle count.
    pub(crate) fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Turns rows into outcomes, `concurrency` at a time. Rows whose outcome is
    /// known already pass through. Once `stop` fires, no new call starts; calls in
    /// flight finish, and rows that did not get an answer yield nothing (a resume
    /// picks them up); the row waiting for its turn is not reached (`not_reached`),
    /// and the stream ends, leaving the rest of `work` unread.
    ///
    /// Rows take their turns in order: a row's place in the window and its first
    /// pacing token are taken before the next row's, so the first calls go out in
    /// row order (`--reverse` and a manifest's order mean what they say, and an
    /// interrupted run's untouched rows are the tail); answers come in any order.
    /// Each call runs as its own task, so that signing, serializing and parsing
    /// spread over every worker thread instead of the thread polling the stream.
    pub(crate) fn launch_all<'a>(
        self: &'a Arc<Self>,
        work: impl Stream<Item = Work> + 'a,
        stop: &'a CancellationToken,
    ) -> impl Stream<Item = Outcome> + 'a {
        // Once `stop` fires, `take_until` ends the stream before the next row.
        work.take_until(stop.cancelled())
            .then(move |work| async move {
                match work {
                    Work::Known(known) => Turned::Known(known),
                    work => match self.turn(stop).await {
                        Some(turn) => Turned::Call(work, turn),
                        None => Turned::Stopped(work),
                    },
                }
            })
            .map(move |turned| async move {
                match turned {
                    Turned::Known(known) => Some(known),
                    Turned::Stopped(work) => work.not_reached(),
                    Turned::Call(work, turn) => {
                        let (launcher, stop) = (self.clone(), stop.clone());
                        tokio::spawn(async move { launcher.launch(work, turn, &stop).await })
                            .await
                            .expect("a launch task panicked")
                    }
                }
            })
            .buffer_unordered(self.options.concurrency)
            .filter_map(|outcome| async move { outcome })
    }

    /// A row's turn: its place in the window, if there is one, then its first
    /// pacing token. `None` when stopped first.
    async fn turn(&self, stop: &CancellationToken) -> Option<Turn> {
        let place = match &self.window {
            Some(window) => Some(tokio::select! {
                biased;
                _ = stop.cancelled() => return None,
                place = window.places.clone().acquire_owned() => {
                    place.expect("the window never closes")
                }
            }),
            None => None,
        };
        let sent = tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            sent = self.pacer.ready() => sent,
        };
        Some(Turn { place, sent })
    }

    /// Launches one row in its turn. `None` when stopped first.
    async fn launch(&self, work: Work, turn: Turn, stop: &CancellationToken) -> Option<Outcome> {
        let outcome = match work {
            Work::Start(launch) => self.start(launch, Some(turn.sent), stop).await,
            Work::Again(again) => self.again(again, turn.sent, stop).await,
            Work::Known(known) => Some(known),
        };
        // A started execution holds its place until it closes; anything else
        // (failed, stopped, found closed already) gives it back now.
        if let Some(place) = turn.place
            && outcome
                .as_ref()
                .is_some_and(|o| o.status == Status::Started)
        {
            place.forget();
        }
        outcome
    }

    /// Launches a row again: redrives its execution if asked and AWS lets it, else
    /// starts it as planned, with the reason the redrive did not happen.
    async fn again(
        &self,
        again: Again,
        sent: Instant,
        stop: &CancellationToken,
    ) -> Option<Outcome> {
        let Again {
            launch,
            last,
            redrive,
        } = again;
        let retries = last.retries + 1;
        let planned_name = last.planned_name().unwrap_or_default().to_string();
        let mut outcome = match redrive {
            false => self.start(launch, Some(sent), stop).await?,
            true => match self.redrive(&last, retries, sent, stop).await? {
                Redriven::Yes { attempts, note } => Outcome {
                    message: note,
                    ..Outcome::redriven(last, attempts)
                },
                Redriven::Refused { reason } => {
                    let mut outcome = self.start(launch, None, stop).await?;
                    let note = format!("not redriven: {reason}");
                    outcome.message = Some(match outcome.message {
                        Some(message) => format!("{message} ({note})"),
                        None => note,
                    });
                    outcome
                }
                // Nothing was launched: the row stays as it was, and says why.
                Redriven::NotNow { reason } => {
                    return Some(Outcome::not_launched_again(last, reason));
                }
            },
        };
        outcome.retries = retries;
        outcome.planned_name =
            (outcome.name.as_ref() != Some(&planned_name)).then_some(planned_name);
        Some(outcome)
    }

    /// RedriveExecution of the execution of `last`, paced and retried like a
    /// start. A refusal is checked with DescribeExecution: an execution that no
    /// longer stands closed was redriven by an earlier call whose answer was lost,
    /// and must not be started again.
    async fn redrive(
        &self,
        last: &Outcome,
        retries: u32,
        sent: Instant,
        stop: &CancellationToken,
    ) -> Option<Redriven> {
        let arn = last.execution_arn.as_deref().unwrap_or_default();
        // The same token for the same retry: a repeat within 15 minutes (this
        // retry run again after a crash) is answered, not redriven a second time.
        let token = format!("sfn-batch-retry-{retries}");
        let (result, tries) = self
            .paced(Some(sent), stop, || {
                self.client.redrive_execution(arn, &token)
            })
            .await?;
        let attempts = tries.attempts;
        let error = match result {
            Ok(()) => {
                return Some(Redriven::Yes {
                    attempts,
                    note: None,
                });
            }
            Err(error) => error,
        };
        // Throttled: AWS did nothing, and may later. No answer: it may have.
        if error.class == ErrorClass::Throttle || !error.answered {
            return Some(Redriven::NotNow {
                reason: format!(
                    "RedriveExecution failed {attempts} times ({}): run the retry again",
                    error.message
                ),
            });
        }
        Some(match self.describe(arn).await {
            Ok(found) if found.is_unsuccessful() => Redriven::Refused {
                reason: error.message,
            },
            Ok(found) => Redriven::Yes {
                attempts,
                note: Some(format!(
                    "redriven by an earlier call whose answer was lost (now {})",
                    found.status
                )),
            },
            Err(e) => Redriven::NotNow {
                reason: format!(
                    "RedriveExecution failed ({}), and the execution could not be read \
                     ({}): run the retry again",
                    error.message, e.message
                ),
            },
        })
    }

    /// Starts one row, retrying what may succeed later; `sent`: the first call's
    /// pacing token, when the row's turn took it. `None` when stopped first.
    async fn start(
        &self,
        launch: Launch,
        sent: Option<Instant>,
        stop: &CancellationToken,
    ) -> Option<Outcome> {
        let arn = &self.state_machine.arn;
        let (result, tries) = self
            .paced(sent, stop, || {
                self.client
                    .start_execution(arn, &launch.name, &launch.input)
            })
            .await?;
        let attempts = tries.attempts;
        let outcome = match result {
            Ok(execution) => Outcome::executed(launch, Status::Started, execution, attempts),
            Err(error) if error.class == ErrorClass::AlreadyExists => {
                self.existing(launch, attempts, error).await
            }
            Err(error) => Outcome::failed(launch, attempts, error.code, error.message),
        };
        Some(outcome.with_calls(tries.throttles, tries.last_call))
    }

    /// Makes a call in its turn under the pacer, again after a backoff while it is
    /// throttled or fails transiently, up to the row's attempt budget; returns the
    /// last answer and the calls made. `None` when stopped first. `first`: the
    /// first call's pacing token, taken already in the row's turn.
    async fn paced<T, F>(
        &self,
        mut first: Option<Instant>,
        stop: &CancellationToken,
        mut call: impl FnMut() -> F,
    ) -> Option<(Result<T, CallError>, Tries)>
    where
        F: Future<Output = Result<T, CallError>>,
    {
        let mut tries = Tries::default();
        loop {
            let sent = match first.take() {
                Some(sent) => sent,
                None => tokio::select! {
                    biased;
                    _ = stop.cancelled() => return None,
                    sent = self.pacer.ready() => sent,
                },
            };
            tries.attempts += 1;
            let began = Instant::now();
            let result = call().await;
            tries.last_call = began.elapsed();
            let attempts = tries.attempts;
            // Only throttles say anything about the account's quota: a timeout or a
            // 5xx neither lowers nor raises the pace.
            match &result {
                Err(e) if e.class == ErrorClass::Throttle => {
                    tries.throttles += 1;
                    self.pacer.throttled(sent)
                }
                Err(e) if e.class == ErrorClass::Transient => {}
                _ => self.pacer.answered(),
            }
            match result {
                Err(e)
                    if matches!(e.class, ErrorClass::Throttle | ErrorClass::Transient)
                        && attempts < self.options.max_attempts =>
                {
                    let delay = self.options.backoff.delay(attempts);
                    tracing::debug!(
                        attempt = attempts,
                        code = e.code,
                        "call {attempts} failed ({}: {}); again in {delay:.1?}",
                        e.code,
                        e.message
                    );
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                last => return Some((last, tries)),
            }
        }
    }

    /// The name is taken. The execution holding it is ours if its input is the same
    /// (an earlier run, or an attempt whose answer was lost, started it): "existing".
    /// Otherwise the name belongs to a different execution, and the row failed.
    async fn existing(&self, launch: Launch, attempts: u32, taken: CallError) -> Outcome {
        let arn = self.state_machine.execution_arn(&launch.name);
        if self.options.names_identify_inputs {
            return Outcome::existing(launch, arn, attempts);
        }
        match self.describe(&arn).await {
            Ok(found) if found.input.as_deref() == Some(launch.input.as_str()) => {
                Outcome::executed(launch, Status::Existing, found.execution, attempts)
            }
            Ok(_) => Outcome::failed(
                launch,
                attempts,
                taken.code,
                format!("the name is taken by a different execution (other input): {arn}"),
            ),
            Err(e) => Outcome::failed(
                launch,
                attempts,
                taken.code,
                format!(
                    "the name is taken, and the execution holding it could not be read: {}",
                    e.message
                ),
            ),
        }
    }

    /// DescribeExecution, retried like a start but outside the start pacing (it has
    /// its own, separate quota).
    async fn describe(&self, arn: &str) -> Result<crate::aws::sfn::Described, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.client.describe_execution(arn).await {
                Err(e)
                    if matches!(e.class, ErrorClass::Throttle | ErrorClass::Transient)
                        && attempt < self.options.max_attempts =>
                {
                    tokio::time::sleep(self.options.backoff.delay(attempt)).await;
                }
                other => return other,
            }
        }
    }
}

/// A row's turn to be launched: its place in the window (given back unless its
/// execution started) and its first call's pacing token.
struct Turn {
    place: Option<OwnedSemaphorePermit>,
    sent: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for attempt in 1..40 {
            let d = b.delay(attempt);
            assert!(d <= Duration::from_secs(2), "{d:?}");
            assert!(d <= Duration::from_millis(100) * 2u32.pow(attempt.min(5)));
        }
    }
}
