//! imgshare-bench: starts the release server on a fresh store, preloads data,
//! drives it over loopback with wrk (C, event-driven, cheap enough to share
//! two cores with the server; our own client would be the bottleneck) and
//! prints requests/s, p50, p99, errors and the server's peak RSS per scenario,
//! beside a bare hyper responder serving the same bytes (the ceiling).
//!
//! Run it through `scripts/bench.sh`, which builds the release binaries.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "imgshare benchmark: scenarios 1-5 of issue 5")]
struct Args {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u32,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Images in the large store (scenario 5); 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    scale_images: u64,
    /// Memberships per image in the large store.
    #[arg(long, default_value_t = 10)]
    scale_members: u64,
    /// Reuse (or create once) the large store here instead of a temp dir.
    #[arg(long)]
    scale_dir: Option<PathBuf>,
    /// Run scenarios 1-4 against PostgreSQL at this URL as well.
    #[arg(long)]
    postgres: Option<String>,
    /// Profile the server with `perf record` during these scenarios (e.g. 2 for
    /// the add path) and write `perf report` summaries to target/perf-*.txt.
    #[arg(long, value_delimiter = ',')]
    perf: Vec<String>,
    /// Also write the table as Markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// A running Keystone's accounts.json (`keystone/keystone.sh start`;
    /// scripts/bench.sh starts one): adds row 1k, GET members with a Keystone
    /// token. Without it the row is skipped.
    #[arg(long)]
    keystone: Option<PathBuf>,
    /// Run only the metrics A/B (rows M1, M2: GET members and POST add on a
    /// server with metrics on and one with `--no-metrics`, interleaved) and
    /// skip every other scenario.
    #[arg(long)]
    metrics_ab_only: bool,
}

const OWNER: &str = "bench-owner"; // project-a
const CONSUMER: &str = "bench-consumer"; // project-b
const SCALE_MEMBER: &str = "bench-proj-0"; // proj-0, a member of the large store's image 0

const TOKENS: &str = r#"
[[tokens]]
token = "bench-owner"
project_id = "project-a"
user_id = "owner"
roles = ["member", "reader"]

[[tokens]]
token = "bench-consumer"
project_id = "project-b"
user_id = "consumer"
roles = ["member", "reader"]

[[tokens]]
token = "bench-proj-0"
project_id = "proj-0"
user_id = "p0"
roles = ["member", "reader"]

[[access_keys]]
access_key = "BENCHOWNERAK00000001"
secret_key = "bench-owner-secret-000000000000000000000"
project_id = "project-a"
user_id = "owner"
roles = ["member", "reader"]
"#;

const ACCESS_KEY: &str = "BENCHOWNERAK00000001";
const SECRET_KEY: &str = "bench-owner-secret-000000000000000000000";

struct Row {
    scenario: String,
    rps: f64,
    p50: String,
    p99: String,
    errors: u64,
    rss_mb: f64,
    note: String,
}

struct Server {
    child: Child,
    base: String,
    _log: tempfile::NamedTempFile,
}

impl Drop for Server {
    /// SIGTERM first, so the server flushes and checkpoints its store (a
    /// reused large store must not start with a huge WAL); SIGKILL after 30 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin(name: &str) -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join(name)
}

/// Starts a binary that prints `listening address=<addr>` on stdout or stderr.
fn start(mut cmd: Command) -> Server {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (path, file) = (log.path().to_owned(), log.reopen().unwrap());
    let mut child = cmd
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(rest) = text.split("listening address=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().to_owned();
            return Server {
                child,
                base: format!("http://{addr}"),
                _log: log,
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{cmd:?} exited with {status}: {text}");
        }
        assert!(Instant::now() < deadline, "{cmd:?} did not start: {text}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The release server on `dir`; `extra` goes on its command line as well
/// (e.g. `--no-metrics`).
fn start_server(
    dir: &Path,
    database: Option<&str>,
    keystone: Option<&Keystone>,
    extra: &[&str],
) -> Server {
    let mut cmd = Command::new(bin("imgshare-server"));
    cmd.args(["--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"])
        .args(["--member-quota", "-1"])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .arg("--tokens")
        .arg(dir.join("bench-tokens.toml"));
    if let Some(url) = database {
        cmd.arg("--database").arg(url);
    }
    if let Some(k) = keystone {
        cmd.arg("--keystone-url")
            .arg(&k.auth_url)
            .arg("--keystone-user")
            .arg(&k.service_user)
            .arg("--keystone-project")
            .arg(&k.service_project)
            // Keystone is here for row 1k's tokens. The add rows invent a
            // new member project per request, which Keystone does not know:
            // checking them would measure Keystone's 404s, not the add path.
            .arg("--no-verify-members")
            .env("IMGSHARE_KEYSTONE_PASSWORD", &k.service_password);
    }
    start(cmd)
}

/// The Keystone of `--keystone`: the service account imgshare validates
/// with, and the admin (whose role is global, so it sees the bench image).
struct Keystone {
    auth_url: String,
    service_user: String,
    service_project: String,
    service_password: String,
    admin: serde_json::Value,
}

impl Keystone {
    fn load(path: &Path) -> Keystone {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let v: serde_json::Value = serde_json::from_str(&text).expect("accounts.json");
        let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).unwrap().to_owned();
        Keystone {
            auth_url: s("/auth_url"),
            service_user: s("/service/user"),
            service_project: s("/service/project"),
            service_password: s("/service/password"),
            admin: v["admin"].clone(),
        }
    }

    /// A project-scoped token for the admin.
    async fn admin_token(&self) -> String {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "id": self.admin["user_id"], "password": self.admin["password"]}}},
            "scope": {"project": {"id": self.admin["project_id"]}},
        }});
        let rsp = reqwest::Client::new()
            .post(format!("{}/auth/tokens?nocatalog", self.auth_url))
            .json(&body)
            .send()
            .await
            .expect("Keystone answers");
        assert_eq!(rsp.status().as_u16(), 201, "admin token");
        rsp.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_owned()
    }
}

/// wrk headers for a GET signed with the bench access key, as Huawei's SDK
/// signs it. Replayed for the whole run: the signature stays valid for 15
/// minutes (Huawei's scheme has no nonce).
fn signed_get_script(base: &str, path: &str) -> String {
    use imgshare_server::auth::aksk;
    let host = base.trim_start_matches("http://");
    let date = chrono_like_now();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert("host", http::HeaderValue::from_str(host).unwrap());
    headers.insert("x-project-id", http::HeaderValue::from_static("project-a"));
    headers.insert("x-sdk-date", http::HeaderValue::from_str(&date).unwrap());
    let authorization = aksk::authorization(
        &aksk::SignedRequest {
            method: &http::Method::GET,
            path,
            query: None,
            headers: &headers,
            body: b"",
        },
        ACCESS_KEY,
        SECRET_KEY.as_bytes(),
    );
    format!(
        "wrk.headers[\"Accept\"] = \"application/json\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Host\"] = \"{host}\"\n\
         wrk.headers[\"X-Project-Id\"] = \"project-a\"\n\
         wrk.headers[\"X-Sdk-Date\"] = \"{date}\"\n\
         wrk.headers[\"Authorization\"] = \"{authorization}\"\n"
    )
}

/// Now as `YYYYMMDDTHHMMSSZ` (UTC), without a date crate.
fn chrono_like_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y%m%dT%H%M%SZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Peak resident set size since the last reset, in MiB; then resets it.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    kb / 1024.0
}

fn lua_headers(token: Option<&str>) -> String {
    let mut s = String::from("wrk.headers[\"Accept\"] = \"application/json\"\n");
    if let Some(t) = token {
        writeln!(s, "wrk.headers[\"X-Auth-Token\"] = \"{t}\"").unwrap();
    }
    s
}

/// Runs wrk with `script` against `url`; returns (req/s, p50, p99, errors).
fn wrk(args: &Args, url: &str, script: &str) -> (f64, String, String, u64) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, script.as_bytes()).unwrap();
    let out = Command::new("wrk")
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.duration))
        .arg("--latency")
        .arg("-s")
        .arg(file.path())
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    let rps = find("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let p50 = find("50%").unwrap_or_default();
    let p99 = find("99%").unwrap_or_default();
    let non2xx: u64 = find("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket: u64 = find("Socket errors:")
        .map(|v| {
            v.split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    (rps, p50, p99, non2xx + socket)
}

fn get_script(token: Option<&str>) -> String {
    lua_headers(token)
}

/// POST a new member each request: `m-<thread>-<n>`.
fn add_script(path: &str) -> String {
    format!(
        r#"{headers}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("tid", thread_counter)
end
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", "{path}", nil, string.format('{{"member":"m-%d-%d-%d"}}', tid, n, os.time()))
end
"#,
        headers = lua_headers(Some(OWNER))
    )
}

/// PUT the member's status, alternating so every request writes.
fn put_script(path: &str, token: &str) -> String {
    format!(
        r#"{headers}
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local n = 0
function request()
  n = n + 1
  local status = (n % 2 == 0) and "accepted" or "rejected"
  return wrk.format("PUT", "{path}", nil, string.format('{{"status":"%s"}}', status))
end
"#,
        headers = lua_headers(Some(token))
    )
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut req = http.request(method, &url).header("X-Auth-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let rsp = req.send().await.unwrap();
    assert!(rsp.status().is_success(), "{url}: {}", rsp.status());
    rsp.json().await.unwrap_or(serde_json::Value::Null)
}

/// Creates an image named `name` as the owner; its ID.
async fn new_image(http: &reqwest::Client, base: &str, name: &str) -> String {
    let body = serde_json::json!({"name": name});
    let image = call(
        http,
        reqwest::Method::POST,
        format!("{base}/v2/images"),
        OWNER,
        Some(body),
    )
    .await;
    image["id"].as_str().unwrap().to_owned()
}

/// Data for scenarios 1-4: an image with 10 members, a membership to flip,
/// and 1,000 images shared with and accepted by the consumer.
async fn setup_small(base: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let image = new_image(&http, base, "ten").await;
    for i in 0..9 {
        call(
            &http,
            post.clone(),
            format!("{base}/v2/images/{image}/members"),
            OWNER,
            Some(serde_json::json!({"member": format!("p{i}")})),
        )
        .await;
    }
    call(
        &http,
        post.clone(),
        format!("{base}/v2/images/{image}/members"),
        OWNER,
        Some(serde_json::json!({"member": "project-b"})),
    )
    .await;
    for chunk in 0..20 {
        let tasks = (0..50).map(|i| {
            let (http, base) = (http.clone(), base.to_owned());
            async move {
                let id = new_image(&http, &base, &format!("shared-{chunk}-{i}")).await;
                call(
                    &http,
                    reqwest::Method::POST,
                    format!("{base}/v2/images/{id}/members"),
                    OWNER,
                    Some(serde_json::json!({"member": "project-b"})),
                )
                .await;
                call(
                    &http,
                    reqwest::Method::PUT,
                    format!("{base}/v2/images/{id}/members/project-b"),
                    CONSUMER,
                    Some(serde_json::json!({"status": "accepted"})),
                )
                .await;
            }
        });
        futures_join(tasks).await;
    }
    let list = http
        .get(format!("{base}/v2/images/{image}/members"))
        .header("X-Auth-Token", OWNER)
        .send()
        .await
        .unwrap();
    let body = list.text().await.unwrap();
    (image, body)
}

async fn futures_join<F: std::future::Future<Output = ()> + Send + 'static>(
    tasks: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = tasks.map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
}

/// Scenario 6: Huawei's batch share of 10 images with 100 projects each,
/// from the 200 with the job ID to the job read back as SUCCESS (polled
/// every 2 ms), five times with new projects; one row with the median and
/// the worst.
async fn batch_job_row(base: &str, label: &str, pid: u32) -> Row {
    let http = reqwest::Client::new();
    let mut images = Vec::new();
    for i in 0..10 {
        images.push(new_image(&http, base, &format!("batch-{i}")).await);
    }
    let mut times = Vec::new();
    for run in 0..5 {
        let projects: Vec<String> = (0..100).map(|p| format!("batch-{run}-{p}")).collect();
        let started = Instant::now();
        let accepted = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/cloudimages/members"),
            OWNER,
            Some(serde_json::json!({"images": images, "projects": projects})),
        )
        .await;
        let job = accepted["job_id"].as_str().unwrap().to_owned();
        loop {
            let status = call(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/cloudimages/job/{job}"),
                OWNER,
                None,
            )
            .await;
            match status["status"].as_str() {
                Some("SUCCESS") => break,
                Some("FAIL") => panic!("batch job failed: {status}"),
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let (median, worst) = (times[times.len() / 2], times[times.len() - 1]);
    eprintln!("  6 batch job [{label}]: median {median:.0} ms, worst {worst:.0} ms");
    Row {
        scenario: format!("6 batch share 10 images × 100 projects, accept → SUCCESS [{label}]"),
        rps: 1000.0 / median,
        p50: format!("{median:.0}ms"),
        p99: format!("{worst:.0}ms (worst of 5)"),
        errors: 0,
        rss_mb: peak_rss_mb(pid),
        note: "1,000 memberships per job; target < 1 s".into(),
    }
}

/// Scenario 7: a 1 GiB image uploaded and downloaded over loopback (MB/s,
/// the server's peak RSS during each), next to `dd` writing as many bytes
/// with `conv=fsync` into the same directory in the same run.
async fn data_rows(base: &str, data_dir: &Path, pid: u32) -> Vec<Row> {
    const GIB: usize = 1 << 30;
    const CHUNK: usize = 1 << 20;
    let http = reqwest::Client::new();
    let img = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v2/images"),
        OWNER,
        Some(serde_json::json!({"name": "one-gib", "disk_format": "raw", "container_format": "bare"})),
    )
    .await;
    let id = img["id"].as_str().unwrap().to_owned();
    // 1 MiB of random bytes, sent 1,024 times (the client stays cheap).
    let mut chunk = vec![0u8; CHUNK];
    rand::fill(&mut chunk[..]);
    let chunk = bytes::Bytes::from(chunk);
    let body = futures::stream::iter(
        (0..GIB / CHUNK).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    peak_rss_mb(pid);
    let started = Instant::now();
    let rsp = http
        .put(format!("{base}/v2/images/{id}/file"))
        .header("X-Auth-Token", OWNER)
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 204, "upload");
    let up = started.elapsed().as_secs_f64();
    let up_rss = peak_rss_mb(pid);

    let started = Instant::now();
    let mut rsp = http
        .get(format!("{base}/v2/images/{id}/file"))
        .header("X-Auth-Token", OWNER)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 200, "download");
    let mut got = 0usize;
    while let Some(c) = rsp.chunk().await.unwrap() {
        got += c.len();
    }
    assert_eq!(got, GIB, "download length");
    let down = started.elapsed().as_secs_f64();
    let down_rss = peak_rss_mb(pid);

    let target = data_dir.join("dd.bin");
    let started = Instant::now();
    let status = Command::new("dd")
        .arg("if=/dev/urandom")
        .arg(format!("of={}", target.display()))
        .args(["bs=1M", "count=1024", "conv=fsync", "status=none"])
        .status()
        .unwrap();
    assert!(status.success(), "dd");
    let dd = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&target);
    let mb = GIB as f64 / 1e6;
    eprintln!(
        "  7 1 GiB: upload {:.0} MB/s, download {:.0} MB/s, dd {:.0} MB/s",
        mb / up,
        mb / down,
        mb / dd
    );
    let row = |scenario: &str, secs: f64, rss: f64, note: String| Row {
        scenario: scenario.into(),
        rps: mb / secs,
        p50: format!("{secs:.2}s"),
        p99: "-".into(),
        errors: 0,
        rss_mb: rss,
        note,
    };
    vec![
        row(
            "7 upload 1 GiB (MB/s in the req/s column)",
            up,
            up_rss,
            format!(
                "{:.0} % of dd conv=fsync ({:.0} MB/s)",
                100.0 * dd / up,
                mb / dd
            ),
        ),
        row(
            "7 download 1 GiB (MB/s in the req/s column)",
            down,
            down_rss,
            String::new(),
        ),
    ]
}

/// Runs each (name, url, wrk script) against the server `pid`: wrk, an
/// optional perf profile, the peak RSS; one row each.
fn run_scenarios(
    args: &Args,
    label: &str,
    pid: u32,
    scenarios: Vec<(&str, String, String)>,
    rows: &mut Vec<Row>,
) {
    peak_rss_mb(pid);
    for (name, url, script) in scenarios {
        let id = name.split(' ').next().unwrap_or_default().to_owned();
        let profiler = args
            .perf
            .contains(&id)
            .then(|| start_perf(pid, &format!("{id}-{label}"), args.duration));
        let (rps, p50, p99, errors) = wrk(args, &url, &script);
        if let Some(p) = profiler {
            finish_perf(p);
        }
        rows.push(Row {
            scenario: format!("{name} [{label}]"),
            rps,
            p50,
            p99,
            errors,
            rss_mb: peak_rss_mb(pid),
            note: String::new(),
        });
        eprintln!("  {name} [{label}]: {rps:.0} req/s");
    }
}

fn run_small(
    args: &Args,
    label: &str,
    server: &Server,
    image: &str,
    keystone_token: Option<&str>,
    rows: &mut Vec<Row>,
) {
    let pid = server.child.id();
    let base = &server.base;
    let members = format!("/v2/images/{image}/members");
    let mut scenarios = vec![
        (
            "1 GET members (10)",
            format!("{base}{members}"),
            get_script(Some(OWNER)),
        ),
        (
            "1s GET members (10), AK/SK signature",
            format!("{base}{members}"),
            signed_get_script(base, &members),
        ),
    ];
    if let Some(token) = keystone_token {
        scenarios.push((
            "1k GET members (10), Keystone token (cached)",
            format!("{base}{members}"),
            get_script(Some(token)),
        ));
    }
    // Row 1 again after the identity rows: the identity rows are compared
    // with the mean of both, so drift during the run does not pose as cost.
    scenarios.push((
        "1 GET members (10), again",
        format!("{base}{members}"),
        get_script(Some(OWNER)),
    ));
    scenarios.extend([
        (
            "2 POST add member",
            base.clone(),
            add_script(&format!("/v2/images/{image}/members")),
        ),
        (
            "3 PUT member status",
            base.clone(),
            put_script(&format!("/v2/images/{image}/members/project-b"), CONSUMER),
        ),
        (
            "4 GET images accepted (1k shared)",
            format!("{base}/v2/images?member_status=accepted"),
            get_script(Some(CONSUMER)),
        ),
    ]);
    run_scenarios(args, label, pid, scenarios, rows);
}

/// The metrics A/B: GET members (M1) and POST add (M2) on a server that
/// collects metrics and on one started with `--no-metrics`, both fresh SQLite
/// stores set up alike and otherwise configured alike (no Keystone: with one,
/// every add would also be a project lookup). Each scenario runs on, off, on,
/// off, so drift on a machine the load generator shares with the server
/// falls on both sides. M1 reads the 10-member image, which M2 never
/// touches: M2 adds to a new image each run, so every run starts from the
/// same state. Returns the rows (the on rows' note compares the mean of the
/// on runs with the mean of the off runs) and a one-line summary.
async fn metrics_ab(args: &Args) -> (Vec<Row>, String) {
    // Many short rounds, alternating the order (on, off, then off, on, …),
    // so drift in the machine's speed falls on both sides alike; each side
    // is warmed up (3 s, not counted) before its scenario's first round.
    // Each round runs half of --duration (at least 3 s).
    const ROUNDS: u32 = 8;
    let round_args = Args {
        duration: (args.duration / 2).max(3),
        ..args.clone()
    };
    let args = &round_args;
    let (on_dir, off_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tokens(on_dir.path());
    write_tokens(off_dir.path());
    // The previous scenario's server may still be flushing and removing
    // its data: let the machine settle first.
    std::thread::sleep(Duration::from_secs(3));
    let on = start_server(on_dir.path(), None, None, &[]);
    let off = start_server(off_dir.path(), None, None, &["--no-metrics"]);
    eprintln!("setting up the metrics A/B (sqlite, metrics on and off) …");
    let (on_image, _) = setup_small(&on.base).await;
    let (off_image, _) = setup_small(&off.base).await;
    let servers = [("on", &on, on_image), ("off", &off, off_image)];
    let http = reqwest::Client::new();
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for (id, scenario, short) in [
        ("M1", "GET members (10)", "GET members"),
        ("M2", "POST add member", "POST add"),
    ] {
        let first = rows.len();
        let mut rps_sum = [0.0f64; 2];
        let mut rps_all: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let warm_up = Args {
            duration: 3,
            ..args.clone()
        };
        for round in 0..=ROUNDS {
            let order: [usize; 2] = if round % 2 == 1 { [0, 1] } else { [1, 0] };
            for side in order {
                let (label, server, image) = &servers[side];
                let base = &server.base;
                let (url, script) = if id == "M1" {
                    (
                        format!("{base}/v2/images/{image}/members"),
                        get_script(Some(OWNER)),
                    )
                } else {
                    let target = new_image(&http, base, &format!("add-target-{round}")).await;
                    (
                        base.clone(),
                        add_script(&format!("/v2/images/{target}/members")),
                    )
                };
                let pid = server.child.id();
                peak_rss_mb(pid);
                if round == 0 {
                    wrk(&warm_up, &url, &script);
                    continue;
                }
                let (rps, p50, p99, errors) = wrk(args, &url, &script);
                let name = format!("{id} {scenario} [metrics {label}] #{round}");
                eprintln!("  {name}: {rps:.0} req/s");
                rps_sum[side] += rps;
                rps_all[side].push(rps);
                rows.push(Row {
                    scenario: name,
                    rps,
                    p50,
                    p99,
                    errors,
                    rss_mb: peak_rss_mb(pid),
                    note: String::new(),
                });
            }
        }
        let ratio = if rps_sum[1] > 0.0 {
            100.0 * rps_sum[0] / rps_sum[1]
        } else {
            0.0
        };
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            if n == 0 {
                0.0
            } else if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        };
        let [on_all, off_all] = &mut rps_all;
        let (on_median, off_median) = (median(on_all), median(off_all));
        let median_ratio = if off_median > 0.0 {
            100.0 * on_median / off_median
        } else {
            0.0
        };
        for r in &mut rows[first..] {
            if r.scenario.contains("[metrics on]") {
                r.note = format!(
                    "on/off = {ratio:.1} % (mean of {ROUNDS} rounds each; median {median_ratio:.1} %)"
                );
            }
        }
        ratios.push(format!(
            "{short} on/off = {ratio:.1} % (median {median_ratio:.1} %)"
        ));
    }
    let summary = format!("metrics cost: {} (target ≥ 95 %)", ratios.join(", "));
    eprintln!("{summary}");
    (rows, summary)
}

/// `perf record` on the server for one scenario.
fn start_perf(pid: u32, label: &str, seconds: u32) -> (Child, PathBuf, PathBuf) {
    let data = std::env::temp_dir().join(format!("imgshare-perf-{label}.data"));
    let report = PathBuf::from("target").join(format!("perf-{label}.txt"));
    let child = Command::new("perf")
        .args(["record", "-F", "499", "--call-graph", "dwarf,8192", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string(), "--", "sleep", &seconds.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf is installed (linux-perf)");
    (child, data, report)
}

fn finish_perf((mut child, data, report): (Child, PathBuf, PathBuf)) {
    let _ = child.wait();
    let out = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "dso,symbol",
            "--percent-limit",
            "0.7",
            "-g",
            "none",
            "-i",
        ])
        .arg(&data)
        .output()
        .expect("perf report");
    let _ = std::fs::create_dir_all("target");
    std::fs::write(&report, &out.stdout).unwrap();
    eprintln!("  profile: {}", report.display());
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut rows = Vec::new();

    let mut baseline_rps = 0.0;
    if !args.metrics_ab_only {
        // Scenarios 1-4 on a fresh SQLite store, and the baseline.
        let dir = tempfile::tempdir().unwrap();
        write_tokens(dir.path());
        let keystone = args.keystone.as_deref().map(Keystone::load);
        let server = start_server(dir.path(), None, keystone.as_ref(), &[]);
        eprintln!("setting up scenarios 1-4 (sqlite) …");
        let (image, members_body) = setup_small(&server.base).await;
        let keystone_token = match &keystone {
            Some(k) => {
                let token = k.admin_token().await;
                // One request first, so the run measures the cached path (the
                // first validation is a Keystone round trip of ~0.5 s).
                call(
                    &reqwest::Client::new(),
                    reqwest::Method::GET,
                    format!("{}/v2/images/{image}/members", server.base),
                    &token,
                    None,
                )
                .await;
                Some(token)
            }
            None => {
                eprintln!("no --keystone: row 1k (Keystone token) skipped");
                None
            }
        };

        let body_file = dir.path().join("members-body.json");
        std::fs::write(&body_file, &members_body).unwrap();
        let mut cmd = Command::new(bin("baseline"));
        cmd.arg("127.0.0.1:0").arg(&body_file);
        let baseline = start(cmd);
        let (rps, p50, p99, errors) = wrk(&args, &format!("{}/", baseline.base), &get_script(None));
        baseline_rps = rps;
        rows.push(Row {
            scenario: "0 bare hyper, same body (baseline)".into(),
            rps,
            p50,
            p99,
            errors,
            rss_mb: peak_rss_mb(baseline.child.id()),
            note: String::new(),
        });
        drop(baseline);

        // The framework's own ceiling: our server answering a call that touches
        // neither the store nor the token file.
        let (rps, p50, p99, errors) = wrk(
            &args,
            &format!("{}/versions", server.base),
            &get_script(None),
        );
        rows.push(Row {
            scenario: "0b GET /versions (dropshot, no store, no auth)".into(),
            rps,
            p50,
            p99,
            errors,
            rss_mb: peak_rss_mb(server.child.id()),
            note: String::new(),
        });

        run_small(
            &args,
            "sqlite",
            &server,
            &image,
            keystone_token.as_deref(),
            &mut rows,
        );
        rows.push(batch_job_row(&server.base, "sqlite", server.child.id()).await);
        drop(server);
    }

    // The metrics A/B (M1, M2): its own two servers, metrics on and off.
    let (ab_rows, metrics_summary) = metrics_ab(&args).await;
    rows.extend(ab_rows);

    if !args.metrics_ab_only {
        // Scenario 7 on a fresh server, so its peak RSS is the transfer's.
        let data_dir = tempfile::tempdir().unwrap();
        write_tokens(data_dir.path());
        let server = start_server(data_dir.path(), None, None, &[]);
        rows.extend(data_rows(&server.base, data_dir.path(), server.child.id()).await);
        drop(server);

        if let Some(url) = &args.postgres {
            let pg_dir = tempfile::tempdir().unwrap();
            write_tokens(pg_dir.path());
            let server = start_server(pg_dir.path(), Some(url), None, &[]);
            eprintln!("setting up scenarios 1-4 (postgres) …");
            let (image, _) = setup_small(&server.base).await;
            run_small(&args, "postgres", &server, &image, None, &mut rows);
            rows.push(batch_job_row(&server.base, "postgres", server.child.id()).await);
        }

        // Scenario 5: 1-3 on a store preloaded with many images and memberships.
        if args.scale_images > 0 {
            let tmp;
            let scale_dir = match &args.scale_dir {
                Some(d) => d.clone(),
                None => {
                    tmp = tempfile::tempdir().unwrap();
                    tmp.path().to_owned()
                }
            };
            let marker = scale_dir.join(format!(
                "preloaded-{}x{}",
                args.scale_images, args.scale_members
            ));
            if !marker.exists() {
                let _ = std::fs::remove_dir_all(&scale_dir);
                std::fs::create_dir_all(&scale_dir).unwrap();
                let started = Instant::now();
                let status = Command::new(bin("preload"))
                    .arg(&scale_dir)
                    .arg(args.scale_images.to_string())
                    .arg(args.scale_members.to_string())
                    .status()
                    .unwrap();
                assert!(status.success(), "preload failed");
                eprintln!("preload took {:.1}s", started.elapsed().as_secs_f64());
                std::fs::write(&marker, "").unwrap();
            }
            write_tokens(&scale_dir);
            let started = Instant::now();
            let server = start_server(&scale_dir, None, None, &[]);
            let http = reqwest::Client::new();
            // Start-up: process start until the first answered request.
            loop {
                if http
                    .get(format!("{}/versions", server.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let startup = started.elapsed();
            let pid = server.child.id();
            let image0 =
                uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000u128).to_string();
            let label = format!(
                "{}M images, {}M members",
                args.scale_images as f64 / 1e6,
                (args.scale_images * args.scale_members) as f64 / 1e6
            );
            let base = &server.base;
            let scenarios = vec![
                (
                    "5.1 GET members (10)",
                    format!("{base}/v2/images/{image0}/members"),
                    get_script(Some(OWNER)),
                ),
                (
                    "5.2 POST add member",
                    base.clone(),
                    add_script(&format!("/v2/images/{image0}/members")),
                ),
                (
                    "5.3 PUT member status",
                    base.clone(),
                    put_script(&format!("/v2/images/{image0}/members/proj-0"), SCALE_MEMBER),
                ),
            ];
            let first = rows.len();
            run_scenarios(&args, &label, pid, scenarios, &mut rows);
            rows[first].note = format!("start-up {:.0} ms", startup.as_secs_f64() * 1000.0);
        }
    }

    let mut table = String::new();
    writeln!(
        table,
        "| scenario | req/s | p50 | p99 | errors | server peak RSS | note |"
    )
    .unwrap();
    writeln!(table, "|---|---:|---:|---:|---:|---:|---|").unwrap();
    // Identity rows against the identity-file row of the same run.
    let file_rows: Vec<f64> = rows
        .iter()
        .filter(|r| {
            r.scenario.starts_with("1 GET members (10) [sqlite]")
                || r.scenario.starts_with("1 GET members (10), again [sqlite]")
        })
        .map(|r| r.rps)
        .collect();
    let file_row = file_rows.iter().sum::<f64>() / file_rows.len().max(1) as f64;
    for r in &rows {
        let mut note = r.note.clone();
        if (r.scenario.starts_with("1s ") || r.scenario.starts_with("1k "))
            && r.scenario.contains("[sqlite]")
            && file_row > 0.0
        {
            note = format!(
                "{:.0} % of row 1 (identity-file token)",
                100.0 * r.rps / file_row
            );
        }
        if r.scenario.starts_with("0b")
            || r.scenario.starts_with("1 ")
            || r.scenario.starts_with("5.1")
        {
            let ratio = format!("{:.0} % of baseline", 100.0 * r.rps / baseline_rps);
            note = if note.is_empty() {
                ratio
            } else {
                format!("{ratio}; {note}")
            };
        }
        writeln!(
            table,
            "| {} | {:.0} | {} | {} | {} | {:.1} MiB | {} |",
            r.scenario, r.rps, r.p50, r.p99, r.errors, r.rss_mb, note
        )
        .unwrap();
    }
    writeln!(table, "\n{metrics_summary}").unwrap();
    println!(
        "wrk -t{} -c{} -d{}s, loopback, load generator and server on the same machine\n\n{table}",
        args.threads, args.connections, args.duration
    );
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table).unwrap();
    }
}

/// The identity file, owner-only (0600) as the server requires.
fn write_tokens(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("bench-tokens.toml");
    std::fs::write(&path, TOKENS).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
