-- Quarantine rows of current label versions by reason, and how many labels they touch.
SELECT q.reason_code, count(*) AS rows, count(DISTINCT (q.source, q.source_id)) AS labels
FROM quarantine AS q
JOIN label_versions AS v USING (source, source_id, version_id)
WHERE v.valid_to IS NULL
GROUP BY ALL
ORDER BY rows DESC, q.reason_code
