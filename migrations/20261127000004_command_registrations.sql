-- What was last registered with Discord, per scope ('global' or 'guild:<id>'), so the bot
-- registers its manifests only when they changed (Discord allows 200 creations a day).
CREATE TABLE command_registrations (
    scope          TEXT PRIMARY KEY,
    manifest_hash  TEXT NOT NULL,
    registered_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
