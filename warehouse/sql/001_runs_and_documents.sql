-- 001: scrape runs and the raw documents they fetched.
-- All TIMESTAMP columns hold UTC (naive timestamps; no time-zone extension needed).

CREATE SEQUENCE scrape_runs_run_id_seq START 1;

-- One row per CLI invocation that loads data. Written by start_run() and finish_run(), each in
-- its own tiny transaction, so a failed load (rolled back) still leaves a 'failed' run behind.
CREATE TABLE scrape_runs (
    run_id        BIGINT PRIMARY KEY DEFAULT nextval('scrape_runs_run_id_seq'),
    command       VARCHAR NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    ended_at      TIMESTAMP,
    status        VARCHAR NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    documents     BIGINT,      -- fetch records loaded (new rows in raw_fetches)
    labels        BIGINT,      -- label versions in the batch
    new_versions  BIGINT,      -- label_versions rows opened (new label or changed content)
    facts         BIGINT,      -- magnesium_facts rows inserted
    quarantined   BIGINT,      -- quarantine rows inserted
    errors        BIGINT,
    extra_counts  JSON,        -- any other counts the caller reported, e.g. {"skipped": 3}
    message       VARCHAR
);

-- Raw documents. The archive is content-addressed: one body (sha256) may be fetched from
-- several URLs and at several times. So there are two tables:
--   raw_documents: one row per distinct body (what the archive stores once);
--   raw_fetches:   one row per fetch record of the archive index (url, time, HTTP status,
--                  headers), keyed on (sha256, url, fetched_at).
-- Labels point at the body they were read from (labels.raw_sha256 -> raw_documents.sha256).
-- The warehouse never stores or parses the bodies themselves; they stay in the archive.
CREATE TABLE raw_documents (
    sha256            VARCHAR PRIMARY KEY,
    size              BIGINT,
    first_fetched_at  TIMESTAMP,
    first_run_id      BIGINT
);

CREATE TABLE raw_fetches (
    sha256      VARCHAR NOT NULL,
    url         VARCHAR NOT NULL,
    fetched_at  TIMESTAMP NOT NULL,
    status      INTEGER,
    headers     JSON,
    source      VARCHAR,
    kind        VARCHAR,
    run_id      BIGINT,
    PRIMARY KEY (sha256, url, fetched_at)
);
