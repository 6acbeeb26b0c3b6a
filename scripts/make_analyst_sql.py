"""Generate docs/analyst-sql.md: every query is run against the demo database and its real
output pasted below it. Usage: python scripts/make_analyst_sql.py DEMO_DIR docs/analyst-sql.md  (DEMO_DIR holds data/maglabels.duckdb)."""
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb

DEMO = Path(sys.argv[1]).resolve()
OUT = Path(sys.argv[2])
DB = DEMO / "data" / "maglabels.duckdb"
CLI = os.environ.get("DUCKDB_CLI")  # optional: a duckdb CLI binary to run the Parquet example with
MAX_ROWS = 10

con = duckdb.connect(str(DB), read_only=True)
parts = []


def fmt(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        if set(v) == {"key", "value"}:
            v = dict(zip(v["key"], v["value"], strict=True))
        return "{" + ", ".join(f"{k}={fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (dt.datetime, dt.date)):
        return str(v)
    return str(v)


def cell(v):
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def md(text):
    parts.append(text.strip("\n") + "\n")


def sql(query, note=None):
    query = query.strip("\n")
    cur = con.execute(query)
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    out = ["```sql", query, "```", ""]
    if not rows:
        out.append("*(no rows)*  columns: " + ", ".join(f"`{c}`" for c in cols))
    else:
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" for _ in cols) + "|")
        for r in rows[:MAX_ROWS]:
            out.append("| " + " | ".join(cell(v) for v in r) + " |")
        if len(rows) > MAX_ROWS:
            out.append("")
            out.append(f"*({len(rows)} rows, first {MAX_ROWS} shown)*")
    if note:
        out += ["", note]
    parts.append("\n".join(out) + "\n")


def sh(command, shown=None, cwd=DEMO, lang="text"):
    res = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, check=True)
    text = (res.stdout + res.stderr).rstrip("\n")
    parts.append("\n".join(["```sh", shown or command, "```", "", f"```{lang}", text, "```"]) + "\n")


# --------------------------------------------------------------------------------------------
n_products = con.execute("SELECT count(*) FROM magnesium_daily").fetchone()[0]
by_source = con.execute("SELECT source, count(*) FROM magnesium_daily GROUP BY 1 ORDER BY 1").fetchall()
py_duckdb = duckdb.__version__

md(f"""
# Analyst SQL: the common questions, with their answers on the demo data

Every query below was run against the demo database and the table under it is its real output
(at most {MAX_ROWS} rows shown; lists are printed as `[a, b]`, maps as `{{k=v}}`, NULL as `NULL`).
The demo database is the bundled real data and one saved iHerb page:

```sh
mkdir demo && cd demo
python3 -m maglabels run --offline                                  # 6 DSLD API labels + 731 DSLD corpus products
python3 -m maglabels ingest /path/to/repo/tests/golden/www.iherb.com/*/page.html.gz   # 2 real iHerb pages (1 with magnesium, with a price)
```

That gives {n_products} current products with magnesium ({", ".join(f"{s}: {n}" for s, n in by_source)}).
On your own database the numbers differ; the SQL does not. Column meanings are in the view files
`warehouse/sql/views/*.sql` (each starts with a comment) and in `docs/ARCHITECTURE.md`; flag
meanings in `docs/audit.md`.

**Contents:** [opening the database](#opening-the-database) ·
[products in range](#which-products-are-in-range-200400-mgday) ·
[buffered glycinate](#which-glycinate-products-are-buffered) ·
[names that overstate](#which-brands-names-overstate-the-magnesium) ·
[brand comparison](#brand-comparison) · [form comparison](#form-comparison) ·
[reformulations](#reformulations) · [quarantine](#quarantine-summary) ·
[price per 100 mg/day](#price-per-100-mgday) · [exporting](#exporting-to-parquet-or-csv)

## Opening the database

The file is `$MAGLABELS_DB`, else `$MAGLABELS_DATA_DIR/maglabels.duckdb`, else
`data/maglabels.duckdb` under the directory you ran `maglabels` in. Open it **read-only** for
analysis: DuckDB allows any number of read-only processes *or* one writer, so a read-only session
cannot corrupt anything (but cannot be opened while a `maglabels run` is writing, and blocks the
next run while it is open).

**Python** (`duckdb` is installed with maglabels):

```python
import duckdb

con = duckdb.connect("data/maglabels.duckdb", read_only=True)
con.sql("SELECT range_status, count(*) AS products FROM magnesium_daily GROUP BY ALL").show()
df = con.execute("SELECT * FROM magnesium_daily WHERE range_status = ?", ["within"]).fetchdf()  # pandas
con.close()
```

The views are stored in the file by the last `maglabels` command that wrote it. To get the view
definitions of the maglabels you have installed instead (as `TEMP` views; also refuses a file with
pending migrations, with a clear message), open it through the warehouse package:

```python
from maglabels.warehouse.db import connect
con = connect("data/maglabels.duckdb", read_only=True)   # a duckdb connection
```

**DuckDB CLI:**

```sh
duckdb -readonly data/maglabels.duckdb
```

```text
D .mode markdown
D SELECT range_status, count(*) AS products FROM magnesium_daily GROUP BY ALL ORDER BY products DESC;
```

The CLI must be at least as new as the `duckdb` Python package that wrote the file (here
{py_duckdb}; `python3 -c "import duckdb; print(duckdb.__version__)"`). An older CLI refuses the file
("Trying to read a database file with version number ..., but we can only read versions
between ..."; at the time of writing `pip install duckdb-cli` gives CLI 1.5.6, which cannot open a
file written by duckdb 2.0.0); the version-independent way round is to [export to Parquet](#exporting-to-parquet-or-csv)
and point any DuckDB (or pandas, Spark, ...) at the files.

## The one table to know: `magnesium_daily`

One row per **current** label version with magnesium. The columns an analyst uses most:
`brand, product_name, forms` (list), `mg_per_serving, mg_per_day_min, mg_per_day_max` (elemental
Mg), `range_status` (`below` / `within` / `spans` / `above` / `unknown` against 200–400 mg/day,
using the whole min–max range), `above_ul` (max above the label's UL, 350 mg/day unless it targets
children), `flags` (list), `price, currency, price_per_100mg_day`, `url`, and the keys
`source, source_id, version_id` to join `label_flags`, `magnesium_facts`, `ingredient_rows`, `quarantine`.
""")

sql("""
SELECT range_status, count(*) AS products,
       round(100 * count(*) / sum(count(*)) OVER (), 1) AS pct
FROM magnesium_daily
GROUP BY range_status
ORDER BY products DESC
""")

md("""
## Which products are in range (200–400 mg/day)

`range_status = 'within'` means the **whole** daily range is inside the band (for most products
min = max). Note that 350–400 mg/day is inside the popular band but **above the UL** for
supplemental magnesium, so "in range and not above the UL" is a stricter question:
""")

sql("""
SELECT count(*) FILTER (WHERE range_status = 'within')                  AS within_band,
       count(*) FILTER (WHERE range_status = 'within' AND NOT above_ul) AS within_band_and_ul,
       count(*) FILTER (WHERE range_status = 'spans')                   AS straddles_an_edge,
       count(*) FILTER (WHERE range_status = 'unknown')                 AS dose_unknown
FROM magnesium_daily
""")

sql("""
SELECT brand, product_name, forms,
       round(mg_per_day_min, 1) AS mg_per_day_min, round(mg_per_day_max, 1) AS mg_per_day_max,
       above_ul, flags
FROM magnesium_daily
WHERE range_status = 'within'
ORDER BY brand, product_name
LIMIT 10
""")

md("""
Variations: the maximum dose in the band whatever the minimum is
`WHERE mg_per_day_max BETWEEN 200 AND 400`; per form, `form_comparison.share_within` (below).
""")

md("""
## Which glycinate products are buffered

"Magnesium glycinate" products often contain magnesium oxide ("buffered"), which is cheaper and
carries more magnesium per gram. The normaliser flags `buffered_blend` when glycinate is listed
together with oxide, when a source is called "buffered", or when the label declares more magnesium
than the declared glycinate mass can hold (> 14.1 %); the reason is in `label_flags`. The query
also catches glycinate + oxide without the flag, in case of a label the rule missed:
""")

sql("""
SELECT count(*)                                                      AS glycinate_products,
       count(*) FILTER (WHERE list_contains(flags, 'buffered_blend')) AS flagged_buffered,
       count(*) FILTER (WHERE list_contains(forms, 'magnesium oxide')) AS oxide_listed_too
FROM magnesium_daily
WHERE list_contains(forms, 'magnesium glycinate')
""")

sql("""
SELECT d.brand, d.product_name, d.forms, round(d.mg_per_day_max, 1) AS mg_per_day_max,
       list_contains(d.forms, 'magnesium oxide') AS oxide_listed,
       string_agg(f.reason, ' / ' ORDER BY f.reason) AS buffered_reason
FROM magnesium_daily AS d
LEFT JOIN label_flags AS f
       ON f.source = d.source AND f.source_id = d.source_id AND f.version_id = d.version_id
      AND f.flag = 'buffered_blend'
WHERE list_contains(d.forms, 'magnesium glycinate')
  AND (list_contains(d.flags, 'buffered_blend') OR list_contains(d.forms, 'magnesium oxide'))
GROUP BY ALL
ORDER BY d.brand, d.product_name
LIMIT 10
""")

md("""
(`label_flags` holds the flags of every stored version; joining it to `magnesium_daily` on
`source, source_id, version_id` keeps the current ones.)

## Which brands' names overstate the magnesium

`name_claim_mismatch`: the "mg" in the product name is neither the elemental magnesium per
serving, per day nor per unit. The reason says whether the name is the **compound** mass ("the
label supports the compound reading": *Magnesium Citrate 1250 mg* holding 200 mg of magnesium) or
fits no reading ("neither ..."). The number the name states is parsed out of the reason, and
"overstate" means it is larger than the elemental amount per serving and per day. Per brand:
""")

sql("""
SELECT d.brand,
       count(*) AS products,
       count_if(f.reason LIKE '%supports the compound reading%') AS name_is_compound_mass,
       count_if(f.reason LIKE '%neither%') AS no_reading_fits
FROM label_flags AS f
JOIN magnesium_daily AS d USING (source, source_id, version_id)
WHERE f.flag = 'name_claim_mismatch'
  AND try_cast(regexp_extract(f.reason, 'name states ([0-9.]+) mg', 1) AS DOUBLE)
      > greatest(d.mg_per_serving, d.mg_per_day_max)
GROUP BY d.brand
ORDER BY products DESC, d.brand
LIMIT 10
""")

md("The products, the biggest overstatement first, with the reason:")

sql("""
SELECT d.brand, d.product_name,
       try_cast(regexp_extract(f.reason, 'name states ([0-9.]+) mg', 1) AS DOUBLE) AS name_mg,
       round(d.mg_per_serving, 1) AS mg_per_serving,
       round(name_mg / d.mg_per_serving, 1) AS ratio,
       f.reason
FROM label_flags AS f
JOIN magnesium_daily AS d USING (source, source_id, version_id)
WHERE f.flag = 'name_claim_mismatch'
  AND name_mg > greatest(d.mg_per_serving, d.mg_per_day_max)
ORDER BY ratio DESC, d.brand, d.product_name
LIMIT 10
""", note="""Read the reasons before quoting the numbers. Most of these names give the weight of the salt
(gluconate, threonate, orotate, acetyl taurate ...) while the panel declares elemental magnesium:
the name overstates the magnesium by the inverse of the salt's Mg fraction. Rows whose reason says
"neither ... fits" are labels whose name and panel disagree outright.
All name mismatches, including names that *under*state:
`SELECT * FROM label_flags WHERE flag = 'name_claim_mismatch'` (or `brand_comparison.n_name_claim_mismatch`).""")

md("""
## Brand comparison

`brand_comparison`: one row per brand as written on the label (so "Country Life" and "Country
Life Target-Mins" are separate), over current labels. `share_within` / `share_above_ul` are over
the products whose answer is known; `n_<flag>` count products with the flag; `flag_counts` is a
map of every flag present.
""")

sql("""
SELECT brand, products, round(median_mg_per_day_max, 1) AS median_mg_day,
       round(min_mg_per_day_max, 1) AS min_mg_day, round(max_mg_per_day_max, 1) AS max_mg_day,
       round(share_within, 3) AS share_within, round(share_above_ul, 3) AS share_above_ul,
       n_name_claim_mismatch, n_buffered_blend, n_implausible_fill
FROM brand_comparison
ORDER BY products DESC, brand
LIMIT 10
""")

sql("""
SELECT brand, flag_counts, flag_counts['above_ul'] AS n_above_ul_flag
FROM brand_comparison
WHERE brand = 'Bluebonnet'
""")

md("""
Brands with at least 5 products, ranked by the share within the band:
""")

sql("""
SELECT brand, products, round(share_within, 3) AS share_within, median_mg_per_day_max
FROM brand_comparison
WHERE products >= 5
ORDER BY share_within DESC NULLS LAST, products DESC, brand
LIMIT 10
""")

md("""
## Form comparison

`form_comparison`: the same per form; `forms` is unnested, so a product with two forms counts for
each (`products_single_form` counts those with only this form); no form = `(unspecified)`.
""")

sql("""
SELECT form, products, products_single_form, median_mg_per_day_max,
       round(share_within, 3) AS share_within, round(share_above_ul, 3) AS share_above_ul
FROM form_comparison
ORDER BY products DESC, form
LIMIT 10
""")

md("""
## Reformulations

`reformulations`: one row per change of a label's content (the version before and after, when it
changed, the magnesium on both sides, `mg_changed` / `forms_changed`). A label version is identified
by a hash of its content, and `label_versions` records when each version became current.

**It is empty after a single run**, and on the demo database: every label has exactly one
version. It fills when a later `maglabels run` (or `ingest` / `normalize`) loads a label that is
already stored (same `source`, `source_id`) with **different content** — for example the nightly
DSLD run after NIH updates a label, or re-ingesting a retailer page whose panel changed. Re-running
with unchanged labels adds nothing. (A changed price alone does not make a new version.)
""")

sql("""
SELECT source, source_id, brand, product_name, changed_at,
       before_mg_per_day_max, after_mg_per_day_max, before_forms, after_forms,
       mg_changed, forms_changed
FROM reformulations
ORDER BY changed_at DESC
LIMIT 10
""")

md("""
The magnesium changes only: `... WHERE mg_changed`; the whole history of one label:
`SELECT * FROM label_history WHERE source = 'dsld' AND source_id = '...' ORDER BY version_number`.

## Quarantine summary

Rows the normaliser refused to turn into a number (never guessed), by reason code. `rows` counts
every stored version, `current_rows` those of current versions.
""")

sql("""
SELECT reason_code, rows, current_rows, labels, sources, example_reason
FROM quarantine_summary
""")

md("The quarantined rows themselves, with the label they belong to:")

sql("""
SELECT q.reason_code, q.source, q.source_id, q.row_id, l.brand, l.product_name, q.reason
FROM quarantine AS q
LEFT JOIN labels AS l USING (source, source_id, version_id)
ORDER BY q.reason_code, q.source_id, q.row_id
LIMIT 10
""")

md("""
(`q.row_text` holds the raw row: for DSLD labels, the row's JSON.)

## Price per 100 mg/day

`price_per_100mg_day` = the cost of one day at the maximum dose, per 100 mg of elemental
magnesium: `price x daily_servings_max / servings_per_container x 100 / mg_per_day_max`. It is
known only where the source gives a price (retailer pages; DSLD has no prices) and the servings per
container; prices in different currencies are not comparable, so group or filter by `currency`.
""")

sql("""
SELECT count(*) AS products,
       count(price) AS with_price,
       count(price_per_100mg_day) AS with_price_per_100mg_day
FROM magnesium_daily
""")

sql("""
SELECT brand, product_name, price, currency, servings_per_container, daily_servings_max,
       round(mg_per_day_max, 1) AS mg_per_day_max,
       round(cost_per_day, 4) AS cost_per_day,
       round(price_per_100mg_day, 4) AS price_per_100mg_day, url
FROM magnesium_daily
WHERE price_per_100mg_day IS NOT NULL
ORDER BY currency, price_per_100mg_day
LIMIT 10
""", note="""On the demo data that is the one ingested iHerb page, a multivitamin: its price pays for the whole
formula, so per 100 mg of magnesium it is not comparable with a magnesium-only product. Per brand:
`brand_comparison.median_price_per_100mg_day` and `priced_products`.""")

md("""
## Exporting to Parquet or CSV

`maglabels export` writes the analyst views (`magnesium_daily`, `brand_comparison`,
`form_comparison`, `label_history`, `reformulations`, `quarantine_summary`) as files. In Parquet,
a view with a `source` column is a hive-partitioned directory `<out>/<view>/source=<source>/data_0.parquet`
(old partitions are cleared first); a view without `source` is one file `<out>/<view>.parquet`; a
partitioned view with no rows writes no file (so `reformulations` is absent on the demo data).
CSV (`--format csv`) writes one `<out>/<view>.csv` per view, with lists and maps in DuckDB's text form.
""")

export_dir = DEMO / "exports"
subprocess.run(["rm", "-rf", str(export_dir)], check=True)
con.close()  # the export opens the database read-write: no other process may hold it
sh("python3 -m maglabels export --format parquet --out exports/",
   shown="maglabels export --format parquet --out exports/     # --db FILE to pick the database; prints the files written")

md("""Read it back (from the directory holding `exports/`; Parquet is readable by any DuckDB version — the
first query below also runs unchanged in DuckDB CLI 1.5.6 — so this is the way to use an older CLI):""")

pq = """
SELECT source, range_status, count(*) AS products
FROM read_parquet('exports/magnesium_daily/**/*.parquet', hive_partitioning = true)
GROUP BY ALL
ORDER BY ALL
"""
con = duckdb.connect(":memory:")  # reading Parquet needs no database
cwd = os.getcwd()
os.chdir(DEMO)
try:
    sql(pq)
    sql("""
SELECT brand, products, median_mg_per_day_max
FROM 'exports/brand_comparison.parquet'
ORDER BY products DESC, brand
LIMIT 3
""")
finally:
    os.chdir(cwd)

md("""
With `hive_partitioning = true` the `source` column comes back from the folder names. In pandas:
`pandas.read_parquet("exports/magnesium_daily")` (pyarrow reads the partitions the same way).
""")

OUT.write_text("\n".join(parts).rstrip("\n") + "\n", encoding="utf-8")
print(f"wrote {OUT}")

# The README carries the three common questions (in range, buffered glycinate, names that
# overstate the magnesium) with the same real outputs, between its analyst-sql markers.
README = Path(__file__).resolve().parent.parent / "README.md"
doc = OUT.read_text(encoding="utf-8")
common = doc[doc.index("## Which products are in range"):doc.index("## Brand comparison")].strip()
common = common.replace("\n## ", "\n### ").replace("## Which products", "### Which products", 1)
readme = README.read_text(encoding="utf-8")
start, end = "<!-- analyst-sql:start -->", "<!-- analyst-sql:end -->"
if start in readme and end in readme:
    head, rest = readme.split(start, 1)
    readme = head + start + "\n" + common + "\n" + end + rest.split(end, 1)[1]
    README.write_text(readme, encoding="utf-8")
    print(f"updated {README}")
