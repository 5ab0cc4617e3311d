//! Rates every bot process shares, kept on the database's clock so that the processes' own
//! clocks need not agree: Discord's global send limit (`send_pace`) and its gateway start
//! limit (`identify_pace`). Both are GCRA: `tat` is when the next request may go, a
//! reservation moves it on by one interval and says how long its caller waits.

use super::{Store, StoreResult};
use std::time::Duration;

impl Store {
    /// Reserves the next slot of the send pace: `interval` apart, `burst` at once after a
    /// quiet spell. Returns how long to wait before sending.
    pub async fn reserve_send_slot(&self, interval: Duration, burst: u32) -> StoreResult<Duration> {
        let wait: f64 = sqlx::query_scalar(
            "UPDATE send_pace SET tat = greatest(tat, clock_timestamp()) + make_interval(secs => $1)
             RETURNING greatest(extract(epoch FROM tat - clock_timestamp())::float8 - $1 * $2, 0)",
        )
        .bind(interval.as_secs_f64())
        .bind(f64::from(burst))
        .fetch_one(self.pool())
        .await?;
        Ok(Duration::from_secs_f64(wait))
    }

    /// Reserves the next gateway start of rate-limit bucket `bucket`: one per `interval`,
    /// never two at once. Returns how long to wait before sending the IDENTIFY.
    pub async fn reserve_identify_slot(
        &self,
        bucket: u16,
        interval: Duration,
    ) -> StoreResult<Duration> {
        let wait: f64 = sqlx::query_scalar(
            "INSERT INTO identify_pace AS p (bucket, tat)
             VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (bucket) DO UPDATE
                 SET tat = greatest(p.tat, clock_timestamp()) + make_interval(secs => $2)
             RETURNING greatest(extract(epoch FROM tat - clock_timestamp())::float8 - $2, 0)",
        )
        .bind(i32::from(bucket))
        .bind(interval.as_secs_f64())
        .fetch_one(self.pool())
        .await?;
        Ok(Duration::from_secs_f64(wait))
    }
}
