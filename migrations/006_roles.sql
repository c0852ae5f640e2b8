-- 006_roles.sql - least privilege: a runtime role and a read-only role.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so current_schema() is the orchestrator's schema.
--
-- Two group roles (NOLOGIN; log-in users are made members of them):
--
--   orchestrator_runtime   what `orchestrator run` and the operator commands
--                          that change state need: SELECT, INSERT, UPDATE,
--                          DELETE on the tables, USAGE and SELECT on the
--                          sequences, EXECUTE on the functions.  No DDL:
--                          it creates nothing, and it cannot change
--                          schema_migrations.
--   orchestrator_readonly  SELECT on the tables and views, for people.
--
-- The roles are created here when they do not exist and the migrating user
-- may create roles (CREATEROLE or superuser); otherwise a NOTICE says so
-- (psql shows it; `orchestrator migrate` says it after its run) and the
-- grants are skipped: an administrator then creates the roles, and the
-- owner runs deploy/sql/roles.sql, which makes the same grants (it includes
-- this file).  Default privileges make the grants hold for the tables, views and
-- sequences of later migrations, which the same user creates.
--
-- Roles belong to the whole server, grants to this database: a second
-- database on the same server shares the roles and gets its own grants.
-- Two migrations of two databases at once may both try to create a role;
-- the loser finds it made, which is fine.

DO $roles$
DECLARE
    may_create boolean;
    r text;
BEGIN
    SELECT rolsuper OR rolcreaterole INTO may_create
      FROM pg_roles WHERE rolname = current_user;
    FOREACH r IN ARRAY ARRAY['orchestrator_runtime', 'orchestrator_readonly']
    LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = r);
        IF NOT may_create THEN
            RAISE NOTICE 'role % does not exist and % may not create roles: '
                'grants skipped; an administrator runs deploy/sql/roles.sql',
                r, current_user;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchestrator_runtime')
    THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO orchestrator_runtime',
                       current_schema());
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES'
                       ' IN SCHEMA %I TO orchestrator_runtime',
                       current_schema());
        EXECUTE 'REVOKE INSERT, UPDATE, DELETE ON schema_migrations'
                ' FROM orchestrator_runtime';
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I'
                       ' TO orchestrator_runtime', current_schema());
        EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I'
                       ' TO orchestrator_runtime', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT,'
                       ' INSERT, UPDATE, DELETE ON TABLES'
                       ' TO orchestrator_runtime', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE,'
                       ' SELECT ON SEQUENCES TO orchestrator_runtime',
                       current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT EXECUTE'
                       ' ON FUNCTIONS TO orchestrator_runtime',
                       current_schema());
    END IF;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchestrator_readonly')
    THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO orchestrator_readonly',
                       current_schema());
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I'
                       ' TO orchestrator_readonly', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT'
                       ' ON TABLES TO orchestrator_readonly',
                       current_schema());
    END IF;
END
$roles$;
