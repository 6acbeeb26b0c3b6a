-- What the flags mean
-- readme: yes
-- The database explains itself: `flag_glossary` (generated from normalize/flags.py) and a comment on
-- every view and column (`DESCRIBE` does not show them; `duckdb_columns()` does).
SELECT g.kind, g.flag, count(d.source_id) AS labels
FROM flag_glossary AS g
LEFT JOIN (SELECT source_id, unnest(flags) AS flag FROM magnesium_daily) AS d USING (flag)
GROUP BY ALL
ORDER BY g.kind, labels DESC;
