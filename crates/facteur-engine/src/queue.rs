//! The queue's policy, pure: when the next attempt is due. The durable rows and leases live in
//! the store; the loop that claims and dispatches them is [`crate::scheduler`].

use crate::config::RetryPolicy;

/// When to try again after `attempts` failed attempts (1 for the first failure), or `None`
/// when the message has expired. `jitter` in [0, 1) spreads retries by ±10 % so that a burst
/// of deferrals does not come back as a burst. The last try happens at expiry.
pub fn next_attempt(
    policy: &RetryPolicy,
    attempts: u32,
    now: i64,
    expires_at: i64,
    jitter: f64,
) -> Option<i64> {
    if now >= expires_at {
        return None;
    }
    let exp = policy
        .factor
        .powi(attempts.saturating_sub(1).min(64) as i32);
    let delay = (policy.initial.as_secs_f64() * exp).min(policy.max.as_secs_f64());
    let delay = delay * (0.9 + 0.2 * jitter.clamp(0.0, 1.0));
    let at = now + (delay * 1000.0) as i64;
    Some(at.min(expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn schedule_grows_caps_and_expires() {
        let p = RetryPolicy {
            initial: Duration::from_secs(300),
            max: Duration::from_secs(4 * 3600),
            factor: 2.0,
            lifetime: Duration::from_secs(5 * 86400),
        };
        let exp = 5 * 86_400_000;
        let delays: Vec<i64> = (1..=9)
            .map(|a| next_attempt(&p, a, 0, exp, 0.5).unwrap() / 1000)
            .collect();
        assert_eq!(
            delays,
            [300, 600, 1200, 2400, 4800, 9600, 14400, 14400, 14400]
        );
        assert_eq!(next_attempt(&p, 1, 0, exp, 0.0), Some(270_000));
        assert_eq!(
            next_attempt(&p, 1, 0, exp, 0.999_999).map(|t| t / 1000),
            Some(329)
        );
        assert_eq!(
            next_attempt(&p, 8, exp - 1000, exp, 0.5),
            Some(exp),
            "last try at expiry"
        );
        assert_eq!(next_attempt(&p, 8, exp, exp, 0.5), None);
    }
}
