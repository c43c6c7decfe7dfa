//! The ceiling: a bare hyper HTTP/1.1 server answering every request with a
//! fixed body (the same bytes the members-list scenario returns), on the same
//! runtime shape as the real server. `imgshare-bench` reports our figures as a
//! fraction of this one.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let body: Bytes = match args.next() {
        Some(path) => std::fs::read(path).expect("body file").into(),
        None => Bytes::from_static(b"{\"ok\":true}"),
    };
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    println!("listening address={}", listener.local_addr().unwrap());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let body = body.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move {
                        let mut rsp = Response::new(Full::new(body));
                        rsp.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(rsp)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
