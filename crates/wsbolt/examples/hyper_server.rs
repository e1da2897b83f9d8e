//! A hyper 1.x server with a plain page and a WebSocket route on one port
//! (cargo feature `hyper`).
//!
//! ```text
//! cargo run -p wsbolt --features hyper --example hyper_server -- [ADDR]
//! ```
//!
//! `GET /` answers a line of text; `/ws` is a WebSocket echo; anything else
//! is 404. Prints `listening on http://ADDR`.

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

async fn route(mut req: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, hyper::Error> {
    let text = |status: u16, body: &'static str| {
        let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = http::StatusCode::from_u16(status).expect("a valid status");
        Ok(response)
    };
    match req.uri().path() {
        "/" => text(200, "a plain page; the WebSocket is at /ws\n"),
        "/ws" => match wsbolt::upgrade::upgrade(&mut req, &wsbolt::ServerConfig::default()) {
            Ok((response, pending)) => {
                // The response goes out first; hyper then hands the
                // connection over and `pending` resolves.
                tokio::spawn(async move {
                    let mut ws = pending.await?;
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_data() {
                            ws.send(msg).await?;
                        }
                    }
                    Ok::<_, wsbolt::Error>(())
                });
                Ok(response)
            }
            // Not a valid WebSocket request: its status (400, 426 …).
            Err(rejected) => Ok(rejected.into_response()),
        },
        _ => text(404, "not found\n"),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(route))
                // Without this hyper never hands the connection over.
                .with_upgrades();
            let _ = connection.await;
        });
    }
}
