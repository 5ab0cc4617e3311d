-- Discord lets a bot start (IDENTIFY) one gateway session per 5 seconds in each of its
-- `max_concurrency` buckets (bucket = shard id % max_concurrency), counted over every
-- connection of the bot, whichever process opens it. Each process's gateway connections
-- reserve their bucket's next slot here (GCRA, as `send_pace`) and wait until it.
CREATE TABLE identify_pace (
    bucket INTEGER PRIMARY KEY CHECK (bucket >= 0),
    tat    TIMESTAMPTZ NOT NULL
);
