-- magnesium_daily: the stable analyst view. One row per CURRENT label version
-- (label_versions.valid_to IS NULL) that has a magnesium summary (magnesium_labels).
--
-- range_status compares the daily dose range [mg_per_day_min, mg_per_day_max] with the
-- 200-400 mg/day band (values rounded to 0.001 mg first, so 400.0000000001 from a unit
-- conversion still counts as 400):
--   'below'   max < 200
--   'above'   min > 400
--   'within'  200 <= min and max <= 400
--   'spans'   both known and none of the above (the range straddles a band edge or covers it)
--   'unknown' a bound needed for the decision is NULL
--   With a dose range (serving range "1-4 capsules", daily servings "1-3") min and max are the
--   label's two ends, so 'spans' means the label allows doses on both sides of a band edge.
-- above_ul: mg_per_day_max > ul_mg (ul_mg NULL -> 350 mg, the US UL for supplemental Mg): the
--   label ALLOWS a dose above the UL; NULL when mg_per_day_max is unknown. ul_status says more:
--   'above' (even the lowest dose is above), 'may_exceed' (only the top of the range is), 'not_above'.
-- dose_basis: declared / declared_range / assumed_one_serving_per_day /
--   assumed_one_serving_per_day_serving_range / no_valid_serving (normalize.flags.DoseBasis);
--   dose_assumed is true for the assumed_* ones (the daily dose is not the label's own statement),
--   NULL when there is no dose (no_valid_serving) or no basis (older rows).
-- product_key / on_market: see migration 005; products groups them.
-- flags: union of magnesium_labels.flags and the label_flags rows of the version, sorted.
-- Price: cost_per_day = price / days_per_container, where
--   days_per_container = servings_per_container / daily_servings_max   (at the maximum dose), so
--   cost_per_day = price * daily_servings_max / servings_per_container, and
--   price_per_100mg_day = cost_per_day * 100 / mg_per_day_max
--   (= price of 100 mg elemental magnesium taken at the maximum daily dose). NULL if any input
--   is missing or zero. Currency as given: prices in different currencies are not comparable.
CREATE OR REPLACE VIEW magnesium_daily AS
WITH cur AS (
    SELECT source, source_id, version_id, valid_from
    FROM label_versions
    WHERE valid_to IS NULL
),
flag_rows AS (
    SELECT source, source_id, version_id, list(DISTINCT flag) AS flags
    FROM label_flags
    GROUP BY ALL
),
base AS (
    SELECT
        l.source, l.source_id, l.brand, l.product_name,
        m.forms, m.mg_per_serving, m.mg_per_day_min, m.mg_per_day_max,
        round(m.mg_per_day_min, 3) AS lo,
        round(m.mg_per_day_max, 3) AS hi,
        coalesce(m.ul_mg, 350.0) AS ul_mg,
        list_sort(list_distinct(list_concat(coalesce(m.flags, []::VARCHAR[]),
                                            coalesce(f.flags, []::VARCHAR[])))) AS flags,
        l.price, l.currency, l.servings_per_container,
        m.daily_servings_min, m.daily_servings_max,
        l.url, l.raw_sha256, l.version_id, l.entry_date, l.dosage_form,
        cur.valid_from,
        coalesce(l.product_key, l.source || ':' || l.source_id) AS product_key,
        l.on_market, m.dose_basis, m.units_min, m.units_max
    FROM cur
    JOIN labels AS l USING (source, source_id, version_id)
    JOIN magnesium_labels AS m USING (source, source_id, version_id)
    LEFT JOIN flag_rows AS f USING (source, source_id, version_id)
),
priced AS (
    SELECT *,
        price * daily_servings_max / nullif(servings_per_container, 0) AS cost_per_day
    FROM base
)
SELECT
    source, source_id, brand, product_name, forms,
    mg_per_serving, mg_per_day_min, mg_per_day_max,
    CASE
        WHEN hi IS NOT NULL AND hi < 200 THEN 'below'
        WHEN lo IS NOT NULL AND lo > 400 THEN 'above'
        WHEN lo IS NULL OR hi IS NULL THEN 'unknown'
        WHEN lo >= 200 AND hi <= 400 THEN 'within'
        ELSE 'spans'
    END AS range_status,
    CASE WHEN mg_per_day_max IS NULL THEN NULL ELSE hi > ul_mg END AS above_ul,
    flags,
    price, currency,
    CASE WHEN daily_servings_max > 0 AND mg_per_day_max > 0 AND price >= 0
         THEN cost_per_day * 100 / mg_per_day_max END AS price_per_100mg_day,
    url, raw_sha256, version_id, entry_date, dosage_form,
    -- extra inputs, for checking the derived columns
    ul_mg, servings_per_container, daily_servings_min, daily_servings_max, cost_per_day,
    valid_from,
    -- added by migration 005 (issue 10)
    product_key, on_market, dose_basis,
    CASE WHEN dose_basis = 'no_valid_serving' THEN NULL ELSE dose_basis LIKE 'assumed%' END AS dose_assumed,
    CASE WHEN hi IS NULL THEN NULL
         WHEN lo > ul_mg THEN 'above'
         WHEN hi > ul_mg THEN 'may_exceed'
         ELSE 'not_above' END AS ul_status,
    units_min, units_max
FROM priced
