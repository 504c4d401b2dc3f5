//! A fault-injecting HTTP proxy in front of the emulator: the emulator never
//! throttles and never drops a connection, so this real HTTP component does, on a
//! schedule the test chooses, for StartExecution calls. Everything else passes
//! through untouched, unless the test has the proxy answer an operation itself.
//! Loopback only.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 ThrottlingException "Rate exceeded", as AWS answers an exhausted bucket.
    Throttle,
    /// 503 ServiceUnavailable.
    ServerError,
    /// The connection closes before the request reaches AWS.
    DropRequest,
    /// The request reaches AWS (the execution starts), the answer is lost.
    LoseResponse,
    /// The request is held, never forwarded and never answered.
    Stall,
    /// The request is forwarded and answered after this long.
    Delay(Duration),
    /// 400 InvalidExecutionInput: AWS refuses this row, not the endpoint.
    RejectRow,
}

/// One StartExecution call as the proxy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub name: &'a str,
    /// How many calls this name has had, this one included.
    pub nth: u32,
    /// How many StartExecution calls came before this one, any name.
    pub index: u64,
}

/// Decides whether a call fails and how.
pub type Schedule = dyn Fn(Call) -> Option<Fault> + Send + Sync;

/// A schedule that throttles like an AWS account: a token bucket of `capacity`
/// calls, refilled at `refill` per second; a call finding it empty is throttled.
pub fn token_bucket(refill: f64, capacity: f64) -> impl Fn(Call) -> Option<Fault> + Send + Sync {
    let bucket = Mutex::new((capacity, Instant::now()));
    move |_| {
        let mut bucket = bucket.lock().unwrap();
        let (tokens, at) = &mut *bucket;
        *tokens = (*tokens + at.elapsed().as_secs_f64() * refill).min(capacity);
        *at = Instant::now();
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(Fault::Throttle)
        }
    }
}

/// A schedule that throttles a pseudo-random `fraction` of all calls, the same
/// ones on every run.
pub fn throttle_fraction(fraction: f64) -> impl Fn(Call) -> Option<Fault> + Send + Sync {
    move |call| {
        let mut hasher = std::hash::DefaultHasher::new();
        (call.name, call.nth).hash(&mut hasher);
        let draw = (hasher.finish() % 10_000) as f64 / 10_000.0;
        (draw < fraction).then_some(Fault::Throttle)
    }
}

pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    /// Whether the proxy listens: `go_down` closes its port and every connection.
    up: tokio::sync::watch::Sender<bool>,
}

/// What the proxy has seen of StartExecution.
#[derive(Default)]
struct Seen {
    calls: HashMap<String, u32>,
    total: u64,
    throttled: u64,
    /// When each call that was let through arrived.
    passed: Vec<Instant>,
    /// Requests of every operation (`ListExecutions`, ...), faulted or not.
    operations: HashMap<String, u64>,
    /// The last request body of each operation the proxy answered itself.
    answered: HashMap<String, String>,
    /// Calls the proxy answers itself instead of forwarding; the latest that fits.
    answers: Vec<Answer>,
}

/// A call the proxy answers itself: to `operation`, and when `about` is set,
/// only one whose request mentions it.
struct Answer {
    operation: String,
    about: Option<String>,
    status: String,
    body: String,
}

impl Proxy {
    /// Starts the proxy on its own thread and runtime (the test thread blocks on the
    /// binary meanwhile).
    pub fn start(
        upstream: String,
        schedule: impl Fn(Call) -> Option<Fault> + Send + Sync + 'static,
    ) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).unwrap();
        let address = std_listener.local_addr().unwrap();
        let shared = (seen.clone(), Arc::new(schedule) as Arc<Schedule>);
        let (up, mut is_up) = tokio::sync::watch::channel(true);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut listener = Some(TcpListener::from_std(std_listener).unwrap());
                loop {
                    // Down: nothing listens (connections are refused) until it is up.
                    // The proxy dropped: the test is over.
                    while !*is_up.borrow_and_update() {
                        if is_up.changed().await.is_err() {
                            return;
                        }
                    }
                    let listener = match listener.take() {
                        Some(listener) => listener,
                        None => TcpListener::bind(address).await.expect("rebind proxy"),
                    };
                    let mut connections = tokio::task::JoinSet::new();
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                let (client, _) = accepted.unwrap();
                                let (seen, schedule) = (shared.0.clone(), shared.1.clone());
                                let upstream = upstream.clone();
                                connections.spawn(async move {
                                    let _ = serve(client, &upstream, &seen, &*schedule).await;
                                });
                            }
                            changed = is_up.changed() => match changed {
                                Err(_) => return,
                                Ok(()) if !*is_up.borrow_and_update() => break,
                                Ok(()) => {}
                            },
                        }
                    }
                    // Dropping the listener and the connections closes every socket.
                    connections.abort_all();
                }
            });
        });
        Proxy {
            url: format!("http://{address}"),
            seen,
            up,
        }
    }

    /// Stops listening and drops every connection: calls are refused, as when a
    /// NAT gateway or VPC endpoint goes away, until `come_back`.
    pub fn go_down(&self) {
        self.up.send_replace(false);
    }

    /// Listens again, on the same port.
    pub fn come_back(&self) {
        self.up.send_replace(true);
    }

    /// From now on, answers every `operation` call itself, with this HTTP status
    /// (`200 OK`) and body: a stand-in for an operation the emulator does not have.
    pub fn answer(&self, operation: &str, status: &str, body: serde_json::Value) {
        self.answer_about(operation, None, status, body);
    }

    /// As `answer`, but with `about`, only calls whose request mentions it (an
    /// execution's ARN, say): the others go on to the emulator.
    pub fn answer_about(
        &self,
        operation: &str,
        about: Option<&str>,
        status: &str,
        body: serde_json::Value,
    ) {
        self.seen().answers.push(Answer {
            operation: operation.to_string(),
            about: about.map(str::to_string),
            status: status.to_string(),
            body: body.to_string(),
        });
    }

    /// The last request to `operation` that the proxy answered itself.
    pub fn answered(&self, operation: &str) -> Option<serde_json::Value> {
        let seen = self.seen();
        let body = seen.answered.get(operation)?;
        Some(serde_json::from_str(body).expect("a JSON request"))
    }

    /// StartExecution calls that reached the proxy for this execution name.
    pub fn calls(&self, name: &str) -> u32 {
        self.seen().calls.get(name).copied().unwrap_or(0)
    }

    /// StartExecution calls that reached the proxy.
    pub fn total_calls(&self) -> u64 {
        self.seen().total
    }

    /// Requests of one operation (`ListExecutions`, `DescribeExecution`, ...).
    pub fn calls_to(&self, operation: &str) -> u64 {
        self.seen().operations.get(operation).copied().unwrap_or(0)
    }

    /// StartExecution calls answered with a throttle.
    pub fn throttled(&self) -> u64 {
        self.seen().throttled
    }

    /// StartExecution calls let through per second, from the first to the last.
    pub fn passed_per_second(&self) -> f64 {
        let seen = self.seen();
        match (seen.passed.first(), seen.passed.last()) {
            (Some(first), Some(last)) if last > first => {
                (seen.passed.len() - 1) as f64 / last.duration_since(*first).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<String> {
        String::from_utf8_lossy(&self.head)
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
    }

    fn bytes(&self) -> Vec<u8> {
        [self.head.as_slice(), &self.body].concat()
    }
}

/// Reads one HTTP/1.1 message with a Content-Length body; `None` at a clean EOF.
async fn read_message(stream: &mut Stream) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_until(b'\n', &mut head).await? == 0 {
            return Ok(None);
        }
    }
    let mut message = Message {
        head,
        body: Vec::new(),
    };
    let length: usize = message
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    message.body = vec![0; length];
    stream.read_exact(&mut message.body).await?;
    Ok(Some(message))
}

/// A connection, buffered both ways: written messages need a flush.
type Stream = BufStream<TcpStream>;

async fn serve(
    client: TcpStream,
    upstream: &str,
    seen: &Mutex<Seen>,
    schedule: &Schedule,
) -> std::io::Result<()> {
    let mut client = BufStream::new(client);
    while let Some(request) = read_message(&mut client).await? {
        let target = request.header("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default();
        let answer = {
            let mut seen = seen.lock().unwrap();
            *seen.operations.entry(operation.to_string()).or_insert(0) += 1;
            let request = String::from_utf8_lossy(&request.body).into_owned();
            let answer = (seen.answers.iter().rev())
                .find(|a| {
                    a.operation == operation
                        && a.about.as_ref().is_none_or(|about| request.contains(about))
                })
                .map(|a| (a.status.clone(), a.body.clone()));
            if answer.is_some() {
                seen.answered.insert(operation.to_string(), request);
            }
            answer
        };
        if let Some((status, body)) = answer {
            send(&mut client, &json_response(&status, body)).await?;
            continue;
        }
        let start = operation == "StartExecution";
        let fault = if start {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let name = body["name"].as_str().unwrap_or_default();
            let mut seen = seen.lock().unwrap();
            let nth = seen.calls.entry(name.to_string()).or_insert(0);
            *nth += 1;
            let call = Call {
                name,
                nth: *nth,
                index: seen.total,
            };
            seen.total += 1;
            let fault = schedule(call);
            match fault {
                Some(Fault::Throttle) => seen.throttled += 1,
                None | Some(Fault::Delay(_)) => seen.passed.push(Instant::now()),
                _ => {}
            }
            fault
        } else {
            None
        };
        match fault {
            Some(Fault::Throttle) => {
                respond(
                    &mut client,
                    "400 Bad Request",
                    "ThrottlingException",
                    "Rate exceeded",
                )
                .await?
            }
            Some(Fault::ServerError) => {
                respond(
                    &mut client,
                    "503 Service Unavailable",
                    "ServiceUnavailable",
                    "injected",
                )
                .await?
            }
            Some(Fault::RejectRow) => {
                respond(
                    &mut client,
                    "400 Bad Request",
                    "InvalidExecutionInput",
                    "injected: the input is not valid",
                )
                .await?
            }
            Some(Fault::DropRequest) => return Ok(()),
            Some(Fault::LoseResponse) => {
                forward(upstream, &request).await?;
                return Ok(());
            }
            Some(Fault::Stall) => std::future::pending().await,
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                let response = forward(upstream, &request).await?;
                send(&mut client, &response).await?;
            }
            None => {
                let response = forward(upstream, &request).await?;
                send(&mut client, &response).await?;
            }
        }
    }
    Ok(())
}

async fn forward(upstream: &str, request: &Message) -> std::io::Result<Message> {
    let mut server = BufStream::new(TcpStream::connect(upstream).await?);
    send(&mut server, request).await?;
    read_message(&mut server)
        .await?
        .ok_or_else(|| std::io::Error::other("upstream closed without answering"))
}

async fn respond(
    client: &mut Stream,
    status: &str,
    code: &str,
    message: &str,
) -> std::io::Result<()> {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    send(client, &json_response(status, body)).await
}

async fn send(stream: &mut Stream, message: &Message) -> std::io::Result<()> {
    stream.write_all(&message.bytes()).await?;
    stream.flush().await
}

fn json_response(status: &str, body: String) -> Message {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: proxy\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    Message {
        head: head.into_bytes(),
        body: body.into_bytes(),
    }
}
