//! The accept layer: connection limits dropshot 0.18 cannot apply itself.
//!
//! dropshot binds and accepts on its own listener and hands each connection
//! to hyper-util with no hook in between: no cap on connections, no timeout
//! for a connection that never sends a byte (hyper-util waits for the first
//! bytes to tell HTTP/1 from HTTP/2 with no deadline), none for a body that
//! stalls, and its accept errors go to the slog logger only. So the public
//! address is ours: dropshot listens on a private loopback port, and each
//! accepted connection is
//!
//! * refused at once, with a 503 in the API's envelope, when
//!   `max_connections` are open (the others keep being served);
//! * closed, without ever reaching dropshot, when it sends nothing within
//!   `idle_timeout` (one descriptor held meanwhile, no buffers);
//! * otherwise relayed byte for byte to dropshot (TLS too: dropshot
//!   terminates it), and closed as soon as no byte has moved either way for
//!   `idle_timeout`: an idle keep-alive connection, a stalled body, a reader
//!   that stopped reading.
//!
//! Accept errors (EMFILE and the like) are logged, at most one line a
//! second, with the count of those not logged.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};

/// What the layer enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once; past it, new ones get 503 and are closed.
    pub max_connections: usize,
    /// A connection on which no byte moves for this long is closed.
    pub idle_timeout: Duration,
    /// The port speaks TLS: a refused connection is closed without an
    /// answer (this layer does not speak TLS; dropshot behind it does).
    pub tls: bool,
}

/// The running layer.
pub struct AcceptLayer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    open: Arc<AtomicUsize>,
}

impl AcceptLayer {
    /// Binds `bind` (with a backlog fit for bursts) and relays to `backend`.
    /// Refusals are counted in `metrics`.
    pub fn start(
        bind: SocketAddr,
        backend: SocketAddr,
        limits: Limits,
        metrics: crate::metrics::Metrics,
    ) -> io::Result<Self> {
        let socket = if bind.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(bind)?;
        let listener = socket.listen(4096)?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let open = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            backend,
            limits,
            stopped,
            Arc::clone(&open),
            metrics,
        ));
        Ok(AcceptLayer {
            local_addr,
            stop,
            task,
            open,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The open-connections counter, for the metrics gauge.
    pub fn open_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.open)
    }

    /// Connections open now (relayed or waiting for their first byte).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Stops accepting and closes connections that have not sent a byte;
    /// relayed ones end when dropshot closes its side.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// At most one line a second; the lines held back are counted.
pub(crate) struct RateLimitedLog {
    state: Mutex<(Option<Instant>, u64)>,
    every: Duration,
}

impl RateLimitedLog {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimitedLog {
            state: Mutex::new((None, 0)),
            every,
        }
    }

    /// `Some(suppressed since the last line)` when a line may be written now.
    pub(crate) fn allow(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.every => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = std::mem::take(&mut state.1);
                state.0 = Some(now);
                Some(suppressed)
            }
        }
    }
}

/// Refusals answered at once; past this many in flight, refused connections
/// are just closed.
const REFUSALS_IN_FLIGHT: usize = 256;

async fn accept_loop(
    listener: TcpListener,
    backend: SocketAddr,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
    metrics: crate::metrics::Metrics,
) {
    let errors = RateLimitedLog::new(Duration::from_secs(1));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let refused_log = RateLimitedLog::new(Duration::from_secs(1));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stopped.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if let Some(suppressed) = errors.allow() {
                    tracing::warn!(error = %e, suppressed, "accept failed");
                }
                // Errors on the one connection (reset before accept) need
                // no pause; running out of descriptors or memory does.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionRefused
                ) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            metrics.connection_refused();
            if let Some(suppressed) = refused_log.allow() {
                tracing::warn!(
                    %peer,
                    max_connections = limits.max_connections,
                    suppressed,
                    "connection refused: too many open connections"
                );
            }
            if limits.tls {
                drop(stream);
            } else if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
            continue;
        }
        let guard = OpenGuard::new(Arc::clone(&open));
        let stopped = stopped.clone();
        tokio::spawn(async move {
            serve(stream, backend, limits.idle_timeout, stopped).await;
            drop(guard);
        });
    }
}

/// Counts a connection as open until dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// 503 in the envelope, then close. What the client already sent is read
/// and dropped first (for up to a second), so the close is not a reset that
/// could destroy the answer before the client reads it.
async fn refuse(mut stream: TcpStream) {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let body = serde_json::json!({
        "error": {
            "code": crate::api::ErrorCode::Unavailable,
            "title": "Service Unavailable",
            "message": "The server has too many open connections; try again shortly.",
        }
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\
         x-openstack-request-id: {request_id}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        // An answer sent before the request is refused by HTTP clients
        // (hyper: "unexpected message"): wait for the request to begin.
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 0 {
            return Ok(());
        }
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

async fn serve(
    client: TcpStream,
    backend: SocketAddr,
    idle: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    // Nothing is held for a connection until it sends something. (Not
    // `readable()`: it is ready at once on a new socket with nothing to read.)
    let mut first = [0u8; 1];
    tokio::select! {
        r = tokio::time::timeout(idle, client.peek(&mut first)) => match r {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                tracing::debug!("closed a connection that sent nothing");
                return;
            }
        },
        _ = stopped.changed() => return,
    }
    let server = match TcpStream::connect(backend).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the HTTP server behind the accept layer");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    relay(client, server, idle).await;
}

/// Bytes both ways until both sides are done, an error, or `idle` without a
/// byte moving.
async fn relay(client: TcpStream, server: TcpStream, idle: Duration) {
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let touch = || {
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // The connection is over when the server's side ends (it answered and
    // closed, or failed); a client that only finished sending (half-close)
    // still gets its answer.
    let downstream = pump(server_read, client_write, &touch);
    let upstream = async {
        if pump(client_read, server_write, &touch).await.is_ok() {
            std::future::pending::<()>().await;
        }
    };
    let watchdog = async {
        loop {
            let since = Duration::from_millis(last.load(Ordering::Relaxed));
            let deadline = start + since + idle;
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            tokio::time::sleep(deadline - now).await;
        }
    };
    tokio::select! {
        _ = downstream => {}
        _ = upstream => {}
        _ = watchdog => tracing::debug!("closed a connection idle for {idle:?}"),
    }
}

/// One direction. The buffer starts small (most connections carry small
/// requests) and grows once a read fills it (uploads, downloads).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    touch: &impl Fn(),
) -> io::Result<()> {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        touch();
        to.write_all(&buf[..n]).await?;
        touch();
        if n == buf.len() && buf.len() < 256 * 1024 {
            buf.resize(buf.len() * 4, 0);
        }
    }
}

/// Raises the soft open-files limit to the hard one; returns (before, after).
pub fn raise_open_files_limit() -> io::Result<(u64, u64)> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if soft < hard {
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard)?;
    }
    let (after, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    Ok((soft, after))
}

/// dropshot's logger: its per-request lines are dropped (the access log is
/// ours, written through tracing, and dropshot's own halves throughput);
/// its accept and TLS-handshake failures are passed on to tracing, at most
/// one line a second.
pub fn dropshot_logger() -> slog::Logger {
    slog::Logger::root(
        AcceptErrors(RateLimitedLog::new(Duration::from_secs(1))),
        slog::o!(),
    )
}

struct AcceptErrors(RateLimitedLog);

impl slog::Drain for AcceptErrors {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        if record.level().is_at_least(slog::Level::Warning) {
            let message = record.msg().to_string();
            if message.contains("accept") {
                if let Some(suppressed) = self.0.allow() {
                    tracing::warn!(target: "dropshot", suppressed, "{message}");
                }
            }
        }
        Ok(())
    }
}

/// The TLS configuration from a PEM certificate chain and key, or why not:
/// unreadable files, no certificate, no key, or a key that is not the
/// certificate's. Built here and handed to dropshot whole, because dropshot
/// panics on a mismatched pair (at start and on reload).
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading the TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading the TLS key {}: {e}", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| {
            format!(
                "the TLS key {} does not go with the certificate {}: {e}",
                key.display(),
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
