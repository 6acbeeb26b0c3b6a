-- Products versus label revisions
-- readme: yes
-- How many current labels, products and products with a label on the market the warehouse holds
-- (labels grouped by `product_key`: DSLD labelRelationships, else brand + UPC, else brand + name).
SELECT count(*) AS labels,
       count(DISTINCT product_key) AS products,
       count(DISTINCT product_key) FILTER (WHERE coalesce(on_market, true)) AS products_with_a_label_on_market
FROM magnesium_daily;
