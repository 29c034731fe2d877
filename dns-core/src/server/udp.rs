//! UDP in batches: one `recvmmsg` waits for a datagram and takes every other one waiting on a
//! worker's socket (up to [`SLOTS`]), and one `sendmmsg` sends the answers that were ready, so a
//! worker pays two system calls per batch, however many queries it holds, as knotd does.

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

/// The buffers and message headers of one worker, reused for every batch. The headers hold
/// raw pointers (the type is not `Send`): a worker is a thread, and its batch never leaves it.
pub(crate) struct Batch {
    buffers: Vec<u8>,
    /// Length and sender of each datagram of the last batch.
    received: Vec<(usize, Option<SocketAddr>)>,
    receiving: MultiHeaders<SockaddrStorage>,
    /// `sendmmsg` sets every field of these it reads, each call.
    sending: MultiHeaders<SockaddrStorage>,
    recipients: Vec<Option<SockaddrStorage>>,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Self {
            buffers: vec![0u8; SLOTS * SLOT_LEN],
            received: Vec::with_capacity(SLOTS),
            // Each receive leaves a header's address length at what the kernel wrote (the
            // size of the socket's one address family, which the next datagram has too).
            receiving: MultiHeaders::preallocate(SLOTS, None),
            sending: MultiHeaders::preallocate(SLOTS, None),
            recipients: Vec::with_capacity(SLOTS),
        }
    }

    /// Waits for a datagram on `fd` (a blocking socket; `WouldBlock` when its receive timeout
    /// passes first) and takes the others already waiting. Returns how many arrived:
    /// [`Batch::datagram`] reads them.
    pub(crate) fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.received.clear();
        let mut slots = self.buffers.chunks_mut(SLOT_LEN);
        let mut slices: [[IoSliceMut<'_>; 1]; SLOTS] =
            std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
        let results = recvmmsg(
            fd,
            &mut self.receiving,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
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

    /// Sends `replies` (answer, client; at most [`SLOTS`]) with one `sendmmsg` without
    /// blocking; returns how many went, in order: the caller sends the rest one by one.
    pub(crate) fn send(
        &mut self,
        fd: RawFd,
        replies: &[(Vec<u8>, SocketAddr)],
    ) -> io::Result<usize> {
        let replies = &replies[..replies.len().min(SLOTS)];
        if replies.is_empty() {
            return Ok(0);
        }
        let mut bodies = replies.iter().map(|(bytes, _)| bytes.as_slice());
        let slices: [[IoSlice<'_>; 1]; SLOTS] =
            std::array::from_fn(|_| [IoSlice::new(bodies.next().unwrap_or_default())]);
        self.recipients.clear();
        self.recipients.extend(
            replies
                .iter()
                .map(|(_, to)| Some(SockaddrStorage::from(*to))),
        );
        let none: [ControlMessage<'_>; 0] = [];
        let sent = sendmmsg(
            fd,
            &mut self.sending,
            slices.iter(),
            &self.recipients,
            none,
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        Ok(sent.count())
    }
}

fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    storage
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}
