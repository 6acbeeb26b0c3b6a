-- quarantine_summary: quarantined rows by reason_code.
--   rows:          all stored quarantine rows (every label version ever loaded)
--   current_rows:  rows of current label versions only (what a fresh normalisation would give)
--   labels:        distinct labels (source, source_id) with that reason
--   example_reason / example_row_text: one sample, to see what the code means
CREATE OR REPLACE VIEW quarantine_summary AS
WITH cur AS (
    SELECT source, source_id, version_id FROM label_versions WHERE valid_to IS NULL
)
SELECT
    q.reason_code,
    count(*) AS rows,
    count(cur.version_id) AS current_rows,
    count(DISTINCT (q.source, q.source_id)) AS labels,
    list_sort(list(DISTINCT q.source)) AS sources,
    min(q.reason) AS example_reason,
    min(q.row_text) AS example_row_text
FROM quarantine AS q
LEFT JOIN cur
  ON cur.source = q.source AND cur.source_id = q.source_id AND cur.version_id = q.version_id
GROUP BY q.reason_code
ORDER BY rows DESC, q.reason_code
