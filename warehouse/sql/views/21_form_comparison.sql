-- form_comparison: per magnesium form (compound) over the on-market PRODUCTS (view products).
-- forms is unnested: a product with two forms counts once for each; products_single_form
-- counts those where this is the only form. Products with no form are grouped under
-- '(unspecified)'. Shares (share_dose_assumed too) and flag columns
-- as in brand_comparison.
CREATE OR REPLACE VIEW form_comparison AS
WITH d AS (
    SELECT *,
        CASE WHEN forms IS NULL OR len(forms) = 0 THEN ['(unspecified)']
             ELSE list_distinct(forms) END AS form_list
    FROM products
    WHERE on_market  -- products, not label revisions; on the market only (see products)
),
f AS (
    SELECT *, unnest(form_list) AS form FROM d
),
flag_counts AS (
    SELECT form, map_from_entries(list((flag, n) ORDER BY flag)) AS flag_counts
    FROM (
        SELECT form, flag, count(*) AS n
        FROM (SELECT form, unnest(flags) AS flag FROM f)
        GROUP BY ALL
    )
    GROUP BY form
)
SELECT
    f.form,
    count(*) AS products,
    sum(f.labels_on_market) AS labels,
    count_if(f.dose_assumed) / nullif(count(f.dose_assumed), 0) AS share_dose_assumed,
    count_if(len(f.form_list) = 1) AS products_single_form,
    list_sort(list(DISTINCT f.current_source)) AS sources,
    median(f.mg_per_day_max) AS median_mg_per_day_max,
    min(f.mg_per_day_max) AS min_mg_per_day_max,
    max(f.mg_per_day_max) AS max_mg_per_day_max,
    count_if(f.range_status = 'within') / nullif(count_if(f.range_status <> 'unknown'), 0) AS share_within,
    count_if(f.above_ul) / nullif(count(f.above_ul), 0) AS share_above_ul,
    count_if(list_contains(f.flags, 'dv_mismatch')) AS n_dv_mismatch,
    count_if(list_contains(f.flags, 'compound_as_elemental')) AS n_compound_as_elemental,
    count_if(list_contains(f.flags, 'name_claim_mismatch')) AS n_name_claim_mismatch,
    count_if(list_contains(f.flags, 'implausible_fill')) AS n_implausible_fill,
    count_if(list_contains(f.flags, 'buffered_blend')) AS n_buffered_blend,
    count_if(coalesce(f.above_ul, false) OR list_contains(f.flags, 'above_ul')) AS n_above_ul,
    any_value(fc.flag_counts) AS flag_counts,
    median(f.price_per_100mg_day) AS median_price_per_100mg_day,
    count(f.price_per_100mg_day) AS priced_products
FROM f
LEFT JOIN flag_counts AS fc USING (form)
GROUP BY f.form
ORDER BY f.form
