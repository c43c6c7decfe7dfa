use clap::Parser;

// The request path allocates small, short-lived buffers; mimalloc serves
// them with less contention than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use imgshare_server::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    // Non-blocking, but lossless: under pressure the writer waits rather than
    // dropping access-log lines. The log thread writes whole batches (it
    // flushes after draining its queue), not one syscall per line.
    let (writer, _guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|e| {
        eprintln!(
            "invalid --log-level {:?}: {e}; using info",
            config.log_level
        );
        EnvFilter::new("info")
    });
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_ansi(false)
            .init(),
        // One JSON object per line, the event's fields at the top level
        // beside `timestamp`, `level`, `target` and `message`.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(writer)
            .init(),
    }

    let server = match imgshare_server::start(&config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    shutdown_signal(&server).await;
    tracing::info!("shutting down");
    if let Err(e) = server.close().await {
        tracing::error!("shutdown: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

/// Waits for SIGINT or SIGTERM; SIGHUP meanwhile reloads the TLS files.
async fn shutdown_signal(server: &imgshare_server::Server) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
        let mut hup = signal(SignalKind::hangup()).expect("installing SIGHUP handler");
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => return,
                _ = term.recv() => return,
                _ = hup.recv() => match server.reload_tls().await {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                    Err(e) => tracing::error!("SIGHUP: TLS reload failed, keeping the old pair: {e}"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = server;
        let _ = ctrl_c.await;
    }
}
