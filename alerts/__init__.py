"""Warnings in and out (docs/architecture.md, "A warning, from feed to SMS").

reading/   formats, feeds and ingestion: a message becomes stored alerts in chains
matching/  which insured assets an alert's area reaches
notifying/ who is told, with which text, and the delivery of every notification
dao/       the queries the API and the console read alerts with
"""
