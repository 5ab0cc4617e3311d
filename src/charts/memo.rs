//! The charts drawn last, by everything they show. A chart is a pure function of its inputs,
//! and the same one is asked for again and again: a team's funnel changes only when a deal
//! reaches a stage it had not reached, while `/pipeline stats` draws it on every call (about a
//! tenth of the bot's CPU under the benchmark's mix, measured with perf). Same inputs, same
//! bytes: what a memo hands out is what drawing would have made, so no workspace can see
//! anything through it that its own figures would not draw.

use hashlink::LruCache;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// At most `capacity` results, the least recently used going first.
pub(crate) struct Memo<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, Arc<V>>>,
}

impl<K: Hash + Eq, V> Memo<K, V> {
    pub(crate) fn new(capacity: usize) -> Memo<K, V> {
        Memo {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The result for `key`, made with `make` when it is not held. Drawing happens outside the
    /// lock (two callers missing at once both draw; the second result is kept); a failure is
    /// not kept.
    pub(crate) fn get_or_make<E>(
        &self,
        key: K,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(held) = self.lock().get(&key) {
            return Ok(held.clone());
        }
        let made = Arc::new(make()?);
        self.lock().insert(key, made.clone());
        Ok(made)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<K, Arc<V>>> {
        // A panic while the lock was held leaves at worst a missing entry: carry on.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::Memo;
    use std::cell::Cell;

    #[test]
    fn a_result_is_made_once_then_handed_out_until_it_is_the_oldest_of_too_many() {
        let memo: Memo<u32, String> = Memo::new(2);
        let made = Cell::new(0);
        let make = |k: u32| {
            made.set(made.get() + 1);
            Ok::<_, ()>(format!("chart {k}"))
        };
        assert_eq!(*memo.get_or_make(1, || make(1)).expect("made"), "chart 1");
        assert_eq!(*memo.get_or_make(1, || make(1)).expect("held"), "chart 1");
        assert_eq!(made.get(), 1, "the second call is served from the memo");
        memo.get_or_make(2, || make(2)).expect("made");
        memo.get_or_make(1, || make(1)).expect("held"); // 1 is now the most recent
        memo.get_or_make(3, || make(3)).expect("made"); // 2 goes
        assert_eq!(made.get(), 3);
        memo.get_or_make(1, || make(1)).expect("still held");
        assert_eq!(made.get(), 3);
        memo.get_or_make(2, || make(2)).expect("made again");
        assert_eq!(made.get(), 4, "the least recently used went first");
    }

    #[test]
    fn a_failure_is_not_kept() {
        let memo: Memo<u32, String> = Memo::new(2);
        assert!(memo.get_or_make(1, || Err::<String, _>("no")).is_err());
        let again = memo.get_or_make(1, || Ok::<_, &str>("drawn".to_string()));
        assert_eq!(*again.expect("made"), "drawn");
    }
}
