//! `hickory-baseline --conf <Corefile> --snapshot <file>`: cluster-dns's answer path (same
//! Corefile, same snapshot, same plugin chain) behind hickory-server's listeners, so a dnsperf
//! run against both measures the serving loop alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use dns_core::cluster::SnapshotStore;
use dns_core::plugin::build::Dependencies;
use dns_core::plugins::build;
use dns_core::plugin::Router;
use dns_core::wire::{Handler, RequestInfo as CoreInfo, Transport};
use hickory_proto::op::{Message, MessageType};
use hickory_server::Server;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

struct Baseline(Router);

#[async_trait::async_trait]
impl RequestHandler for Baseline {
    async fn handle_request<R: ResponseHandler, T: hickory_server::net::runtime::Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut message = Message::new(
            request.metadata.id,
            MessageType::Query,
            request.metadata.op_code,
        );
        message.metadata = request.metadata;
        message.queries = request
            .queries
            .queries()
            .iter()
            .map(|q| q.original().clone())
            .collect();
        let info = CoreInfo {
            src: request.src(),
            local: self.0.addr,
            transport: if request.protocol() == Protocol::Udp {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            request_size: request.as_slice().len(),
        };
        let (response, _) = self.0.handle(&message, &info).await;
        let builder = MessageResponseBuilder::new(&request.queries, request.edns.as_ref());
        let built = builder.build(
            response.metadata,
            response.answers.iter(),
            response.authorities.iter(),
            std::iter::empty(),
            response.additionals.iter(),
        );
        match response_handle.send_response(built).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(hickory_proto::op::Header {
                metadata: request.metadata,
                counts: Default::default(),
            }),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(conf), Some(snapshot)) = (arg(&args, "--conf"), arg(&args, "--snapshot")) else {
        bail!("usage: hickory-baseline --conf <Corefile> --snapshot <file>");
    };
    let store = Arc::new(SnapshotStore::new());
    let mut source =
        cluster_dns::snapshot_file::SnapshotFileSource::new(snapshot.into(), store.clone());
    source.load_initial().map_err(|e| anyhow::anyhow!("{e}"))?;
    let corefile = dns_core::corefile::load(conf.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let router = build(&corefile, &Dependencies::new(store))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .routers
        .remove(0);
    let addr: SocketAddr = router.addr;
    let mut server = Server::new(Baseline(router));
    server.register_socket(
        tokio::net::UdpSocket::bind(addr)
            .await
            .context("bind udp")?,
    );
    server.register_listener(
        tokio::net::TcpListener::bind(addr)
            .await
            .context("bind tcp")?,
        Duration::from_secs(8),
        65535,
    );
    eprintln!("hickory-baseline listening on {addr}");
    tokio::select! {
        r = server.block_until_done() => r.map_err(|e| anyhow::anyhow!("{e}"))?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}
