-- How many current products got an elemental magnesium value, and how many only quarantine rows.
SELECT
    count(*) AS products,
    count(mg_per_serving) AS with_elemental_value,
    count(*) - count(mg_per_serving) AS without_value
FROM magnesium_daily
