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
-- above_ul: mg_per_day_max > ul_mg (ul_mg NULL -> 350 mg, the US UL for supplemental Mg);
--   NULL when mg_per_day_max is unknown.
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
        cur.valid_from
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
    valid_from
FROM priced
