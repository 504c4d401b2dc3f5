//! The only part that calls StartExecution: paced by the adaptive rate limiter,
//! bounded in calls in flight, retrying throttles and transient failures with backoff and
//! jitter up to the row's attempt budget.
//!
//! This file is longer than 500 lines with its tests: a row's turn, its calls,
//! their retries and how a stop ends them are one piece, and the tests drive it
//! with a client of their own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::aws::sfn::{CallError, ErrorClass, StateMachine, StepFunctions};
use crate::launch::breaker::{Blame, Breaker};
use crate::launch::rate::Pacer;
use crate::launch::window::Window;
use crate::launch::work::{Again, Work};
use crate::model::outcome::{Outcome, Status};
use crate::model::rows::Launch;
use crate::model::settings::LaunchOptions;

/// A row after its turn: a call to make, or none.
enum Turned {
    Known(Outcome),
    Call(Work, Turn),
    /// Stopped while it waited for its turn.
    Stopped(Work),
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
    /// Every call made: the attempts the row records.
    attempts: u32,
    /// Those that count against `--max-attempts`: not those made while AWS could
    /// not be reached by anyone.
    spent: u32,
    throttles: u32,
    /// How long the last one took.
    last_call: Duration,
}

/// Starts (or redrives) rows' executions on `client`: paced, retried, and bounded in
/// calls in flight.
pub(crate) struct Launcher<C> {
    client: Arc<C>,
    state_machine: StateMachine,
    pacer: Pacer,
    breaker: Breaker,
    options: LaunchOptions,
    window: Option<Arc<Window>>,
}

impl<C: StepFunctions> Launcher<C> {
    /// A launcher for `state_machine`, without a window.
    pub(crate) fn new(
        client: Arc<C>,
        state_machine: StateMachine,
        pacer: Pacer,
        breaker: Breaker,
        options: LaunchOptions,
    ) -> Self {
        Launcher {
            client,
            state_machine,
            pacer,
            breaker,
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

    /// The breaker, for the outage under way and the outages so far.
    pub(crate) fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Turns rows into outcomes, `concurrency` at a time. Rows whose outcome is
    /// known already pass through. Once `stop` fires, no new call starts; calls in
    /// flight finish. A row stopped before its first call went out is not reached
    /// (`Work::not_reached`); one whose calls got no answer yields nothing (a
    /// resume decides by its name). The stream then ends, leaving the rest of
    /// `work` unread.
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
            Work::Start(launch) => match self.start(launch, Some(turn.sent), stop).await {
                Ok(outcome) => Some(outcome),
                Err(Unanswered::NotReached(launch)) => Work::Start(launch).not_reached(),
                Err(Unanswered::Cut) => None,
            },
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
            // Stopped first, the row keeps its last line (`Work::not_reached`).
            false => self.start(launch, Some(sent), stop).await.ok()?,
            true => match self.redrive(&last, retries, sent, stop).await? {
                Redriven::Yes { attempts, note } => Outcome {
                    message: note,
                    ..Outcome::redriven(last, attempts)
                },
                Redriven::Refused { reason } => {
                    let mut outcome = self.start(launch, None, stop).await.ok()?;
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
            .await
            .ok()?;
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
    /// pacing token, when the row's turn took it. `Unanswered` when stopped first.
    async fn start(
        &self,
        launch: Launch,
        sent: Option<Instant>,
        stop: &CancellationToken,
    ) -> Result<Outcome, Unanswered> {
        let arn = &self.state_machine.arn;
        let paced = self
            .paced(sent, stop, || {
                self.client
                    .start_execution(arn, &launch.name, &launch.input)
            })
            .await;
        let (result, tries) = match paced {
            Ok(done) => done,
            Err(Stopped { calls: 0 }) => return Err(Unanswered::NotReached(launch)),
            Err(Stopped { .. }) => return Err(Unanswered::Cut),
        };
        let attempts = tries.attempts;
        let outcome = match result {
            Ok(execution) => Outcome::executed(launch, Status::Started, execution, attempts),
            Err(error) if error.class == ErrorClass::AlreadyExists => {
                self.existing(launch, attempts, error).await
            }
            Err(error) => Outcome::failed(launch, attempts, error.code, error.message),
        };
        Ok(outcome.with_calls(tries.throttles, tries.last_call))
    }

    /// Makes a call in its turn under the pacer and the breaker, again after a
    /// backoff while it is throttled or fails transiently, up to the row's attempt
    /// budget; returns the last answer and the calls made. `Stopped` when stopped
    /// first. `first`: the first call's pacing token, taken already in the row's
    /// turn.
    async fn paced<T, F>(
        &self,
        mut first: Option<Instant>,
        stop: &CancellationToken,
        mut call: impl FnMut() -> F,
    ) -> Result<(Result<T, CallError>, Tries), Stopped>
    where
        F: Future<Output = Result<T, CallError>>,
    {
        let mut tries = Tries::default();
        let stopped = |tries: &Tries| Stopped {
            calls: tries.attempts,
        };
        loop {
            let sent = match first.take() {
                Some(sent) => sent,
                None => tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Err(stopped(&tries)),
                    sent = self.pacer.ready() => sent,
                },
            };
            let Some(admission) = self.breaker.admit().await else {
                return Err(stopped(&tries));
            };
            tries.attempts += 1;
            tries.spent += 1;
            let began = Instant::now();
            let result = call().await;
            tries.last_call = began.elapsed();
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
            // A call that blames the endpoint, while it fails for every row, spends
            // none of this row's attempts.
            match result.as_ref().err().and_then(Blame::of) {
                Some(blame) => {
                    if self.breaker.failed(blame, admission) {
                        tries.spent -= 1;
                    }
                }
                None => {
                    if self.breaker.answered() {
                        self.pacer.restart();
                    }
                }
            }
            let attempts = tries.attempts;
            match result {
                Err(e)
                    if matches!(e.class, ErrorClass::Throttle | ErrorClass::Transient)
                        && tries.spent < self.options.max_attempts =>
                {
                    let delay = self.options.backoff.delay(tries.spent);
                    tracing::debug!(
                        attempt = attempts,
                        code = e.code,
                        "call {attempts} failed ({}: {}); again in {delay:.1?}",
                        e.code,
                        e.message
                    );
                    tokio::select! {
                        _ = stop.cancelled() => return Err(stopped(&tries)),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                last => return Ok((last, tries)),
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

/// A row's calls stopped before an answer: how many went out.
struct Stopped {
    calls: u32,
}

/// A start stopped before AWS answered it.
enum Unanswered {
    /// No call of the row went out: the row, as it was.
    NotReached(Launch),
    /// A call went out and may have reached AWS: a resume decides by its name.
    Cut,
}

/// A row's turn to be launched: its place in the window (given back unless its
/// execution started) and its first call's pacing token.
struct Turn {
    place: Option<OwnedSemaphorePermit>,
    sent: Instant,
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::aws::sfn::Described;
    use crate::model::outcome::Execution;
    use crate::model::settings::Backoff;

    /// An endpoint that never answers: every call's connection is refused.
    struct Unreachable;

    fn refused() -> CallError {
        CallError {
            class: ErrorClass::Transient,
            code: "ConnectionError".into(),
            message: "tcp connect error: Connection refused".into(),
            answered: false,
        }
    }

    impl StepFunctions for Unreachable {
        async fn start_execution(&self, _: &str, _: &str, _: &str) -> Result<Execution, CallError> {
            Err(refused())
        }

        async fn describe_execution(&self, _: &str) -> Result<Described, CallError> {
            Err(refused())
        }

        async fn redrive_execution(&self, _: &str, _: &str) -> Result<(), CallError> {
            Err(refused())
        }
    }

    fn launch(row: u64) -> Launch {
        Launch {
            row,
            line: Some(row + 1),
            name: format!("b-{row}"),
            input: "{}".into(),
            fields: Default::default(),
        }
    }

    /// Stopped while AWS is unreachable, before any call of theirs went out: a row
    /// to start is not reached (`not_attempted`, named); a row `retry` launches
    /// again keeps its last line, so that the next retry still takes it.
    #[tokio::test]
    async fn rows_stopped_before_their_first_call_are_not_reached() {
        let stop = CancellationToken::new();
        let breaker = Breaker::new(Duration::from_secs(60), stop.clone());
        let admitted = breaker.admit().await.expect("closed");
        for _ in 0..5 {
            breaker.failed(
                Blame::of(&refused()).expect("blames the endpoint"),
                admitted,
            );
        }
        assert!(
            breaker.outage().is_some(),
            "open: the rows wait for a probe"
        );
        let launcher = Arc::new(Launcher::new(
            Arc::new(Unreachable),
            StateMachine::offline("arn:aws:states:us-east-1:123456789012:stateMachine:sm").unwrap(),
            Pacer::new(1e9, NonZeroU32::MIN),
            breaker,
            LaunchOptions {
                concurrency: 4,
                max_attempts: 5,
                backoff: Backoff {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(1),
                },
                names_identify_inputs: true,
            },
        ));
        let work = vec![
            Work::Start(launch(1)),
            Work::Again(Again {
                launch: launch(2),
                last: Outcome::never_logged(2),
                redrive: false,
            }),
        ];
        let stopping = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stopping.cancel();
        });
        let outcomes: Vec<Outcome> = launcher
            .launch_all(futures::stream::iter(work), &stop)
            .collect()
            .await;
        assert_eq!(outcomes.len(), 1, "{outcomes:?}");
        assert_eq!(outcomes[0].row, 1);
        assert_eq!(outcomes[0].status, Status::NotAttempted);
        assert_eq!(outcomes[0].name.as_deref(), Some("b-1"));
    }
}
