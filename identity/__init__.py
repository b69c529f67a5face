"""Who is signing in: staff by username and password, customers by a code sent to their phone or a
signed link in their SMS; cookie sessions with a CSRF token (docs/architecture.md, Signing in).

rules.py holds the plain rules, dao.py the queries, service.py the transactions that web/ and cli/ call.
"""
