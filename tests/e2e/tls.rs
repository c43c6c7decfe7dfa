//! HTTPS (`--tls-cert`/`--tls-key`): the server speaks TLS and nothing else
//! on its port, `reload_tls` (what SIGHUP calls) puts a new certificate in
//! front of new connections while open ones go on, and a key the server
//! cannot use stops it at start with the file named. These tests make their
//! own throwaway CAs, so they run the same with or without
//! `IMGSHARE_TEST_TLS`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// A server on its own temp dir whose certificate and key are `pair`.
struct TlsServer {
    server: imgshare_server::Server,
    cert: PathBuf,
    key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    async fn start(pair: &ServerPair) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        pair.write(&cert, &key);
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
        let server = imgshare_server::start(&config)
            .await
            .expect("server starts with TLS");
        TlsServer {
            server,
            cert,
            key,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn https(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr())
    }
}

/// A keep-alive client that trusts `ca` only and reports the peer's certificate.
fn client_trusting(ca: &TestCa) -> reqwest::Client {
    ca.client_builder()
        .tls_info(true)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// `GET /v2/images` as the owner: the status and the certificate the
/// server presented on the connection that carried it.
async fn list_images(client: &reqwest::Client, url: &str) -> reqwest::Result<(u16, Vec<u8>)> {
    let rsp = client.get(url).header("X-Auth-Token", OWNER).send().await?;
    let peer = rsp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS connection reports its peer certificate")
        .to_vec();
    let status = rsp.status().as_u16();
    rsp.bytes().await?;
    Ok((status, peer))
}

/// Plain HTTP to the TLS port gets no HTTP answer: neither through reqwest
/// nor written by hand on a socket.
async fn plain_http_gets_no_answer(addr: SocketAddr) {
    match reqwest::Client::new()
        .get(format!("http://{addr}/v2/images"))
        .header("X-Auth-Token", OWNER)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Err(_) => {}
        Ok(rsp) => panic!(
            "plain HTTP to the TLS port was answered: {} {:?}",
            rsp.status(),
            rsp.text().await
        ),
    }
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /v2/images HTTP/1.1\r\nHost: imgshare\r\nX-Auth-Token: tok-owner\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "plain HTTP to the TLS port: the connection was left open"
    );
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain HTTP to the TLS port was answered in HTTP: {:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn https_and_a_new_certificate_on_reload_keeps_open_connections() {
    let (old_ca, new_ca) = (TestCa::new("old CA"), TestCa::new("new CA"));
    let (old_pair, new_pair) = (old_ca.server_pair(), new_ca.server_pair());
    let s = TlsServer::start(&old_pair).await;
    let url = s.https("/v2/images");

    // HTTPS works, with the configured certificate; so does the generated
    // client over it.
    let kept = client_trusting(&old_ca);
    let (status, peer) = list_images(&kept, &url).await.expect("an HTTPS request");
    assert_eq!(status, 200);
    assert!(
        peer == old_pair.cert_der,
        "the server presented another certificate"
    );
    let api = imgshare::Client::new_with_client(&s.https(""), client_trusting(&old_ca));
    let missing = uuid::Uuid::new_v4().to_string();
    let err = api
        .list_members(&missing, None, None, Some(OWNER))
        .await
        .expect_err("no such image");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err:?}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    plain_http_gets_no_answer(s.addr()).await;

    // A new pair from another CA over the same files, then the reload.
    new_pair.write(&s.cert, &s.key);
    s.server.reload_tls().await.expect("the new pair loads");

    // The connection opened before the reload is still served. `kept`
    // trusts the old CA only, so a new connection could not have carried
    // this request; the certificate on it is still the old one.
    let (status, peer) = list_images(&kept, &url)
        .await
        .expect("the kept-alive connection still serves after the reload");
    assert_eq!(status, 200);
    assert!(
        peer == old_pair.cert_der,
        "the kept-alive connection changed certificates"
    );

    // New connections present the new certificate: a client trusting only
    // the new CA gets through, one trusting only the old CA does not.
    let (status, peer) = list_images(&client_trusting(&new_ca), &url)
        .await
        .expect("a new connection trusting the new CA");
    assert_eq!(status, 200);
    assert!(
        peer == new_pair.cert_der,
        "a new connection got the old certificate"
    );
    match list_images(&client_trusting(&old_ca), &url).await {
        Err(e) => assert!(e.is_connect(), "expected a failed handshake, got {e:?}"),
        Ok((status, _)) => {
            panic!("a client trusting only the old CA got {status} after the reload")
        }
    }

    // And the kept connection still goes on.
    let (status, _) = list_images(&kept, &url)
        .await
        .expect("the kept connection, again");
    assert_eq!(status, 200);

    s.server.close().await.unwrap();
}

/// `imgshare_server::start` with `config`: its error message. Fails the
/// test if the server started or panicked.
async fn start_error(config: &imgshare_server::Config) -> String {
    match std::panic::AssertUnwindSafe(imgshare_server::start(config))
        .catch_unwind()
        .await
    {
        Ok(Err(message)) => message,
        Ok(Ok(server)) => {
            server.close().await.unwrap();
            panic!("the server started")
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("imgshare_server::start panicked instead of returning Err: {what}")
        }
    }
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_stops_the_start_naming_the_file() {
    let ca = TestCa::new("CA");
    let (pair, other) = (ca.server_pair(), ca.server_pair());
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &pair.cert_pem).unwrap();
    write_private(&key, &other.key_pem);
    config.tls_cert = Some(cert);
    config.tls_key = Some(key.clone());
    let message = start_error(&config).await;
    assert!(
        message.contains(&key.display().to_string()),
        "the message does not name {}: {message}",
        key.display()
    );
}

#[tokio::test]
async fn a_missing_key_file_stops_the_start_naming_the_file() {
    let ca = TestCa::new("CA");
    let pair = ca.server_pair();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, &pair.cert_pem).unwrap();
    let key = dir.path().join("no-such-key.pem");
    config.tls_cert = Some(cert);
    config.tls_key = Some(key.clone());
    let message = start_error(&config).await;
    assert!(
        message.contains(&key.display().to_string()),
        "the message does not name {}: {message}",
        key.display()
    );
}
