//! One module per Corefile plugin: its setup (Corefile tokens -> typed config) and its handler.

pub mod autopath;
pub mod bind;
pub mod build;
pub mod cache;
pub mod chain;
pub mod errors;
pub mod fallthrough;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod kubernetes;
pub mod loadbalance;
pub mod log;
pub mod loop_detect;
pub mod metrics;
pub mod periodic;
pub mod ready;
pub mod reload;
pub mod rewrite;
pub mod setup;

use hickory_proto::op::{Message, MessageType, ResponseCode};

/// A response skeleton for `request`: same ID, opcode, RD and question; no records.
pub fn reply_to(request: &Message, rcode: ResponseCode) -> Message {
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.metadata.response_code = rcode;
    response.queries = request.queries.clone();
    response
}

#[cfg(test)]
mod tests;
