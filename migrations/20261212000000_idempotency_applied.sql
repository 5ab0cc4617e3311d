-- An API write under an `Idempotency-Key` records, in the command's own transaction, that it
-- was applied and what its reply named (the engine's `Reply::data`). The answer is kept
-- afterwards in a transaction of its own; if that never happens (the read-back failed, the
-- process died between the two), a retry finds the key applied and is answered from the
-- record instead of running the command a second time.
ALTER TABLE idempotency_keys ADD COLUMN applied JSONB;
