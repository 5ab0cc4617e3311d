-- A replayed answer is the first answer byte for byte with its content type: a kept refusal
-- stays application/problem+json, and an answer without a body (202) is kept too instead of
-- letting the retry run the request again. Answers kept before this were JSON documents.
ALTER TABLE idempotency_keys
    ALTER COLUMN body TYPE BYTEA USING convert_to(body::text, 'UTF8'),
    ADD COLUMN content_type TEXT;
UPDATE idempotency_keys SET content_type = 'application/json' WHERE body IS NOT NULL;
