"""The green channel's queries, one module per part (in the manner of GOV.UK Notify's app/dao).

Functions here take an open session, read or write rows, and decide nothing: the rules that give
the rows meaning live in greenchannel/, and the callers own the transaction.
"""
