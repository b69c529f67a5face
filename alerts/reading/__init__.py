"""Reading warnings: the formats (CAP, NWS, ATOM/RSS indexes, QWeather, typhoon tracks), the feeds that
poll them, and ingestion into chains (docs/architecture.md, "A warning, from feed to SMS")."""
