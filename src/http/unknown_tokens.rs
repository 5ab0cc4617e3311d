//! Tokens not seen lately, limited by client address. The per-token limiter needs a token it
//! knows, so without this a flood of well-formed, made-up tokens would cost a database
//! transaction each with nothing to slow it. A request whose token has not authenticated
//! lately spends one of its address's budget before the database is asked; past the budget it
//! is answered 429. A token that authenticated lately passes without spending: a client behind
//! the same proxy or NAT as a flood keeps working, and a client with a token costs its address
//! one of the budget every ten minutes at most.

use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token that authenticated passes without spending its address's budget.
const KNOWN_FOR: Duration = Duration::from_secs(600);

/// Past this many remembered tokens, the expired ones are dropped. The limiter's per-address
/// state is pruned the same way, its next prune set at twice what stayed, so that a flood from
/// many addresses costs no scan of them all on every request.
const PRUNE_PAST: usize = 4096;

pub(super) struct UnknownTokens {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Hashes of tokens that authenticated, when last.
    known: HashMap<[u8; 32], Instant>,
    /// The limiter's size at which its idle addresses are dropped next.
    prune_limiter_at: usize,
}

impl UnknownTokens {
    /// `burst` lookups of unknown tokens an address may make at once, refilled at
    /// `per_minute`.
    pub(super) fn new(burst: u32, per_minute: u32) -> UnknownTokens {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        UnknownTokens {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            ),
            state: Mutex::default(),
        }
    }

    /// The address as limited: IPv6 by its /64, which one host commonly holds whole.
    fn key(addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        }
    }

    /// Whether a request may ask the database about its token: a token that authenticated
    /// lately may; any other spends one of its address's budget, and `Err(seconds)` to wait
    /// when the budget is spent.
    pub(super) fn admit(&self, addr: IpAddr, token: &[u8; 32], now: Instant) -> Result<(), u64> {
        let mut state = self.lock();
        if state
            .known
            .get(token)
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_FOR)
        {
            return Ok(());
        }
        let outcome = self.limiter.check_key(&Self::key(addr));
        if self.limiter.len() >= state.prune_limiter_at.max(PRUNE_PAST) {
            self.limiter.retain_recent();
            state.prune_limiter_at = self.limiter.len() * 2;
        }
        outcome.map_err(|not_until| {
            metrics::counter!("salesbot_api_unknown_tokens_held_total").increment(1);
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            super::secs_up(wait)
        })
    }

    /// A token authenticated: it passes without spending for a while.
    pub(super) fn succeeded(&self, token: [u8; 32], now: Instant) {
        let mut state = self.lock();
        if state.known.len() >= PRUNE_PAST {
            state
                .known
                .retain(|_, at| now.saturating_duration_since(*at) < KNOWN_FOR);
        }
        state.known.insert(token, now);
    }

    /// A token did not authenticate (unknown, revoked, expired): it spends again from now on.
    pub(super) fn failed(&self, token: &[u8; 32]) {
        self.lock().known.remove(token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The map holds no invariant a panicking holder could break halfway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_tokens_spend_their_addresses_budget_and_known_ones_pass() {
        // One a minute: nothing refills while the test runs.
        let f = UnknownTokens::new(20, 1);
        let now = Instant::now();
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        let (known, unknown) = ([1u8; 32], [2u8; 32]);
        f.succeeded(known, now);
        for _ in 0..20 {
            assert_eq!(f.admit(addr, &unknown, now), Ok(()));
        }
        assert!(matches!(f.admit(addr, &unknown, now), Err(1..)));
        assert_eq!(
            f.admit(addr, &known, now),
            Ok(()),
            "a known token still passes"
        );
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(
            f.admit(other, &unknown, now),
            Ok(()),
            "other addresses are not held"
        );
        // Revoked since: it spends like any other, and the address has nothing left.
        f.failed(&known);
        assert!(f.admit(addr, &known, now).is_err());
        assert_eq!(
            f.admit(addr, &known, now + KNOWN_FOR),
            Err(60),
            "a minute to the next"
        );
    }

    #[test]
    fn ipv6_addresses_are_held_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(UnknownTokens::key(a), UnknownTokens::key(b));
        assert_ne!(UnknownTokens::key(a), UnknownTokens::key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            UnknownTokens::key(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
