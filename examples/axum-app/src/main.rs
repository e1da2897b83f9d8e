//! `wsbolt-axum-example [--tls-self-signed] [ADDR]`: serves the example app
//! (default 127.0.0.1:3000) and prints its URL.

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
    let app = wsbolt_axum_example::app();
    if tls {
        let acceptor = wsbolt_axum_example::self_signed_tls().map_err(std::io::Error::other)?;
        println!("https://{local}/");
        wsbolt_axum_example::serve_tls(listener, app, acceptor).await;
        Ok(())
    } else {
        println!("http://{local}/");
        axum::serve(listener, app).await
    }
}
