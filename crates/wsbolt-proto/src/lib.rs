//! # wsbolt-proto
//!
//! A sans-I/O implementation of the WebSocket protocol (RFC 6455): bytes go
//! in, events and bytes come out, and deadlines are outputs. No sockets, no
//! async runtime, no clock: the same core serves clients and servers, under
//! any I/O layer, and every rule is tested with bytes.
//!
//! ```
//! use wsbolt_proto::{Connection, Event, Role};
//!
//! let mut client = Connection::with_mask_seed(Role::Client, Default::default(), 7);
//! let mut server = Connection::new(Role::Server, Default::default());
//! client.send_text("ping?").unwrap();
//! server.receive(&client.output().take_all());
//! assert_eq!(server.next_event(), Some(Event::Text("ping?".into())));
//! server.close(None).unwrap();
//! client.receive(&server.output().take_all());
//! assert_eq!(client.next_event(), Some(Event::Close(None)));
//! ```
//!
//! Modules: [`handshake`] (opening handshake, both roles), [`frame`]
//! (headers), [`mask`], [`utf8`] (incremental validation), [`close`] (codes
//! and Close payloads), and [`Connection`] (the state machine).
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod close;
mod close_code;
mod config;
mod connection;
pub mod deflate;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
mod message;
pub mod outbuf;
mod prepared;
pub mod utf8;
mod utf8bytes;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Keepalive};
pub use connection::{
    CloseStatus, Connection, DataRef, Direction, Event, FrameRecord, Role, State, Timeout, MAX_FRAME_RECORDS,
};
pub use error::{ProtocolError, SendError};
pub use message::{Message, Utf8Bytes};
pub use prepared::PreparedMessage;
