-- Products whose daily dose the label itself states
-- readme: yes
-- Products whose daily dose is declared (`dose_assumed` false), the within ones first: on the demo
-- data only the v9 API labels state daily servings, so the list is short.
SELECT brand, product_name, forms,
       round(mg_per_day_min, 1) AS mg_per_day_min, round(mg_per_day_max, 1) AS mg_per_day_max,
       dose_basis, above_ul
FROM products
WHERE on_market AND NOT dose_assumed
ORDER BY range_status = 'within' DESC, brand, product_name;
