"""Configuration: one settings object read from HAVEN_* environment variables.

See ../DESIGN.md "Real components, and the embedded default" and config/.env.example.
"""

from config.settings import Settings, SettingsError, get_settings, reset_settings

__all__ = ["Settings", "SettingsError", "get_settings", "reset_settings"]
