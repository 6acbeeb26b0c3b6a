-- 007: which normaliser version produced each stored label version (normalize.NORMALIZER_VERSION).
-- A load replaces the derived rows of a label version only when this differs from the incoming
-- batch's (or the batch does not say); ingest skips documents whose raw_sha256 is stored with the
-- current version (not re-parsed, re-normalised or re-loaded). NULL: loaded before 007.
-- No index on raw_sha256: DuckDB's ART indexes live in memory and a hash join per chunk is fast.
ALTER TABLE labels ADD COLUMN normalizer_version VARCHAR;
