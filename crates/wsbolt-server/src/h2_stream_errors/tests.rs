//! The layer byte by byte: whatever the reads' sizes, h2 gets the peer's
//! bytes unchanged but for the frames judged, and our frames reach the peer
//! between h2's.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    push_frame(&mut f, kind, flags, stream, payload);
    f
}

/// Feeds `input` through the layer in reads of `step` bytes; returns what
/// h2 reads and what the peer receives when h2 then writes `h2_out` (in
/// writes of `step` bytes).
async fn run(input: &[u8], step: usize, h2_out: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut peer, ours) = tokio::io::duplex(1 << 20);
    let mut layer = StreamErrors::new(ours);
    for chunk in input.chunks(step) {
        peer.write_all(chunk).await.unwrap();
        peer.flush().await.unwrap();
        tokio::task::yield_now().await;
    }
    peer.shutdown().await.unwrap();
    let mut to_h2 = Vec::new();
    layer.read_to_end(&mut to_h2).await.unwrap();
    for chunk in h2_out.chunks(step) {
        layer.write_all(chunk).await.unwrap();
    }
    layer.flush().await.unwrap();
    drop(layer);
    let mut to_peer = Vec::new();
    peer.read_to_end(&mut to_peer).await.unwrap();
    (to_h2, to_peer)
}

#[tokio::test]
async fn ordinary_frames_pass_unchanged_whatever_the_read_sizes() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    input.extend(frame(HEADERS, 4, 1, b"\x82\x87"));
    input.extend(frame(DATA, 0, 1, &[7u8; 3000]));
    input.extend(frame(WINDOW_UPDATE, 0, 1, &[0, 0, 1, 0]));
    input.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0])); // h2's to judge
    input.extend(frame(DATA, END_STREAM, 1, b"end"));
    let h2_out = frame(DATA, 0, 1, &[9u8; 100]);
    for step in [1, 2, 5, 9, 13, 4096] {
        let (to_h2, to_peer) = run(&input, step, &h2_out).await;
        assert_eq!(to_h2, input, "reads of {step}");
        assert_eq!(to_peer, h2_out, "writes of {step}");
    }
}

#[tokio::test]
async fn a_zero_increment_on_an_open_stream_becomes_a_reset_both_ways() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, 4, 1, b"\x82"));
    let judged = frame(WINDOW_UPDATE, 0, 1, &[0x80, 0, 0, 0]); // reserved bit only
    input.extend(&judged);
    let late_data = frame(DATA, 0, 1, b"late");
    input.extend(&late_data);
    let after = frame(HEADERS, 4, 3, b"\x82");
    input.extend(&after);
    // h2 is half-way through a frame when the reset is made: ours waits.
    let h2_out = frame(DATA, 0, 3, &[5u8; 40]);
    for step in [1, 3, 9, 4096] {
        let (to_h2, to_peer) = run(&input, step, &h2_out).await;
        let mut want_h2 = PREFACE.to_vec();
        want_h2.extend(frame(HEADERS, 4, 1, b"\x82"));
        want_h2.extend(frame(RST_STREAM, 0, 1, &PROTOCOL_ERROR.to_be_bytes()));
        want_h2.extend(&after);
        assert_eq!(to_h2, want_h2, "reads of {step}");
        // The reset, the dropped DATA's credit, then h2's frame.
        let mut want_peer = frame(RST_STREAM, 0, 1, &PROTOCOL_ERROR.to_be_bytes());
        want_peer.extend(frame(WINDOW_UPDATE, 0, 0, &4u32.to_be_bytes()));
        want_peer.extend(&h2_out);
        assert_eq!(to_peer, want_peer, "writes of {step}");
    }
}

#[tokio::test]
async fn our_frames_wait_for_the_end_of_the_frame_h2_is_writing() {
    let (mut peer, ours) = tokio::io::duplex(1 << 20);
    let mut layer = StreamErrors::new(ours);
    let h2_frame = frame(DATA, 0, 1, &[5u8; 40]);
    // h2 writes the first 20 bytes of its frame, then the reset is made.
    layer.write_all(&h2_frame[..20]).await.unwrap();
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, 4, 1, b"\x82"));
    input.extend(frame(DATA, END_STREAM, 1, b""));
    input.extend(frame(DATA, 0, 1, b"x"));
    peer.write_all(&input).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while got.len() < PREFACE.len() + 9 + 1 + 9 + 9 {
        let n = layer.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    layer.write_all(&h2_frame[20..]).await.unwrap();
    layer.flush().await.unwrap();
    drop(layer);
    let mut to_peer = Vec::new();
    peer.read_to_end(&mut to_peer).await.unwrap();
    let mut want = h2_frame.clone();
    want.extend(frame(WINDOW_UPDATE, 0, 0, &1u32.to_be_bytes()));
    want.extend(frame(RST_STREAM, 0, 1, &STREAM_CLOSED.to_be_bytes()));
    assert_eq!(to_peer, want);
}

#[tokio::test]
async fn a_zero_increment_on_a_closed_stream_is_dropped_quietly() {
    let (mut peer, ours) = tokio::io::duplex(1 << 20);
    let mut layer = StreamErrors::new(ours);
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, 4 | END_STREAM, 1, b"\x82"));
    peer.write_all(&input).await.unwrap();
    let mut got = vec![0u8; input.len()];
    layer.read_exact(&mut got).await.unwrap();
    assert_eq!(got, input);
    // h2 answers and ends the stream: it is closed both ways.
    let answer = frame(HEADERS, 4 | END_STREAM, 1, b"\x88");
    layer.write_all(&answer).await.unwrap();
    let after = frame(HEADERS, 4, 3, b"\x82");
    let mut more = frame(WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0]);
    more.extend(&after);
    peer.write_all(&more).await.unwrap();
    peer.shutdown().await.unwrap();
    let mut rest = Vec::new();
    layer.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, after, "h2 never sees the zero increment");
    drop(layer);
    let mut to_peer = Vec::new();
    peer.read_to_end(&mut to_peer).await.unwrap();
    assert_eq!(to_peer, answer, "nothing is sent on the closed stream");
}
