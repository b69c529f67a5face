"""Where a notification goes: Twilio SMS, an HTTP push gateway, or the outbox.

base.py holds what they share, configured.py picks the one the settings name.
"""
