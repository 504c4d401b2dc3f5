//! A fault-injecting HTTP proxy in front of the emulator: the emulator never
//! throttles and never drops a connection, so this real HTTP component does, on a
//! schedule the test chooses, for StartExecution calls. Everything else passes
//! through untouched. Loopback only.
//!
//! Without an upstream it is a stub that answers StartExecution and
//! DescribeStateMachine itself, as fast as it can: the emulator serves about 250
//! calls a second, too few to measure the launcher (the benchmarks use it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

/// Decides, from the execution name and how many StartExecution calls that name
/// has had (1 for the first), whether this call fails and how.
pub type Schedule = dyn Fn(&str, u32) -> Option<Fault> + Send + Sync;

pub struct Proxy {
    pub url: String,
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

/// Where requests that are not faulted go.
#[derive(Clone)]
enum Upstream {
    Forward(String),
    Stub,
}

impl Proxy {
    /// Starts the proxy on its own thread and runtime (the test thread blocks on the
    /// binary meanwhile).
    pub fn start(
        upstream: String,
        schedule: impl Fn(&str, u32) -> Option<Fault> + Send + Sync + 'static,
    ) -> Proxy {
        let upstream = Upstream::Forward(upstream.trim_start_matches("http://").to_string());
        Proxy::listen(upstream, schedule)
    }

    /// A stand-in for Step Functions that starts nothing and answers at once.
    pub fn stub() -> Proxy {
        Proxy::listen(Upstream::Stub, |_, _| None)
    }

    fn listen(
        upstream: Upstream,
        schedule: impl Fn(&str, u32) -> Option<Fault> + Send + Sync + 'static,
    ) -> Proxy {
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let shared = (calls.clone(), Arc::new(schedule) as Arc<Schedule>);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    let (client, _) = listener.accept().await.unwrap();
                    let (calls, schedule) = (shared.0.clone(), shared.1.clone());
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let _ = serve(client, &upstream, &calls, &*schedule).await;
                    });
                }
            });
        });
        Proxy { url, calls }
    }

    /// StartExecution calls that reached the proxy for this execution name.
    pub fn calls(&self, name: &str) -> u32 {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> u32 {
        self.calls.lock().unwrap().values().sum()
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
    upstream: &Upstream,
    calls: &Mutex<HashMap<String, u32>>,
    schedule: &Schedule,
) -> std::io::Result<()> {
    let mut client = BufStream::new(client);
    while let Some(request) = read_message(&mut client).await? {
        let start = request
            .header("x-amz-target")
            .is_some_and(|t| t.ends_with(".StartExecution"));
        let fault = if start {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let nth = {
                let mut calls = calls.lock().unwrap();
                let n = calls.entry(name.clone()).or_insert(0);
                *n += 1;
                *n
            };
            schedule(&name, nth)
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
            Some(Fault::DropRequest) => return Ok(()),
            Some(Fault::LoseResponse) => {
                forward(upstream, &request).await?;
                return Ok(());
            }
            None => {
                let response = forward(upstream, &request).await?;
                send(&mut client, &response).await?;
            }
        }
    }
    Ok(())
}

async fn forward(upstream: &Upstream, request: &Message) -> std::io::Result<Message> {
    let address = match upstream {
        Upstream::Forward(address) => address,
        Upstream::Stub => return Ok(stub_answer(request)),
    };
    let mut server = BufStream::new(TcpStream::connect(address).await?);
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

/// The stub's answers: enough of Step Functions for `sfn-batch run`.
fn stub_answer(request: &Message) -> Message {
    let target = request.header("x-amz-target").unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let answer = match target.rsplit('.').next().unwrap_or_default() {
        "StartExecution" => serde_json::json!({
            "executionArn": format!(
                "arn:aws:states:us-east-1:123456789012:execution:stub:{}",
                body["name"].as_str().unwrap_or_default()
            ),
            "startDate": 1.7e9,
        }),
        "DescribeStateMachine" => serde_json::json!({
            "stateMachineArn": body["stateMachineArn"],
            "name": "stub",
            "definition": "{}",
            "roleArn": "arn:aws:iam::123456789012:role/stub",
            "type": "STANDARD",
            "creationDate": 1.7e9,
        }),
        other => {
            let error = format!(
                r#"{{"__type":"UnknownOperationException","message":"the stub does not do {other}"}}"#
            );
            return json_response("400 Bad Request", error);
        }
    };
    json_response("200 OK", answer.to_string())
}
