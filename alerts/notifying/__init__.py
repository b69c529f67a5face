"""Telling customers: targeting, fan-out, delivery through the channels, receipts
(docs/architecture.md, "A warning, from feed to SMS")."""
