//! Message and row ids: 64-bit, time-ordered, unique across nodes without a round trip.
//! Layout: 41 bits of milliseconds since 2024-01-01, 10 bits of node, 12 bits of sequence.
//! Within a node ids strictly increase even if the clock steps back.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const EPOCH_MS: i64 = 1_704_067_200_000;

#[derive(Clone, Debug)]
pub struct IdGen {
    node: i64,
    last: Arc<AtomicI64>,
}

impl Default for IdGen {
    fn default() -> Self {
        Self::new()
    }
}

impl IdGen {
    /// A generator with a random node number.
    pub fn new() -> Self {
        use ring::rand::SecureRandom;
        let mut b = [0u8; 2];
        ring::rand::SystemRandom::new()
            .fill(&mut b)
            .expect("system random source");
        IdGen {
            node: i64::from(u16::from_le_bytes(b) & 0x3ff),
            last: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The next id for a clock reading of `now_ms` (Unix milliseconds).
    pub fn next(&self, now_ms: i64) -> i64 {
        let base = ((now_ms - EPOCH_MS).max(0) << 22) | (self.node << 12);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let id = if base > last { base } else { last + 1 };
            match self
                .last
                .compare_exchange_weak(last, id, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return id,
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_even_when_clock_steps_back() {
        let g = IdGen::new();
        let a = g.next(1_800_000_000_000);
        let b = g.next(1_800_000_000_000);
        let c = g.next(1_700_000_000_000);
        assert!(a < b && b < c && a > 0);
    }
}
