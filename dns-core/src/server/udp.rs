//! UDP in batches: one `recvmmsg` takes every datagram waiting on a worker's socket (up to
//! [`SLOTS`]) and one `sendmmsg` sends the answers that were ready, so a loaded worker pays two
//! system calls per batch instead of two per query, as knotd does.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

/// Datagrams taken per system call.
pub(crate) const SLOTS: usize = 16;
/// Room per datagram. Queries are tens of bytes, a few hundred with EDNS options; a longer
/// datagram arrives cut at this size (MSG_TRUNC) and its body then fails to parse (FORMERR,
/// the same as any damaged message). 16 slots of 4 KiB are the 64 KiB one buffer used to be.
pub(crate) const SLOT_LEN: usize = 4096;

/// The receive buffers of one worker, reused for every batch.
pub(crate) struct Batch {
    buffers: Vec<u8>,
    /// Length and sender of each datagram of the last batch.
    received: Vec<(usize, Option<SocketAddr>)>,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Self {
            buffers: vec![0u8; SLOTS * SLOT_LEN],
            received: Vec::with_capacity(SLOTS),
        }
    }

    /// Takes the datagrams waiting on `fd` without blocking; `WouldBlock` when there are none.
    /// Returns how many arrived: [`Batch::datagram`] reads them.
    pub(crate) fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.received.clear();
        // The headers hold raw pointers (not `Send`), so they live for one call only: the
        // receive loop is a task that may move between threads.
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(SLOTS, None);
        let mut slots = self.buffers.chunks_mut(SLOT_LEN);
        let mut slices: [[IoSliceMut<'_>; 1]; SLOTS] =
            std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
        let results = recvmmsg(
            fd,
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        for message in results {
            let sender = message.address.as_ref().and_then(socket_addr);
            self.received.push((message.bytes.min(SLOT_LEN), sender));
        }
        Ok(self.received.len())
    }

    /// Datagram `i` of the last batch and its sender (`None`: an address family other than
    /// IP, which a UDP socket of ours never reports).
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        let (len, sender) = *self.received.get(i)?;
        let start = i * SLOT_LEN;
        Some((self.buffers.get(start..start + len)?, sender))
    }
}

/// Sends `replies` (answer, client) with one `sendmmsg` without blocking; returns how many
/// went, in order: the caller sends the rest one by one.
pub(crate) fn send(fd: RawFd, replies: &[(Vec<u8>, SocketAddr)]) -> io::Result<usize> {
    if replies.is_empty() {
        return Ok(0);
    }
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(replies.len(), None);
    let slices: Vec<[IoSlice<'_>; 1]> = replies
        .iter()
        .map(|(bytes, _)| [IoSlice::new(bytes)])
        .collect();
    let addresses: Vec<Option<SockaddrStorage>> = replies
        .iter()
        .map(|(_, to)| Some(SockaddrStorage::from(*to)))
        .collect();
    let none: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(
        fd,
        &mut headers,
        slices.iter(),
        &addresses,
        none,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    Ok(sent.count())
}

fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    storage
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}
