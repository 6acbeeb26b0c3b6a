-- Current labels carrying each flag, with the flag's kind (flag_glossary).
SELECT flag, coalesce(g.kind, '?') AS kind, count(*) AS labels
FROM (SELECT unnest(flags) AS flag FROM magnesium_daily)
LEFT JOIN flag_glossary AS g USING (flag)
GROUP BY ALL
ORDER BY labels DESC, flag
