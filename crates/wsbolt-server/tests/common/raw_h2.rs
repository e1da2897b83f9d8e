//! A raw HTTP/2 client over TLS (ALPN `h2`): frames written by hand, for
//! the tests that send what a well-behaved client would not.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio_rustls::client::TlsStream;

pub type Tls = TlsStream<tokio::net::TcpStream>;

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;
pub const CONTINUATION: u8 = 9;
pub const END_STREAM: u8 = 1;
pub const ACK: u8 = 1;
pub const END_HEADERS: u8 = 4;

/// A TLS connection that chose `h2`, with the client preface and an empty
/// SETTINGS frame sent.
pub async fn connect(port: u16) -> Tls {
    let mut tls = (*wsbolt::tls::insecure_client_config()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut io = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    io.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    io.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    io
}

/// One frame: type, flags, stream, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK string literal, not Huffman-coded (under 127 bytes).
fn literal(s: &str) -> Vec<u8> {
    assert!(s.len() < 127);
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// The header block of an RFC 8441 extended CONNECT to `path` on localhost,
/// HPACK-coded without touching the dynamic table.
pub fn websocket_connect(path: &str) -> Vec<u8> {
    let mut h = vec![0x02]; // :method, literal value
    h.extend(literal("CONNECT"));
    h.push(0x87); // :scheme https
    h.push(0x01); // :authority
    h.extend(literal("localhost"));
    h.push(0x04); // :path
    h.extend(literal(path));
    h.push(0x00); // a new name, not indexed
    h.extend(literal(":protocol"));
    h.extend(literal("websocket"));
    h.push(0x00);
    h.extend(literal("sec-websocket-version"));
    h.extend(literal("13"));
    h
}

/// A WebSocket frame as a client sends it (masked): FIN, `opcode`.
pub fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Frames read from the server: `(type, flags, stream, payload)`.
#[derive(Default)]
pub struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while self.buf.len() >= 9 {
            let b = &self.buf;
            let len = (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize;
            if b.len() < 9 + len {
                break;
            }
            let stream = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
            out.push((b[3], b[4], stream, b[9..9 + len].to_vec()));
            self.buf.drain(..9 + len);
        }
        out
    }
}
