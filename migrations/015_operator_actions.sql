-- 015_operator_actions.sql - operator actions through the engine: pause,
-- and the audit trail of every action.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- An operator acts on a saga as an engine input (pause, resume, skip,
-- patch, retry, retry from a step, resolve, cancel, terminate), from the
-- command line or from SQL, and every action that is applied writes an
-- "operator.<action>" history row first, with who (detail->>'by'), why
-- (detail->>'reason') and its arguments; the rows it caused carry the
-- same event_id, the action's id.  operator_actions lists them.
--
-- A paused saga starts no step, sends no command and fires no timer: its
-- wake_at is NULL while paused_at is set, and resuming moves every timer
-- and the deadline on by the time it was paused.

ALTER TABLE sagas ADD COLUMN paused_at timestamptz;
COMMENT ON COLUMN sagas.paused_at IS
  'When an operator paused the saga (NULL = not paused): no new command, no timer until it is resumed; replies and awaited events are still applied.';

CREATE VIEW paused_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.status, s.paused_at, now() - s.paused_at AS paused_for,
       (SELECT h.detail ->> 'by' FROM saga_history h
         WHERE h.saga_id = s.id AND h.kind = 'operator.pause'
         ORDER BY h.id DESC LIMIT 1) AS paused_by,
       (SELECT h.detail ->> 'reason' FROM saga_history h
         WHERE h.saga_id = s.id AND h.kind = 'operator.pause'
         ORDER BY h.id DESC LIMIT 1) AS reason
  FROM sagas s
 WHERE s.paused_at IS NOT NULL
 ORDER BY s.paused_at;
COMMENT ON VIEW paused_sagas IS
  'Sagas an operator paused, longest paused first, with who paused them and why.';

CREATE VIEW operator_actions AS
SELECT h.id, h.at, h.saga_id, s.definition_name, s.business_key,
       substr(h.kind, length('operator.') + 1) AS action,
       h.step_name, h.detail ->> 'by' AS by, h.detail ->> 'reason' AS reason,
       h.detail - 'by' - 'reason' AS arguments, h.event_id AS action_id
  FROM saga_history h
  LEFT JOIN sagas s ON s.id = h.saga_id
 WHERE h.kind LIKE 'operator.%';
COMMENT ON VIEW operator_actions IS
  'Every operator action applied to a saga: when, which saga, what (action, step, arguments), who (by) and why (reason). Rows of the history with the same action_id are what the action caused.';
COMMENT ON COLUMN operator_actions.action IS 'pause, resume, skip, patch, retry, resolve, cancel or terminate.';
COMMENT ON COLUMN operator_actions.by IS 'Who acted: the --by flag, else user@host of the CLI, or the database role of an SQL request.';
COMMENT ON COLUMN operator_actions.arguments IS 'The action''s arguments (data of a skip, patch with before and after, steps of a retry).';
COMMENT ON COLUMN operator_actions.action_id IS 'Id of the action; the saga''s other history rows with this event_id are what it caused.';

CREATE INDEX saga_history_operator_idx ON saga_history (at)
    WHERE kind LIKE 'operator.%';
