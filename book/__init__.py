"""The insured book: customers and their assets, imported in bulk (docs/architecture.md)."""
