-- How the daily dose of the on-market products was derived; share = of all on-market products.
SELECT dose_basis, count(*) AS products_on_market,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS percent
FROM products
WHERE on_market
GROUP BY ALL
ORDER BY products_on_market DESC, dose_basis
