//! `wsbolt-axum-example [--tls-self-signed] [ADDR]`: serves the example app
//! (default 127.0.0.1:3000) and prints its URL. Ctrl-C (SIGINT) stops it
//! gracefully: room WebSockets are closed with 1001.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut tls = false;
    let mut addr = "127.0.0.1:3000".to_string();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--tls-self-signed" => tls = true,
            other => addr = other.to_string(),
        }
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    let shutdown = wsbolt_axum_example::Shutdown::default();
    let app = wsbolt_axum_example::app_with(Default::default(), shutdown.clone());
    if tls {
        let acceptor = wsbolt_axum_example::self_signed_tls().map_err(std::io::Error::other)?;
        println!("https://{local}/");
        tokio::select! {
            () = wsbolt_axum_example::serve_tls(listener, app, acceptor) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    } else {
        println!("http://{local}/");
        // Stops accepting at Ctrl-C and waits for plain HTTP requests in
        // flight; WebSockets are handed over and not waited for by axum.
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
    }
    // Close the room WebSockets with 1001 and give them 5 s to finish.
    shutdown.trigger();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.finished()).await;
    Ok(())
}
