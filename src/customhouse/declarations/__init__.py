"""The goods declaration: its document, lifecycle, store, API and CLI."""
