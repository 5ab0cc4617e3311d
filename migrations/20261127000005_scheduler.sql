-- What the scheduler needs to decide, per item, whether its message is already on its way.

-- The due time a reminder was last sent for; a snooze moves due_at and so re-arms it.
ALTER TABLE tasks ADD COLUMN reminded_due_at TIMESTAMPTZ;

-- Per-stage rotting threshold (like Pipedrive's); NULL falls back to the workspace's.
ALTER TABLE stages ADD COLUMN stale_days INT CHECK (stale_days BETWEEN 1 AND 365);

-- Members choose their agenda time; workdays only.
-- (members.agenda_time exists since the first migration.)

-- Delivery bookkeeping: what kind of message, its logical slot, when it became due, and why
-- it was given up or skipped.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
ALTER TABLE outbox ADD COLUMN due_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- Attachment bytes (chart PNGs) beside the JSON payload, which names them in order.
ALTER TABLE outbox ADD COLUMN files BYTEA[] NOT NULL DEFAULT '{}';
