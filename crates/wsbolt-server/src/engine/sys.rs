//! The engine's socket reads and writes, as direct system calls.
//!
//! `std`'s `read` and `write` on a socket go through glibc's `recv` and
//! `send`, which in a process with more than one thread (the server always
//! has several) are cancellation points: each call switches the thread's
//! cancellation state on and off around the system call, two atomic
//! operations. At one read and one write per message that was about a
//! hundred instructions per message under callgrind, an eighth of the
//! engine's `/echo`. `rustix` makes the same system calls without the
//! wrapper, from safe code.

use std::io::{self, IoSlice};

use mio::net::TcpStream;
use rustix::net::{RecvFlags, SendFlags};

/// `recv`: what arrived, up to `buf`'s length (0: the peer's end).
pub(super) fn read(tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::net::recv(tcp, buf, RecvFlags::empty())?.0)
}

/// `send`, without `SIGPIPE` for a peer that is gone (as `std` does).
pub(super) fn write(tcp: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(tcp, buf, SendFlags::NOSIGNAL)?)
}

/// `writev` (as `std`'s vectored write; Rust programs ignore `SIGPIPE`).
pub(super) fn write_vectored(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    Ok(rustix::io::writev(tcp, bufs)?)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// Both directions over a loopback pair, the errors `std` would give
    /// (would-block, the peer's end) included.
    #[test]
    fn reads_and_writes_like_std() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        let ours = TcpStream::from_std(ours);
        let mut buf = [0u8; 16];
        let e = read(&ours, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

        assert_eq!(write(&ours, b"one").unwrap(), 3);
        let two = [IoSlice::new(b"tw"), IoSlice::new(b"o")];
        assert_eq!(write_vectored(&ours, &two).unwrap(), 3);
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"onetwo");

        peer.write_all(b"hello").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        loop {
            match read(&ours, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, b"hello");
    }
}
