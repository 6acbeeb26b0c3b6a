-- Products carrying each flag (current versions).
SELECT flag, count(*) AS products
FROM (SELECT unnest(flags) AS flag FROM magnesium_daily)
GROUP BY ALL
ORDER BY products DESC, flag
