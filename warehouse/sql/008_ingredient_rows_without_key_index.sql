-- 008: ingredient_rows without its PRIMARY KEY (the natural key stays (source, source_id,
-- version_id, row_id)). It is the one large table (~12 rows per label: 1.3 M for the 112,539-label
-- corpus), and DuckDB keeps a primary key's ART index in memory and rewrites it at every
-- checkpoint, so each chunk's COMMIT cost grew with the table (docs/benchmarks.md, "Load").
-- The loader guarantees the key instead (warehouse/load.py, "Idempotency"): it decides per label
-- version, from the labels table, whether a version's rows are stored already, deletes a stale
-- version's rows before inserting, and inserts a key once per batch. A load no longer deletes and
-- re-inserts the rows of versions stored by the same normaliser version (see 007).
-- DuckDB cannot drop a constraint, so the table is rebuilt with its rows (as 003 did).
CREATE TABLE ingredient_rows_008 (
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
    text        VARCHAR
);
INSERT INTO ingredient_rows_008 SELECT * FROM ingredient_rows;
DROP TABLE ingredient_rows;
ALTER TABLE ingredient_rows_008 RENAME TO ingredient_rows;
