//! Socket activation: the listening socket handed down by the parent
//! (systemd, or any supervisor speaking its protocol, sd_listen_fds(3)):
//! `LISTEN_PID` names this process, `LISTEN_FDS` counts the sockets, the
//! first is file descriptor 3.
//!
//! A parent that keeps the socket open across a restart makes the restart
//! refuse no one: while the old server drains and the new one starts,
//! connections wait in the kernel's queue (see `docs/deployment.md`).

use std::os::fd::FromRawFd;

/// The first descriptor of the protocol (`SD_LISTEN_FDS_START`).
const FIRST_FD: i32 = 3;

/// The listening socket the parent passed, or `None` when it passed none
/// (no `LISTEN_FDS`, or `LISTEN_PID` names another process).
///
/// # Errors
///
/// A message when the variables are malformed, when more than one socket
/// was passed, or when descriptor 3 is not a TCP socket.
pub(crate) fn inherited_listener() -> Result<Option<std::net::TcpListener>, String> {
    let (pid, fds) = (std::env::var("LISTEN_PID").ok(), std::env::var("LISTEN_FDS").ok());
    if passed(pid.as_deref(), fds.as_deref(), std::process::id())? {
        take_first_fd().map(Some)
    } else {
        Ok(None)
    }
}

/// Whether `LISTEN_PID` and `LISTEN_FDS` pass one socket to process `me`.
fn passed(pid: Option<&str>, fds: Option<&str>, me: u32) -> Result<bool, String> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(false);
    };
    // For another process (a parent's variables leaked into ours): not ours.
    if pid.trim().parse::<u32>().ok() != Some(me) {
        return Ok(false);
    }
    let count: u32 = fds
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_FDS={fds:?} is not a number"))?;
    match count {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(format!("{n} sockets passed (LISTEN_FDS), wsbolt serve takes one")),
    }
}

/// Takes descriptor 3 as a TCP listener, once per process.
fn take_first_fd() -> Result<std::net::TcpListener, String> {
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TAKEN.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return Err("the inherited socket was already taken".into());
    }
    // SAFETY: by the socket-activation protocol, checked above (LISTEN_PID is
    // this process, LISTEN_FDS is 1), descriptor 3 is open and was passed to
    // this process to own; nothing else in this program opens or uses it, and
    // `TAKEN` makes sure it is wrapped (and so closed) at most once. If it is
    // not a socket, the owned listener only closes it when dropped below.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(FIRST_FD) };
    match listener.local_addr() {
        Ok(_) => Ok(listener),
        Err(e) => Err(format!("descriptor 3 (LISTEN_FDS) is not a TCP socket: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::passed;

    #[test]
    fn one_socket_for_this_process_only() {
        assert_eq!(passed(Some("42"), Some("1"), 42), Ok(true));
        assert_eq!(passed(None, None, 42), Ok(false));
        assert_eq!(passed(Some("42"), None, 42), Ok(false));
        assert_eq!(passed(Some("41"), Some("1"), 42), Ok(false), "another process's");
        assert_eq!(passed(Some("42"), Some("0"), 42), Ok(false));
        assert!(passed(Some("42"), Some("2"), 42).unwrap_err().contains("takes one"));
        assert!(passed(Some("42"), Some("x"), 42).unwrap_err().contains("not a number"));
    }
}
