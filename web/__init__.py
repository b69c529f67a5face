"""The aiohttp application: REST API, webhooks and the staff console. A thin adapter layer."""
