//! `bufsize [SIZE]`: caps the EDNS0 UDP payload size of the block's queries at SIZE (512 to
//! 4096, 1232 by default), as CoreDNS's bufsize does against IP fragmentation: the request
//! passed on (and so what `forward` tells upstreams) says at most SIZE, and the server answers
//! and advertises at most SIZE over UDP. The server's own cap is 1232 already, so a larger SIZE
//! changes only what upstreams are told.

use hickory_proto::op::Message;

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "bufsize";
pub const DEFAULT_SIZE: u16 = 1232;
const MIN_SIZE: u16 = 512;
const MAX_SIZE: u16 = 4096;

pub fn parse(d: &Directive) -> Result<u16, SetupError> {
    if let Some(option) = d.block.first() {
        return Err(crate::plugin::setup::unknown_property(PLUGIN, option));
    }
    match d.args.as_slice() {
        [] => Ok(DEFAULT_SIZE),
        [size] => size
            .value
            .parse::<u16>()
            .ok()
            .filter(|s| (MIN_SIZE..=MAX_SIZE).contains(s))
            .ok_or_else(|| {
                SetupError::new(
                    PLUGIN,
                    &size.location,
                    format!(
                        "buffer size must be an integer from {MIN_SIZE} to {MAX_SIZE}, not {:?}",
                        size.value
                    ),
                )
            }),
        [_, extra, ..] => Err(SetupError::new(
            PLUGIN,
            &extra.location,
            "bufsize takes one size",
        )),
    }
}

/// The block's queries, their advertised size capped.
pub struct BufSize(pub u16);

impl Plugin for BufSize {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let larger = request
            .edns
            .as_ref()
            .is_some_and(|e| e.max_payload() > self.0);
        if !larger {
            return next.run(request);
        }
        let mut capped = request.clone();
        if let Some(edns) = capped.edns.as_mut() {
            edns.set_max_payload(self.0);
        }
        Serving::pending(async move { next.run(&capped).await })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let size = parse(d)?;
        setup.cap_udp_size(size);
        setup.add(BufSize(size));
    }
    Ok(())
}
