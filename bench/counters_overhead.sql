-- Cost of the counter triggers on the call path: 2,000 single-row turn inserts (as a live call writes them),
-- triggers on, then off, each in a rolled-back transaction (nothing is kept). Needs one call attempt in the database:
--   psql -h 127.0.0.1 -U postgres -d <database> -At -f bench/counters_overhead.sql
-- ALTER TABLE ... DISABLE TRIGGER locks the turns table until the rollback: a benchmark database, never a live one.
BEGIN;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
DO $$ DECLARE a bigint; ten bigint; BEGIN
  SELECT id, tenant_id INTO a, ten FROM campaigns_callattempt ORDER BY id DESC LIMIT 1;
  FOR i IN 1000..2999 LOOP
    INSERT INTO campaigns_turn (tenant_id, attempt_id, index, speaker, node, text, intent, slots, start_ms, end_ms, response_latency_ms, asr_latency_ms, confidence)
    VALUES (ten, a, i, 'callee', '', 'x', '', '{}', 0, 1, 300 + i % 50, 200, 0.9);
  END LOOP; END $$;
SELECT 'with triggers: ' || round(extract(epoch from clock_timestamp() - t) * 1000 / 2000, 3) || ' ms per insert' FROM t0;
ROLLBACK;
BEGIN;
ALTER TABLE campaigns_turn DISABLE TRIGGER USER;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
DO $$ DECLARE a bigint; ten bigint; BEGIN
  SELECT id, tenant_id INTO a, ten FROM campaigns_callattempt ORDER BY id DESC LIMIT 1;
  FOR i IN 1000..2999 LOOP
    INSERT INTO campaigns_turn (tenant_id, attempt_id, index, speaker, node, text, intent, slots, start_ms, end_ms, response_latency_ms, asr_latency_ms, confidence)
    VALUES (ten, a, i, 'callee', '', 'x', '', '{}', 0, 1, 300 + i % 50, 200, 0.9);
  END LOOP; END $$;
SELECT 'without: ' || round(extract(epoch from clock_timestamp() - t) * 1000 / 2000, 3) || ' ms per insert' FROM t0;
ROLLBACK;
