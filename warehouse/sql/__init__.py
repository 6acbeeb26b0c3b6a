"""SQL resources of the warehouse (migrations ``NNN_*.sql`` here, views in ``views/``).

This is a package only so that setuptools ships the ``*.sql`` files (``package-data``).
"""
