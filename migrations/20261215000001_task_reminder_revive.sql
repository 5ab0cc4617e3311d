-- A task reminder that the outbox skipped because its task was done or moved before it went
-- out is owed again when the task comes back open at that due time (`/undo` of the done or
-- of the move, which puts the task's earlier row back): the scanner would not send it again,
-- since the task is marked reminded for that time and the slot's row exists. Its row goes
-- back to pending, due at once, as a fresh message. Only a reminder skipped for that reason
-- (`TASK_GONE` in src/outbox.rs, the same text): one skipped because the member's DMs were
-- closed was never owed. The message's row is locked first, as the worker that skips it locks
-- it before it reads the task: an undo then either commits before that read or waits for the
-- skip and undoes it here.
CREATE FUNCTION task_reminder_revive() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    slot TEXT := 'task:' || NEW.workspace_id || ':' || NEW.id || ':'
                 || floor(extract(epoch FROM NEW.due_at))::bigint;
BEGIN
    PERFORM 1 FROM outbox WHERE workspace_id = NEW.workspace_id AND dedupe_key = slot FOR UPDATE;
    UPDATE outbox
    SET status = 'pending', next_attempt_at = NEW.due_at, attempts = 0, last_error = NULL,
        claim = NULL, maybe_taken_at = NULL
    WHERE workspace_id = NEW.workspace_id AND dedupe_key = slot
      AND kind = 'task' AND status = 'skipped'
      AND last_error = 'the task was done or moved before its reminder went out';
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_reminder_revive AFTER INSERT OR UPDATE OF status, due_at ON tasks
    FOR EACH ROW
    WHEN (NEW.status = 'open' AND NEW.reminded_due_at = NEW.due_at)
    EXECUTE FUNCTION task_reminder_revive();
