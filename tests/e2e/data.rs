//! Image data (`PUT`/`GET /v2/images/{image_id}/file`): uploads stream to
//! disk with their digests, the image goes queued → saving → active, ranges
//! are honoured, a failed upload keeps nothing, and Glance's policy decides
//! who may upload and who may download.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use imgshare::types::{self, ErrorCode, ImageStatus, MemberStatus, Visibility};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use tokio::io::AsyncWriteExt;

use crate::support::*;

/// `n` random bytes.
fn payload(n: usize) -> Vec<u8> {
    std::iter::repeat_with(|| *uuid::Uuid::new_v4().as_bytes())
        .flatten()
        .take(n)
        .collect()
}

/// The hex digest `tool` (`md5sum`, `sha512sum`) prints for `data`.
fn digest(tool: &str, data: &[u8]) -> String {
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} failed");
    let out = String::from_utf8(out.stdout).unwrap();
    out.split_whitespace().next().unwrap().to_owned()
}

/// The test server's image data directory (`<data-dir>/images`).
fn image_dir(s: &TestServer) -> PathBuf {
    s.dir.path().join("images")
}

/// Every file in the image data directory, temporary ones included.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn image(s: &TestServer, token: &str, id: &str) -> types::Image {
    s.client(token)
        .get_image(id, None)
        .await
        .expect("get image")
        .into_inner()
}

/// Polls the image's status until it is `done`, for up to five seconds;
/// returns the last status seen.
async fn poll_status(s: &TestServer, id: &str, done: impl Fn(&ImageStatus) -> bool) -> ImageStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = image(s, OWNER, id).await.status;
        if done(&status) || tokio::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_status(s: &TestServer, id: &str, want: ImageStatus) -> ImageStatus {
    poll_status(s, id, |status| *status == want).await
}

/// Polls `dir` until its files are `done`, for up to five seconds; returns the last listing.
async fn wait_for_files(dir: &Path, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let files = files_in(dir);
        if done(&files) || tokio::time::Instant::now() >= deadline {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn upload(s: &TestServer, token: &str, id: &str, data: &[u8]) {
    let rsp = s
        .client(token)
        .upload_image_data(id, None, data.to_vec())
        .await
        .expect("upload");
    assert_eq!(rsp.status().as_u16(), 204);
}

/// Downloads through the generated client: the headers and every byte.
async fn download(s: &TestServer, token: &str, id: &str) -> (HeaderMap, Vec<u8>) {
    let rsp = s
        .client(token)
        .download_image_data(id, None)
        .await
        .unwrap_or_else(|e| panic!("download as {token}: {e}"));
    assert_eq!(rsp.status().as_u16(), 200);
    let headers = rsp.headers().clone();
    let chunks: Vec<_> = rsp.into_inner_stream().try_collect().await.unwrap();
    (headers, chunks.concat())
}

/// [`failure`] for a download, whose success (a byte stream) has no `Debug`.
fn download_failure(
    result: Result<imgshare::ResponseValue<imgshare::ByteStream>, imgshare::Error<types::ApiError>>,
) -> (u16, types::ErrorBody) {
    failure(result.map(|rsp| imgshare::ResponseValue::new((), rsp.status(), rsp.headers().clone())))
}

/// A raw `GET` of the data with an optional `Range`: status, headers, body.
async fn get_file(
    s: &TestServer,
    token: &str,
    id: &str,
    range: Option<&str>,
) -> (u16, HeaderMap, Vec<u8>) {
    let mut req = http_client()
        .get(s.url(&format!("/v2/images/{id}/file")))
        .header("X-Auth-Token", token);
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let rsp = req.send().await.expect("request sent");
    let status = rsp.status().as_u16();
    let headers = rsp.headers().clone();
    (status, headers, rsp.bytes().await.unwrap().to_vec())
}

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> &str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// A body that sends `data` in `chunk`-byte pieces, pausing `pause` before each.
fn slow_body(data: Vec<u8>, chunk: usize, pause: Duration) -> reqwest::Body {
    let pieces: Vec<Vec<u8>> = data.chunks(chunk).map(<[u8]>::to_vec).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(pieces).then(move |piece| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(piece)
    }))
}

/// A body that sends `data[..at]`, then the rest once the returned sender
/// fires (or is dropped).
fn gated_body(data: &[u8], at: usize) -> (reqwest::Body, tokio::sync::oneshot::Sender<()>) {
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let (head, tail) = (data[..at].to_vec(), data[at..].to_vec());
    let rest = futures::stream::once(async move {
        let _ = gate.await;
        Ok(tail)
    });
    let body = reqwest::Body::wrap_stream(
        futures::stream::iter([Ok::<_, std::io::Error>(head)]).chain(rest),
    );
    (body, release)
}

/// Starts an upload to `id` as the owner on a raw connection: the request
/// head, announcing `content_length` bytes of body, and none of them yet
/// (over TLS when the run is).
async fn raw_upload(s: &TestServer, id: &str, content_length: usize) -> RawConn {
    let mut tcp = s.connect().await;
    let head = format!(
        "PUT /v2/images/{id}/file HTTP/1.1\r\nHost: imgshare\r\nX-Auth-Token: {OWNER}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {content_length}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp
}

/// Asserts the image holds `data`: active, its size and digests, and the
/// bytes and headers `token` downloads.
async fn assert_holds(s: &TestServer, token: &str, id: &str, data: &[u8]) {
    let md5 = digest("md5sum", data);
    let sha512 = digest("sha512sum", data);
    let img = image(s, token, id).await;
    assert_eq!(img.status, ImageStatus::Active);
    assert_eq!(img.size, Some(data.len() as u64));
    assert_eq!(img.checksum.as_deref(), Some(md5.as_str()));
    assert_eq!(img.os_hash_algo.as_deref(), Some("sha512"));
    assert_eq!(img.os_hash_value.as_deref(), Some(sha512.as_str()));
    let (headers, got) = download(s, token, id).await;
    assert!(got == data, "{token} downloaded other bytes");
    assert_eq!(header(&headers, CONTENT_LENGTH), data.len().to_string());
    assert_eq!(header(&headers, "content-md5"), md5);
    assert_eq!(header(&headers, CONTENT_TYPE), "application/octet-stream");
}

#[tokio::test]
async fn owner_uploads_and_members_in_any_status_download() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    s.add(&id, PROJECT_B).await;
    let before = image(&s, OWNER, &id).await;
    assert_eq!(before.status, ImageStatus::Queued);
    assert_eq!((before.size, before.checksum.as_deref()), (None, None));

    let data = payload(5000);
    upload(&s, OWNER, &id, &data).await;

    assert_holds(&s, OWNER, &id, &data).await;
    // Pending, accepted and rejected members all may download.
    assert_holds(&s, MEMBER, &id, &data).await;
    s.set_status(MEMBER, &id, PROJECT_B, MemberStatus::Accepted)
        .await;
    assert_holds(&s, MEMBER, &id, &data).await;
    s.set_status(MEMBER, &id, PROJECT_B, MemberStatus::Rejected)
        .await;
    let (status, _, got) = get_file(&s, MEMBER, &id, None).await;
    assert_eq!((status, got == data), (200, true));
    // The data lies in <data-dir>/images under the image's ID, nothing else.
    assert_eq!(files_in(&image_dir(&s)), [id.as_str()]);
    assert!(std::fs::read(image_dir(&s).join(&id)).unwrap() == data);
}

#[tokio::test]
async fn public_and_community_data_is_for_everyone() {
    let s = TestServer::start().await;
    let data = payload(300);
    for (uploader, visibility) in [(ADMIN, Visibility::Public), (OWNER, Visibility::Community)] {
        let id = s.image(uploader, Some(visibility), &[]).await;
        upload(&s, uploader, &id, &data).await;
        assert_holds(&s, STRANGER, &id, &data).await;
    }
}

#[tokio::test]
async fn ranges() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    s.add(&id, PROJECT_B).await;
    let data = payload(1000);
    upload(&s, OWNER, &id, &data).await;

    for (range, start, end) in [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, 999),
        ("bytes=-7", 993, 999),
        ("bytes=990-5000", 990, 999), // past the end: clamped
        ("bytes=-5000", 0, 999),
        ("bytes=999-999", 999, 999),
    ] {
        let (status, headers, body) = get_file(&s, MEMBER, &id, Some(range)).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            header(&headers, CONTENT_RANGE),
            format!("bytes {start}-{end}/1000"),
            "{range}"
        );
        assert_eq!(
            header(&headers, CONTENT_LENGTH),
            (end - start + 1).to_string(),
            "{range}"
        );
        assert!(body == data[start..=end], "{range}: other bytes");
    }

    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let (status, headers, body) = get_file(&s, OWNER, &id, Some(range)).await;
        assert_eq!(status, 416, "{range}");
        assert_eq!(header(&headers, CONTENT_RANGE), "bytes */1000", "{range}");
        let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            envelope["error"]["code"], "imgshare.range_not_satisfiable",
            "{range}"
        );
    }

    // Several ranges, or one that does not parse: the whole data.
    for range in ["bytes=0-1,5-9", "bytes=abc", "bytes=9-2", "items=0-9"] {
        let (status, headers, body) = get_file(&s, OWNER, &id, Some(range)).await;
        assert_eq!(status, 200, "{range}");
        assert!(headers.get(CONTENT_RANGE).is_none(), "{range}");
        assert_eq!(header(&headers, CONTENT_LENGTH), "1000", "{range}");
        assert!(body == data, "{range}: other bytes");
    }
}

#[tokio::test]
async fn empty_data_is_data() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    upload(&s, OWNER, &id, b"").await;
    assert_holds(&s, OWNER, &id, b"").await;
    let (status, headers, _) = get_file(&s, OWNER, &id, Some("bytes=0-")).await;
    assert_eq!(status, 416);
    assert_eq!(header(&headers, CONTENT_RANGE), "bytes */0");
}

#[tokio::test]
async fn no_data_is_204() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    s.add(&id, PROJECT_B).await;
    for token in [OWNER, MEMBER, ADMIN] {
        let (status, _, body) = get_file(&s, token, &id, None).await;
        assert_eq!((status, body.len()), (204, 0), "{token}");
    }
    // A range on no data changes nothing.
    let (status, _, _) = get_file(&s, OWNER, &id, Some("bytes=0-9")).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_second_upload_is_409() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    let data = payload(100);
    upload(&s, OWNER, &id, &data).await;
    for token in [OWNER, ADMIN] {
        let (status, err) = failure(
            s.client(token)
                .upload_image_data(&id, None, b"other".to_vec())
                .await,
        );
        assert_eq!((status, err.code), (409, ErrorCode::ImgshareImageNotQueued));
        assert_eq!(
            err.message,
            "Image status transition from active to saving is not allowed"
        );
    }
    assert_holds(&s, OWNER, &id, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_uploads_one_wins() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    // The first upload sends half its data, then waits until the second
    // has been answered.
    let first_data = payload(256 * 1024);
    let (body, release) = gated_body(&first_data, 128 * 1024);
    let first = tokio::spawn({
        let client = s.client(OWNER);
        let id = id.clone();
        async move { status_of(&client.upload_image_data(&id, None, body).await) }
    });
    assert_eq!(
        wait_for_status(&s, &id, ImageStatus::Saving).await,
        ImageStatus::Saving
    );
    // While it is saving there is no data to read yet.
    let (status, _, _) = get_file(&s, OWNER, &id, None).await;
    assert_eq!(status, 204);

    let (status, err) = failure(
        s.client(OWNER)
            .upload_image_data(&id, None, b"second".to_vec())
            .await,
    );
    assert_eq!((status, err.code), (409, ErrorCode::ImgshareImageNotQueued));
    assert_eq!(
        err.message,
        "Image status transition from saving to saving is not allowed"
    );

    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), 204);
    assert_holds(&s, OWNER, &id, &first_data).await;
    assert_eq!(files_in(&image_dir(&s)), [id]);

    // Started together, whichever reaches the image first wins.
    let id = s.shared_image().await;
    let (a, b) = (payload(64 * 1024), payload(64 * 1024));
    let (client_a, client_b) = (s.client(OWNER), s.client(OWNER));
    let (ra, rb) = tokio::join!(
        client_a.upload_image_data(
            &id,
            None,
            slow_body(a.clone(), 8 * 1024, Duration::from_millis(5))
        ),
        client_b.upload_image_data(
            &id,
            None,
            slow_body(b.clone(), 8 * 1024, Duration::from_millis(5))
        ),
    );
    let winner = match (status_of(&ra), status_of(&rb)) {
        (204, 409) => a,
        (409, 204) => b,
        other => panic!("expected one 204 and one 409, got {other:?}"),
    };
    assert_holds(&s, OWNER, &id, &winner).await;
}

/// A server like [`TestServer`]'s (same identities, same backend) with
/// `--image-size-cap` set, on its own data dir.
struct CappedServer {
    server: imgshare_server::Server,
    dir: tempfile::TempDir,
}

impl CappedServer {
    async fn start(identities: &TestServer, cap: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config =
            imgshare_server::Config::new("127.0.0.1:0".parse().unwrap(), dir.path().to_path_buf());
        config.tokens = Some(identities.dir.path().join("test-tokens.toml"));
        config.image_size_cap = cap;
        config.database_connections = 4;
        if postgres_selected() {
            config.database = Some(fresh_postgres_url().await);
        }
        use_tls_if_selected(&mut config, dir.path());
        let server = imgshare_server::start(&config)
            .await
            .expect("server starts");
        CappedServer { server, dir }
    }

    fn client(&self) -> imgshare::Client {
        api_client(&base_url(self.server.local_addr()), Some(OWNER))
    }
}

/// Whether a request failed because the server closed the connection while
/// the client was still sending the body.
fn cut_off_while_sending(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            );
        }
        // The server closed while the body was still going out, before its
        // 413 could be read: hyper reports the connection closed mid-message
        // or the body write aborted, with no I/O error beneath.
        if let Some(h) = cause.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_body_write_aborted() || h.is_canceled() {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

#[tokio::test]
async fn over_the_size_cap_is_413_and_keeps_nothing() {
    let s = TestServer::start().await;
    let capped = CappedServer::start(&s, 1000).await;
    let client = capped.client();
    let id = client
        .create_image(None, &Default::default())
        .await
        .unwrap()
        .into_inner()
        .id
        .to_string();
    let images = capped.dir.path().join("images");

    let stays_queued = || async {
        let img = client.get_image(&id, None).await.unwrap().into_inner();
        assert_eq!(img.status, ImageStatus::Queued);
        assert_eq!((img.size, img.checksum), (None, None));
        assert_eq!(files_in(&images), Vec::<String>::new());
    };

    // Over the cap by one byte, in one piece: 413.
    let (status, err) = failure(client.upload_image_data(&id, None, payload(1001)).await);
    assert_eq!((status, err.code), (413, ErrorCode::ImgshareImageTooLarge));
    stays_queued().await;

    // Streamed in many pieces, the cap passed early: the server answers 413
    // and closes the connection without reading the rest, so the client may
    // fail writing its body (EPIPE/reset) before it reads the 413; either
    // way nothing is kept.
    match client
        .upload_image_data(
            &id,
            None,
            slow_body(payload(64 * 1024), 300, Duration::ZERO),
        )
        .await
    {
        Err(imgshare::Error::CommunicationError(e)) if cut_off_while_sending(&e) => {}
        other => {
            let (status, err) = failure(other);
            assert_eq!((status, err.code), (413, ErrorCode::ImgshareImageTooLarge));
        }
    }
    stays_queued().await;

    // Exactly the cap fits.
    let data = payload(1000);
    let rsp = client.upload_image_data(&id, None, data.clone()).await;
    assert_eq!(status_of(&rsp), 204);
    let img = client.get_image(&id, None).await.unwrap().into_inner();
    assert_eq!(img.status, ImageStatus::Active);
    assert_eq!(img.size, Some(1000));
    assert_eq!(img.checksum, Some(digest("md5sum", &data)));
    assert_eq!(files_in(&images), [id.as_str()]);
    let got: Vec<_> = client
        .download_image_data(&id, None)
        .await
        .unwrap()
        .into_inner_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(got.concat() == data);
    capped.server.close().await.unwrap();
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_the_image_queued() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    // A third of the announced body, then silence.
    let mut tcp = raw_upload(&s, &id, 1_000_000).await;
    tcp.write_all(&payload(300_000)).await.unwrap();
    tcp.flush().await.unwrap();
    // The upload is under way: saving, with a temporary file.
    assert_eq!(
        wait_for_status(&s, &id, ImageStatus::Saving).await,
        ImageStatus::Saving
    );
    let prefix = format!(".upload-{id}-");
    let uploading = |files: &[String]| files.iter().any(|f| f.starts_with(&prefix));
    let files = wait_for_files(&image_dir(&s), uploading).await;
    assert!(uploading(&files), "no temporary file: {files:?}");

    drop(tcp);

    assert_eq!(
        wait_for_status(&s, &id, ImageStatus::Queued).await,
        ImageStatus::Queued
    );
    assert_eq!(
        wait_for_files(&image_dir(&s), <[String]>::is_empty).await,
        Vec::<String>::new()
    );
    let img = image(&s, OWNER, &id).await;
    assert_eq!((img.size, img.checksum), (None, None));
    // And the image still takes an upload.
    let data = payload(10);
    upload(&s, OWNER, &id, &data).await;
    assert_holds(&s, OWNER, &id, &data).await;
}

/// The whole body sent, then the connection closed before the answer (a
/// client that gives up waiting): the upload may complete or be undone, but
/// the image must not be left `saving` with a temporary file.
#[tokio::test]
async fn a_client_that_leaves_after_sending_everything_leaves_no_upload_behind() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    let data = payload(4 << 20);
    let mut tcp = raw_upload(&s, &id, data.len()).await;
    tcp.write_all(&data).await.unwrap();
    tcp.flush().await.unwrap();
    // The upload has begun (saving, or already done) before the client
    // leaves, so `queued` below means undone, not not yet begun (the request
    // can reach the handler after the last byte is written, over TLS often).
    poll_status(&s, &id, |status| *status != ImageStatus::Queued).await;
    drop(tcp);

    let status = poll_status(&s, &id, |status| *status != ImageStatus::Saving).await;
    match status {
        ImageStatus::Active => assert_holds(&s, OWNER, &id, &data).await,
        ImageStatus::Queued => {
            let files = wait_for_files(&image_dir(&s), <[String]>::is_empty).await;
            assert_eq!(files, Vec::<String>::new());
        }
        other => panic!(
            "the image is left {other:?} with {:?} in the image directory",
            files_in(&image_dir(&s))
        ),
    }
    // Either way it is not stuck: it has data, or it takes an upload.
    if status == ImageStatus::Queued {
        upload(&s, OWNER, &id, b"again").await;
    }
    let (status, _, _) = get_file(&s, OWNER, &id, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_body_that_fails_mid_upload_leaves_the_image_queued() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    let chunks: Vec<std::io::Result<Vec<u8>>> = vec![
        Ok(payload(64 * 1024)),
        Ok(payload(64 * 1024)),
        Err(std::io::Error::other(
            "the disk the client reads from failed",
        )),
    ];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c
    }));
    let sent = s.client(OWNER).upload_image_data(&id, None, body).await;
    assert!(sent.is_err(), "the client's own body failed");

    assert_eq!(
        wait_for_status(&s, &id, ImageStatus::Queued).await,
        ImageStatus::Queued
    );
    assert_eq!(
        wait_for_files(&image_dir(&s), <[String]>::is_empty).await,
        Vec::<String>::new()
    );
    let (status, _, _) = get_file(&s, OWNER, &id, None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn deleting_the_image_removes_its_data() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    let kept = s.shared_image().await;
    upload(&s, OWNER, &id, &payload(2048)).await;
    upload(&s, OWNER, &kept, &payload(10)).await;
    let file = image_dir(&s).join(&id);
    assert!(file.exists());

    let rsp = s
        .client(OWNER)
        .delete_image(&id, None, &Default::default())
        .await;
    assert_eq!(status_of(&rsp), 204);
    assert!(!file.exists(), "the data outlived its image");
    assert_eq!(files_in(&image_dir(&s)), [kept.as_str()]);
    let (status, _, _) = get_file(&s, OWNER, &id, None).await;
    assert_eq!(status, 404);

    // Deleted while its upload runs: the upload fails and keeps nothing.
    let id = s.shared_image().await;
    let (body, release) = gated_body(&payload(2000), 1000);
    let uploading = tokio::spawn({
        let client = s.client(OWNER);
        let id = id.clone();
        async move { failure(client.upload_image_data(&id, None, body).await) }
    });
    assert_eq!(
        wait_for_status(&s, &id, ImageStatus::Saving).await,
        ImageStatus::Saving
    );
    let rsp = s
        .client(OWNER)
        .delete_image(&id, None, &Default::default())
        .await;
    assert_eq!(status_of(&rsp), 204);
    release.send(()).unwrap();
    let (status, err) = uploading.await.unwrap();
    assert_eq!((status, err.code), (404, ErrorCode::Img0086));
    assert_eq!(files_in(&image_dir(&s)), [kept]);
}

#[tokio::test]
async fn who_may_upload_and_download() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    s.add(&id, PROJECT_B).await;
    let put = |token: &'static str| {
        let client = s.client(token);
        let id = id.clone();
        async move {
            failure(
                client
                    .upload_image_data(&id, None, b"not yours".to_vec())
                    .await,
            )
        }
    };

    // A member (pending or accepted) and the owner's reader: policy, 403.
    let (status, err) = put(MEMBER).await;
    assert_eq!((status, err.code), (403, ErrorCode::Img0026));
    s.set_status(MEMBER, &id, PROJECT_B, MemberStatus::Accepted)
        .await;
    for token in [MEMBER, MEMBER_READER, OWNER_READER] {
        let (status, err) = put(token).await;
        assert_eq!((status, err.code), (403, ErrorCode::Img0026), "{token}");
    }
    // A stranger does not see the image: 404, both ways.
    let (status, err) = put(STRANGER).await;
    assert_eq!((status, err.code), (404, ErrorCode::Img0086));
    let (status, err) = download_failure(s.client(STRANGER).download_image_data(&id, None).await);
    assert_eq!((status, err.code), (404, ErrorCode::Img0086));
    // No token: 401.
    let (status, _) = failure(
        s.anonymous()
            .upload_image_data(&id, None, b"x".to_vec())
            .await,
    );
    assert_eq!(status, 401);
    // Nothing of the refused uploads was kept.
    assert_eq!(image(&s, OWNER, &id).await.status, ImageStatus::Queued);
    assert_eq!(files_in(&image_dir(&s)), Vec::<String>::new());

    // An admin may upload to any image; readers may download.
    let data = payload(4096);
    upload(&s, ADMIN, &id, &data).await;
    for token in [ADMIN, OWNER, OWNER_READER, MEMBER, MEMBER_READER] {
        assert_holds(&s, token, &id, &data).await;
    }
    let (status, _) = download_failure(s.client(STRANGER).download_image_data(&id, None).await);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_megabyte_and_more_streams_both_ways() {
    let s = TestServer::start().await;
    let id = s.shared_image().await;
    let data = payload((1 << 20) + 12_345);
    let rsp = s
        .client(OWNER)
        .upload_image_data(
            &id,
            None,
            slow_body(data.clone(), 64 * 1024, Duration::ZERO),
        )
        .await;
    assert_eq!(status_of(&rsp), 204);
    assert_holds(&s, OWNER, &id, &data).await;
    assert!(std::fs::read(image_dir(&s).join(&id)).unwrap() == data);
    // A range across the server's 256 KiB read chunks.
    let (status, headers, body) = get_file(&s, OWNER, &id, Some("bytes=200000-800000")).await;
    assert_eq!(status, 206);
    assert_eq!(
        header(&headers, CONTENT_RANGE),
        format!("bytes 200000-800000/{}", data.len())
    );
    assert!(body == data[200_000..=800_000]);
}
