-- When an attempt at a message ended without an answer that says whether Discord took it (the
-- connection dropped or timed out after the request went, or a 5xx), the first such time is
-- kept. Discord returns the earlier message for a repeated nonce only within a few minutes,
-- so the next attempts go while it still would (`src/outbox.rs`, `NONCE_WINDOW`), not after
-- a backoff that may have grown to an hour. Cleared with the row's delivery.
ALTER TABLE outbox ADD COLUMN maybe_taken_at TIMESTAMPTZ;
