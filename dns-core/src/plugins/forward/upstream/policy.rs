//! The order in which upstreams are tried (`policy random|round_robin|sequential`).

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// A fresh random order per query (CoreDNS's default).
    #[default]
    Random,
    /// The list rotated by one more for each query.
    RoundRobin,
    /// Always the Corefile order.
    Sequential,
}

impl Policy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "random" => Some(Policy::Random),
            "round_robin" => Some(Policy::RoundRobin),
            "sequential" => Some(Policy::Sequential),
            _ => None,
        }
    }

    /// Indexes of `n` upstreams in the order to try them; `turn` is the round-robin counter.
    pub fn order(self, n: usize, turn: &AtomicUsize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        match self {
            Policy::Sequential => {}
            Policy::RoundRobin => {
                if n > 0 {
                    let start = turn.fetch_add(1, Ordering::Relaxed) % n;
                    order.rotate_left(start);
                }
            }
            Policy::Random => fastrand::shuffle(&mut order),
        }
        order
    }
}
