-- 003_dead_letter_bytes.sql - a dead letter's headers as the bytes they were.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- Kafka header values are bytes: a NUL byte, or bytes that are not UTF-8,
-- cannot be stored in jsonb (which refuses \u0000), and writing such a
-- dead letter used to fail and stop the worker.  The headers now go to
-- two parallel bytea arrays, name i with value i, in the order received,
-- every one of them, so that `orchestrator dead-letters replay` publishes
-- exactly what came in.  The jsonb column stays, for people and for
-- older binaries: it holds the same headers readably, with a name or a
-- value that is not UTF-8 text without NUL bytes written as "\x<hex>".
-- Rows written before this migration (or by an older binary) have NULL
-- arrays, and their headers in jsonb only.
--
--   SELECT id, topic, error, jsonb_array_length(headers) FROM dead_letters;
--   SELECT * FROM dead_letter_headers WHERE dead_letter_id = 42;

ALTER TABLE dead_letters ADD COLUMN header_names bytea[];
ALTER TABLE dead_letters ADD COLUMN header_values bytea[];
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_header_arrays
    CHECK (coalesce(cardinality(header_names), 0)
           = coalesce(cardinality(header_values), 0));

COMMENT ON COLUMN dead_letters.header_names IS
  'Kafka header names, every one in the order received, as bytes; NULL for rows written before migration 003 (headers has them).';
COMMENT ON COLUMN dead_letters.header_values IS
  'Kafka header values, parallel to header_names (NULL element: a header without a value), as bytes.';
COMMENT ON COLUMN dead_letters.headers IS
  'Kafka headers readably, as a JSON array of [name, value] pairs; a name or value that is not UTF-8 text without NUL bytes is written as "\x<hex>". The exact bytes are in header_names/header_values.';
COMMENT ON COLUMN dead_letters.error IS
  'Why the event was dead-lettered.  When the dead letter could not be written whole, only topic, partition, offset and this reason are kept (key, headers and payload NULL), and it says so.';

CREATE VIEW dead_letter_headers AS
SELECT d.id AS dead_letter_id, h.position, h.name, h.value,
       octet_length(h.value) AS value_size
FROM dead_letters d,
     unnest(d.header_names, d.header_values) WITH ORDINALITY
       AS h(name, value, position)
WHERE d.header_names IS NOT NULL
UNION ALL
SELECT d.id, h.position, convert_to(h.pair->>0, 'UTF8'),
       convert_to(h.pair->>1, 'UTF8'), octet_length(h.pair->>1)
FROM dead_letters d,
     jsonb_array_elements(d.headers) WITH ORDINALITY AS h(pair, position)
WHERE d.header_names IS NULL;
COMMENT ON VIEW dead_letter_headers IS
  'Every header of every dead letter, one row each, in the order received; encode(value, ''escape'') shows a value readably.';
COMMENT ON COLUMN dead_letter_headers.dead_letter_id IS 'The dead letter (dead_letters.id).';
COMMENT ON COLUMN dead_letter_headers.position IS 'Position of the header in the message, from 1.';
COMMENT ON COLUMN dead_letter_headers.name IS 'Header name, as bytes.';
COMMENT ON COLUMN dead_letter_headers.value IS 'Header value, as bytes; NULL for a header without a value.';
COMMENT ON COLUMN dead_letter_headers.value_size IS 'Length of the value in bytes (for rows from before migration 003: of its stored text).';
