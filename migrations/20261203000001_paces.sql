-- One table for every rate the bot processes share, each a GCRA row on the database's clock
-- (`tat`: when the next request may go): `send` is Discord's global limit for what the bot
-- sends on its own, `identify:N` the gateway starts of `max_concurrency` bucket N. Replaces
-- the two tables each rate had.
CREATE TABLE paces (
    name TEXT PRIMARY KEY,
    tat  TIMESTAMPTZ NOT NULL
);
INSERT INTO paces (name, tat) SELECT 'send', tat FROM send_pace;
INSERT INTO paces (name, tat) SELECT 'identify:' || bucket, tat FROM identify_pace;
DROP TABLE send_pace;
DROP TABLE identify_pace;
