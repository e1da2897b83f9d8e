//! Split read and write halves, used from different tasks, over real sockets.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use wsbolt::{CloseCode, CloseFrame, Error, Message};

async fn server_url<F, Fut>(handler: F) -> String
where
    F: FnOnce(wsbolt::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        handler(wsbolt::accept(tcp).await.unwrap()).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_server_echoes_from_two_tasks() {
    let url = server_url(|ws| async move {
        let (mut rd, mut wr) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                wr.send(m).await.unwrap();
            }
        });
        while let Some(Ok(m)) = rd.next().await {
            if matches!(m, Message::Text(_) | Message::Binary(_)) {
                tx.send(m).await.unwrap();
            }
        }
        drop(tx);
        writer.await.unwrap();
    })
    .await;
    let (ws, _) = wsbolt::connect(&url).await.unwrap();
    let (mut rd, mut wr) = ws.split();
    let n = 2000;
    let sender = tokio::spawn(async move {
        for i in 0..n {
            wr.send(Message::text(format!("{i}"))).await.unwrap();
        }
        wr.send(Message::binary(vec![7u8; 1 << 20])).await.unwrap();
        wr
    });
    for i in 0..n {
        assert_eq!(rd.next().await.unwrap().unwrap(), Message::text(format!("{i}")));
    }
    assert_eq!(rd.next().await.unwrap().unwrap(), Message::binary(vec![7u8; 1 << 20]));
    let mut wr = sender.await.unwrap();
    // Close from the write half; the read half sees the reply and ends.
    wr.close(Some(CloseFrame::new(1000u16, "bye").unwrap())).await.unwrap();
    assert_eq!(
        rd.next().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(1000u16, "bye").unwrap()))
    );
    assert!(rd.next().await.is_none());
    assert!(rd.close_status().unwrap().was_clean);
    assert!(matches!(
        wr.send(Message::text("late")).await,
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn a_read_half_alone_answers_pings_and_closes() {
    let url = server_url(|ws| async move {
        let (mut rd, _wr) = ws.split();
        // Only reads: pongs and the Close reply must still go out.
        while rd.next().await.is_some() {}
        assert_eq!(rd.close_status().unwrap().code, CloseCode(4001));
    })
    .await;
    let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
    ws.send(Message::Ping("p".into())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong("p".into()));
    ws.close(Some(CloseFrame::new(4001u16, "").unwrap())).await.unwrap();
    let st = ws.close_status().unwrap();
    assert_eq!((st.code.0, st.was_clean), (4001, true));
}
