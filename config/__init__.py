"""Configuration: one settings object read from HAVEN_* environment variables.

See docs/architecture.md, "Embedded default and the real stack", and config/.env.example.
"""

from config.settings import Settings, SettingsError, get_settings, reset_settings

__all__ = ["Settings", "SettingsError", "get_settings", "reset_settings"]
