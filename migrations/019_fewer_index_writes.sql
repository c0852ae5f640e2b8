-- 019_fewer_index_writes.sql - two indexes that every step wrote to and
-- nothing read (issue 11, "write less").
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- The WAL of a benchmark run (pg_walinspect over scenario (a), README
-- "Performance") had, per step, 2.6 history rows each inserted into two
-- indexes: the bigserial primary key and (saga_id, id).  Every reader of
-- the history reads one saga's rows in id order (the CLI's history, the
-- archive, the operator_actions view, housekeeping's deletes), so
-- (saga_id, id) is the only key it needs.  It becomes the primary key,
-- and the index on id alone goes: id stays unique, since it comes from
-- one sequence.  12 % of the WAL was these two indexes.
--
-- outbox_lane_idx (lane, id) is read by nothing since the relay reads its
-- lanes with one scan of the primary key from the lowest floor
-- (store_outbox.c, orc_store_outbox_fetch), and each outbox row was
-- inserted into it: 3 % of the WAL.
--
-- On a large saga_history the new index is built while the migration
-- holds its lock (as 007 did for its indexes): 0.6 s for a million rows
-- on this project's benchmark machine, table in memory.

CREATE UNIQUE INDEX saga_history_saga_id_id_key ON saga_history (saga_id, id);
ALTER TABLE saga_history DROP CONSTRAINT saga_history_pkey;
ALTER TABLE saga_history ADD CONSTRAINT saga_history_pkey
    PRIMARY KEY USING INDEX saga_history_saga_id_id_key;
DROP INDEX saga_history_saga_idx;

DROP INDEX outbox_lane_idx;

-- Room for HOT updates: a saga row is updated at every transition and a
-- step row when its reply comes, by then among newer rows.  At fillfactor
-- 70 (007) half the updates of each table found no room on the row's page
-- and were not HOT (a new entry in every index); at 50, a third of the
-- saga updates and half the step updates are not, and the WAL per step is
-- 5-12 % smaller (tests/bench, quick runs).  The tables take about a
-- third more pages.  It applies to pages filled from now on.
ALTER TABLE sagas SET (fillfactor = 50);
ALTER TABLE saga_steps SET (fillfactor = 50);
