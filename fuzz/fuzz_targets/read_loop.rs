//! The async read loop of both roles (the server's also through the opening
//! handshake) over an in-memory transport that hands out the input in the
//! chunks the fuzzer chose, sometimes returns Pending, and takes writes in
//! small pieces. Properties: never a panic or a hang (time is paused, so the
//! close timeout passes at once), no message above the limit, and the same
//! messages whatever the split (including the bulk read path against the
//! scratch path: see the repeat bit below).
#![no_main]
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsbolt::{Config, Message, Role, ServerConfig, WebSocketStream};

const MAX_MESSAGE: usize = 16 * 1024;

struct Chunked {
    pieces: std::vec::IntoIter<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    stall: bool,
    write_piece: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        me.stall = !me.stall;
        if me.stall {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if me.pos == me.current.len() {
            match me.pieces.next() {
                Some(p) => (me.current, me.pos) = (p, 0),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = (me.current.len() - me.pos).min(buf.remaining());
        buf.put_slice(&me.current[me.pos..me.pos + n]);
        me.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Chunked {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len().min(self.write_piece)))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn config() -> Config {
    let mut cfg = Config::default();
    cfg.protocol.max_frame_size = 4096;
    cfg.protocol.max_message_size = MAX_MESSAGE;
    cfg.protocol.max_fragments = 64;
    cfg.protocol.close_timeout = Duration::from_secs(1);
    cfg.handshake_timeout = Duration::from_secs(1);
    cfg
}

fn run(ctl: u8, pieces: Vec<Vec<u8>>) -> Vec<Message> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let io = Chunked {
            pieces: pieces.into_iter(),
            current: Vec::new(),
            pos: 0,
            stall: false,
            write_piece: 1 + (ctl as usize >> 4) * 7,
        };
        let mut ws = match ctl & 3 {
            0 => WebSocketStream::from_raw(io, Role::Server, config(), &[]),
            1 => WebSocketStream::from_raw(io, Role::Client, config(), &[]),
            _ => {
                let mut sc = ServerConfig::default();
                sc.ws = config();
                if ctl & 4 == 0 {
                    sc.ws.deflate = None;
                }
                match wsbolt::accept_with_config(io, &sc).await {
                    Ok(ws) => ws,
                    Err(_) => return Vec::new(),
                }
            }
        };
        let mut got = Vec::new();
        while let Some(item) = ws.next().await {
            match item {
                Ok(msg) => {
                    assert!(msg.len() <= MAX_MESSAGE);
                    if ctl & 8 != 0 {
                        // Echo, to drive the write path too.
                        let _ = futures_util::SinkExt::send(&mut ws, msg.clone()).await;
                    }
                    got.push(msg);
                }
                Err(_) => break,
            }
        }
        got
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(([ctl, nsizes], rest)) = wsbolt_fuzz::split_control::<2>(data) else {
        return;
    };
    // The top bit of the second control byte repeats the stream 16 times and
    // hands the whole run two large pieces: reads of 16 KiB and more switch
    // the read loop to its bulk path (reads straight into the connection's
    // buffer), while the split run's small pieces keep it on the scratch path.
    let copies = if nsizes & 0x80 != 0 { 16 } else { 1 };
    let nsizes = (nsizes as usize % 8).min(rest.len());
    let (sizes, stream) = rest.split_at(nsizes);
    let stream = stream.repeat(copies);
    let whole = match copies {
        1 => vec![stream.clone()],
        _ => {
            let (a, b) = stream.split_at(stream.len() / 2);
            vec![a.to_vec(), b.to_vec()]
        }
    };
    let whole = run(ctl, whole);
    let split = run(ctl, wsbolt_fuzz::chunks(&stream, sizes).map(<[u8]>::to_vec).collect());
    assert_eq!(whole, split, "the same bytes split differently gave different messages");
});
