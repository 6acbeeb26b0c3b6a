-- Which products are in range (200–400 mg/day)
-- readme: yes
-- Over **products on the market** (view `products`: one row per product, its current label; DSLD
-- keeps every label revision as its own id). `within` means the whole daily range is inside the band;
-- `spans` means the label allows doses on both sides of an edge (a serving range such as "1-4
-- capsules"). `dose_assumed` says the daily dose rests on an assumption (one serving a day), not on
-- the label: look at that share before quoting a number. 350–400 mg/day is inside the band but above
-- the UL for supplemental magnesium.
SELECT range_status,
       count(*) AS products,
       count(*) FILTER (WHERE NOT above_ul) AS not_above_ul,
       round(100.0 * avg(dose_assumed::INT), 1) AS pct_dose_assumed
FROM products
WHERE on_market
GROUP BY range_status
ORDER BY array_position(['below', 'within', 'spans', 'above', 'unknown'], range_status);
