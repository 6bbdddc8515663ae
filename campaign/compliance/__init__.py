"""Compliance rules that need neither database nor network: opt-out keywords, quiet hours."""
