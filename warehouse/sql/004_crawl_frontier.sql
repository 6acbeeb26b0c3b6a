-- 004: crawl state of the nightly DSLD job (scrapers/frontier.py reads and writes these).
-- crawl_frontier: one row per discovered DSLD label id.
--   last_status   NULL never tried | 'ok' | 'error' (will be retried) | 'gave_up' (too many failures)
--   attempts      consecutive failed attempts (reset by a good fetch)
--   content_hash  sha256 of the last good label body (the archive blob)
--   loaded_hash   the content_hash that is loaded in the warehouse; differs -> to load
CREATE TABLE crawl_frontier (
    label_id         BIGINT PRIMARY KEY,
    discovered_at    TIMESTAMP NOT NULL,
    last_fetched_at  TIMESTAMP,
    last_status      VARCHAR CHECK (last_status IN ('ok', 'error', 'gave_up')),
    last_error       VARCHAR,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP,
    content_hash     VARCHAR,
    loaded_hash      VARCHAR
);
-- Search problems that can hide labels: a partition past the result window, a count that does
-- not match what paging returned, a search that ignores `from`, invalid ids. One row each.
CREATE TABLE crawl_problems (
    run_id          BIGINT,
    noted_at        TIMESTAMP NOT NULL,
    partition_key   VARCHAR NOT NULL,
    problem         VARCHAR NOT NULL,
    reported_count  BIGINT,
    seen            BIGINT,
    detail          VARCHAR
);
-- Small key/value state (full-discovery progress and when it last completed).
CREATE TABLE crawl_state (
    key         VARCHAR PRIMARY KEY,
    value       JSON,
    updated_at  TIMESTAMP NOT NULL
);
