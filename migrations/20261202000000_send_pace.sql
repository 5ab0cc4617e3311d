-- One pace for everything the bot sends on its own (DMs, channel posts), shared by every bot
-- process: Discord's global limit (50 requests a second) is per bot, not per process. A
-- sender reserves the next slot with one UPDATE of this single row (GCRA: `tat` is the
-- theoretical arrival time of the next request) and waits until it.
CREATE TABLE send_pace (
    id  BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    tat TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO send_pace DEFAULT VALUES;
