-- A deal's stays count under its current owner while the deal row exists. /undo restores a
-- deal by deleting it and inserting its earlier image, and may delete the stage change that
-- ended a stay while the deal row is briefly gone; so stays leave the totals with the deal row
-- and come back with it, whatever order the restore goes in.
DROP TRIGGER deal_owner_stays ON deals;
DROP FUNCTION deal_owner_stays();

CREATE FUNCTION deal_row_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM stay_add(sc.workspace_id, sc.deal_id, OLD.owner_id, sc.to_stage_id, sc.changed_at, sc.left_at, -1)
        FROM stage_changes sc
        WHERE sc.workspace_id = OLD.workspace_id AND sc.deal_id = OLD.id AND sc.left_at IS NOT NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM stay_add(sc.workspace_id, sc.deal_id, NEW.owner_id, sc.to_stage_id, sc.changed_at, sc.left_at, 1)
        FROM stage_changes sc
        WHERE sc.workspace_id = NEW.workspace_id AND sc.deal_id = NEW.id AND sc.left_at IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER deal_row_stays AFTER INSERT OR DELETE ON deals
    FOR EACH ROW EXECUTE FUNCTION deal_row_stays();
CREATE TRIGGER deal_owner_stays AFTER UPDATE OF owner_id ON deals
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION deal_row_stays();
