//! A fast local stand-in for the Step Functions endpoint, for throughput only: it
//! answers StartExecution (AWS JSON 1.0) with a valid response at once, counts the
//! calls per execution name, and records when each arrived, so that pacing is
//! measured from the server's side. Correctness tests use the real emulator; this
//! exists because the emulator serves about 250 calls a second.
//!
//! One thread per connection, blocking reads and writes: with a few dozen kept-alive
//! connections that is the least CPU per request (no event loop, no wake-ups), and
//! the CPU this stub takes is CPU the measured launcher does not get.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct Stub {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    /// StartExecution calls per execution name.
    names: HashMap<String, u32>,
    /// When each StartExecution call arrived.
    arrivals: Vec<Instant>,
}

/// What the stub saw of StartExecution since the last `take`.
pub struct Calls {
    pub names: HashMap<String, u32>,
    pub arrivals: Vec<Instant>,
}

impl Stub {
    pub fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                let Ok(connection) = connection else { continue };
                let seen = shared.clone();
                std::thread::spawn(move || serve(connection, &seen));
            }
        });
        Stub { url, seen }
    }

    /// StartExecution calls seen since the last `take`.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().arrivals.len()
    }

    /// The calls seen so far, and a clean slate for the next measurement.
    pub fn take(&self) -> Calls {
        let mut seen = self.seen.lock().unwrap();
        Calls {
            names: std::mem::take(&mut seen.names),
            arrivals: std::mem::take(&mut seen.arrivals),
        }
    }
}

/// Answers requests on one kept-alive connection until the client closes it.
fn serve(connection: TcpStream, seen: &Mutex<Seen>) {
    connection.set_nodelay(true).ok();
    let mut writer = connection.try_clone().expect("clone the connection");
    let mut reader = BufReader::new(connection);
    let (mut head, mut body, mut answer) = (String::new(), Vec::new(), Vec::new());
    loop {
        head.clear();
        // The request line and headers, up to the blank line.
        loop {
            match reader.read_line(&mut head) {
                Ok(0) | Err(_) => return,
                Ok(_) if head.ends_with("\r\n\r\n") => break,
                Ok(_) => {}
            }
        }
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim())
            })
        };
        let length = header("content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let operation = header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_string();
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        answer.clear();
        match operation.as_str() {
            "StartExecution" => {
                let name = field(&body, "name").unwrap_or_default();
                {
                    let mut seen = seen.lock().unwrap();
                    seen.arrivals.push(Instant::now());
                    *seen.names.entry(name.to_string()).or_insert(0) += 1;
                }
                let json = format!(
                    r#"{{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:stub:{name}","startDate":1.7E9}}"#
                );
                respond(&mut answer, "200 OK", &json);
            }
            "DescribeStateMachine" => {
                let arn = field(&body, "stateMachineArn").unwrap_or_default();
                let json = format!(
                    r#"{{"stateMachineArn":"{arn}","name":"stub","definition":"{{}}","roleArn":"arn:aws:iam::123456789012:role/stub","type":"STANDARD","creationDate":1.7E9}}"#
                );
                respond(&mut answer, "200 OK", &json);
            }
            other => {
                let json = format!(
                    r#"{{"__type":"UnknownOperationException","message":"the stub does not do {other}"}}"#
                );
                respond(&mut answer, "400 Bad Request", &json);
            }
        }
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

fn respond(out: &mut Vec<u8>, status: &str, json: &str) {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: stub\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
}

/// A string field of a flat JSON object, without parsing the rest: names and ARNs
/// hold no quotes or escapes.
fn field<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(body).ok()?;
    let after_key = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let value = text[after_key..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let value = value.strip_prefix('"')?;
    Some(&value[..value.find('"')?])
}
