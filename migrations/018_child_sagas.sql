-- 018_child_sagas.sql - child sagas: a saga step starts a saga of another
-- definition and waits for it.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- The child is started in its parent's transaction; its row names its
-- parent (parent_id, parent_step) and the parent's history names the
-- child (child.started, child.ended, with its id), so the link is there
-- both ways.  There is no foreign key: each saga keeps its own retention,
-- and a parent deleted before its child leaves the child's parent_id
-- pointing at nothing, which is what happened.
--
-- The two talk through operator_requests, applied exactly once by the
-- timers role: the transaction that ends a child inserts child_ended for
-- its parent (data: child, status, output, failure); a parent that
-- compensates asks a completed child to undo (it compensates its own
-- steps, cause 'undo', and ends compensated), and cancels or terminates
-- a running one.

ALTER TABLE sagas
    ADD COLUMN parent_id uuid,
    ADD COLUMN parent_step text;
COMMENT ON COLUMN sagas.parent_id IS 'The saga whose saga step started this one (NULL for a saga started by a trigger or an operator).';
COMMENT ON COLUMN sagas.parent_step IS 'The parent''s step that started it.';
CREATE INDEX sagas_parent_idx ON sagas (parent_id) WHERE parent_id IS NOT NULL;

ALTER TABLE sagas DROP CONSTRAINT IF EXISTS sagas_failing_reason_check;
ALTER TABLE sagas ADD CONSTRAINT sagas_failing_reason_check
    CHECK (failing_reason IN ('failure', 'cancel', 'timeout', 'undo'));
COMMENT ON COLUMN sagas.failing_reason IS 'Why the saga is compensating or ended unsuccessfully: failure, cancel, timeout, or undo (its parent compensated it).';

ALTER TABLE operator_requests DROP CONSTRAINT IF EXISTS operator_requests_action_check;
ALTER TABLE operator_requests ADD CONSTRAINT operator_requests_action_check
    CHECK (action IN ('pause', 'resume', 'skip', 'patch', 'retry', 'resolve',
                      'cancel', 'terminate', 'child_ended', 'undo'));
COMMENT ON COLUMN operator_requests.action IS 'What to do: an operator action, or child_ended (to a parent) and undo (to a child) between a saga and its children.';

-- A saga and every saga under it, with how deep (a function, so that the
-- walk starts at the given saga instead of at every root).
CREATE FUNCTION saga_tree(root uuid)
RETURNS TABLE (depth integer, id uuid, parent_id uuid, parent_step text,
               definition_name text, definition_version integer,
               business_key text, status text, failure text,
               created_at timestamptz, finished_at timestamptz)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH RECURSIVE t AS (
        SELECT s.id, 0 AS depth FROM sagas s WHERE s.id = root
        UNION ALL
        SELECT c.id, t.depth + 1 FROM t JOIN sagas c ON c.parent_id = t.id
        WHERE t.depth < 32
    )
    SELECT t.depth, s.id, s.parent_id, s.parent_step, s.definition_name,
           s.definition_version, s.business_key, s.status, s.failure,
           s.created_at, s.finished_at
    FROM t JOIN sagas s ON s.id = t.id
    ORDER BY t.depth, s.created_at
$$;
COMMENT ON FUNCTION saga_tree(uuid) IS
  'A saga and the sagas under it (children, their children, ...), by depth: SELECT * FROM saga_tree(''<id>'').';
