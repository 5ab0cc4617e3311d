-- Which request holds an `Idempotency-Key` now: a random id each claim (and each takeover of
-- a stalled one) writes. Releasing, answering and marking a key applied all name it, so a
-- first request that stalled past the takeover and then failed cannot delete or overwrite
-- the key its retry now holds, and a command under a key another request holds is refused
-- instead of run.
ALTER TABLE idempotency_keys ADD COLUMN claim BIGINT;
