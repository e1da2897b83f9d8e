//! The connection state machine, byte-exact: these bytes in, exactly these
//! events and these bytes out.

use std::time::{Duration, Instant};

use bytes::Bytes;
use wsbolt_proto::frame::OpCode;
use wsbolt_proto::{
    CloseCode, CloseFrame, Config, Connection, Event, Keepalive, ProtocolError, Role, SendError, State, Timeout,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as a client sends it (masked with KEY).
fn cframe(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&KEY);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    f
}

/// A frame as a server sends it (unmasked).
fn sframe(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    assert!(payload.len() < 126);
    f.push(payload.len() as u8);
    f.extend_from_slice(payload);
    f
}

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.next_event()).collect()
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Feeds a server `input` and expects it to fail with `err`, sending
/// exactly Close(`code`) and wanting the transport closed.
fn expect_failure(input: &[u8], err: ProtocolError, code: u16) {
    let mut s = server();
    s.receive(input);
    let evs = events(&mut s);
    assert_eq!(evs.last(), Some(&Event::Failed(err)), "{input:x?}");
    let mut expect = vec![0x88, 0x02];
    expect.extend_from_slice(&code.to_be_bytes());
    assert_eq!(s.output().take_all(), expect, "{input:x?}");
    assert_eq!(s.state(), State::Closed);
    assert!(s.wants_transport_closed());
    let st = s.close_status().unwrap();
    assert_eq!((st.code(), st.was_clean()), (CloseCode::new(code), false));
    // Nothing more is read or sent.
    s.receive(&cframe(0x81, b"late"));
    assert!(s.next_event().is_none());
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
    assert!(s.output().is_empty());
}

// ---- framing: 1002 -------------------------------------------------------

#[test]
fn frame_violations_close_with_1002() {
    use ProtocolError::*;
    expect_failure(&[0x81, 0x00], UnmaskedFrameFromClient, 1002);
    expect_failure(&cframe(0x91, b""), ReservedBits, 1002);
    expect_failure(&cframe(0xa1, b""), ReservedBits, 1002);
    expect_failure(&cframe(0xc1, b""), ReservedBits, 1002);
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        expect_failure(&cframe(0x80 | op, b""), ReservedOpcode(op), 1002);
    }
    expect_failure(&cframe(0x09, b""), FragmentedControlFrame, 1002);
    expect_failure(&cframe(0x89, &[0u8; 126]), ControlFrameTooLong, 1002);
    expect_failure(&[0x82, 0xfe, 0x00, 0x7d, 1, 2, 3, 4], NonMinimalLength, 1002);
    expect_failure(&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0], LengthTopBitSet, 1002);
    expect_failure(&cframe(0x00, b"x"), UnexpectedContinuation, 1002);
    let mut start_then_new = cframe(0x01, b"a");
    start_then_new.extend(cframe(0x81, b"b"));
    expect_failure(&start_then_new, ExpectedContinuation, 1002);
}

#[test]
fn a_client_refuses_masked_frames() {
    let mut c = Connection::with_mask_seed(Role::Client, Config::default(), 1);
    c.receive(&cframe(0x81, b"hi"));
    assert_eq!(events(&mut c), [Event::Failed(ProtocolError::MaskedFrameFromServer)]);
    // The client's Close is masked: 0x88, 0x82, 4-byte key, 2 masked bytes.
    let out = c.output().take_all();
    assert_eq!(out.len(), 8);
    assert_eq!(&out[..2], &[0x88, 0x82]);
    let code = [out[6] ^ out[2], out[7] ^ out[3]];
    assert_eq!(u16::from_be_bytes(code), 1002);
}

// ---- limits: 1009 ---------------------------------------------------------

#[test]
fn a_frame_over_max_frame_size_is_refused_at_its_header() {
    let mut s = Connection::new(Role::Server, Config::default().max_frame_size(1000));
    // Only the header of a 2^40-byte frame: refused without waiting for (or
    // allocating) the payload.
    s.receive(&[0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(
        events(&mut s),
        [Event::Failed(ProtocolError::FrameTooLarge {
            len: 1 << 40,
            max: 1000
        })]
    );
    assert_eq!(s.output().take_all(), [0x88, 0x02, 0x03, 0xf1]);
}

#[test]
fn the_fragment_crossing_max_message_size_is_refused_before_its_payload() {
    let mut s = Connection::new(Role::Server, Config::default().max_message_size(10));
    s.receive(&cframe(0x02, b"123456"));
    assert!(s.next_event().is_none());
    // The header of a 5-byte continuation (6 + 5 > 10) is enough.
    let f = cframe(0x80, b"789ab");
    s.receive(&f[..6]);
    assert_eq!(
        events(&mut s),
        [Event::Failed(ProtocolError::MessageTooLarge { max: 10 })]
    );
    assert_eq!(s.output().take_all(), [0x88, 0x02, 0x03, 0xf1]);
    // A single frame over the limit too.
    expect_failure_with(
        Config::default().max_message_size(3),
        &cframe(0x81, b"abcd"),
        ProtocolError::MessageTooLarge { max: 3 },
        1009,
    );
}

fn expect_failure_with(cfg: Config, input: &[u8], err: ProtocolError, code: u16) {
    let mut s = Connection::new(Role::Server, cfg);
    s.receive(input);
    assert_eq!(events(&mut s).last(), Some(&Event::Failed(err)));
    let mut expect = vec![0x88, 0x02];
    expect.extend_from_slice(&code.to_be_bytes());
    assert_eq!(s.output().take_all(), expect);
}

#[test]
fn endless_empty_continuations_hit_the_fragment_cap() {
    let cfg = Config::default().max_fragments(100);
    let mut input = cframe(0x01, b"");
    for _ in 0..150 {
        input.extend(cframe(0x00, b""));
    }
    expect_failure_with(cfg, &input, ProtocolError::TooManyFragments { max: 100 }, 1009);
}

// ---- UTF-8: 1007 ----------------------------------------------------------

#[test]
fn invalid_utf8_fails_at_the_first_bad_byte_even_mid_frame() {
    let mut s = server();
    // A 1000-byte text frame whose 3rd byte is invalid: only its first 8
    // bytes (header + 2 payload bytes... + the bad one) have arrived.
    let mut payload = vec![b'a'; 1000];
    payload[2] = 0xff;
    let f = cframe(0x81, &payload);
    s.receive(&f[..8 + 3]);
    assert_eq!(events(&mut s), [Event::Failed(ProtocolError::InvalidUtf8)]);
    assert_eq!(s.output().take_all(), [0x88, 0x02, 0x03, 0xef]);
}

#[test]
fn a_code_point_split_across_fragments_and_reads_is_accepted() {
    let euro = "€".as_bytes();
    let mut input = cframe(0x01, &euro[..1]);
    input.extend(cframe(0x00, &euro[1..2]));
    input.extend(cframe(0x80, &euro[2..]));
    for split in 0..input.len() {
        let mut s = server();
        s.receive(&input[..split]);
        s.receive(&input[split..]);
        assert_eq!(events(&mut s), [Event::Text("€".into())], "split {split}");
    }
}

#[test]
fn invalid_utf8_across_fragments_fails_before_the_message_ends() {
    // κόσμε then 0xf4 0x90 (above U+10FFFF): fails on the second fragment.
    let mut input = cframe(
        0x01,
        &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4],
    );
    input.extend(cframe(0x00, &[0x90]));
    expect_failure(&input, ProtocolError::InvalidUtf8, 1007);
    // Truncated at the end of the message.
    expect_failure(&cframe(0x81, &[0xce]), ProtocolError::InvalidUtf8, 1007);
}

// ---- close codes -----------------------------------------------------------

#[test]
fn every_valid_close_code_is_echoed_and_reported_clean() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
    ] {
        let mut s = server();
        s.receive(&cframe(0x88, &close_payload(code, b"bye")));
        let want = CloseFrame::new(code, "bye").unwrap();
        assert_eq!(events(&mut s), [Event::Close(Some(want))]);
        let mut echo = vec![0x88, 0x05];
        echo.extend_from_slice(&code.to_be_bytes());
        echo.extend_from_slice(b"bye");
        assert_eq!(s.output().take_all(), echo, "{code}");
        let st = s.close_status().unwrap();
        assert_eq!(
            (st.code(), st.reason(), st.was_clean()),
            (CloseCode::new(code), "bye", true)
        );
        assert_eq!(s.state(), State::Closed);
        assert!(s.wants_transport_closed(), "the server closes the TCP connection first");
    }
}

#[test]
fn every_invalid_close_code_fails_with_1002() {
    for code in [
        0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        expect_failure(
            &cframe(0x88, &close_payload(code, b"")),
            ProtocolError::InvalidCloseCode(code),
            1002,
        );
    }
}

#[test]
fn a_one_byte_close_payload_fails_with_1002() {
    expect_failure(&cframe(0x88, &[0x03]), ProtocolError::InvalidClosePayload, 1002);
}

#[test]
fn an_invalid_utf8_reason_fails_with_1007() {
    expect_failure(
        &cframe(0x88, &close_payload(1000, &[0xce, 0xba, 0xe1, 0xbd])),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn a_close_payload_over_125_bytes_fails_with_1002() {
    expect_failure(
        &cframe(0x88, &close_payload(1000, &[b'a'; 124])),
        ProtocolError::ControlFrameTooLong,
        1002,
    );
}

#[test]
fn an_empty_close_is_answered_empty_and_reported_as_1005() {
    let mut s = server();
    s.receive(&cframe(0x88, b""));
    assert_eq!(events(&mut s), [Event::Close(None)]);
    assert_eq!(s.output().take_all(), [0x88, 0x00]);
    assert_eq!(s.close_status().unwrap().code(), CloseCode::NO_STATUS);
}

#[test]
fn codes_that_may_not_be_sent_are_refused_locally() {
    for code in [1004u16, 1005, 1006, 1015, 999, 5000] {
        assert_eq!(CloseFrame::new(code, ""), Err(SendError::InvalidCloseCode(code)));
        // A CloseFrame's fields are private: `new` is the only way to build
        // one, so an invalid frame cannot reach `close`.
    }
    assert_eq!(
        CloseFrame::new(1000u16, "x".repeat(124)),
        Err(SendError::ReasonTooLong(124))
    );
}

#[test]
fn local_close_then_peer_close_completes_cleanly() {
    let mut s = server();
    s.close(Some(CloseFrame::new(1000u16, "done").unwrap())).unwrap();
    assert_eq!(s.output().take_all(), [0x88, 0x06, 0x03, 0xe8, b'd', b'o', b'n', b'e']);
    assert_eq!(s.state(), State::Closing);
    assert_eq!(s.send_text("more"), Err(SendError::Closed));
    assert_eq!(s.close(None), Err(SendError::Closed));
    // Data the peer sent before it saw our Close is still delivered.
    s.receive(&cframe(0x81, b"late"));
    s.receive(&cframe(0x88, &close_payload(1000, b"")));
    assert_eq!(
        events(&mut s),
        [
            Event::Text("late".into()),
            Event::Close(Some(CloseFrame::new(1000u16, "").unwrap()))
        ]
    );
    assert!(s.output().is_empty(), "no second Close");
    assert_eq!(s.state(), State::Closed);
    assert!(s.close_status().unwrap().was_clean());
}

#[test]
fn nothing_after_a_peer_close_is_processed() {
    let mut s = server();
    let mut input = cframe(0x88, &close_payload(1001, b""));
    input.extend(cframe(0x81, b"after"));
    input.extend(cframe(0x89, b"ping"));
    s.receive(&input);
    assert_eq!(
        events(&mut s),
        [Event::Close(Some(CloseFrame::new(1001u16, "").unwrap()))]
    );
    assert_eq!(s.output().take_all(), [0x88, 0x02, 0x03, 0xe9]);
}

#[test]
fn answers_leave_before_the_close_that_followed_the_messages() {
    // Autobahn 3.2: a message, then a bad frame, in one read. The echo of the
    // message must go out before the Close 1002.
    let mut s = server();
    let mut input = cframe(0x81, b"Hello");
    input.extend(cframe(0xa1, b"bad"));
    s.receive(&input);
    let Some(Event::Text(t)) = s.next_event() else { panic!() };
    s.send_text(&t).unwrap();
    assert_eq!(s.next_event(), Some(Event::Failed(ProtocolError::ReservedBits)));
    assert_eq!(
        s.output().take_all(),
        [0x81, 0x05, b'H', b'e', b'l', b'l', b'o', 0x88, 0x02, 0x03, 0xea]
    );
}

#[test]
fn a_client_waits_for_the_server_to_close_the_tcp_connection() {
    let mut c = Connection::with_mask_seed(Role::Client, Config::default(), 3);
    c.receive(&sframe(0x88, &close_payload(1000, b"")));
    assert_eq!(
        c.next_event(),
        Some(Event::Close(Some(CloseFrame::new(1000u16, "").unwrap())))
    );
    c.output().take_all();
    assert_eq!(c.state(), State::Closed);
    assert!(!c.wants_transport_closed(), "RFC 6455 §7.1.1: the server closes first");
    c.receive_eof();
    assert!(c.wants_transport_closed());
    assert!(c.close_status().unwrap().was_clean());
}

#[test]
fn eof_without_close_is_abnormal_1006() {
    let mut s = server();
    s.receive(&cframe(0x01, b"partial"));
    s.receive_eof();
    let st = s.close_status().unwrap();
    assert_eq!((st.code(), st.was_clean()), (CloseCode::ABNORMAL, false));
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
}

// ---- messages, pings -------------------------------------------------------

#[test]
fn fragmented_messages_with_interleaved_pings() {
    let mut s = server();
    let mut input = cframe(0x01, b"Hel");
    input.extend(cframe(0x89, b"p"));
    input.extend(cframe(0x80, b"lo"));
    s.receive(&input);
    assert_eq!(
        events(&mut s),
        [Event::Ping(Bytes::from_static(b"p")), Event::Text("Hello".into())]
    );
    assert_eq!(s.output().take_all(), [0x8a, 0x01, b'p']);
}

#[test]
fn the_same_stream_split_anywhere_gives_the_same_events() {
    let mut input = Vec::new();
    for i in 0..20u8 {
        input.extend(cframe(0x82, &vec![i; i as usize * 13]));
        input.extend(cframe(0x81, "héllo wörld".as_bytes()));
    }
    let mut whole = server();
    whole.receive(&input);
    let want = events(&mut whole);
    assert_eq!(want.len(), 40);
    for split in (0..input.len()).step_by(7) {
        let mut s = server();
        s.receive(&input[..split]);
        s.receive(&input[split..]);
        assert_eq!(events(&mut s), want, "split {split}");
    }
    let mut bytewise = server();
    for b in &input {
        bytewise.receive(std::slice::from_ref(b));
    }
    assert_eq!(events(&mut bytewise), want);
}

#[test]
fn server_output_is_unmasked_and_minimal() {
    let mut s = server();
    s.send_binary(&[7u8; 126]).unwrap();
    let out = s.output().take_all();
    assert_eq!(&out[..4], &[0x82, 0x7e, 0x00, 0x7e]);
    s.send_fragment(OpCode::Text, b"a", false).unwrap();
    assert_eq!(s.send_text("b"), Err(SendError::FragmentOutOfOrder));
    s.send_fragment(OpCode::Continuation, b"b", true).unwrap();
    assert_eq!(s.output().take_all(), [0x01, 0x01, b'a', 0x80, 0x01, b'b']);
    assert_eq!(s.ping(&[0u8; 126]), Err(SendError::ControlPayloadTooLong(126)));
}

#[test]
fn large_payloads_are_shared_not_copied() {
    let mut s = server();
    let big = Bytes::from(vec![1u8; 100_000]);
    s.send(wsbolt_proto::Message::Binary(big.clone())).unwrap();
    let mut slices = [std::io::IoSlice::new(&[]); 4];
    let n = s.output().chunks_vectored(&mut slices);
    assert_eq!(n, 2, "header and payload as separate slices");
    assert_eq!(slices[1].as_ptr(), big.as_ptr(), "the payload is the caller's buffer");
}

// ---- timers ------------------------------------------------------------------

#[test]
fn close_timeout_drops_a_peer_that_never_answers() {
    let mut s = server();
    let t0 = Instant::now();
    s.close(None).unwrap();
    s.output().take_all();
    // The Close was queued without a time: the timer is due at once (no
    // clock yet, so nothing to report), and the next time passed in starts it.
    assert_eq!(s.poll_timeout(), None);
    assert!(!s.handle_timeout(t0));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // Asking only reads.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    assert!(!s.handle_timeout(t0 + Duration::from_secs(9)));
    assert_eq!(s.state(), State::Closing);
    assert!(s.handle_timeout(t0 + Duration::from_secs(10)));
    assert_eq!(events(&mut s), [Event::TimedOut(Timeout::Close)]);
    assert_eq!(s.state(), State::Closed);
    assert!(s.wants_transport_closed());
    let st = s.close_status().unwrap();
    assert_eq!((st.code(), st.was_clean()), (CloseCode::ABNORMAL, false));
    assert_eq!(st.sent().map(|f| f.code()), Some(CloseCode::NO_STATUS));
    assert_eq!(st.received(), None);
}

#[test]
fn keepalive_pings_when_quiet_measures_rtt_and_fails_without_pong() {
    let ka = Keepalive::new(Duration::from_secs(30), Duration::from_secs(5));
    let mut c = Connection::with_mask_seed(Role::Client, Config::default().keepalive(Some(ka)), 9);
    let t0 = Instant::now();
    assert_eq!(c.poll_timeout(), None, "no time passed in yet");
    c.handle_timeout(t0);
    assert_eq!(c.poll_timeout(), Some(t0 + ka.interval));
    // Activity pushes the ping back; it is dated by the next time passed in.
    c.receive(&sframe(0x81, b"x"));
    c.next_event();
    let t1 = t0 + Duration::from_secs(20);
    assert_eq!(c.poll_timeout(), Some(t0), "undated input is due at once");
    assert!(!c.handle_timeout(t1));
    assert_eq!(c.poll_timeout(), Some(t1 + ka.interval));
    // Quiet: a ping goes out, with the keepalive's tagged payload, masked.
    let t2 = t1 + ka.interval;
    assert!(c.handle_timeout(t2));
    let out = c.output().take_all();
    assert_eq!(&out[..2], &[0x89, 0x90]);
    let payload: Vec<u8> = out[6..].iter().enumerate().map(|(i, b)| b ^ out[2 + i % 4]).collect();
    let mut want = b"wsbolt-k".to_vec();
    want.extend_from_slice(&1u64.to_be_bytes());
    assert_eq!(payload, want);
    assert_eq!(c.poll_timeout(), Some(t2 + ka.timeout));
    // An application's own pong with an 8-byte counter payload is delivered.
    c.receive(&sframe(0x8a, &1u64.to_be_bytes()));
    assert_eq!(events(&mut c), [Event::Pong(1u64.to_be_bytes().to_vec().into())]);
    // The keepalive's pong comes back 40 ms later: RTT measured, not delivered.
    c.receive(&sframe(0x8a, &want));
    assert_eq!(events(&mut c), []);
    c.handle_timeout(t2 + Duration::from_millis(40));
    assert_eq!(c.keepalive_rtt(), Some(Duration::from_millis(40)));
    // Next ping gets no pong: Close 1011 and the transport dropped.
    let t3 = t2 + Duration::from_millis(40) + ka.interval;
    c.handle_timeout(t3);
    c.output().take_all();
    c.handle_timeout(t3 + ka.timeout);
    assert_eq!(events(&mut c), [Event::TimedOut(Timeout::Keepalive)]);
    let out = c.output().take_all();
    let code: Vec<u8> = out[6..].iter().enumerate().map(|(i, b)| b ^ out[2 + i % 4]).collect();
    assert_eq!(code, 1011u16.to_be_bytes());
    assert!(c.wants_transport_closed());
    // What the status says agrees with what was sent: 1011, not clean,
    // nothing received.
    let st = c.close_status().unwrap();
    assert_eq!((st.code(), st.was_clean()), (CloseCode::INTERNAL_ERROR, false));
    assert_eq!(st.sent().map(|f| f.code()), Some(CloseCode::INTERNAL_ERROR));
    assert_eq!(st.received(), None);
}

#[test]
fn the_close_timeout_drops_the_transport_even_with_output_unwritten() {
    let mut s = server();
    s.send_binary(&[0u8; 1000]).unwrap();
    s.close(None).unwrap();
    let t0 = Instant::now();
    s.handle_timeout(t0);
    assert!(!s.wants_transport_closed());
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert!(!s.output().is_empty(), "the peer never read it");
    assert!(
        s.wants_transport_closed(),
        "a peer that does not read cannot hold the connection"
    );
}

/// A broadcast frames its message once: every connection queues a reference
/// to the same bytes, which equal what `send` would have framed.
#[test]
fn a_prepared_message_is_framed_once_and_shared() {
    use wsbolt_proto::{Message, PreparedMessage};
    for msg in [Message::text("hello everyone"), Message::binary(vec![7u8; 70_000])] {
        let prepared = PreparedMessage::new(&msg).unwrap();
        let mut expected = Connection::new(Role::Server, Config::default());
        expected.send(msg.clone()).unwrap();
        let expected = expected.output().take_all();
        let mut ptrs = Vec::new();
        for _ in 0..3 {
            let mut c = Connection::new(Role::Server, Config::default());
            c.send_prepared(&prepared).unwrap();
            let chunks = c.output().take_chunks();
            assert_eq!(chunks.len(), 1);
            assert_eq!(chunks[0][..], expected[..]);
            ptrs.push(chunks[0].as_ptr());
        }
        assert!(
            ptrs.iter().all(|p| *p == prepared.frame().as_ptr()),
            "copied instead of shared"
        );
    }
    assert!(PreparedMessage::new(&Message::Ping(Default::default())).is_none());
    let prepared = PreparedMessage::new(&Message::text("x")).unwrap();
    let mut client = Connection::new(Role::Client, Config::default());
    assert_eq!(
        client.send_prepared(&prepared),
        Err(wsbolt_proto::SendError::PreparedOnClient)
    );
    let mut closed = Connection::new(Role::Server, Config::default());
    closed.close(None).unwrap();
    assert_eq!(closed.send_prepared(&prepared), Err(wsbolt_proto::SendError::Closed));
}

/// A server's small frames (framed by a shortcut) are byte for byte what
/// `FrameHeader::encode` gives, for every kind of frame and length up to 125.
#[test]
fn server_small_frames_match_the_header_encoder() {
    use wsbolt_proto::frame::{FrameHeader, MAX_HEADER_LEN};
    let expected = |opcode, fin, payload: &[u8]| {
        let header = FrameHeader {
            fin,
            rsv1: false,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut h);
        [&h[..n], payload].concat()
    };
    for len in [0, 1, 2, 20, 125, 126] {
        let payload = vec![0x5a; len];
        let mut c = Connection::new(Role::Server, Default::default());
        c.send_binary(&payload).unwrap();
        assert_eq!(
            c.output().take_all(),
            expected(OpCode::Binary, true, &payload),
            "binary {len}"
        );
        c.send_fragment(OpCode::Text, &payload, false).unwrap();
        assert_eq!(
            c.output().take_all(),
            expected(OpCode::Text, false, &payload),
            "first fragment {len}"
        );
        c.send_fragment(OpCode::Continuation, &payload, true).unwrap();
        assert_eq!(
            c.output().take_all(),
            expected(OpCode::Continuation, true, &payload),
            "last fragment {len}"
        );
        if len <= 125 {
            c.ping(&payload).unwrap();
            assert_eq!(
                c.output().take_all(),
                expected(OpCode::Ping, true, &payload),
                "ping {len}"
            );
            c.pong(&payload).unwrap();
            assert_eq!(
                c.output().take_all(),
                expected(OpCode::Pong, true, &payload),
                "pong {len}"
            );
        }
    }
}
