-- A task reminder that the outbox skipped because its task was done or moved before it went
-- out is owed again when the task comes back open at that due time (`/undo` of the done or
-- of the move, which puts the task's earlier row back): the scanner would not send it again,
-- since the task is marked reminded for that time and the slot's row exists. Its row goes
-- back to pending, due at once, as a fresh message. Not for an assignee whose DMs are closed
-- (that reminder was skipped for them, and still would be).
CREATE FUNCTION task_reminder_revive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox o
    SET status = 'pending', next_attempt_at = NEW.due_at, attempts = 0, last_error = NULL,
        claim = NULL, maybe_taken_at = NULL
    WHERE o.workspace_id = NEW.workspace_id
      AND o.dedupe_key = 'task:' || NEW.workspace_id || ':' || NEW.id || ':'
                         || floor(extract(epoch FROM NEW.due_at))::bigint
      AND o.kind = 'task' AND o.status = 'skipped'
      AND NOT EXISTS (SELECT 1 FROM members m
                      WHERE m.workspace_id = NEW.workspace_id AND m.user_id = NEW.assignee_id
                        AND m.dm_closed);
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_reminder_revive AFTER INSERT OR UPDATE OF status, due_at ON tasks
    FOR EACH ROW
    WHEN (NEW.status = 'open' AND NEW.reminded_due_at = NEW.due_at)
    EXECUTE FUNCTION task_reminder_revive();
