//! The few Unix datagram operations std does not offer: receiving with
//! `MSG_TRUNC` (to reject oversized datagrams instead of reading a cut one)
//! and the kernel's arrival time (`SO_TIMESTAMPNS`, so latency figures
//! start when the datagram arrived, not when the daemon woke), the sender's
//! credentials (`SO_PASSCRED`: its uid, as the kernel saw it), and replying
//! to the sender's address.

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
    /// No sender's address: what came from elsewhere (the spool) than a
    /// socket.
    pub fn unnamed() -> PeerAddr {
        // SAFETY: an all-zero sockaddr_un is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        PeerAddr {
            addr,
            len: size_of::<libc::sa_family_t>() as libc::socklen_t,
        }
    }

    /// An unbound sender (a hook) cannot be answered.
    pub fn is_unnamed(&self) -> bool {
        self.len as usize <= size_of::<libc::sa_family_t>()
    }

    /// The path a sender is bound to; `None` for an unnamed or abstract
    /// address.
    pub fn path(&self) -> Option<&std::path::Path> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = self.path_bytes();
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        (bytes.first().is_some_and(|b| *b != 0))
            .then(|| std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
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
    /// The sender's uid, if `SO_PASSCRED` is on for the socket.
    pub sender_uid: Option<u32>,
}

/// Asks the kernel to stamp every datagram with its arrival time.
pub fn enable_timestamps(fd: RawFd) -> io::Result<()> {
    set_flag(fd, libc::SO_TIMESTAMPNS)
}

fn set_flag(fd: RawFd, option: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram without blocking; with `peek`, it stays at the
/// head of the queue (until [`discard`]).
pub fn recv_from(fd: RawFd, buf: &mut [u8], peek: bool) -> io::Result<Received> {
    // Room for one timespec control message, 8-byte aligned.
    // Room for a timespec and a ucred, each with its header.
    let mut control = [0u64; 16];
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
        let flags = libc::MSG_TRUNC | libc::MSG_DONTWAIT | if peek { libc::MSG_PEEK } else { 0 };
        let n = libc::recvmsg(fd, &raw mut msg, flags);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut arrived_ns = None;
        let mut sender_uid = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                arrived_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            // A datagram queued before SO_PASSCRED was turned on carries
            // no credentials: pid 0 (and the overflow uid). Unknown, then.
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_CREDENTIALS {
                let cred: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                sender_uid = (cred.pid != 0).then_some(cred.uid);
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
            sender_uid,
        })
    }
}

/// Drops the datagram at the head of the queue (one [`recv_from`] peeked),
/// copying nothing.
pub fn discard(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length receive into no buffer; MSG_TRUNC drops the
    // datagram whole.
    let n = unsafe {
        libc::recv(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// Asks the kernel for each sender's credentials (`SCM_CREDENTIALS`).
pub fn enable_credentials(fd: RawFd) -> io::Result<()> {
    set_flag(fd, libc::SO_PASSCRED)
}
