//! Section leases: one writer per section. Taking a section takes its lease for [`LEASE_MS`];
//! the editor renews it with a heartbeat every [`HEARTBEAT_MS`] and releases it on blur, close
//! or disconnect; a lease nobody renewed expires by itself.

/// How long a lease lasts without renewal.
pub const LEASE_MS: i64 = 30_000;
/// How often an editor renews its leases and presence.
pub const HEARTBEAT_MS: i64 = 10_000;

/// A section's lease as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub section: String,
    pub user: i64,
    /// The connection that holds it (a person may have the template open twice).
    pub conn: String,
    /// Unix milliseconds.
    pub until: i64,
}

impl Lease {
    pub fn live(&self, now: i64) -> bool {
        self.until > now
    }
}

/// Whether `user` on `conn` may take (or renew) a section whose lease is `current`: when it
/// is free, expired, or already theirs. `Err` names the holder.
pub fn may_take(current: Option<&Lease>, user: i64, now: i64) -> Result<(), i64> {
    match current {
        Some(l) if l.live(now) && l.user != user => Err(l.user),
        _ => Ok(()),
    }
}

/// The holder of a section among `leases`, if its lease is live.
pub fn holder(leases: &[Lease], section: &str, now: i64) -> Option<i64> {
    leases
        .iter()
        .find(|l| l.section == section && l.live(now))
        .map(|l| l.user)
}

/// A person's colour in the editor (presence, leases): the same everywhere for one person.
pub fn colour(user: i64) -> &'static str {
    const PALETTE: [&str; 10] = [
        "#d9480f", "#1971c2", "#2b8a3e", "#ae3ec9", "#e8590c", "#0c8599", "#c2255c", "#5f3dc4",
        "#66a80f", "#f08c00",
    ];
    PALETTE[(user.unsigned_abs() % PALETTE.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases() {
        let l = Lease {
            section: "s1".into(),
            user: 1,
            conn: "a".into(),
            until: 1_000,
        };
        assert_eq!(may_take(Some(&l), 2, 999), Err(1));
        assert_eq!(may_take(Some(&l), 1, 999), Ok(()));
        assert_eq!(may_take(Some(&l), 2, 1_000), Ok(()), "expired");
        assert_eq!(may_take(None, 2, 0), Ok(()));
        assert_eq!(holder(std::slice::from_ref(&l), "s1", 10), Some(1));
        assert_eq!(holder(&[l], "s1", 1_000), None);
        assert_eq!(colour(7), colour(7));
    }
}
