//! Wire bytes -> the whole answer path with a Corefile shaped like nodelocal's (node-cache's
//! ConfigMap: errors, cache, forward over TCP for the cluster zone and over UDP for the rest)
//! to a stub upstream on loopback that echoes each query back as its answer. What a pod
//! sends goes through cache and forward to an upstream and back: nothing may panic or hang.
#![no_main]

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, OnceLock};

use dns_core::cluster::SnapshotStore;
use dns_core::corefile::parse_str;
use dns_core::plugin::Router;
use dns_core::plugin::build::Dependencies;
use dns_core::plugins::build;
use dns_core::server::respond;
use dns_core::wire::{RequestInfo, Transport};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    routers: Vec<Router>,
    runtime: tokio::runtime::Runtime,
}

/// The upstream's answer: the query with QR set, so ID and question match.
fn echo(message: &mut [u8]) {
    if let Some(flags) = message.get_mut(2) {
        *flags |= 0x80;
    }
}

/// A UDP and TCP stub on one loopback port, each on a thread of its own.
fn stub() -> u16 {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("stub tcp");
    let port = tcp.local_addr().expect("stub address").port();
    let udp = UdpSocket::bind(("127.0.0.1", port)).expect("stub udp");
    std::thread::spawn(move || {
        let mut buf = [0u8; 65535];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            echo(&mut buf[..n]);
            let _ = udp.send_to(&buf[..n], from);
        }
    });
    std::thread::spawn(move || {
        for stream in tcp.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut body).is_err() {
                        return;
                    }
                    echo(&mut body);
                    if stream.write_all(&len).and_then(|()| stream.write_all(&body)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let port = stub();
        let corefile = format!(
            "cluster.local:53 {{\n errors\n cache {{\n  success 9984 30\n  denial 9984 5\n }}\n \
             forward . 127.0.0.1:{port} {{\n  force_tcp\n }}\n}}\n\
             .:53 {{\n errors\n cache 30\n forward . 127.0.0.1:{port}\n}}\n"
        );
        let corefile = parse_str(&corefile, "Corefile", &|_| None).expect("fixture Corefile");
        let routers = build(&corefile, &Dependencies::new(Arc::new(SnapshotStore::new())))
            .expect("fixture chain")
            .routers;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Fixture { routers, runtime }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    for router in &f.routers {
        for transport in [Transport::Udp, Transport::Tcp] {
            let info = RequestInfo {
                src: "169.254.20.99:5300".parse().unwrap(),
                local: "169.254.20.10:53".parse().unwrap(),
                transport,
                request_size: data.len(),
            };
            let (reply, _) = f.runtime.block_on(respond(router, data, &info));
            if let Some(reply) = reply {
                assert!(reply.len() >= 12, "a reply always has a header");
                if data.len() >= 2 {
                    assert_eq!(reply[..2], data[..2], "the ID is copied");
                }
            }
        }
    }
});
