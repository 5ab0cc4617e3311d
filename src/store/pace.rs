//! Rates every bot process shares (table `paces`), kept on the database's clock so that the
//! processes' own clocks need not agree. Each is GCRA: `tat` is when the next request may go,
//! and a reservation moves it on by one interval and says how long its caller waits.

use super::{Store, StoreResult};
use std::time::Duration;

/// A rate the processes share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Discord's global limit on what the bot sends on its own (DMs, channel posts).
    Send,
    /// Gateway starts (IDENTIFY) in one `max_concurrency` bucket.
    Identify(u16),
}

impl Pace {
    fn name(self) -> String {
        match self {
            Pace::Send => "send".into(),
            Pace::Identify(bucket) => format!("identify:{bucket}"),
        }
    }
}

impl Store {
    /// Reserves the next slot of `pace`: `interval` apart, `burst` at once after a quiet
    /// spell. Returns how long to wait before going.
    pub async fn reserve_slot(
        &self,
        pace: Pace,
        interval: Duration,
        burst: u32,
    ) -> StoreResult<Duration> {
        let wait: f64 = sqlx::query_scalar(
            "INSERT INTO paces AS p (name, tat) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (name) DO UPDATE
                 SET tat = greatest(p.tat, clock_timestamp()) + make_interval(secs => $2)
             RETURNING greatest(extract(epoch FROM tat - clock_timestamp())::float8 - $2 * $3, 0)",
        )
        .bind(pace.name())
        .bind(interval.as_secs_f64())
        .bind(f64::from(burst))
        .fetch_one(self.pool())
        .await?;
        Ok(Duration::from_secs_f64(wait))
    }

    /// Holds `pace` back for `wait` (Discord's `retry-after` on a global 429): the next slot
    /// any process reserves comes after it.
    pub async fn hold_pace(
        &self,
        pace: Pace,
        wait: Duration,
        interval: Duration,
        burst: u32,
    ) -> StoreResult<()> {
        // `reserve_slot` waits until `tat` less `interval * burst`; the next reservation
        // adds one interval.
        let until = wait.as_secs_f64() + interval.as_secs_f64() * f64::from(burst.max(1) - 1);
        sqlx::query(
            "INSERT INTO paces AS p (name, tat) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (name) DO UPDATE SET tat = greatest(p.tat, excluded.tat)",
        )
        .bind(pace.name())
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
