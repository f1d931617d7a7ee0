"""Code lists every domain validates against; the data files ship inside the package (see data/README.md)."""
