-- 009: labels, label_versions, magnesium_labels, raw_documents and raw_fetches without their
-- PRIMARY KEYs, as 008 did for ingredient_rows (the natural keys stay as documented in 001/002).
-- DuckDB keeps a primary key's ART index in memory (one entry per label or document, it cannot
-- be evicted) and rewrites it at checkpoints, so the ingest's memory and each chunk's commit grew
-- with the warehouse (docs/benchmarks.md, "Ingest and the raw archive"). The loader guarantees
-- the keys instead (warehouse/load.py, "Idempotency"), as it must on DuckLake, which has no keys:
--   labels, magnesium_labels   inserted per label version not stored yet (or deleted first when
--                              stale), once per key within a batch;
--   label_versions             a period is opened only for a label without a current one, one
--                              per label of the batch;
--   raw_documents, raw_fetches inserted only when absent (NOT EXISTS), once per key within a batch.
-- Columns, their order and NOT NULLs (a key column was NOT NULL) are kept. scrape_runs and the
-- small crawl tables keep their keys. DuckDB cannot drop a constraint: each table is rebuilt.
CREATE TABLE labels_009 (
    source                 VARCHAR NOT NULL,
    source_id              VARCHAR NOT NULL,
    version_id             VARCHAR NOT NULL,
    raw_sha256             VARCHAR,
    url                    VARCHAR,
    brand                  VARCHAR,
    product_name           VARCHAR,
    upc                    VARCHAR,
    entry_date             DATE,
    dosage_form            VARCHAR,
    target_groups          VARCHAR[],
    serving                VARCHAR,
    servings_per_container DOUBLE,
    price                  DOUBLE,
    currency               VARCHAR,
    product_key            VARCHAR,
    on_market              BOOLEAN,
    normalizer_version     VARCHAR
);
INSERT INTO labels_009 SELECT * FROM labels;
DROP TABLE labels;
ALTER TABLE labels_009 RENAME TO labels;

CREATE TABLE label_versions_009 (
    source            VARCHAR NOT NULL,
    source_id         VARCHAR NOT NULL,
    version_id        VARCHAR NOT NULL,
    valid_from        TIMESTAMP NOT NULL,
    valid_to          TIMESTAMP,
    first_run_id      BIGINT NOT NULL,
    last_seen_run_id  BIGINT NOT NULL
);
INSERT INTO label_versions_009 SELECT * FROM label_versions;
DROP TABLE label_versions;
ALTER TABLE label_versions_009 RENAME TO label_versions;

CREATE TABLE magnesium_labels_009 (
    source              VARCHAR NOT NULL,
    source_id           VARCHAR NOT NULL,
    version_id          VARCHAR NOT NULL,
    forms               VARCHAR[],
    forms_inferred      BOOLEAN,
    mg_per_serving      DOUBLE,
    mg_per_day_min      DOUBLE,
    mg_per_day_max      DOUBLE,
    method              VARCHAR,
    dv_reference        VARCHAR,
    ul_mg               DOUBLE,
    flags               VARCHAR[],
    daily_servings_min  DOUBLE,
    daily_servings_max  DOUBLE,
    units_min           DOUBLE,
    units_max           DOUBLE,
    dose_basis          VARCHAR
);
INSERT INTO magnesium_labels_009 SELECT * FROM magnesium_labels;
DROP TABLE magnesium_labels;
ALTER TABLE magnesium_labels_009 RENAME TO magnesium_labels;

CREATE TABLE raw_documents_009 (
    sha256            VARCHAR NOT NULL,
    size              BIGINT,
    first_fetched_at  TIMESTAMP,
    first_run_id      BIGINT
);
INSERT INTO raw_documents_009 SELECT * FROM raw_documents;
DROP TABLE raw_documents;
ALTER TABLE raw_documents_009 RENAME TO raw_documents;

CREATE TABLE raw_fetches_009 (
    sha256      VARCHAR NOT NULL,
    url         VARCHAR NOT NULL,
    fetched_at  TIMESTAMP NOT NULL,
    status      INTEGER,
    headers     JSON,
    source      VARCHAR,
    kind        VARCHAR,
    run_id      BIGINT
);
INSERT INTO raw_fetches_009 SELECT * FROM raw_fetches;
DROP TABLE raw_fetches;
ALTER TABLE raw_fetches_009 RENAME TO raw_fetches;
