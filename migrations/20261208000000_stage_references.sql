-- A deal's stage and a stage change's stages are checked by triggers instead of foreign keys,
-- once per statement in bulk (issues 11 and 13).
--
-- A foreign key checks each row on its own: a lookup through SPI and a key-share lock on the
-- stage's row, about 2.7 us a row on the 2-core machine. An import of 100,000 deals made
-- 366,000 of them (each new deal's stage, and the two stages of each of its 133,000 history
-- rows: about a third of the history insert's time), and every deal move locked its stage's
-- row twice, so that a team's busiest stages were the rows the most transactions locked
-- (a row locked by several at once becomes a multixact). Stages are few and are deleted only
-- by an admin: the check moves to the side that changes rarely.
--
-- Writers: a bulk insert (an import, with the rollup triggers aside: `rollups_deferred()`)
-- checks all its rows in one query against the statement's transition table, one anti-join a
-- batch; any other insert, and an update that changes a deal's stage or a change's stages,
-- checks its row, as the foreign key did but without the lock. Measured with pgbench on deal
-- moves alone (4 clients, 2 cores, same run): 1,804-1,860 moves/s against 1,768-1,891 with the
-- foreign keys; a statement-level check on every insert cost moves about 4%.
--
-- Deleting a stage (or changing its key) takes a SHARE lock on deals and stage_changes: it
-- waits for every transaction writing them to end and holds new writers off until it ends,
-- then looks for a deal or change still naming the stage with a snapshot taken after the lock
-- (every transaction here runs at READ COMMITTED), and refuses as the foreign key did. A
-- writer held off then finds the stage gone and is refused. Admins delete stages a handful of
-- times in a workspace's life; each briefly queues the writers of every workspace.
--
-- The row checks on both sides are constraint triggers, deferrable as the foreign keys were:
-- `/undo` and an import's undo defer constraints while they delete and restore rows, so a
-- stage and the history naming it may come back in either order. A check that runs deferred
-- passes when the stage is there by then, or (on the writers' side) when the row no longer
-- names it.

ALTER TABLE deals DROP CONSTRAINT deals_workspace_id_stage_id_fkey;
ALTER TABLE stage_changes
    DROP CONSTRAINT stage_changes_workspace_id_to_stage_id_fkey,
    DROP CONSTRAINT stage_changes_workspace_id_from_stage_id_fkey;

CREATE FUNCTION deals_name_stages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_deals n
               WHERE NOT EXISTS (SELECT 1 FROM stages s
                                 WHERE s.workspace_id = n.workspace_id AND s.id = n.stage_id)) THEN
        RAISE EXCEPTION 'a deal names a stage its workspace does not have'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'deals', CONSTRAINT = 'deals_stage';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION deal_names_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM stages s WHERE s.workspace_id = NEW.workspace_id AND s.id = NEW.stage_id)
       AND EXISTS (SELECT 1 FROM deals d
                   WHERE d.workspace_id = NEW.workspace_id AND d.id = NEW.id AND d.stage_id = NEW.stage_id) THEN
        RAISE EXCEPTION 'a deal names a stage its workspace does not have'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'deals', CONSTRAINT = 'deals_stage';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER deals_stage_insert_bulk AFTER INSERT ON deals
    REFERENCING NEW TABLE AS new_deals
    FOR EACH STATEMENT WHEN (rollups_deferred()) EXECUTE FUNCTION deals_name_stages();
CREATE CONSTRAINT TRIGGER deals_stage_insert AFTER INSERT ON deals
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW WHEN (NOT rollups_deferred()) EXECUTE FUNCTION deal_names_stage();
CREATE CONSTRAINT TRIGGER deals_stage_update AFTER UPDATE OF workspace_id, stage_id ON deals
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW WHEN ((OLD.workspace_id, OLD.stage_id) IS DISTINCT FROM (NEW.workspace_id, NEW.stage_id))
    EXECUTE FUNCTION deal_names_stage();

CREATE FUNCTION changes_name_stages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_changes n
               WHERE NOT EXISTS (SELECT 1 FROM stages s
                                 WHERE s.workspace_id = n.workspace_id AND s.id = n.to_stage_id)
                  OR (n.from_stage_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM stages s
                                      WHERE s.workspace_id = n.workspace_id AND s.id = n.from_stage_id))) THEN
        RAISE EXCEPTION 'a stage change names a stage its workspace does not have'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'stage_changes', CONSTRAINT = 'stage_changes_stages';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION change_names_stages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NOT EXISTS (SELECT 1 FROM stages s WHERE s.workspace_id = NEW.workspace_id AND s.id = NEW.to_stage_id)
        OR (NEW.from_stage_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM stages s
                            WHERE s.workspace_id = NEW.workspace_id AND s.id = NEW.from_stage_id)))
       AND EXISTS (SELECT 1 FROM stage_changes sc
                   WHERE sc.workspace_id = NEW.workspace_id AND sc.id = NEW.id
                     AND sc.to_stage_id = NEW.to_stage_id
                     AND sc.from_stage_id IS NOT DISTINCT FROM NEW.from_stage_id) THEN
        RAISE EXCEPTION 'a stage change names a stage its workspace does not have'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'stage_changes', CONSTRAINT = 'stage_changes_stages';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER stage_changes_stages_insert_bulk AFTER INSERT ON stage_changes
    REFERENCING NEW TABLE AS new_changes
    FOR EACH STATEMENT WHEN (rollups_deferred()) EXECUTE FUNCTION changes_name_stages();
CREATE CONSTRAINT TRIGGER stage_changes_stages_insert AFTER INSERT ON stage_changes
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW WHEN (NOT rollups_deferred()) EXECUTE FUNCTION change_names_stages();
CREATE CONSTRAINT TRIGGER stage_changes_stages_update
    AFTER UPDATE OF workspace_id, to_stage_id, from_stage_id ON stage_changes
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW WHEN ((OLD.workspace_id, OLD.to_stage_id, OLD.from_stage_id)
                       IS DISTINCT FROM (NEW.workspace_id, NEW.to_stage_id, NEW.from_stage_id))
    EXECUTE FUNCTION change_names_stages();

CREATE FUNCTION stage_unused() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Still there (a key update that changed nothing, or restored by an undo before a
    -- deferred check).
    IF EXISTS (SELECT 1 FROM stages s WHERE s.workspace_id = OLD.workspace_id AND s.id = OLD.id) THEN
        RETURN NULL;
    END IF;
    LOCK TABLE deals, stage_changes IN SHARE MODE;
    IF EXISTS (SELECT 1 FROM deals d WHERE d.workspace_id = OLD.workspace_id AND d.stage_id = OLD.id)
       OR EXISTS (SELECT 1 FROM stage_changes sc
                  WHERE sc.workspace_id = OLD.workspace_id
                    AND (sc.to_stage_id = OLD.id OR sc.from_stage_id = OLD.id)) THEN
        RAISE EXCEPTION 'stage % is still named by a deal or its history', OLD.id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'stages', CONSTRAINT = 'stages_in_use';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER stages_in_use AFTER DELETE OR UPDATE OF workspace_id, id ON stages
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION stage_unused();
