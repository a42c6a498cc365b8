//! The local AWS emulator harness: one `moto_server` per test binary on a
//! free loopback port, state reset between tests, the program run against
//! it with dummy credentials, and SDK clients for independent reads.
//!
//! If the emulator cannot start the tests fail, saying how to install it;
//! they never skip.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};

pub const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");
pub const REGION: &str = "us-east-1";
const INSTALL: &str =
    "run scripts/install-test-deps (it installs the pinned moto[server] and cfn-lint into .venv)";

/// A Python tool the tests need (moto_server, cfn-lint), from the project's
/// own virtual environment, which scripts/install-test-deps makes. The
/// machine's Python is never used, so the pinned versions are the ones run.
pub fn python_tool(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    if !path.is_file() {
        panic!(
            "{name} is not installed in .venv ({}): the tests need it; {INSTALL}",
            path.display()
        );
    }
    path
}

struct Server {
    port: u16,
    /// A shell that owns moto_server and kills it when our end of its stdin
    /// closes, that is when this test binary exits, however it exits.
    _keeper: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().unwrap().port()
}

/// A tiny HTTP/1.0 request to the emulator; returns the status code.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP answer: {resp:.80}")))
}

fn start() -> Server {
    let moto = python_tool("moto_server");
    let port = free_port();
    let log = std::env::temp_dir().join(format!("secret-audit-moto-{port}.log"));
    let script = format!(
        "'{}' -H 127.0.0.1 -p {port} >'{}' 2>&1 & pid=$!; read _; kill $pid 2>/dev/null; wait $pid 2>/dev/null",
        moto.display(),
        log.display()
    );
    let keeper = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto_server ({e}); {INSTALL}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http(port, "GET", "/moto-api/").is_ok() {
            break;
        }
        if Instant::now() > deadline {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("moto_server did not answer on 127.0.0.1:{port} within 30s; {INSTALL}\nits output:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        port,
        _keeper: keeper,
    }
}

/// One test's exclusive use of the emulator, reset to empty.
pub struct Emu {
    pub port: u16,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cw: aws_sdk_cloudwatch::Client,
    pub rt: tokio::runtime::Runtime,
    _guard: MutexGuard<'static, ()>,
}

impl Emu {
    pub fn start() -> Emu {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let port = SERVER.get_or_init(start).port;
        let code = http(port, "POST", "/moto-api/reset").expect("reset the emulator");
        assert_eq!(code, 200, "POST /moto-api/reset");
        let url = format!("http://127.0.0.1:{port}");
        let creds = Credentials::new("testing", "testing", None, None, "tests");
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(&url)
                .region(Region::new(REGION))
                .credentials_provider(creds.clone())
                .build(),
        );
        let cw = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(&url)
                .region(Region::new(REGION))
                .credentials_provider(creds)
                .build(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Emu {
            port,
            logs,
            cw,
            rt,
            _guard: guard,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs the program against the emulator with dummy credentials.
    pub fn run(&self, args: &[&str]) -> Output {
        let url = self.url();
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &url, "--region", REGION]);
        run_isolated(
            &full,
            &[
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
        )
    }

    /// A log group `/aws/eks/<cluster>/cluster` with one audit stream of
    /// generated events from the last hour.
    pub fn audit_group(&self, cluster: &str) -> String {
        let group = format!("/aws/eks/{cluster}/cluster");
        self.group_with_stream(&group, "kube-apiserver-audit-8b6f0e2d9a4c1f37");
        group
    }

    /// `bytes` of the `AWS/Logs` `IncomingBytes` metric into `group`, at
    /// `at` (epoch seconds), as CloudWatch Logs publishes it.
    pub fn incoming_bytes(&self, group: &str, bytes: f64, at: i64) {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
        let dimension = Dimension::builder()
            .name("LogGroupName")
            .value(group)
            .build();
        let datum = MetricDatum::builder()
            .metric_name("IncomingBytes")
            .dimensions(dimension)
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(at))
            .value(bytes)
            .unit(StandardUnit::Bytes)
            .build();
        self.block_on(async {
            self.cw
                .put_metric_data()
                .namespace("AWS/Logs")
                .metric_data(datum)
                .send()
                .await
                .unwrap();
        });
    }

    pub fn group_with_stream(&self, group: &str, stream: &str) {
        self.group_with_events(
            group,
            stream,
            audit_events().iter().map(|(ts, msg)| (*ts, msg.as_str())),
        );
    }

    /// Another stream, holding `events`, in a log group that exists.
    pub fn group_with_events_in<'a>(
        &self,
        group: &str,
        stream: &str,
        events: impl Iterator<Item = (i64, &'a str)>,
    ) {
        self.block_on(async {
            self.logs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(stream)
                .send()
                .await
                .unwrap();
        });
        self.put_events(group, stream, events);
    }

    /// Puts `events` (timestamp ms, message) into a stream that exists.
    pub fn put_events<'a>(
        &self,
        group: &str,
        stream: &str,
        events: impl Iterator<Item = (i64, &'a str)>,
    ) {
        let batch: Vec<_> = events
            .map(|(ts, msg)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(ts)
                    .message(msg)
                    .build()
                    .unwrap()
            })
            .collect();
        if batch.is_empty() {
            return;
        }
        self.block_on(async {
            self.logs
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(batch))
                .send()
                .await
                .unwrap();
        });
    }

    fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(self.url())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        )
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(self.url())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        )
    }

    /// An SNS topic `name` with an SQS queue `name` subscribed to it (both
    /// made when missing); the topic's ARN.
    pub fn topic_with_queue(&self, name: &str) -> String {
        let (sns, sqs) = (self.sns(), self.sqs());
        self.block_on(async {
            let url = sqs
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let arn_key = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(arn_key.clone())
                .send()
                .await
                .unwrap();
            let queue_arn = attrs.attributes.unwrap()[&arn_key].clone();
            let topic = sns
                .create_topic()
                .name(name)
                .send()
                .await
                .unwrap()
                .topic_arn
                .unwrap();
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("sqs")
                .endpoint(queue_arn)
                .send()
                .await
                .unwrap();
            topic
        })
    }

    pub fn delete_topic(&self, arn: &str) {
        let sns = self.sns();
        self.block_on(async { sns.delete_topic().topic_arn(arn).send().await.unwrap() });
    }

    /// The SNS notifications in queue `name`, taken out of it.
    pub fn read_queue(&self, name: &str) -> Vec<serde_json::Value> {
        let sqs = self.sqs();
        self.block_on(async {
            let url = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let mut out = Vec::new();
            loop {
                let got = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .unwrap();
                let messages = got.messages.unwrap_or_default();
                if messages.is_empty() {
                    return out;
                }
                for m in messages {
                    out.push(serde_json::from_str(m.body().unwrap()).unwrap());
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
        })
    }

    /// A log group with one stream holding `events` (timestamp ms, message).
    pub fn group_with_events<'a>(
        &self,
        group: &str,
        stream: &str,
        events: impl Iterator<Item = (i64, &'a str)>,
    ) {
        self.block_on(async {
            self.logs
                .create_log_group()
                .log_group_name(group)
                .send()
                .await
                .unwrap();
        });
        self.group_with_events_in(group, stream, events);
    }
}

/// The program with nothing from the developer's AWS setup: no AWS_* or
/// SECRET_AUDIT_* variables, config files pointed at nothing, no IMDS.
pub fn isolated_command() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("SECRET_AUDIT_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/secret-audit-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/secret-audit-test/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs the isolated program with `env` added.
pub fn run_isolated(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = isolated_command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("run secret-audit")
}

/// 300 requests of audit log from the project's generator, starting an
/// hour ago (the emulator refuses events older than 14 days): (stage time in
/// milliseconds, event JSON), sorted by time.
pub fn audit_events() -> &'static [(i64, String)] {
    static EVENTS: OnceLock<Vec<(i64, String)>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let spec = gen_audit::Spec {
            seed: 4,
            start: chrono::Utc::now() - chrono::Duration::hours(1),
            size: gen_audit::Size::Requests(300),
            ..gen_audit::Spec::new(gen_audit::Format::Jsonl)
        };
        let mut events: Vec<(i64, String)> = spec
            .records()
            .iter()
            .map(|e| (e.stage_timestamp.div_euclid(1000), e.to_json()))
            .collect();
        events.sort_by_key(|e| e.0);
        events
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// Runs `cmd` to its end, returning its output and its own peak resident
/// memory in KiB (VmHWM, read from /proc while it runs: rusage would count
/// the test process the child was forked from).
pub fn measured(mut cmd: Command) -> (Output, i64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run secret-audit");
    let status = format!("/proc/{}/status", child.id());
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            pipe.read_to_end(&mut out).unwrap();
            out
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut peak = 0i64;
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = Output {
        status: code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (out, peak)
}

/// A pseudo-terminal `cols` wide: its master side to read what a program
/// showed, and its slave side to hand the program as stdout or stderr.
pub fn pty(cols: u16) -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 50,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two descriptors, which are owned from here on.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    };
    (std::fs::File::from(master), slave)
}

/// Everything a pty's master side shows until the program's end closes
/// (EIO on Linux), read on a thread.
pub fn drain(mut master: std::fs::File) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    })
}
