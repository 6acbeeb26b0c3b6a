"""The normaliser's output version: bump it whenever the same label would normalise differently.

The warehouse stores it with every label version it loads (labels.normalizer_version, migration
007). Ingest skips a document already loaded under this version; after a bump, documents are
re-normalised and their derived rows replaced.
"""
# 2026.11.22-1: flattened DSLD ids hash the canonical document; compact row text; only the rows
# naming magnesium are stored for labels without a magnesium row
NORMALIZER_VERSION = "2026.11.22-1"
