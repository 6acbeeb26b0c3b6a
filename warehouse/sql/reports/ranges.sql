-- The 200-400 mg/day band: current labels, and on-market products (one current label each).
WITH l AS (SELECT range_status, count(*) AS labels FROM magnesium_daily GROUP BY ALL),
     p AS (SELECT range_status, count(*) AS products_on_market FROM products WHERE on_market GROUP BY ALL)
SELECT range_status, coalesce(l.labels, 0) AS labels, coalesce(p.products_on_market, 0) AS products_on_market
FROM l FULL JOIN p USING (range_status)
ORDER BY array_position(['below', 'within', 'spans', 'above', 'unknown'], range_status)
