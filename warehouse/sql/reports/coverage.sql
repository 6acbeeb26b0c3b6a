-- Current label versions with magnesium, how many got an elemental value, and the products they
-- make (labels grouped by product_key; on the market per the products view).
SELECT
    count(*) AS labels,
    count(mg_per_serving) AS with_elemental_value,
    count(*) - count(mg_per_serving) AS without_value,
    count(DISTINCT product_key) AS products,
    (SELECT count(*) FROM products WHERE on_market) AS products_on_market
FROM magnesium_daily
