-- 003: run statuses for a job that may stop early. The CHECK of 001 allowed only running/ok/failed;
-- DuckDB cannot alter a CHECK constraint, so the table is rebuilt with its rows.
--   ok            every document fetched and read (quarantined rows inside good documents are findings)
--   partial       finished, but some documents were lost (fetch errors, unreadable documents)
--   failed        nothing was loaded; the warehouse is as it was
--   aborted       the process died (kill -9, reboot); marked by the next run
--   rate_limited  the API quota stayed exhausted; what was fetched is loaded, the next run resumes
CREATE TABLE scrape_runs_003 (
    run_id        BIGINT PRIMARY KEY DEFAULT nextval('scrape_runs_run_id_seq'),
    command       VARCHAR NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    ended_at      TIMESTAMP,
    status        VARCHAR NOT NULL
                  CHECK (status IN ('running', 'ok', 'partial', 'failed', 'aborted', 'rate_limited')),
    documents     BIGINT,
    labels        BIGINT,
    new_versions  BIGINT,
    facts         BIGINT,
    quarantined   BIGINT,
    errors        BIGINT,
    extra_counts  JSON,
    message       VARCHAR
);
INSERT INTO scrape_runs_003 SELECT * FROM scrape_runs;
DROP TABLE scrape_runs;
ALTER TABLE scrape_runs_003 RENAME TO scrape_runs;
