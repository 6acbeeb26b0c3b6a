-- brand_comparison: per brand (as written on the label, across all sources) over the PRODUCTS on
-- the market (view products: one row per product, its current label; off-market products and
-- older label revisions are not counted). labels = the on-market label versions behind them.
-- share_dose_assumed = products whose daily dose is assumed (dose_basis assumed_*) / products
-- with a known dose_basis. Shares are over the products where the answer is known:
--   share_within   = products 'within' / products whose range_status is not 'unknown'
--   share_above_ul = products above_ul / products with a known above_ul
-- n_<flag>: products carrying that flag; n_above_ul counts the above_ul column or flag.
-- flag_counts: MAP flag -> products, for every flag present (also unknown future flags).
-- Labels without a brand are grouped under '(no brand)'.
CREATE OR REPLACE VIEW brand_comparison AS
WITH d AS (
    SELECT *, coalesce(nullif(trim(brand), ''), '(no brand)') AS brand_key
    FROM products
    WHERE on_market  -- products, not label revisions; on the market only (see products)
),
flag_counts AS (
    SELECT brand_key, map_from_entries(list((flag, n) ORDER BY flag)) AS flag_counts
    FROM (
        SELECT brand_key, flag, count(*) AS n
        FROM (SELECT brand_key, unnest(flags) AS flag FROM d)
        GROUP BY ALL
    )
    GROUP BY brand_key
)
SELECT
    d.brand_key AS brand,
    count(*) AS products,
    sum(d.labels_on_market) AS labels,
    count_if(d.dose_assumed) / nullif(count(d.dose_assumed), 0) AS share_dose_assumed,
    list_sort(list(DISTINCT d.current_source)) AS sources,
    median(d.mg_per_day_max) AS median_mg_per_day_max,
    min(d.mg_per_day_max) AS min_mg_per_day_max,
    max(d.mg_per_day_max) AS max_mg_per_day_max,
    count_if(d.range_status = 'within') / nullif(count_if(d.range_status <> 'unknown'), 0) AS share_within,
    count_if(d.above_ul) / nullif(count(d.above_ul), 0) AS share_above_ul,
    count_if(list_contains(d.flags, 'dv_mismatch')) AS n_dv_mismatch,
    count_if(list_contains(d.flags, 'compound_as_elemental')) AS n_compound_as_elemental,
    count_if(list_contains(d.flags, 'name_claim_mismatch')) AS n_name_claim_mismatch,
    count_if(list_contains(d.flags, 'implausible_fill')) AS n_implausible_fill,
    count_if(list_contains(d.flags, 'buffered_blend')) AS n_buffered_blend,
    count_if(coalesce(d.above_ul, false) OR list_contains(d.flags, 'above_ul')) AS n_above_ul,
    any_value(fc.flag_counts) AS flag_counts,
    median(d.price_per_100mg_day) AS median_price_per_100mg_day,
    count(d.price_per_100mg_day) AS priced_products
FROM d
LEFT JOIN flag_counts AS fc USING (brand_key)
GROUP BY d.brand_key
ORDER BY d.brand_key
