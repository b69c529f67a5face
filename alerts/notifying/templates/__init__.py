"""Message texts per hazard, severity and language (YAML, one file per language; see alerts/reading/parse.py).

Editing a text is a content change, not a code change: tests/alerts/notifying/test_texts.py renders every
combination with the longest real place names and fails when one needs more than 2 SMS segments.
"""
