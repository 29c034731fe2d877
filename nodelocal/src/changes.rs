//! Link and address changes on the node (rtnetlink multicast), so nodelocal re-asserts its
//! link and addresses at once when something removes them, not a sync interval later.

use std::sync::Arc;

use futures_util::StreamExt;
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use tokio::sync::Notify;
use tracing::warn;

const GROUPS: u32 =
    (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;

/// Notified after every link or address change; never notified when the subscription fails
/// (the sync interval still re-asserts).
pub fn watch() -> Arc<Notify> {
    let notify = Arc::new(Notify::new());
    let (mut connection, _handle, mut messages) = match rtnetlink::new_connection() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot watch link changes; re-asserting on the sync interval only");
            return notify;
        }
    };
    if let Err(e) = connection
        .socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, GROUPS))
    {
        warn!(error = %e, "cannot watch link changes; re-asserting on the sync interval only");
        return notify;
    }
    tokio::spawn(connection);
    let out = notify.clone();
    tokio::spawn(async move {
        while messages.next().await.is_some() {
            out.notify_one();
        }
    });
    notify
}
