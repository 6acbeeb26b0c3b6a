-- Form comparison
-- Per magnesium form over on-market products (a product with two forms counts for each).
SELECT form, products, products_single_form, median_mg_per_day_max,
       round(share_within, 3) AS share_within, round(share_dose_assumed, 3) AS share_dose_assumed
FROM form_comparison
ORDER BY products DESC, form
LIMIT 10;
