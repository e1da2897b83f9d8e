// Handlers written as axum's documentation writes them for
// `axum::extract::ws`. tests/axum_compat.rs compiles this file twice: once
// with `ws` = `axum::extract::ws`, once with `ws` = `wsbolt::axum`. Nothing
// below may name either crate's WebSocket module directly; the `use` lines
// are the only difference, which is the promise under test.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ws::rejection::WebSocketUpgradeRejection;
use ws::{close_code, CloseCode, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};

/// The routes, one per shape of axum's docs.
pub fn app() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/proto", any(proto))
        .route("/split", any(split))
        .route("/info", any(info))
        .route("/settings", any(settings))
        .route("/reject", any(reject))
        .route("/ping", any(ping))
        .route("/close", any(close))
}

// axum's first example: `recv` until the end, `send` back.
async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(handle_socket)
}

async fn handle_socket(mut socket: WebSocket) {
    while let Some(msg) = socket.recv().await {
        let msg = if let Ok(msg) = msg {
            msg
        } else {
            // client disconnected
            return;
        };
        if matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            continue;
        }
        if socket.send(msg).await.is_err() {
            // client disconnected
            return;
        }
    }
}

// `protocols`, `protocol()`, a `CloseFrame` built with a struct literal.
async fn proto(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["graphql-ws", "graphql-transport-ws"])
        .on_upgrade(|mut socket| async move {
            let chosen: Option<&HeaderValue> = socket.protocol();
            let name = chosen.map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            socket.send(Message::Text(format!("protocol={name}").into())).await.unwrap();
            let frame = CloseFrame {
                code: close_code::NORMAL,
                reason: Utf8Bytes::from_static("bye"),
            };
            socket.send(Message::Close(Some(frame))).await.unwrap();
            // Wait for the client's Close (or the end).
            while let Some(Ok(_)) = socket.recv().await {}
        })
}

// axum's split example: `StreamExt::split`, sink first, a task for each half.
async fn split(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|socket| async {
        let (sender, receiver) = socket.split();
        let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
        let writer = tokio::spawn(write(sender, rx));
        let reader = tokio::spawn(read(receiver, tx));
        let _ = reader.await;
        let _ = writer.await;
    })
}

async fn read(mut receiver: SplitStream<WebSocket>, tx: tokio::sync::mpsc::Sender<String>) {
    while let Some(Ok(msg)) = receiver.next().await {
        match msg {
            Message::Text(t) => {
                let text: &str = t.as_str();
                if tx.send(text.to_uppercase()).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
}

async fn write(mut sender: SplitSink<WebSocket, Message>, mut rx: tokio::sync::mpsc::Receiver<String>) {
    while let Some(text) = rx.recv().await {
        if sender.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    let _ = sender
        .send(Message::Close(Some(CloseFrame {
            code: close_code::AWAY,
            reason: "reader done".into(),
        })))
        .await;
}

// `requested_protocols`, `set_selected_protocol`, `selected_protocol`.
async fn info(mut ws: WebSocketUpgrade) -> Response {
    let requested: Vec<String> = ws
        .requested_protocols()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    if let Some(last) = ws.requested_protocols().last().cloned() {
        ws.set_selected_protocol(last);
    }
    let selected = ws.selected_protocol().map(|v| v.to_str().unwrap().to_owned());
    ws.on_upgrade(move |mut socket| async move {
        let line = format!("requested={} selected={}", requested.join(","), selected.unwrap_or_default());
        let _ = socket.send(Message::text(line)).await;
        while let Some(Ok(_)) = socket.recv().await {}
    })
}

// Every setter of axum's extractor, then the echo.
async fn settings(ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1 << 20)
        .max_frame_size(1 << 20)
        .max_message_size(1024)
        .accept_unmasked_frames(false)
        .on_failed_upgrade(|error| eprintln!("upgrade failed: {error}"))
        .on_upgrade(handle_socket)
}

// The rejection as a value: a custom refusal for what is not a WebSocket.
async fn reject(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match ws {
        Ok(ws) => ws.on_upgrade(handle_socket),
        Err(rejection) => {
            let status: StatusCode = rejection.status();
            (StatusCode::IM_A_TEAPOT, format!("not a websocket ({})", status.as_u16())).into_response()
        }
    }
}

// Pings and pongs are messages too: the handler pings, sees the pong, and
// reports the client's pings.
async fn ping(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        socket.send(Message::Ping("are you there".into())).await.unwrap();
        while let Some(Ok(msg)) = socket.recv().await {
            let report = match msg {
                Message::Pong(payload) => format!("pong {}", String::from_utf8_lossy(&payload)),
                Message::Ping(payload) => format!("ping {}", String::from_utf8_lossy(&payload)),
                Message::Text(t) if t == "quiet" => String::from("ok"),
                _ => continue,
            };
            socket.send(Message::text(report)).await.unwrap();
        }
    })
}

// The message helpers: `to_text`, `into_text`, `into_data`, the `From`s,
// and a close code given as a bare `CloseCode`.
async fn close(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        let Some(Ok(first)) = socket.recv().await else { return };
        let text = first.to_text().unwrap().to_owned();
        let owned: Utf8Bytes = first.clone().into_text().unwrap();
        let data = first.into_data();
        let code: CloseCode = text.parse().unwrap_or(close_code::ERROR);
        let reply = Message::from(format!("{} {} {}", text, owned.len(), data.len()));
        socket.send(reply).await.unwrap();
        socket.send(Message::from(vec![1u8, 2, 3])).await.unwrap();
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(String::from("as asked")),
            })))
            .await;
        while let Some(Ok(_)) = socket.recv().await {}
    })
}
