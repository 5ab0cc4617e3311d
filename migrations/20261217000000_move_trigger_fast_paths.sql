-- A deal move between open stages, the most frequent write there is, takes a short path
-- through the deal totals trigger. Measured with pgbench (one client, prepared) on the
-- discord benchmark's database, a single-row stage UPDATE cost 391-401 µs with the trigger as
-- it was and 357-371 µs with the path below (about 300 µs without the trigger): the general
-- statement's aggregate over every possible side of the change (Append, Sort, Aggregate, for
-- two rows) cost more to start than its rows cost to write.
--
-- Both paths take the rows in key order (migration 20261202000001) and write the same sums;
-- the running-totals tests compare them with a recount of the deals after every kind of write.
CREATE OR REPLACE FUNCTION deal_totals_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    has_old BOOLEAN := TG_OP IN ('UPDATE', 'DELETE');
    has_new BOOLEAN := TG_OP IN ('UPDATE', 'INSERT');
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (OLD.workspace_id, OLD.owner_id, OLD.stage_id, OLD.status, OLD.amount_minor, OLD.furthest_position,
            OLD.created_at, OLD.closed_at)
           IS NOT DISTINCT FROM
           (NEW.workspace_id, NEW.owner_id, NEW.stage_id, NEW.status, NEW.amount_minor, NEW.furthest_position,
            NEW.created_at, NEW.closed_at) THEN
        RETURN NULL;
    END IF;
    -- A move between open stages changes at most two open-totals rows and, when the deal
    -- reaches a stage further than before, two created-day rows: each pair is one plain
    -- upsert, its rows in key order.
    IF TG_OP = 'UPDATE' AND OLD.status = 'open' AND NEW.status = 'open'
       AND OLD.workspace_id = NEW.workspace_id AND OLD.owner_id = NEW.owner_id
       AND OLD.amount_minor = NEW.amount_minor AND OLD.created_at = NEW.created_at THEN
        IF OLD.stage_id < NEW.stage_id THEN
            INSERT INTO deal_open_totals AS t
            VALUES (OLD.workspace_id, OLD.owner_id, OLD.stage_id, -1, -OLD.amount_minor),
                   (NEW.workspace_id, NEW.owner_id, NEW.stage_id, 1, NEW.amount_minor)
            ON CONFLICT (workspace_id, owner_id, stage_id) DO UPDATE
                SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;
        ELSIF OLD.stage_id > NEW.stage_id THEN
            INSERT INTO deal_open_totals AS t
            VALUES (NEW.workspace_id, NEW.owner_id, NEW.stage_id, 1, NEW.amount_minor),
                   (OLD.workspace_id, OLD.owner_id, OLD.stage_id, -1, -OLD.amount_minor)
            ON CONFLICT (workspace_id, owner_id, stage_id) DO UPDATE
                SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;
        END IF;
        IF OLD.furthest_position < NEW.furthest_position THEN
            INSERT INTO deal_daily_totals AS t
            VALUES (OLD.workspace_id, (OLD.created_at AT TIME ZONE 'UTC')::date, OLD.owner_id, 1,
                    OLD.furthest_position, -1, -OLD.amount_minor, 0),
                   (NEW.workspace_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.owner_id, 1,
                    NEW.furthest_position, 1, NEW.amount_minor, 0)
            ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
                SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
                    cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;
        ELSIF OLD.furthest_position > NEW.furthest_position THEN
            INSERT INTO deal_daily_totals AS t
            VALUES (NEW.workspace_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.owner_id, 1,
                    NEW.furthest_position, 1, NEW.amount_minor, 0),
                   (OLD.workspace_id, (OLD.created_at AT TIME ZONE 'UTC')::date, OLD.owner_id, 1,
                    OLD.furthest_position, -1, -OLD.amount_minor, 0)
            ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
                SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
                    cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;
        END IF;
        RETURN NULL;
    END IF;
    -- Rows in key order, both sides netted per row: concurrent changes take the rows in the
    -- same order (migration 20261202000001), and a row that nets to nothing is left alone.
    INSERT INTO deal_open_totals AS t
    SELECT s.workspace_id, s.owner_id, s.stage_id, sum(s.deals), sum(s.amount_minor)
    FROM (SELECT OLD.workspace_id, OLD.owner_id, OLD.stage_id, -1 AS deals, -OLD.amount_minor AS amount_minor
          WHERE has_old AND OLD.status = 'open'
          UNION ALL
          SELECT NEW.workspace_id, NEW.owner_id, NEW.stage_id, 1, NEW.amount_minor
          WHERE has_new AND NEW.status = 'open') s
    GROUP BY 1, 2, 3
    HAVING sum(s.deals) <> 0 OR sum(s.amount_minor) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (workspace_id, owner_id, stage_id) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;
    INSERT INTO deal_daily_totals AS t
    SELECT s.workspace_id, s.day, s.owner_id, s.kind, s.key, sum(s.deals), sum(s.amount_minor), sum(s.cycle_seconds)
    FROM (SELECT OLD.workspace_id, (OLD.created_at AT TIME ZONE 'UTC')::date AS day, OLD.owner_id, 1::smallint AS kind,
                 OLD.furthest_position AS key, -1 AS deals, -OLD.amount_minor AS amount_minor, 0::bigint AS cycle_seconds
          WHERE has_old
          UNION ALL
          SELECT OLD.workspace_id, (OLD.closed_at AT TIME ZONE 'UTC')::date, OLD.owner_id,
                 CASE OLD.status WHEN 'won' THEN 2 ELSE 3 END, 0, -1, -OLD.amount_minor,
                 -floor(extract(epoch FROM OLD.closed_at - OLD.created_at))::bigint
          WHERE has_old AND OLD.status IN ('won', 'lost') AND OLD.closed_at IS NOT NULL
          UNION ALL
          SELECT NEW.workspace_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.owner_id, 1,
                 NEW.furthest_position, 1, NEW.amount_minor, 0
          WHERE has_new
          UNION ALL
          SELECT NEW.workspace_id, (NEW.closed_at AT TIME ZONE 'UTC')::date, NEW.owner_id,
                 CASE NEW.status WHEN 'won' THEN 2 ELSE 3 END, 0, 1, NEW.amount_minor,
                 floor(extract(epoch FROM NEW.closed_at - NEW.created_at))::bigint
          WHERE has_new AND NEW.status IN ('won', 'lost') AND NEW.closed_at IS NOT NULL) s
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(s.deals) <> 0 OR sum(s.amount_minor) <> 0 OR sum(s.cycle_seconds) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
            cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;
    RETURN NULL;
END
$$;
