-- roles.sql - the least-privilege roles, for a database where
-- `orchestrator migrate` could not create them (a managed PostgreSQL whose
-- migrating user lacks CREATEROLE).
--
-- Either one user who may create roles and owns the orchestrator's tables
-- (the user that runs `orchestrator migrate`) runs it, after migrate:
--
--   psql "$OWNER_DSN" -v schema=orchestrator -f deploy/sql/roles.sql
--
-- or, when that user may not create roles, an administrator first runs
--
--   CREATE ROLE orchestrator_runtime NOLOGIN;
--   CREATE ROLE orchestrator_readonly NOLOGIN;
--
-- and the owner then runs this script (grants need the owner, and the
-- default privileges it sets cover what the owner creates later).
--
-- It creates orchestrator_runtime and orchestrator_readonly when they do not
-- exist and grants them exactly what migration 006 grants (it runs that
-- file's text), so it may be run again at any time.  Then make log-in users
-- members, e.g.:
--
--   CREATE ROLE orc_app LOGIN PASSWORD '...' IN ROLE orchestrator_runtime;
--   CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE orchestrator_readonly;

\set ON_ERROR_STOP on
\if :{?schema}
\else
\set schema orchestrator
\endif
BEGIN;
SET LOCAL search_path TO :"schema";
\ir ../../migrations/006_roles.sql
COMMIT;
