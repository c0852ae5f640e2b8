-- 002_operator_views.sql - views for operators reading sagas with psql.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.  Views only: nothing here is written
-- by the orchestrator, and dropping them loses nothing.  Ages and durations
-- are intervals (psql prints them readably), times are timestamptz.
--
--   SELECT * FROM running_sagas;                   what is in flight, oldest first
--   SELECT * FROM stuck_sagas;                     what needs an operator
--   SELECT * FROM failed_sagas LIMIT 20;           what went wrong lately
--   SELECT * FROM saga_timeline WHERE saga_id = '...';
--   SELECT * FROM saga_status_counts;

CREATE VIEW running_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.status, s.created_at, now() - s.created_at AS age,
       s.updated_at, now() - s.updated_at AS idle_for,
       (SELECT string_agg(st.step_name, ', ' ORDER BY st.step_index)
          FROM saga_steps st
         WHERE st.saga_id = s.id
           AND st.status IN ('running', 'compensating')) AS current_steps,
       s.wake_at, s.deadline_at
FROM sagas s
WHERE s.status IN ('running', 'compensating')
ORDER BY s.created_at;
COMMENT ON VIEW running_sagas IS
  'Sagas in flight (running or compensating), oldest first, with the steps they are waiting on.';
COMMENT ON COLUMN running_sagas.id IS 'Saga id.';
COMMENT ON COLUMN running_sagas.definition_name IS 'Name of the definition the saga runs.';
COMMENT ON COLUMN running_sagas.definition_version IS 'Version of the definition the saga runs.';
COMMENT ON COLUMN running_sagas.business_key IS 'Business key (e.g. the order id).';
COMMENT ON COLUMN running_sagas.status IS 'running or compensating.';
COMMENT ON COLUMN running_sagas.created_at IS 'When the saga started.';
COMMENT ON COLUMN running_sagas.age IS 'How long ago the saga started.';
COMMENT ON COLUMN running_sagas.updated_at IS 'Last transition.';
COMMENT ON COLUMN running_sagas.idle_for IS 'Time since the last transition: large values mean the saga waits on a service.';
COMMENT ON COLUMN running_sagas.current_steps IS 'Steps running or compensating now (their command is out, the reply awaited), in definition order.';
COMMENT ON COLUMN running_sagas.wake_at IS 'Next timer of the saga (timeout, retry, delay, deadline); NULL when none.';
COMMENT ON COLUMN running_sagas.deadline_at IS 'When the saga times out if still running; NULL without a saga timeout.';

CREATE VIEW stuck_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.failing_reason, s.failure,
       c.step_name AS compensating_step,
       c.compensation_attempt,
       c.last_error AS compensation_error,
       s.updated_at AS stuck_since, now() - s.updated_at AS stuck_for,
       s.created_at
FROM sagas s
LEFT JOIN LATERAL (
    SELECT st.step_name, st.compensation_attempt, st.last_error
      FROM saga_steps st
     WHERE st.saga_id = s.id AND st.status = 'compensating'
     ORDER BY st.completed_seq DESC NULLS LAST, st.step_index DESC
     LIMIT 1) c ON true
WHERE s.status = 'stuck'
ORDER BY s.updated_at;
COMMENT ON VIEW stuck_sagas IS
  'Sagas whose compensation gave up: an operator must act (`orchestrator retry` once the cause is fixed). Longest stuck first.';
COMMENT ON COLUMN stuck_sagas.id IS 'Saga id.';
COMMENT ON COLUMN stuck_sagas.definition_name IS 'Name of the definition the saga runs.';
COMMENT ON COLUMN stuck_sagas.definition_version IS 'Version of the definition the saga runs.';
COMMENT ON COLUMN stuck_sagas.business_key IS 'Business key (e.g. the order id).';
COMMENT ON COLUMN stuck_sagas.failing_reason IS 'Why the saga was compensating: failure, cancel or timeout.';
COMMENT ON COLUMN stuck_sagas.failure IS 'Human-readable reason: the compensation that failed and its error.';
COMMENT ON COLUMN stuck_sagas.compensating_step IS 'The step whose compensation gave up.';
COMMENT ON COLUMN stuck_sagas.compensation_attempt IS 'Attempts its compensation made.';
COMMENT ON COLUMN stuck_sagas.compensation_error IS 'Last error of that compensation.';
COMMENT ON COLUMN stuck_sagas.stuck_since IS 'When the saga became stuck (its last transition).';
COMMENT ON COLUMN stuck_sagas.stuck_for IS 'How long it has been stuck.';
COMMENT ON COLUMN stuck_sagas.created_at IS 'When the saga started.';

CREATE VIEW failed_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.status, s.failing_reason, s.failure, s.created_at, s.finished_at,
       s.finished_at - s.created_at AS took
FROM sagas s
WHERE s.status IN ('failed', 'compensated', 'timed_out', 'cancelled')
ORDER BY s.finished_at DESC NULLS FIRST, s.id;
COMMENT ON VIEW failed_sagas IS
  'Sagas that ended without completing (failed, compensated, timed_out, cancelled), latest first; filter on finished_at for a period.';
COMMENT ON COLUMN failed_sagas.id IS 'Saga id.';
COMMENT ON COLUMN failed_sagas.definition_name IS 'Name of the definition the saga ran.';
COMMENT ON COLUMN failed_sagas.definition_version IS 'Version of the definition the saga ran.';
COMMENT ON COLUMN failed_sagas.business_key IS 'Business key (e.g. the order id).';
COMMENT ON COLUMN failed_sagas.status IS 'failed (an operator may retry it), compensated, timed_out or cancelled.';
COMMENT ON COLUMN failed_sagas.failing_reason IS 'failure, cancel or timeout.';
COMMENT ON COLUMN failed_sagas.failure IS 'Human-readable reason (step and error).';
COMMENT ON COLUMN failed_sagas.created_at IS 'When the saga started.';
COMMENT ON COLUMN failed_sagas.finished_at IS 'When the saga ended.';
COMMENT ON COLUMN failed_sagas.took IS 'How long the saga ran, start to end.';

CREATE VIEW saga_timeline AS
SELECT h.saga_id, s.definition_name, s.business_key, h.at, h.kind,
       h.step_name, h.event_id, h.detail, h.id
FROM saga_history h
JOIN sagas s ON s.id = h.saga_id
ORDER BY h.saga_id, h.id;
COMMENT ON VIEW saga_timeline IS
  'Every saga''s history with its definition and business key, in order; filter on saga_id or business_key.';
COMMENT ON COLUMN saga_timeline.saga_id IS 'Saga id.';
COMMENT ON COLUMN saga_timeline.definition_name IS 'Name of the definition the saga runs.';
COMMENT ON COLUMN saga_timeline.business_key IS 'Business key (e.g. the order id).';
COMMENT ON COLUMN saga_timeline.at IS 'When it happened (commit time of the transition).';
COMMENT ON COLUMN saga_timeline.kind IS 'What happened, e.g. saga.started, step.succeeded, compensation.failed, operator.cancel.';
COMMENT ON COLUMN saga_timeline.step_name IS 'The step concerned, if any.';
COMMENT ON COLUMN saga_timeline.event_id IS 'CloudEvents id of the event that caused it, if any.';
COMMENT ON COLUMN saga_timeline.detail IS 'Details as JSON (reply type, error, attempt, reason).';
COMMENT ON COLUMN saga_timeline.id IS 'History row id: the order of events within a saga.';

CREATE VIEW saga_status_counts AS
SELECT definition_name, status, count(*) AS count
FROM sagas
GROUP BY definition_name, status
ORDER BY definition_name, status;
COMMENT ON VIEW saga_status_counts IS
  'How many sagas each definition (all versions) has in each status.';
COMMENT ON COLUMN saga_status_counts.definition_name IS 'Definition name.';
COMMENT ON COLUMN saga_status_counts.status IS 'Saga status.';
COMMENT ON COLUMN saga_status_counts.count IS 'Number of sagas of that definition in that status.';
