-- When each member's agenda and each workspace's digest is next due, so that the minute scan
-- reads only what is due instead of every member and every workspace, and opens no
-- transaction for a slot it took already (the old scan read every member each minute and,
-- once their morning had passed, probed the outbox for each of them until midnight; and
-- opened one or two transactions a minute for every workspace with a digest channel).
--
-- The times live in tables of their own, not in `members` and `workspaces`: those rows are
-- audited whole, and a scheduler writing to them would make `/undo` of a settings change
-- refuse as "changed since".
--
-- `next_at` '-infinity' means "not worked out yet": a new member, or a zone, time, channel or
-- day that changed. The scan works those out with chrono-tz, as it does every due slot, and
-- reads due rows with `next_at <= now ORDER BY next_at`: a plain index scan, which marks the
-- index entries of rows updated since as dead (a bitmap scan, which `IS NULL OR <=` needs,
-- never does, and would walk every stale entry each minute until vacuum).
-- `generation` is new from a sequence at each reset (never reused, even when `/undo` deletes
-- and re-inserts the member or workspace), so a scan that read the old settings cannot store
-- a time worked out from them over the reset: its update names the generation it read.
-- Only rows that may be due exist: members who accept DMs, workspaces with a digest channel.

CREATE SEQUENCE schedule_generations;

CREATE TABLE agenda_schedule (
    workspace_id  BIGINT NOT NULL,
    user_id       BIGINT NOT NULL,
    next_at       TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    generation    BIGINT NOT NULL DEFAULT nextval('schedule_generations'),
    PRIMARY KEY (workspace_id, user_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES members ON DELETE CASCADE
);
CREATE INDEX agenda_schedule_due ON agenda_schedule (next_at);

CREATE TABLE digest_schedule (
    workspace_id  BIGINT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    next_at       TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    generation    BIGINT NOT NULL DEFAULT nextval('schedule_generations')
);
CREATE INDEX digest_schedule_due ON digest_schedule (next_at);

-- Every row is updated once a day (agendas) or a week (digests): vacuum them well before the
-- default 20% of dead rows.
ALTER TABLE agenda_schedule SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE digest_schedule SET (autovacuum_vacuum_scale_factor = 0.02);

CREATE FUNCTION agenda_schedule_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.dm_closed THEN
        DELETE FROM agenda_schedule WHERE workspace_id = NEW.workspace_id AND user_id = NEW.user_id;
    ELSE
        INSERT INTO agenda_schedule (workspace_id, user_id) VALUES (NEW.workspace_id, NEW.user_id)
        ON CONFLICT (workspace_id, user_id)
        DO UPDATE SET next_at = '-infinity', generation = nextval('schedule_generations');
    END IF;
    RETURN NULL;
END $$;

-- `/undo` puts a member or workspace back by deleting and inserting it, hence the inserts.
CREATE TRIGGER members_agenda_schedule AFTER INSERT ON members
    FOR EACH ROW EXECUTE FUNCTION agenda_schedule_reset();
CREATE TRIGGER members_agenda_schedule_change AFTER UPDATE OF timezone, agenda_time, dm_closed ON members
    FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone
          OR OLD.agenda_time IS DISTINCT FROM NEW.agenda_time
          OR OLD.dm_closed IS DISTINCT FROM NEW.dm_closed)
    EXECUTE FUNCTION agenda_schedule_reset();

-- The digest posts still waiting for their channel, which a channel change moves: without it
-- every change (and every `/undo` of a workspace setting) would read the workspace's month
-- of outbox rows. Small: a digest is pending for minutes, or hours while its channel refuses.
CREATE INDEX outbox_pending_channel ON outbox (workspace_id)
    WHERE status = 'pending' AND target = 'channel';

CREATE FUNCTION digest_schedule_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.digest_channel_id IS NULL THEN
        DELETE FROM digest_schedule WHERE workspace_id = NEW.id;
    ELSE
        INSERT INTO digest_schedule (workspace_id) VALUES (NEW.id)
        ON CONFLICT (workspace_id)
        DO UPDATE SET next_at = '-infinity', generation = nextval('schedule_generations');
    END IF;
    -- A digest still waiting to be posted (the old channel refused it, or it is due again
    -- soon) goes to the new channel, or nowhere when the digest is turned off; on INSERT too,
    -- which is how `/undo` puts a setting back. Its time is left alone: a worker may hold it
    -- under a lease this very moment (the worker checks the channel again when one refuses).
    IF TG_OP = 'INSERT' OR OLD.digest_channel_id IS DISTINCT FROM NEW.digest_channel_id THEN
        IF NEW.digest_channel_id IS NULL THEN
            UPDATE outbox SET status = 'skipped', last_error = 'the digest was turned off'
            WHERE workspace_id = NEW.id AND kind = 'digest' AND target = 'channel' AND status = 'pending';
        ELSE
            UPDATE outbox SET channel_id = NEW.digest_channel_id
            WHERE workspace_id = NEW.id AND kind = 'digest' AND target = 'channel' AND status = 'pending'
              AND channel_id IS DISTINCT FROM NEW.digest_channel_id;
        END IF;
    END IF;
    -- Members without a zone of their own keep the workspace's.
    IF TG_OP = 'INSERT' OR OLD.timezone IS DISTINCT FROM NEW.timezone THEN
        UPDATE agenda_schedule s SET next_at = '-infinity', generation = nextval('schedule_generations')
        FROM members m
        WHERE m.workspace_id = NEW.id AND m.timezone IS NULL
          AND s.workspace_id = m.workspace_id AND s.user_id = m.user_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER workspaces_digest_schedule AFTER INSERT ON workspaces
    FOR EACH ROW EXECUTE FUNCTION digest_schedule_reset();
CREATE TRIGGER workspaces_digest_schedule_change
    AFTER UPDATE OF timezone, digest_channel_id, digest_weekday, digest_time ON workspaces
    FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone
          OR OLD.digest_channel_id IS DISTINCT FROM NEW.digest_channel_id
          OR OLD.digest_weekday IS DISTINCT FROM NEW.digest_weekday
          OR OLD.digest_time IS DISTINCT FROM NEW.digest_time)
    EXECUTE FUNCTION digest_schedule_reset();

-- After the triggers: a member or channel added by a process still running the old code
-- while this migrates either committed before the triggers' locks (and is read here) or
-- waits for them (and goes through the triggers).
INSERT INTO agenda_schedule (workspace_id, user_id)
SELECT workspace_id, user_id FROM members WHERE NOT dm_closed
ON CONFLICT DO NOTHING;
INSERT INTO digest_schedule (workspace_id)
SELECT id FROM workspaces WHERE digest_channel_id IS NOT NULL
ON CONFLICT DO NOTHING;
