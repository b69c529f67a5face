"""The queries alerts, chains, feeds and notifications are read with (docs/architecture.md, "The layers")."""
