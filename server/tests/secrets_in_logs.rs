//! Tokens, secret keys and the Keystone password never reach the log, even at
//! `--log-level trace`: the binary is run with each kind of credential, good
//! and bad, Keystone unreachable (so its failure is logged), and its whole
//! stderr is searched for the secrets.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "tok-5ecr3t-identity-file-token";
const SECRET_KEY: &str = "sk-5ecr3t-0000000000000000000000000000000";
const PASSWORD: &str = "pw-5ecr3t-keystone-service-password";
const KEYSTONE_TOKEN: &str = "gAAAAAB-5ecr3t-keystone-user-token";

#[test]
fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!(
            "[[tokens]]\ntoken = \"{TOKEN}\"\nproject_id = \"p\"\nuser_id = \"u\"\nroles = [\"member\"]\n\n\
             [[access_keys]]\naccess_key = \"AKLOGTEST00000000001\"\nsecret_key = \"{SECRET_KEY}\"\n\
             project_id = \"p\"\nuser_id = \"u\"\nroles = [\"member\"]\n"
        ),
    )
    .unwrap();
    // The server refuses an identity file others may read.
    std::fs::set_permissions(
        dir.path().join("tokens.toml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // A Keystone that refuses connections: every validation fails and is logged.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let keystone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgshare-server"))
        .args(["--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"])
        .args(["--log-level", "trace"])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--tokens")
        .arg(dir.path().join("tokens.toml"))
        .args(["--keystone-url", &keystone, "--keystone-user", "imgshare"])
        .args([
            "--keystone-project",
            "service",
            "--keystone-timeout-secs",
            "1",
        ])
        .env("IMGSHARE_KEYSTONE_PASSWORD", PASSWORD)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every line is kept; the address is taken from the `listening` line.
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening address=").nth(1) {
                let _ = addr_tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        let _ = tx.send(all);
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/v2/images");
        for token in [TOKEN, KEYSTONE_TOKEN] {
            let status = http
                .get(&url)
                .header("X-Auth-Token", token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            assert!(status == 200 || status == 503, "{token}: {status}");
        }
        // A signature made with the secret as a token, and the secret in the
        // Authorization header itself (a confused client).
        let status = http
            .get(&url)
            .header(
                "Authorization",
                format!("SDK-HMAC-SHA256 Access={SECRET_KEY}, SignedHeaders=host;x-sdk-date, Signature={}", "0".repeat(64)),
            )
            .header("X-Sdk-Date", "20261201T000000Z")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 401);
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        log.contains("Keystone unreachable"),
        "the Keystone failure is logged:\n{log}"
    );
    for secret in [TOKEN, SECRET_KEY, PASSWORD, KEYSTONE_TOKEN] {
        assert!(!log.contains(secret), "{secret} appears in the log");
    }
}
