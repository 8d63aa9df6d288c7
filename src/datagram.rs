//! The few Unix datagram operations std does not offer: receiving with
//! `MSG_TRUNC` (to reject oversized datagrams instead of reading a cut one)
//! and the kernel's arrival time (`SO_TIMESTAMPNS`, so latency figures
//! start when the datagram arrived, not when the daemon woke), replying to
//! the sender's address (including abstract ones), and binding a client to
//! a kernel-chosen abstract address (autobind), which leaves no file behind.

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
    /// When the kernel queued it (ns since the epoch), if `SO_TIMESTAMPNS`
    /// is on for the socket.
    pub arrived_ns: Option<u64>,
}

/// Asks the kernel to stamp every datagram with its arrival time.
pub fn enable_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram without blocking.
pub fn recv_from(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // Room for one timespec control message, 8-byte aligned.
    let mut control = [0u64; 8];
    // SAFETY: every pointer handed to recvmsg points at a live buffer of the
    // length given; the control messages are read only within what the
    // kernel reported.
    unsafe {
        let mut addr: libc::sockaddr_un = mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = mem::zeroed();
        msg.msg_name = (&raw mut addr).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_un>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        let n = libc::recvmsg(fd, &raw mut msg, libc::MSG_TRUNC | libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut arrived_ns = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                arrived_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
        let n = n as usize;
        Ok(Received {
            len: n,
            truncated: n > buf.len(),
            peer: PeerAddr {
                addr,
                len: msg.msg_namelen,
            },
            arrived_ns,
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
