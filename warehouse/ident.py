"""Quoting SQL identifiers (table, view and column names built into statements)."""


def q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'
