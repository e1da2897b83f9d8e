//! permessage-deflate: negotiation and frames, byte-exact (RFC 7692).

use wsbolt_proto::deflate::{accept_client, client_offer, negotiate_server, DeflateConfig, DeflateParams};
use wsbolt_proto::frame::OpCode;
use wsbolt_proto::handshake::HandshakeError;
use wsbolt_proto::{Config, Connection, Event, Message, ProtocolError, Role};

fn offer(v: &str) -> Option<(String, DeflateParams)> {
    negotiate_server(&[v.to_string()], &DeflateConfig::default())
}

fn offer_with(v: &str, cfg: &DeflateConfig) -> Option<(String, DeflateParams)> {
    negotiate_server(&[v.to_string()], cfg)
}

const DEFAULT: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

// ---- server negotiation ---------------------------------------------------

#[test]
fn plain_and_browser_offers() {
    assert_eq!(
        offer("permessage-deflate"),
        Some(("permessage-deflate".into(), DEFAULT))
    );
    // Chromium's offer: the server may limit the client's window; at 15 it need not say so.
    assert_eq!(
        offer("permessage-deflate; client_max_window_bits"),
        Some(("permessage-deflate".into(), DEFAULT))
    );
    assert_eq!(offer("x-webkit-deflate-frame"), None);
}

#[test]
fn each_parameter() {
    let (a, p) = offer("permessage-deflate; server_no_context_takeover").unwrap();
    assert_eq!(
        (a.as_str(), p.server_no_context_takeover),
        ("permessage-deflate; server_no_context_takeover", true)
    );
    let (a, p) = offer("permessage-deflate; client_no_context_takeover").unwrap();
    assert_eq!(
        (a.as_str(), p.client_no_context_takeover),
        ("permessage-deflate; client_no_context_takeover", true)
    );
    let (a, p) = offer("permessage-deflate; server_max_window_bits=10").unwrap();
    assert_eq!(
        (a.as_str(), p.server_max_window_bits),
        ("permessage-deflate; server_max_window_bits=10", 10)
    );
    let (a, p) = offer("permessage-deflate; client_max_window_bits=12").unwrap();
    assert_eq!(
        (a.as_str(), p.client_max_window_bits),
        ("permessage-deflate; client_max_window_bits=12", 12)
    );
    // Quoted values are values too.
    let (_, p) = offer("permessage-deflate; server_max_window_bits=\"11\"").unwrap();
    assert_eq!(p.server_max_window_bits, 11);
}

#[test]
fn window_bits_8_to_15_are_accepted_and_nothing_else() {
    for b in 8..=15u8 {
        let (a, p) = offer(&format!(
            "permessage-deflate; server_max_window_bits={b}; client_max_window_bits={b}"
        ))
        .unwrap();
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (b, b));
        assert_eq!(
            a,
            format!("permessage-deflate; server_max_window_bits={b}; client_max_window_bits={b}")
        );
    }
    for bad in ["7", "16", "08", "0", "abc", "", "9.5", "-9"] {
        assert_eq!(
            offer(&format!("permessage-deflate; server_max_window_bits={bad}")),
            None,
            "{bad:?}"
        );
        assert_eq!(
            offer(&format!("permessage-deflate; client_max_window_bits={bad}")),
            None,
            "{bad:?}"
        );
    }
    // server_max_window_bits needs a value.
    assert_eq!(offer("permessage-deflate; server_max_window_bits"), None);
}

#[test]
fn invalid_offers_are_declined() {
    for bad in [
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate;;",
        "permessage-deflate; server_max_window_bits=\"10",
    ] {
        assert_eq!(offer(bad), None, "{bad}");
    }
}

#[test]
fn the_first_acceptable_of_several_offers_wins() {
    let (a, p) =
        offer("permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=9, permessage-deflate").unwrap();
    assert_eq!(
        (a.as_str(), p.server_max_window_bits),
        ("permessage-deflate; server_max_window_bits=9", 9)
    );
    // Across header fields too.
    let offers = [
        "x-custom".to_string(),
        "permessage-deflate; client_no_context_takeover".to_string(),
    ];
    let (a, _) = negotiate_server(&offers, &DeflateConfig::default()).unwrap();
    assert_eq!(a, "permessage-deflate; client_no_context_takeover");
}

#[test]
fn server_configuration_bounds_the_windows() {
    let cfg = DeflateConfig::default()
        .server_max_window_bits(10)
        .client_max_window_bits(9);
    // The client's limit for the server is kept if smaller than ours.
    let (a, p) = offer_with(
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits",
        &cfg,
    )
    .unwrap();
    assert_eq!(
        a,
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"
    );
    assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (10, 9));
    // An offer that does not let the server limit the client (Firefox's) is
    // accepted with the client at 15 bits, and the answer does not name
    // the parameter (RFC 7692 §7.1.2.2)...
    let (a, p) = offer_with("permessage-deflate", &cfg).unwrap();
    assert_eq!(a, "permessage-deflate");
    assert_eq!(p.client_max_window_bits, 15);
    // ...unless another offer lets it choose: that one is preferred.
    let (a, _) = offer_with(
        "permessage-deflate, permessage-deflate; client_max_window_bits=15",
        &cfg,
    )
    .unwrap();
    assert_eq!(a, "permessage-deflate; client_max_window_bits=9");
    // A server that always resets its context says so unasked.
    let cfg = DeflateConfig::default().server_no_context_takeover(true);
    assert_eq!(
        offer_with("permessage-deflate", &cfg).unwrap().0,
        "permessage-deflate; server_no_context_takeover"
    );
}

#[test]
fn hostile_offers_cost_linear_time_and_are_declined() {
    let commas = format!("permessage-deflate{}", ",".repeat(8000));
    assert_eq!(offer(&commas).unwrap().0, "permessage-deflate");
    let dup = format!("permessage-deflate{}", "; server_no_context_takeover".repeat(300));
    assert_eq!(offer(&dup), None);
    let quoted = format!("permessage-deflate; x=\"{}\"", "\\a".repeat(4000));
    assert_eq!(offer(&quoted), None);
}

// ---- client negotiation ---------------------------------------------------

#[test]
fn client_offers_and_checks_answers() {
    let cfg = DeflateConfig::default();
    assert_eq!(client_offer(&cfg), "permessage-deflate; client_max_window_bits");
    let all = DeflateConfig::default()
        .server_max_window_bits(10)
        .client_max_window_bits(9)
        .server_no_context_takeover(true)
        .client_no_context_takeover(true);
    assert_eq!(
        client_offer(&all),
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
    );
    assert_eq!(accept_client(None, &cfg), Ok(None));
    assert_eq!(accept_client(Some("permessage-deflate"), &cfg), Ok(Some(DEFAULT)));
    let p = accept_client(
        Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9; client_no_context_takeover"),
        &cfg,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (
            p.server_max_window_bits,
            p.client_max_window_bits,
            p.client_no_context_takeover
        ),
        (10, 9, true)
    );
    let bad = [
        ("x-other", HandshakeError::UnofferedExtension("x-other".into())),
        (
            "permessage-deflate, permessage-deflate",
            HandshakeError::InvalidExtensionHeader,
        ),
        ("permessage-deflate; foo", HandshakeError::InvalidExtensionHeader),
        (
            "permessage-deflate; client_max_window_bits",
            HandshakeError::InvalidExtensionHeader,
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            HandshakeError::InvalidExtensionHeader,
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            HandshakeError::InvalidExtensionHeader,
        ),
        ("permessage-deflate; ;", HandshakeError::InvalidExtensionHeader),
    ];
    for (answer, err) in bad {
        assert_eq!(accept_client(Some(answer), &cfg), Err(err), "{answer}");
    }
    // A server may not exceed the window the client asked it to stay within,
    // nor ignore a requested server_no_context_takeover.
    assert_eq!(
        accept_client(Some("permessage-deflate; server_max_window_bits=12"), &all),
        Err(HandshakeError::InvalidExtensionHeader)
    );
    assert_eq!(
        accept_client(Some("permessage-deflate; server_max_window_bits=10"), &all),
        Err(HandshakeError::InvalidExtensionHeader)
    );
}

// ---- frames -----------------------------------------------------------------

fn client(params: DeflateParams, cfg: DeflateConfig) -> Connection {
    let mut c = Connection::with_mask_seed(Role::Client, Config::default(), 5);
    c.enable_deflate(params, cfg);
    c
}

fn server(params: DeflateParams, cfg: DeflateConfig, config: Config) -> Connection {
    let mut s = Connection::new(Role::Server, config);
    s.enable_deflate(params, cfg);
    s
}

fn mask(frame: &[u8]) -> Vec<u8> {
    // Turns an unmasked server frame (short length) into a masked client frame.
    let key = [1u8, 2, 3, 4];
    let mut out = vec![frame[0], frame[1] | 0x80];
    out.extend_from_slice(&key);
    out.extend(frame[2..].iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

#[test]
fn rfc_7692_examples_decode() {
    let mut c = client(DEFAULT, DeflateConfig::default());
    // §7.2.3.1 "Hello" compressed; §7.2.3.2 the same again, with the shared window.
    c.receive(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    c.receive(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    // §7.2.3.3 a stored (uncompressed) block.
    c.receive(&[
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ]);
    // §7.2.3.4 "Hello" in two compressed fragments.
    c.receive(&[0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    let evs: Vec<_> = std::iter::from_fn(|| c.next_event()).collect();
    assert_eq!(evs, vec![Event::Text("Hello".into()); 4]);
}

#[test]
fn compressed_round_trip_both_ways_with_and_without_context_takeover() {
    for nct in [false, true] {
        let params = DeflateParams {
            server_no_context_takeover: nct,
            client_no_context_takeover: nct,
            ..DEFAULT
        };
        let mut c = client(params, DeflateConfig::default());
        let mut s = server(params, DeflateConfig::default(), Config::default());
        let text = "the quick brown fox jumps over the lazy dog ".repeat(20);
        let mut sizes = Vec::new();
        for _ in 0..3 {
            c.send_text(&text).unwrap();
            let wire = c.output().take_all();
            assert_eq!(wire[0], 0xc1, "RSV1 and FIN on a compressed text frame");
            s.receive(&wire);
            assert_eq!(s.next_event(), Some(Event::Text(text.as_str().into())));
            s.send_text(&text).unwrap();
            let wire = s.output().take_all();
            sizes.push(wire.len());
            c.receive(&wire);
            assert_eq!(c.next_event(), Some(Event::Text(text.as_str().into())));
        }
        if nct {
            assert!(
                sizes.iter().all(|&n| n == sizes[0]),
                "reset context: same bytes each time {sizes:?}"
            );
        } else {
            assert!(sizes[1] < sizes[0], "shared context: repeats are cheaper {sizes:?}");
        }
    }
}

#[test]
fn streamed_fragments_are_compressed_as_one_message() {
    let mut c = client(DEFAULT, DeflateConfig::default());
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    c.send_fragment(OpCode::Binary, b"abcabcabc", false).unwrap();
    c.send_fragment(OpCode::Continuation, b"abcabc", false).unwrap();
    c.send_fragment(OpCode::Continuation, b"", true).unwrap();
    let wire = c.output().take_all();
    assert_eq!(wire[0], 0x42, "RSV1 on the first fragment");
    s.receive(&wire);
    assert_eq!(s.next_event(), Some(Event::Binary(b"abcabcabcabcabc"[..].into())));
}

#[test]
fn threshold_opt_out_and_8_bit_windows_send_uncompressed() {
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    s.send_text("short").unwrap();
    assert_eq!(s.output().take_all(), [0x81, 0x05, b's', b'h', b'o', b'r', b't']);
    let long = "x".repeat(200);
    s.send_with(Message::text(long.as_str()), false).unwrap();
    assert_eq!(s.output().take_all()[0], 0x81);
    // The client allowed the server only an 8-bit window: zlib cannot, so
    // the server sends uncompressed (and still inflates what it receives).
    let p8 = DeflateParams {
        server_max_window_bits: 8,
        ..DEFAULT
    };
    let mut s = server(p8, DeflateConfig::default(), Config::default());
    s.send_text(&long).unwrap();
    assert_eq!(s.output().take_all()[0], 0x81);
    s.receive(&mask(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]));
    assert_eq!(s.next_event(), Some(Event::Text("Hello".into())));
}

fn expect_fail(s: &mut Connection, input: &[u8], err: ProtocolError, code: u16) {
    s.receive(input);
    let evs: Vec<_> = std::iter::from_fn(|| s.next_event()).collect();
    assert_eq!(evs.last(), Some(&Event::Failed(err)), "{evs:?}");
    let mut close = vec![0x88, 0x02];
    close.extend_from_slice(&code.to_be_bytes());
    assert_eq!(s.output().take_all(), close);
}

#[test]
fn rsv1_on_continuation_control_or_without_negotiation_is_1002() {
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    let mut input = mask(&[0x41, 0x03, 0xf2, 0x48, 0xcd]);
    input.extend(mask(&[0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00]));
    expect_fail(&mut s, &input, ProtocolError::ReservedBits, 1002);
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    expect_fail(&mut s, &mask(&[0xc9, 0x00]), ProtocolError::ReservedBits, 1002);
    let mut plain = Connection::new(Role::Server, Config::default());
    expect_fail(
        &mut plain,
        &mask(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        ProtocolError::ReservedBits,
        1002,
    );
}

fn bomb(len: usize) -> Vec<u8> {
    let mut c = Connection::new(Role::Server, Config::default());
    c.enable_deflate(DEFAULT, DeflateConfig::default().level(9));
    c.send_binary(&vec![0u8; len]).unwrap();
    c.output().take_all()
}

/// Masks a server-made frame (any length) as a client would send it.
fn mask_any(frame: &[u8]) -> Vec<u8> {
    let (hlen, len) = match frame[1] & 0x7f {
        126 => (4, u16::from_be_bytes([frame[2], frame[3]]) as usize),
        127 => (10, u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize),
        n => (2, n as usize),
    };
    let key = [9u8, 8, 7, 6];
    let mut out = frame[..hlen].to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&key);
    out.extend(frame[hlen..hlen + len].iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

#[test]
fn a_bomb_in_one_frame_closes_with_1009() {
    let wire = bomb(16 << 20); // 16 MiB of zeros in a few KiB
    assert!(wire.len() < 64 * 1024);
    let mut s = server(
        DEFAULT,
        DeflateConfig::default(),
        Config::default().max_message_size(1 << 20),
    );
    expect_fail(
        &mut s,
        &mask_any(&wire),
        ProtocolError::MessageTooLarge { max: 1 << 20 },
        1009,
    );
}

#[test]
fn a_bomb_across_fragments_closes_with_1009() {
    let mut c = Connection::new(Role::Server, Config::default());
    c.enable_deflate(DEFAULT, DeflateConfig::default());
    let chunk = vec![0u8; 256 * 1024];
    c.send_fragment(OpCode::Binary, &chunk, false).unwrap();
    for _ in 0..15 {
        c.send_fragment(OpCode::Continuation, &chunk, false).unwrap();
    }
    c.send_fragment(OpCode::Continuation, &chunk, true).unwrap();
    let mut wire = c.output().take_all();
    let mut input = Vec::new();
    while !wire.is_empty() {
        let m = mask_any(&wire);
        let consumed = m.len() - 4;
        input.extend(m);
        wire.drain(..consumed);
    }
    let mut s = server(
        DEFAULT,
        DeflateConfig::default(),
        Config::default().max_message_size(1 << 20),
    );
    expect_fail(&mut s, &input, ProtocolError::MessageTooLarge { max: 1 << 20 }, 1009);
}

#[test]
fn corrupt_data_and_invalid_inflated_utf8_close_with_1007() {
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    expect_fail(
        &mut s,
        &mask(&[0xc2, 0x03, 0xff, 0xff, 0xff]),
        ProtocolError::InvalidCompressedData,
        1007,
    );
    // A stored block holding 0xff, sent as text.
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    expect_fail(
        &mut s,
        &mask(&[0xc1, 0x07, 0x00, 0x01, 0x00, 0xfe, 0xff, 0xff, 0x00]),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

/// Incompressible bytes (xorshift).
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A compressed binary frame (FIN, RSV1) holding `data` as small stored
/// blocks of `block` bytes, as a zlib with a small memLevel makes of
/// incompressible data: larger than the message itself.
fn stored_frame(data: &[u8], block: usize) -> Vec<u8> {
    let mut payload = Vec::new();
    for chunk in data.chunks(block) {
        let len = chunk.len() as u16;
        payload.push(0x00);
        payload.extend_from_slice(&len.to_le_bytes());
        payload.extend_from_slice(&(!len).to_le_bytes());
        payload.extend_from_slice(chunk);
    }
    payload.push(0x00); // the header of the trailer's empty stored block
    let mut frame = vec![0xc2, 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame
}

/// The limit means message bytes after inflation: a message of exactly the
/// limit is accepted even though deflate made its frame larger than the
/// limit (a 16 MiB random message from Python `websockets` arrived as a
/// 16,818,177-byte frame and was refused with 1009); one byte more is 1009.
#[test]
fn the_message_limit_counts_inflated_bytes_not_the_compressed_frame() {
    let limit = 1 << 20;
    let config = Config::default().max_message_size(limit).max_frame_size(limit);
    let data = noise(limit + 1);
    let frame = stored_frame(&data[..limit], 1000);
    assert!(frame.len() > limit + 5_000, "the frame is larger than the limit");
    let mut s = server(DEFAULT, DeflateConfig::default(), config.clone());
    s.receive(&mask_any(&frame));
    assert_eq!(s.next_event(), Some(Event::Binary(data[..limit].to_vec().into())));
    let mut s = server(DEFAULT, DeflateConfig::default(), config);
    expect_fail(
        &mut s,
        &mask_any(&stored_frame(&data, 1000)),
        ProtocolError::MessageTooLarge { max: limit as u64 },
        1009,
    );
}

/// Our own compressor never sends an incompressible message larger than it
/// is (it used to grow by 5.47%): it goes uncompressed, exactly its size,
/// and the context taken over by later messages stays in step.
#[test]
fn incompressible_messages_go_uncompressed_and_the_context_stays_in_step() {
    let data = noise(1 << 20);
    let text = "compressible text, compressible text, compressible text, compressible text";
    let mut c = client(DEFAULT, DeflateConfig::default());
    let mut s = server(DEFAULT, DeflateConfig::default(), Config::default());
    for _ in 0..2 {
        c.send_text(text).unwrap();
        let wire = c.output().take_all();
        assert_eq!(wire[0], 0xc1, "compressed");
        s.receive(&wire);
        assert_eq!(s.next_event(), Some(Event::Text(text.into())));
        c.send_binary(&data).unwrap();
        let wire = c.output().take_all();
        assert_eq!(wire[0], 0x82, "FIN, binary, RSV1 clear: not compressed");
        assert_eq!(wire.len(), data.len() + 14, "header (10 + mask 4) and the message");
        s.receive(&wire);
        assert_eq!(s.next_event(), Some(Event::Binary(data.clone().into())));
    }
}
