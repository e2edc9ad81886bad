//! Per-spoke token bucket on credit issuance, as Chainlink CCIP's rate limiter and
//! Wormhole's Governor cap value per window: even a fully compromised quorum can move at most
//! `capacity` per `window_ms` to one spoke.

use crate::error::XchainError;

/// A token bucket that refills `capacity` base units per `window_ms`, exactly in integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u128,
    window_ms: u64,
    /// Tokens × `window_ms`, so refills stay exact.
    level_scaled: u128,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u128, window_ms: u64) -> Result<TokenBucket, XchainError> {
        if window_ms == 0 {
            return Err(XchainError::config(
                "hub.rate_window_ms",
                "must be positive",
            ));
        }
        let level_scaled = capacity
            .checked_mul(window_ms as u128)
            .ok_or_else(|| XchainError::config("hub.rate_capacity", "too large"))?;
        Ok(TokenBucket {
            capacity,
            window_ms,
            level_scaled,
            last_ms: 0,
        })
    }

    fn refill(&self, now_ms: u64) -> u128 {
        let elapsed = now_ms.saturating_sub(self.last_ms) as u128;
        let cap = self.capacity * self.window_ms as u128;
        self.level_scaled
            .saturating_add(self.capacity.saturating_mul(elapsed))
            .min(cap)
    }

    /// Whole tokens available at `now_ms`.
    pub fn available(&self, now_ms: u64) -> u128 {
        self.refill(now_ms) / self.window_ms as u128
    }

    /// Takes `amount` tokens, or fails without changing the bucket.
    pub fn try_take(&mut self, spoke: u64, now_ms: u64, amount: u128) -> Result<(), XchainError> {
        let level = self.refill(now_ms);
        let need = amount.saturating_mul(self.window_ms as u128);
        if need > level {
            return Err(XchainError::RateLimited {
                spoke,
                requested: amount,
                available: level / self.window_ms as u128,
            });
        }
        self.level_scaled = level - need;
        self.last_ms = self.last_ms.max(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_pro_rata_and_caps_at_capacity() {
        // capacity 1,000 per 10,000 ms: after draining, 2,500 ms refill 250 tokens.
        let mut b = TokenBucket::new(1_000, 10_000).unwrap();
        b.try_take(1, 0, 1_000).unwrap();
        assert!(b.try_take(1, 2_500, 251).is_err());
        b.try_take(1, 2_500, 250).unwrap();
        assert_eq!(b.available(1_000_000), 1_000);
    }

    #[test]
    fn refused_take_leaves_bucket_unchanged() {
        let mut b = TokenBucket::new(100, 1_000).unwrap();
        let before = b.clone();
        let e = b.try_take(7, 0, 101).unwrap_err();
        assert!(matches!(
            e,
            XchainError::RateLimited {
                spoke: 7,
                requested: 101,
                available: 100
            }
        ));
        assert_eq!(b, before);
    }
}
