//! The SOCKS5 exchange (RFC 1928), with user and password (RFC 1929).

use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{authority, Proxy, ProxyError, ProxyKind};
use crate::target::Target;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 1;
const ATYP_V4: u8 = 1;
const ATYP_NAME: u8 = 3;
const ATYP_V6: u8 = 4;

/// Asks the proxy to connect to `target`, leaving `io` at the first byte of
/// the tunnel.
pub(super) async fn connect<S>(io: &mut S, proxy: &Proxy, target: &Target) -> crate::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let dest = authority(&target.host, target.port);
    // The address first: a name that socks5:// cannot resolve fails before
    // anything is sent.
    let address = destination(proxy, target).await?;
    let io_err = |e| ProxyError::unreachable(proxy, e);

    // Greeting: the methods we can do.
    let greeting: &[u8] = if proxy.credentials.is_some() {
        &[VERSION, 2, NO_AUTH, USER_PASSWORD]
    } else {
        &[VERSION, 1, NO_AUTH]
    };
    io.write_all(greeting).await.map_err(io_err)?;
    let mut choice = [0u8; 2];
    read_exact(io, &mut choice, proxy).await?;
    if choice[0] != VERSION {
        let e = ProxyError::protocol(proxy, format_args!("not a SOCKS5 server (version {})", choice[0]));
        return Err(e.into());
    }
    match (choice[1], &proxy.credentials) {
        (NO_AUTH, _) => {}
        (USER_PASSWORD, Some((user, pass))) => {
            let mut auth = vec![1, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(pass.len() as u8);
            auth.extend_from_slice(pass.as_bytes());
            io.write_all(&auth).await.map_err(io_err)?;
            let mut status = [0u8; 2];
            read_exact(io, &mut status, proxy).await?;
            if status[1] != 0 {
                return Err(ProxyError::auth_failed(proxy, "the proxy refused the user name and password").into());
            }
        }
        (NO_ACCEPTABLE, None) | (USER_PASSWORD, None) => {
            let why = "the proxy requires authentication (give user:password in the proxy URL)";
            return Err(ProxyError::auth_failed(proxy, why).into());
        }
        (NO_ACCEPTABLE, Some(_)) => {
            let why = "the proxy accepts none of our authentication methods";
            return Err(ProxyError::auth_failed(proxy, why).into());
        }
        (m, _) => {
            let e = ProxyError::protocol(proxy, format_args!("chose method {m}, which was not offered"));
            return Err(e.into());
        }
    }

    // The request: CONNECT to the target.
    let mut request = vec![VERSION, CONNECT, 0];
    request.extend_from_slice(&address);
    request.extend_from_slice(&target.port.to_be_bytes());
    io.write_all(&request).await.map_err(io_err)?;

    // The reply: VER REP RSV ATYP BND.ADDR BND.PORT.
    let mut reply = [0u8; 4];
    read_exact(io, &mut reply, proxy).await?;
    if reply[0] != VERSION {
        return Err(ProxyError::protocol(proxy, "malformed SOCKS5 reply").into());
    }
    if reply[1] != 0 {
        return Err(ProxyError::socks_refused(proxy, &dest, reply[1]).into());
    }
    let bound_len = match reply[3] {
        ATYP_V4 => 4,
        ATYP_V6 => 16,
        ATYP_NAME => {
            let mut len = [0u8; 1];
            read_exact(io, &mut len, proxy).await?;
            len[0] as usize
        }
        other => {
            let e = ProxyError::protocol(proxy, format_args!("reply with address type {other}"));
            return Err(e.into());
        }
    };
    let mut bound = [0u8; 255 + 2];
    read_exact(io, &mut bound[..bound_len + 2], proxy).await?;
    Ok(())
}

/// DST.ADDR with its type: an IP literal as such; a name sent to the proxy
/// for `socks5h://`, resolved here for `socks5://`.
async fn destination(proxy: &Proxy, target: &Target) -> crate::Result<Vec<u8>> {
    let ip = match target.host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) if proxy.kind == ProxyKind::Socks5h => {
            if target.host.len() > 255 {
                let e = ProxyError::config(format!("host name {:?} is too long for SOCKS5", target.host));
                return Err(e.into());
            }
            let mut a = vec![ATYP_NAME, target.host.len() as u8];
            a.extend_from_slice(target.host.as_bytes());
            return Ok(a);
        }
        Err(_) => {
            // socks5:// resolves here; a failure is the resolver's, as for a
            // direct connection (socks5h:// lets the proxy resolve).
            let mut found = tokio::net::lookup_host((target.host.as_str(), target.port)).await?;
            let Some(addr) = found.next() else {
                let why = format!("{:?} has no address", target.host);
                return Err(std::io::Error::new(std::io::ErrorKind::NotFound, why).into());
            };
            addr.ip()
        }
    };
    Ok(match ip {
        IpAddr::V4(v4) => [&[ATYP_V4][..], &v4.octets()].concat(),
        IpAddr::V6(v6) => [&[ATYP_V6][..], &v6.octets()].concat(),
    })
}

async fn read_exact<S>(io: &mut S, buf: &mut [u8], proxy: &Proxy) -> Result<(), ProxyError>
where
    S: AsyncRead + Unpin,
{
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProxyError::protocol(
            proxy,
            "closed the connection during the SOCKS5 exchange",
        )),
        Err(e) => Err(ProxyError::unreachable(proxy, e)),
    }
}
