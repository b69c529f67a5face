"""The `haven` command line (see DESIGN.md, Interfaces: CLI)."""
