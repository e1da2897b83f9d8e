//! Why the extractor refused a request, with the names of
//! `axum::extract::ws::rejection`: one type per reason, and
//! [`WebSocketUpgradeRejection`] with a variant for each.
//!
//! Each answers as wsbolt's handshake does (RFC 6455 §4.2.2): a request
//! with another WebSocket version gets 426 with `Sec-WebSocket-Version: 13`
//! where axum answers 400; the others have axum's statuses. Requests axum
//! does not check (a second `Sec-WebSocket-Key`, a key that is not 16 bytes
//! of base64, no `Host`) are [`InvalidWebSocketRequest`].

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use wsbolt_proto::handshake::HandshakeError;

macro_rules! rejection {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(HandshakeError);

        impl $name {
            /// The response body's text.
            pub fn body_text(&self) -> String {
                self.0.to_string()
            }

            /// The response status.
            pub fn status(&self) -> StatusCode {
                self.0.status()
            }

            /// The handshake error behind it.
            pub fn error(&self) -> &HandshakeError {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }

        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                self.0.response().map(Body::from)
            }
        }

        impl From<$name> for WebSocketUpgradeRejection {
            fn from(r: $name) -> Self {
                WebSocketUpgradeRejection::$name(r)
            }
        }
    )*

        /// Why the extractor refused a request: one variant per reason.
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum WebSocketUpgradeRejection {
            $($(#[$doc])* $name($name),)*
        }

        impl WebSocketUpgradeRejection {
            fn inner(&self) -> &HandshakeError {
                match self {
                    $(WebSocketUpgradeRejection::$name(r) => &r.0,)*
                }
            }
        }
    };
}

rejection! {
    /// An HTTP/1.1 WebSocket request whose method is not `GET` (405).
    MethodNotGet;
    /// An HTTP/2 WebSocket request whose method is not `CONNECT` (405).
    MethodNotConnect;
    /// No `Connection: upgrade` (400).
    InvalidConnectionHeader;
    /// No `Upgrade: websocket` (400).
    InvalidUpgradeHeader;
    /// An HTTP/2 request whose `:protocol` is not `websocket` (400).
    InvalidProtocolPseudoheader;
    /// `Sec-WebSocket-Version` is not 13 (426, with the version supported).
    InvalidWebSocketVersionHeader;
    /// No `Sec-WebSocket-Key` (400).
    WebSocketKeyHeaderMissing;
    /// The connection cannot be upgraded: HTTP/1.0, or a server without
    /// hyper's upgrade support (400).
    ConnectionNotUpgradable;
    /// Any other invalid WebSocket request (its own status).
    InvalidWebSocketRequest;
}

impl WebSocketUpgradeRejection {
    /// Sorts a handshake error into its kind; `http2` tells which method and
    /// upgrade header the request should have had.
    pub(crate) fn new(e: HandshakeError, http2: bool) -> Self {
        match e {
            HandshakeError::MethodNotAllowed if http2 => MethodNotConnect(e).into(),
            HandshakeError::MethodNotAllowed => MethodNotGet(e).into(),
            HandshakeError::MissingUpgrade if http2 => InvalidProtocolPseudoheader(e).into(),
            HandshakeError::MissingUpgrade => InvalidUpgradeHeader(e).into(),
            HandshakeError::MissingConnectionUpgrade => InvalidConnectionHeader(e).into(),
            HandshakeError::UnsupportedVersion => InvalidWebSocketVersionHeader(e).into(),
            HandshakeError::MissingKey => WebSocketKeyHeaderMissing(e).into(),
            HandshakeError::HttpVersion => ConnectionNotUpgradable(e).into(),
            e => InvalidWebSocketRequest(e).into(),
        }
    }

    /// The connection has no upgrade handle (hyper's server was built
    /// without upgrades).
    pub(crate) fn not_upgradable() -> Self {
        ConnectionNotUpgradable(HandshakeError::Malformed(
            "the connection cannot be upgraded (no hyper upgrade handle)".into(),
        ))
        .into()
    }

    /// The response body's text.
    pub fn body_text(&self) -> String {
        self.inner().to_string()
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.inner().status()
    }

    /// The handshake error behind it.
    pub fn error(&self) -> &HandshakeError {
        self.inner()
    }
}

impl std::fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner().fmt(f)
    }
}

impl std::error::Error for WebSocketUpgradeRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.inner())
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        self.inner().response().map(Body::from)
    }
}
