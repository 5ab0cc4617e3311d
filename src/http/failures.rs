//! Failed authentications by client address. The per-token limiter needs a token it knows, so
//! without this a flood of well-formed, made-up tokens would cost a database transaction each
//! with nothing to slow it. An address past its budget of failures is answered 429 before the
//! database is asked, except for tokens that authenticated lately: a client behind the same
//! proxy or NAT as the flood keeps working.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may have at once after a quiet spell, and how fast the budget refills:
/// a client with a revoked token sees its 401s, a scanner is held to two guesses a second.
const BURST: NonZeroU32 = NonZeroU32::new(20).unwrap();
const PER_SECOND: NonZeroU32 = NonZeroU32::new(2).unwrap();

/// How long a token that authenticated passes a blocked address.
const KNOWN_FOR: Duration = Duration::from_secs(600);

/// Past this many remembered addresses or tokens, the expired ones are dropped. The
/// limiter's own per-address state is pruned the same way, its next prune set at twice what
/// stayed, so that a flood from many addresses costs no scan of them all on every failure.
const PRUNE_PAST: usize = 4096;

pub(super) struct AuthFailures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Addresses past their budget, until when.
    blocked: HashMap<IpAddr, Instant>,
    /// Hashes of tokens that authenticated, when last.
    known: HashMap<[u8; 32], Instant>,
    /// The limiter's size at which its idle addresses are dropped next.
    prune_limiter_at: usize,
}

impl AuthFailures {
    pub(super) fn new() -> AuthFailures {
        AuthFailures {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(PER_SECOND).allow_burst(BURST),
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

    /// Whether a request may ask the database about its token: `Err(seconds)` to wait when
    /// its address is past its budget and the token has not authenticated lately.
    pub(super) fn admit(&self, addr: IpAddr, token: &[u8; 32], now: Instant) -> Result<(), u64> {
        let mut state = self.lock();
        if state
            .known
            .get(token)
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_FOR)
        {
            return Ok(());
        }
        let key = Self::key(addr);
        match state.blocked.get(&key) {
            Some(until) if *until > now => {
                let wait = *until - now;
                Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
            Some(_) => {
                state.blocked.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A token authenticated: it passes its address's block for a while.
    pub(super) fn succeeded(&self, token: [u8; 32], now: Instant) {
        let mut state = self.lock();
        if state.known.len() >= PRUNE_PAST {
            state
                .known
                .retain(|_, at| now.saturating_duration_since(*at) < KNOWN_FOR);
        }
        state.known.insert(token, now);
    }

    /// A well-formed token was not one we know (or no longer valid): counts against its
    /// address, which is blocked once past its budget.
    pub(super) fn failed(&self, addr: IpAddr, now: Instant) {
        let key = Self::key(addr);
        let outcome = self.limiter.check_key(&key);
        let mut state = self.lock();
        if self.limiter.len() >= state.prune_limiter_at.max(PRUNE_PAST) {
            self.limiter.retain_recent();
            state.prune_limiter_at = self.limiter.len() * 2;
        }
        let Err(not_until) = outcome else {
            return;
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        if state.blocked.len() >= PRUNE_PAST {
            state.blocked.retain(|_, until| *until > now);
        }
        state.blocked.insert(key, now + wait);
        metrics::counter!("salesbot_api_auth_failures_blocked_total").increment(1);
        tracing::warn!(address = %key, "too many failed API authentications; address held back");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The maps hold no invariant a panicking holder could break halfway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_budget_waits_but_a_known_token_passes() {
        let f = AuthFailures::new();
        let now = Instant::now();
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        let (known, unknown) = ([1u8; 32], [2u8; 32]);
        f.succeeded(known, now);
        for _ in 0..BURST.get() {
            assert_eq!(f.admit(addr, &unknown, now), Ok(()));
            f.failed(addr, now);
        }
        f.failed(addr, now);
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
        assert_eq!(
            f.admit(addr, &unknown, now + Duration::from_secs(1)),
            Ok(()),
            "the budget refills"
        );
    }

    #[test]
    fn ipv6_addresses_are_held_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AuthFailures::key(a), AuthFailures::key(b));
        assert_ne!(AuthFailures::key(a), AuthFailures::key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            AuthFailures::key(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
