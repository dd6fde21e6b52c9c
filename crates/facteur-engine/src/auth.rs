//! The one check of an API key and secret key, for SMTP AUTH and HTTP Basic alike, with the
//! per-address throttling of failures.

use facteur_store::Account;

use crate::engine::Engine;
use crate::metrics::Metrics;

/// What a suspended key is told, on every path.
pub const SUSPENDED: &str = "This API key is suspended: reactivate it with its master key";

/// Why an API key and secret key were not accepted.
#[derive(Debug)]
pub enum AuthDenied {
    /// No (or unreadable) credentials, or wrong ones.
    Invalid,
    /// Right credentials of a suspended key.
    Suspended,
    /// The client address failed too often recently (`auth_failures_per_ip`).
    Throttled,
    Unavailable(facteur_store::Error),
}

impl Engine {
    /// Checks a key and secret: failures are counted per client address and, past
    /// `auth_failures_per_ip` within 5 minutes, refused without a store lookup.
    pub async fn check_key(
        &self,
        key: &str,
        secret: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Account, AuthDenied> {
        let now = std::time::Instant::now();
        if let Some(ip) = ip
            && self.auth_limiter.blocked(ip, now)
        {
            Metrics::inc(&self.metrics.auth_throttled_total);
            return Err(AuthDenied::Throttled);
        }
        match self.store.verify_credentials(key, secret).await {
            Ok(Some(account)) if account.is_active => Ok(account),
            Ok(Some(account)) => {
                Metrics::inc(&self.metrics.auth_failures_total);
                tracing::info!(api_key = %account.api_key, "authentication refused: the API key is suspended");
                Err(AuthDenied::Suspended)
            }
            Ok(None) => {
                Metrics::inc(&self.metrics.auth_failures_total);
                if let Some(ip) = ip {
                    self.auth_limiter.failed(ip, now);
                    tracing::info!(client = %ip, "authentication failed");
                }
                Err(AuthDenied::Invalid)
            }
            Err(e) => {
                Metrics::inc(&self.metrics.store_failures_total);
                Err(AuthDenied::Unavailable(e))
            }
        }
    }
}
