"""The normaliser's output version: bump it whenever the same label would normalise differently.

The warehouse stores it with every label version it loads (labels.normalizer_version, migration
007). Ingest skips a document already loaded under this version; after a bump, documents are
re-normalised and their derived rows replaced.
"""
NORMALIZER_VERSION = "2026.11.21-2"  # -2: grams whose %DV fits mg are read as mg
