-- What a column means
-- readme: yes
-- `comment` of the new magnesium_daily columns, straight from the database.
SELECT column_name, comment
FROM duckdb_columns()
WHERE schema_name = 'main' AND table_name = 'magnesium_daily'
  AND column_name IN ('range_status', 'dose_basis', 'dose_assumed', 'product_key', 'on_market', 'ul_status')
ORDER BY column_index;
