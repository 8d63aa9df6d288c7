//! The few Unix datagram operations std does not offer: receiving with
//! `MSG_TRUNC` (to reject oversized datagrams instead of reading a cut one),
//! replying to the sender's address (including abstract ones), and binding a
//! client to a kernel-chosen abstract address (autobind), which leaves no
//! file behind.

use std::io;
use std::mem;
use std::os::fd::RawFd;

/// A sender's address as the kernel gave it.
#[derive(Clone, Copy)]
pub struct PeerAddr {
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl PeerAddr {
    /// An unbound sender (a hook) cannot be answered.
    pub fn is_unnamed(&self) -> bool {
        self.len as usize <= size_of::<libc::sa_family_t>()
    }

    fn path_bytes(&self) -> &[u8] {
        let n = (self.len as usize).saturating_sub(size_of::<libc::sa_family_t>());
        // SAFETY: sun_path is a plain c_char array of at least n bytes.
        unsafe {
            std::slice::from_raw_parts(
                self.addr.sun_path.as_ptr().cast::<u8>(),
                n.min(self.addr.sun_path.len()),
            )
        }
    }
}

impl PartialEq for PeerAddr {
    fn eq(&self, other: &Self) -> bool {
        self.path_bytes() == other.path_bytes()
    }
}

impl std::fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PeerAddr({:?})",
            String::from_utf8_lossy(self.path_bytes())
        )
    }
}

pub struct Received {
    /// The datagram's real length (may exceed the buffer).
    pub len: usize,
    pub truncated: bool,
    pub peer: PeerAddr,
}

/// Receives one datagram without blocking.
pub fn recv_from(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: zeroed sockaddr_un is valid; recvfrom writes at most `len` bytes.
    unsafe {
        let mut addr: libc::sockaddr_un = mem::zeroed();
        let mut len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let n = libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            (&mut addr as *mut libc::sockaddr_un).cast(),
            &mut len,
        );
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        Ok(Received {
            len: n,
            truncated: n > buf.len(),
            peer: PeerAddr { addr, len },
        })
    }
}

/// Sends one datagram to `peer` without blocking.
pub fn send_to(fd: RawFd, peer: &PeerAddr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: the address and its length come from the kernel.
    let n = unsafe {
        libc::sendto(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            (&peer.addr as *const libc::sockaddr_un).cast(),
            peer.len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds `fd` to a kernel-chosen abstract address so the daemon can reply.
pub fn autobind(fd: RawFd) -> io::Result<()> {
    // SAFETY: binding with only the family asks the kernel to autobind.
    let rc = unsafe {
        let mut addr: libc::sockaddr_un = mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            size_of::<libc::sa_family_t>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
