"""Verbs over the models that own their transaction: validate, change, commit, then enqueue."""
