//! Continuous lookups for the failure drills (nodelocal's kernel tests, the real node): one A
//! query at a time, each from a new socket, waiting up to a timeout, with no retry, so every
//! lost query counts.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a [`Load`] saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub sent: usize,
    pub failed: usize,
    /// When each failed query was sent.
    pub failures: Vec<Instant>,
}

impl LoadReport {
    /// How long queries went unanswered: from the first failed query's sending to the last
    /// one's timing out (`timeout` after it was sent); zero without failures.
    pub fn window(&self, timeout: Duration) -> Duration {
        match (self.failures.first(), self.failures.last()) {
            (Some(a), Some(b)) => b.duration_since(*a) + timeout,
            _ => Duration::ZERO,
        }
    }
}

/// Lookups running on a thread of their own until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<LoadReport>,
}

impl Load {
    /// Lookups of `name` at `target`, `pause` apart, on the thread `spawn` starts with the
    /// loop it is given (a thread inside a pod's network namespace, say).
    pub fn start(
        spawn: impl FnOnce(
            Box<dyn FnOnce() -> LoadReport + Send>,
        ) -> std::thread::JoinHandle<LoadReport>,
        target: SocketAddr,
        name: &str,
        timeout: Duration,
        pause: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = name.to_string();
        let thread = spawn(Box::new(move || {
            let mut report = LoadReport::default();
            let mut id: u16 = 0;
            while !flag.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let sent = Instant::now();
                report.sent += 1;
                if !ask_once(target, &name, id, timeout) {
                    report.failed += 1;
                    report.failures.push(sent);
                }
                std::thread::sleep(pause);
            }
            report
        }));
        Self { stop, thread }
    }

    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("load thread")
    }
}

/// One A query for `name`: true when a NOERROR reply with this ID and at least one answer
/// came back within `timeout` (replies with other IDs are ignored).
fn ask_once(target: SocketAddr, name: &str, id: u16, timeout: Duration) -> bool {
    let Ok(socket) = UdpSocket::bind("0.0.0.0:0") else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(timeout));
    let mut query = Vec::with_capacity(64);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    if socket.send_to(&query, target).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match socket.recv_from(&mut buf) {
            Ok((n, _)) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                return buf[2] & 0x80 != 0 && buf[3] & 0x0f == 0 && buf[6..8] != [0, 0];
            }
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}
