"""The `haven` command line (docs/architecture.md, the layers: cli/ is an adapter)."""
