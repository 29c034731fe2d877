//! A loopback TCP proxy that a test can cut: every connection through it closed, and new ones
//! closed as they arrive, for a while. It stands for a network blip between a client (here
//! cluster-dns) and a server (the test apiserver) without touching either, and counts the
//! connections and bytes that went through so a test can say what the blip cost.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What went through the proxy so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Connections accepted and passed on (not those closed during a cut).
    pub connections: u64,
    /// Bytes from the client to the server.
    pub up: u64,
    /// Bytes from the server to the client.
    pub down: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            connections: self.connections - earlier.connections,
            up: self.up - earlier.up,
            down: self.down - earlier.down,
        }
    }
}

#[derive(Default)]
struct Shared {
    connections: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
    /// Until when new connections are closed at once.
    cut_until: Mutex<Option<Instant>>,
    /// Both ends of every open connection, to close them on a cut.
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
    stopped: AtomicBool,
}

/// The proxy; it stops (and closes what it passes on) when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TcpProxy {
    /// Listens on a free loopback port and passes every connection on to `target`.
    pub fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("tcp proxy: bind");
        let addr = listener.local_addr().expect("tcp proxy: local address");
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        std::thread::spawn(move || accept_loop(listener, target, accepting));
        TcpProxy { addr, shared }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What went through so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            connections: self.shared.connections.load(Ordering::Relaxed),
            up: self.shared.up.load(Ordering::Relaxed),
            down: self.shared.down.load(Ordering::Relaxed),
        }
    }

    /// Closes every open connection now and every new one for `period`; returns at once.
    pub fn cut(&self, period: Duration) {
        *lock(&self.shared.cut_until) = Some(Instant::now() + period);
        close_all(&self.shared);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        close_all(&self.shared);
        // Wakes the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn close_all(shared: &Shared) {
    for (client, server) in lock(&shared.open).drain(..) {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = client else { continue };
        let cut = lock(&shared.cut_until).is_some_and(|until| Instant::now() < until);
        if cut {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(target) else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        lock(&shared.open).push((c3, s3));
        let up = shared.clone();
        std::thread::spawn(move || pipe(client, s2, &up.up));
        let down = shared.clone();
        std::thread::spawn(move || pipe(server, c2, &down.down));
    }
}

/// Copies `from` to `to`, counting, until either side closes; then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
