-- 002: label content (one row set per label version) and label history.
--
-- Content tables hold exactly the NormalizedBatch frames (docs/ARCHITECTURE.md). A label
-- version is identified by (source, source_id, version_id): version_id is a hash of the label
-- content, and keeping source/source_id in the key means two products whose labels happen to
-- hash alike can never be merged. A load replaces the stored rows of the versions it carries
-- (delete, then insert), so re-normalising with improved code replaces derived rows; inside one
-- batch, rows with the same natural key (noted per table) are inserted once.
-- List columns are LIST(VARCHAR) (VARCHAR[]).

CREATE TABLE labels (
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
    PRIMARY KEY (source, source_id, version_id)
);

-- History: one row per period during which a version was the current one for its label.
-- The current version has valid_to IS NULL (at most one per (source, source_id)).
-- A version that comes back after a change gets a new row (new valid_from).
-- first_run_id opened the period; last_seen_run_id is the last run whose batch contained it.
-- A label missing from a batch is NOT closed (runs may cover only part of the sources).
CREATE TABLE label_versions (
    source            VARCHAR NOT NULL,
    source_id         VARCHAR NOT NULL,
    version_id        VARCHAR NOT NULL,
    valid_from        TIMESTAMP NOT NULL,
    valid_to          TIMESTAMP,
    first_run_id      BIGINT NOT NULL,
    last_seen_run_id  BIGINT NOT NULL,
    PRIMARY KEY (source, source_id, version_id, valid_from)
);

-- natural key: (source, source_id, version_id, row_id)
CREATE TABLE ingredient_rows (
    source      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    version_id  VARCHAR NOT NULL,
    row_id      VARCHAR NOT NULL,
    parent_id   VARCHAR,
    depth       INTEGER,
    name        VARCHAR,
    category    VARCHAR,
    forms       VARCHAR[],
    amount      DOUBLE,
    unit        VARCHAR,
    operator    VARCHAR,
    percent_dv  DOUBLE,
    dv_group    VARCHAR,
    section     VARCHAR,
    text        VARCHAR,
    PRIMARY KEY (source, source_id, version_id, row_id)
);

-- natural key: (source, source_id, version_id, row_id, compound); a row naming two compounds
-- ("as oxide and citrate") may give two facts, so no primary key on row_id alone.
CREATE TABLE magnesium_facts (
    source        VARCHAR NOT NULL,
    source_id     VARCHAR NOT NULL,
    version_id    VARCHAR NOT NULL,
    row_id        VARCHAR NOT NULL,
    role          VARCHAR,
    compound      VARCHAR,
    amount        DOUBLE,
    unit          VARCHAR,
    amount_mg     DOUBLE,
    mg_fraction   DOUBLE,
    elemental_mg  DOUBLE,
    counted       BOOLEAN,
    method        VARCHAR
);

-- One magnesium summary per label version. daily_servings_min/max (daily servings behind
-- mg_per_day_min/max) feed price_per_100mg_day; they are optional in the batch (NULL if absent).
CREATE TABLE magnesium_labels (
    source              VARCHAR NOT NULL,
    source_id           VARCHAR NOT NULL,
    version_id          VARCHAR NOT NULL,
    forms               VARCHAR[],
    forms_inferred      BOOLEAN,
    mg_per_serving      DOUBLE,
    mg_per_day_min      DOUBLE,
    mg_per_day_max      DOUBLE,
    method              VARCHAR,
    dv_reference        VARCHAR,    -- the DV basis as the normalizer states it (text; may hold a number)
    ul_mg               DOUBLE,
    flags               VARCHAR[],
    daily_servings_min  DOUBLE,
    daily_servings_max  DOUBLE,
    PRIMARY KEY (source, source_id, version_id)
);

-- natural key: (source, source_id, version_id, flag, reason)
CREATE TABLE label_flags (
    source      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    version_id  VARCHAR NOT NULL,
    flag        VARCHAR NOT NULL,
    reason      VARCHAR
);

-- natural key: (source, source_id, version_id, row_id, raw_sha256, reason_code).
-- version_id / row_id may be NULL for document-level problems (no label could be built).
CREATE TABLE quarantine (
    source       VARCHAR,
    source_id    VARCHAR,
    version_id   VARCHAR,
    row_id       VARCHAR,
    raw_sha256   VARCHAR,
    row_text     VARCHAR,
    reason_code  VARCHAR NOT NULL,
    reason       VARCHAR
);
