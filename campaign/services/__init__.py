"""Verbs over the models: validate and change rows, ask for follow-up work after the commit.

A service never commits: the request or job that called it does (`campaign/transaction.py`).
"""
