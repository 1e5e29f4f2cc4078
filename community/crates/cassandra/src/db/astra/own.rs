//! Defines how a forwarder tells its own process's connections from anyone else's. The
//! forwarders listen on 127.0.0.1 and wrap what they accept in the bundle's client
//! certificate: any local user could otherwise borrow that mutual-TLS factor for as long
//! as a run lasts. On Linux a connection is accepted only when the socket at its other
//! end belongs to this process (its inode, from `/proc/net/tcp`, is one of this
//! process's file descriptors); elsewhere the loopback address is the only limit.

use std::net::SocketAddr;

/// True when the connection from `peer` to `local` (a forwarder's listener) was opened
/// by this process.
#[cfg(target_os = "linux")]
pub(crate) fn is_own(peer: SocketAddr, local: SocketAddr) -> bool {
    let Some(inode) = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| socket_inode(table, peer, local))
    else {
        return false;
    };
    let target = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd").is_ok_and(|fds| {
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()))
    })
}

/// Elsewhere: the loopback address is the only limit (see the module docs).
#[cfg(not(target_os = "linux"))]
pub(crate) fn is_own(_peer: SocketAddr, _local: SocketAddr) -> bool {
    true
}

/// The inode of the socket whose local end is `local` and remote end is `remote`, from a
/// `/proc/net/tcp{,6}` table.
#[cfg(target_os = "linux")]
fn socket_inode(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (l, r, inode) = (f.get(1)?, f.get(2)?, f.get(9)?);
        (parse_addr(l)? == local && parse_addr(r)? == remote)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

/// `0100007F:1F90` (the kernel's hex of the address, in host byte order, and the port).
#[cfg(target_os = "linux")]
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip: std::net::IpAddr = match ip.len() {
        8 => std::net::Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes()).into(),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(8 * i..8 * i + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            std::net::Ipv6Addr::from(bytes).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_connection_of_this_process_is_its_own() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(local).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(is_own(peer, local), "our own client socket");
        // An address no socket of this process has.
        let stranger: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(!is_own(stranger, local));
    }
}
