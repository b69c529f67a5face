"""Which insured assets an alert's area reaches (docs/architecture.md, "A warning, from feed to SMS")."""
