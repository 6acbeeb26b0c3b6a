-- Brand comparison
-- The brands with the most on-market products; `share_dose_assumed` is the share of them whose
-- daily dose is assumed. Brands are as printed on the label.
SELECT brand, products, labels, round(share_dose_assumed, 3) AS share_dose_assumed,
       median_mg_per_day_max, round(share_within, 3) AS share_within, round(share_above_ul, 3) AS share_above_ul
FROM brand_comparison
ORDER BY products DESC, brand
LIMIT 10;
