-- 016_operator_requests.sql - operator actions asked for in SQL, and
-- definition-wide switches (pause, a concurrency limit) as data.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- An operator who has only psql asks for an action on a saga by inserting
-- a row into operator_requests, or by calling request(), which does the
-- same; many at once with INSERT ... SELECT id FROM sagas WHERE ....  The
-- insert notifies the channel orchestrator_requests (the payload is the
-- schema), and a running `orchestrator run` with the timers role takes
-- the pending rows in id order and applies each through the engine, as
-- the command line does, with "by" the database role that inserted it
-- (set by a trigger: it cannot be given) and action_id "req-<id>".  The
-- row's state goes from pending to done in the transaction that applies
-- the action and only from pending, so an action is applied at most once
-- whatever crashes; refused (the saga's state does not allow it, outcome
-- says why) and failed (no such saga, a malformed action) are written
-- after it, also only from pending.
--
-- definition_controls holds a switch per definition: paused (no saga of it
-- starts) and max_running (at most that many of its sagas running or
-- compensating).  Every process reads the table every few seconds
-- (controls_refresh_ms).  A trigger that may not start its saga now is
-- held in held_triggers, not left unconsumed in Kafka (it would stop the
-- events behind it on its partition, of every definition), and its saga
-- starts, oldest first, when the definition is resumed or has room; the
-- transaction that starts it deletes the row, so it starts once.
--
-- Roles (006): orchestrator_runtime may do all of it.  A new group role,
-- orchestrator_operator, is for people: what orchestrator_readonly may
-- read, and it may ask for actions and set the switches, nothing else.

CREATE TABLE operator_requests (
    id                  bigserial   PRIMARY KEY,
    action              text        NOT NULL CHECK (action IN ('pause',
                            'resume', 'skip', 'patch', 'retry', 'resolve',
                            'cancel', 'terminate')),
    saga_id             uuid        NOT NULL,
    step                text,
    data                jsonb,
    reason              text,
    requested_by        text        NOT NULL DEFAULT current_user,
    requested_at        timestamptz NOT NULL DEFAULT now(),
    state               text        NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'done', 'refused',
                                             'failed')),
    outcome             text,
    action_id           text,
    claimed_until       timestamptz,
    applied_at          timestamptz,
    applied_by_instance text
);
COMMENT ON TABLE operator_requests IS
  'Operator actions asked for in SQL, applied through the engine by a running orchestrator (timers role), oldest first, each at most once, with the outcome written back.';
COMMENT ON COLUMN operator_requests.action IS 'pause, resume, skip, patch, retry, resolve, cancel (compensates) or terminate (ends it without compensating).';
COMMENT ON COLUMN operator_requests.saga_id IS 'The saga to act on.';
COMMENT ON COLUMN operator_requests.step IS 'skip, resolve: the step; retry: rerun from this step (NULL: the failed one); patch: the step whose output is patched (NULL: the input).';
COMMENT ON COLUMN operator_requests.data IS 'skip: the step''s output; patch: the JSON merge patch (RFC 7386).';
COMMENT ON COLUMN operator_requests.reason IS 'Why, for the saga''s history.';
COMMENT ON COLUMN operator_requests.requested_by IS 'The database role that inserted the row (a trigger sets it); the action''s "by" in the history.';
COMMENT ON COLUMN operator_requests.state IS 'pending; done (applied); refused (the saga''s state does not allow it); failed (no such saga, a malformed action).';
COMMENT ON COLUMN operator_requests.outcome IS 'Why it was refused or failed: the engine''s message, with the saga''s and the step''s state.';
COMMENT ON COLUMN operator_requests.action_id IS 'The action''s id, "req-<id>": the event_id of the history rows it wrote (operator_actions.action_id).';
COMMENT ON COLUMN operator_requests.claimed_until IS 'A process took it until then; another takes it only after (they share pending rows without applying one twice).';
COMMENT ON COLUMN operator_requests.applied_at IS 'When it was done, refused or failed.';
COMMENT ON COLUMN operator_requests.applied_by_instance IS 'Host and process id of the orchestrator that decided it.';

CREATE INDEX operator_requests_pending_idx ON operator_requests (id)
    WHERE state = 'pending';
COMMENT ON INDEX operator_requests_pending_idx IS
  'The pending requests in id order: what every poll reads.';

CREATE FUNCTION operator_requests_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.requested_by := current_user;
    NEW.requested_at := now();
    NEW.state := 'pending';
    NEW.outcome := NULL;
    NEW.action_id := NULL;
    NEW.claimed_until := NULL;
    NEW.applied_at := NULL;
    NEW.applied_by_instance := NULL;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION operator_requests_stamp() IS
  'A new request is pending and by the role that inserts it, whatever the insert says.';
CREATE TRIGGER operator_requests_stamp BEFORE INSERT ON operator_requests
    FOR EACH ROW EXECUTE FUNCTION operator_requests_stamp();

CREATE FUNCTION operator_requests_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orchestrator_requests', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION operator_requests_notify() IS
  'Wakes the orchestrators that LISTEN on orchestrator_requests: once per statement, so a bulk insert notifies once.';
CREATE TRIGGER operator_requests_notify AFTER INSERT ON operator_requests
    FOR EACH STATEMENT EXECUTE FUNCTION operator_requests_notify();

CREATE FUNCTION request(action text, saga_id uuid, step text DEFAULT NULL,
                        data jsonb DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bigint LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO operator_requests (action, saga_id, step, data, reason)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id
$$;
COMMENT ON FUNCTION request(text, uuid, text, jsonb, text) IS
  'Ask for an operator action on a saga; returns the request''s id.  E.g. SELECT orchestrator.request(''retry'', saga_id => ''...'', reason => ''provider back'').';

CREATE TABLE definition_controls (
    definition_name text        PRIMARY KEY,
    paused          boolean     NOT NULL DEFAULT false,
    max_running     integer     CHECK (max_running >= 0),
    reason          text,
    updated_by      text        NOT NULL DEFAULT current_user,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE definition_controls IS
  'Switches per definition, read by every orchestrator every controls_refresh_ms: paused, and a limit on its running sagas.  Triggers that may not start a saga now wait in held_triggers.';
COMMENT ON COLUMN definition_controls.paused IS 'No saga of the definition starts while true; its triggers are held.';
COMMENT ON COLUMN definition_controls.max_running IS 'At most this many of its sagas running or compensating at once (NULL: no limit); triggers beyond it are held.';
COMMENT ON COLUMN definition_controls.reason IS 'Why, for people.';
COMMENT ON COLUMN definition_controls.updated_by IS 'The database role that last changed the row.';

CREATE FUNCTION definition_controls_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_by := current_user;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
COMMENT ON FUNCTION definition_controls_stamp() IS
  'Every change of a switch records the role that made it, and when.';
CREATE TRIGGER definition_controls_stamp
    BEFORE INSERT OR UPDATE ON definition_controls
    FOR EACH ROW EXECUTE FUNCTION definition_controls_stamp();

CREATE TABLE held_triggers (
    id              bigserial   PRIMARY KEY,
    definition_name text        NOT NULL,
    business_key    text        NOT NULL,
    event_id        text,
    type            text        NOT NULL,
    data            jsonb,
    message_id      text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    why             text        NOT NULL CHECK (why IN ('paused', 'limit',
                                                        'queued')),
    held_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE held_triggers IS
  'Trigger events whose saga may not start yet (its definition is paused or at its limit), consumed and kept here; started oldest first when there is room, and deleted by the transaction that starts the saga.';
COMMENT ON COLUMN held_triggers.business_key IS 'The business key the saga starts with.';
COMMENT ON COLUMN held_triggers.event_id IS 'CloudEvents id of the trigger.';
COMMENT ON COLUMN held_triggers.data IS 'The trigger''s data: the saga''s input.';
COMMENT ON COLUMN held_triggers.message_id IS 'Its inbox id, "<source> <id>" (kept claimed: a redelivery is a duplicate).';
COMMENT ON COLUMN held_triggers."offset" IS 'Topic, partition and offset the trigger was read from.';
COMMENT ON COLUMN held_triggers.why IS 'paused, limit (the definition was at max_running), or queued (older triggers of the definition were held).';

CREATE INDEX held_triggers_definition_idx ON held_triggers (definition_name, id);

CREATE VIEW held_trigger_summary AS
SELECT h.definition_name, count(*) AS held, min(h.held_at) AS oldest_held_at,
       coalesce(c.paused, false) AS paused, c.max_running
  FROM held_triggers h
  LEFT JOIN definition_controls c USING (definition_name)
 GROUP BY h.definition_name, c.paused, c.max_running;
COMMENT ON VIEW held_trigger_summary IS
  'Held triggers by definition: how many, since when, and the switch that holds them.';

DO $operator$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchestrator_operator')
    THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user
                          AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'role orchestrator_operator does not exist and % '
                'may not create roles: its grants are skipped', current_user;
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE orchestrator_operator NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchestrator_readonly')
       AND NOT pg_has_role('orchestrator_operator', 'orchestrator_readonly',
                           'MEMBER')
    THEN
        BEGIN
            GRANT orchestrator_readonly TO orchestrator_operator;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE '% may not make orchestrator_operator a member of '
                'orchestrator_readonly: an administrator does', current_user;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO orchestrator_operator',
                   current_schema());
    GRANT SELECT, INSERT ON operator_requests TO orchestrator_operator;
    GRANT USAGE ON SEQUENCE operator_requests_id_seq TO orchestrator_operator;
    GRANT EXECUTE ON FUNCTION request(text, uuid, text, jsonb, text)
        TO orchestrator_operator;
    GRANT SELECT, INSERT, UPDATE ON definition_controls
        TO orchestrator_operator;
    GRANT SELECT ON held_triggers, held_trigger_summary
        TO orchestrator_operator;
END
$operator$;
