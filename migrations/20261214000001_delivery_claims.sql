-- Each claim of an outbox message or a webhook delivery writes a random claim; every outcome
-- the worker records names it. A worker whose lease ran out and whose row another worker has
-- claimed since (or an admin has sent again) then changes nothing: its late outcome cannot
-- hand the row back under the other's send, nor mark a redelivery failed.
ALTER TABLE outbox ADD COLUMN claim BIGINT;
ALTER TABLE webhook_deliveries ADD COLUMN claim BIGINT;
