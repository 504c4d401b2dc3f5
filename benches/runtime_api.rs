//! A Lambda Runtime API for the live path's benchmark: it hands one function
//! process a fixed list of events, one invocation each, and notes when the process
//! polls for the next invocation once there is none left. With no events, that is
//! its first poll: the end of its init. Then it is idle between invocations, as on
//! AWS, and the harness reads its memory and CPU from /proc.
//!
//! The protocol's part that a function uses: `GET .../invocation/next` (answered
//! with the event and its request id and deadline in headers), `POST
//! .../invocation/{id}/response`, and the error reports, which fail the benchmark.
//! Both runtime clients measured (lambda_runtime's and awslambdaric's) make one
//! call at a time over kept-alive HTTP/1.1 connections. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub struct RuntimeApi {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` gives it.
    pub address: String,
    state: Arc<Mutex<State>>,
    idle: Receiver<Instant>,
}

struct State {
    events: std::vec::IntoIter<String>,
    served: usize,
    /// The function's answers, in order.
    answers: Vec<String>,
    /// What the function reported as an error, if it did.
    errors: Vec<String>,
    idle: Sender<Instant>,
}

impl RuntimeApi {
    pub fn serve(events: Vec<String>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (idle, idle_at) = channel();
        let state = Arc::new(Mutex::new(State {
            events: events.into_iter(),
            served: 0,
            answers: Vec::new(),
            errors: Vec::new(),
            idle,
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve_connection(stream, &state));
            }
        });
        RuntimeApi {
            address,
            state,
            idle: idle_at,
        }
    }

    /// When `function` polled with every event answered; or why it did not: it
    /// reported an error, spoke HTTP this API does not read, exited, or took
    /// longer than `limit`.
    pub fn idle_at(&self, function: &mut Child, limit: Duration) -> Result<Instant, String> {
        let give_up = Instant::now() + limit;
        loop {
            if let Ok(at) = self.idle.recv_timeout(Duration::from_millis(50)) {
                let errors = &self.state.lock().unwrap().errors;
                return if errors.is_empty() {
                    Ok(at)
                } else {
                    Err(format!("the function failed: {errors:?}"))
                };
            }
            if let Some(status) = function.try_wait().unwrap() {
                return Err(format!("the function exited ({status})"));
            }
            if Instant::now() > give_up {
                return Err(format!("no poll for an invocation within {limit:?}"));
            }
        }
    }

    /// The function's answers, one per event, in order.
    pub fn answers(&self) -> Vec<String> {
        self.state.lock().unwrap().answers.clone()
    }
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let (method, path, body) = match request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                let mut state = state.lock().unwrap();
                state.errors.push(error);
                state.idle.send(Instant::now()).ok();
                return;
            }
        };
        let mut state = state.lock().unwrap();
        if method == "GET" && path.ends_with("/invocation/next") {
            let Some(event) = state.events.next() else {
                state.idle.send(Instant::now()).ok();
                // Held unanswered, as Lambda holds a function it has no work for.
                drop(state);
                std::thread::park();
                return;
            };
            state.served += 1;
            let deadline = SystemTime::now() + Duration::from_secs(60);
            let deadline_ms = deadline
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let headers = format!(
                "Lambda-Runtime-Aws-Request-Id: {}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                 Content-Type: application/json\r\n",
                state.served
            );
            respond(&mut writer, "200 OK", &headers, &event);
        } else if method == "POST" && path.ends_with("/response") {
            state
                .answers
                .push(String::from_utf8_lossy(&body).into_owned());
            respond(&mut writer, "202 Accepted", "", r#"{"status":"OK"}"#);
        } else {
            // /invocation/{id}/error, /init/error, or something unknown.
            let report = format!("{method} {path}: {}", String::from_utf8_lossy(&body));
            state.errors.push(report);
            state.idle.send(Instant::now()).ok();
            respond(&mut writer, "202 Accepted", "", r#"{"status":"OK"}"#);
        }
    }
}

/// A request: its method, path and body.
type Request = (String, String, Vec<u8>);

/// The next request on the connection; `None` once the client has closed it.
fn request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>, String> {
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Ok(None);
    }
    let malformed = || format!("a malformed request: {line:?}");
    let mut words = line.split_whitespace();
    let method = words.next().ok_or_else(malformed)?.to_string();
    let path = words.next().ok_or_else(malformed)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).map_err(|e| e.to_string())?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = (header.split_once(':'))
            .ok_or_else(|| format!("{method} {path}: a malformed header: {header:?}"))?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().map_err(|_| malformed())?;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "{method} {path}: a chunked body; this API reads sized ones"
            ));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(Some((method, path, body)))
}

fn respond(writer: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    writer.write_all(response.as_bytes()).ok();
}
