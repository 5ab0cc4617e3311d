-- Retention: finished outbox messages and webhook events with nothing left to deliver are
-- deleted by the hourly expiry once past their time (`scheduler/jobs.rs` `expire`). Without
-- it both tables grow by every DM, post and event for ever (ARCHITECTURE.md, Capacity).
-- The expiry finds old rows by these indexes instead of reading the whole table every hour.
-- A message enters `outbox_finished` when it stops being pending, an update that was never
-- HOT (`status` is in `outbox_pending`'s predicate), so its cost is one B-tree insert.
CREATE INDEX outbox_finished ON outbox (created_at) WHERE status <> 'pending';
-- No statement read events by workspace and time; the expiry reads them by time alone.
DROP INDEX webhook_events_time;
CREATE INDEX webhook_events_age ON webhook_events (created_at);
