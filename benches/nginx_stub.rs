//! A fast local stand-in for the Step Functions endpoint: nginx, run out of the
//! harness's process with benches/nginx_stub.conf, answering every call with a fixed
//! body. The harness reads nginx's access log for what it saw (each StartExecution's
//! name and arrival time) and /proc for the CPU nginx took, so that a reader can see
//! the stub costs a small part of what it measures. Correctness tests use the real
//! emulator; this exists because the emulator serves about 250 calls a second.
//!
//! nginx is Debian's `nginx` package (`apt-get install nginx`; scripts/test installs
//! it when missing).

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Stub {
    pub url: String,
    nginx: Child,
    /// The access log: a line per call, `<unix time with ms> <X-Amz-Target> <name>`.
    log: PathBuf,
}

/// What the stub saw of StartExecution since the last `take`.
pub struct Calls {
    /// Calls per execution name.
    pub names: HashMap<String, u32>,
    /// When each call arrived, since the Unix epoch, in order.
    pub arrivals: Vec<Duration>,
}

const START_EXECUTION: &str = "AWSStepFunctions.StartExecution";

impl Stub {
    /// Runs nginx on a free loopback port, with its configuration, pid file, logs
    /// and temp files in `dir`; it is killed when the stub is dropped.
    pub fn start(dir: &Path) -> Stub {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|free| free.local_addr())
            .expect("a free port")
            .port();
        let config = include_str!("nginx_stub.conf").replace("STUB_PORT", &port.to_string());
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let mut prefix = dir.as_os_str().to_owned();
        prefix.push("/");
        let mut nginx = Command::new(nginx_binary())
            .arg("-p")
            .arg(prefix)
            .args(["-c", "nginx.conf", "-e", "error.log"])
            .stdin(Stdio::null())
            .spawn()
            .expect("run nginx");
        // Ready once it accepts a connection.
        let ready_by = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let error_log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            if let Some(status) = nginx.try_wait().unwrap() {
                panic!("nginx exited ({status}): {}", error_log());
            }
            assert!(
                Instant::now() < ready_by,
                "nginx is not listening: {}",
                error_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Stub {
            url: format!("http://127.0.0.1:{port}"),
            nginx,
            log: dir.join("calls.log"),
        }
    }

    /// Whether a StartExecution has arrived since the last `take`.
    #[allow(
        dead_code,
        reason = "benches/live.rs, which shares this module, has no use for it"
    )]
    pub fn started_any(&self) -> bool {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().any(|line| line.contains(START_EXECUTION))
    }

    /// The calls seen so far, and a clean slate for the next measurement.
    pub fn take(&self) -> Calls {
        let log = self.settled_log();
        // nginx appends (O_APPEND): after the cut, it writes from the start again.
        std::fs::File::create(&self.log).unwrap();
        let mut calls = Calls {
            names: HashMap::new(),
            arrivals: Vec::new(),
        };
        for line in log.lines() {
            let mut fields = line.split(' ');
            let (Some(msec), Some(START_EXECUTION), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            *calls.names.entry(name.to_string()).or_insert(0) += 1;
            calls.arrivals.push(unix_time(msec));
        }
        calls
    }

    /// The access log, once it holds still: nginx logs a call just after answering
    /// it, so the last line can come a moment after the client has its answer.
    fn settled_log(&self) -> String {
        let length = || std::fs::metadata(&self.log).map_or(0, |m| m.len());
        let mut last = length();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = length();
            if now == last {
                return std::fs::read_to_string(&self.log).unwrap();
            }
            last = now;
        }
    }

    /// The CPU time (user plus system) nginx has taken so far.
    pub fn cpu(&self) -> Duration {
        crate::procfs::cpu_time(self.nginx.id())
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.nginx.kill().ok();
        self.nginx.wait().ok();
    }
}

/// nginx on the PATH, or where Debian puts it (/usr/sbin is not on every user's PATH).
fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|binary| binary.is_file());
    on_path.expect("the benchmark's stub is nginx: `apt-get install nginx` (scripts/test does)")
}

/// `$msec`: seconds since the Unix epoch, with milliseconds.
fn unix_time(msec: &str) -> Duration {
    Duration::from_secs_f64(msec.parse().expect("$msec is a number"))
}
