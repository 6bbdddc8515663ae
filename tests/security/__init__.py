"""Attacks on the running service, one module per family; each test reproduces an attack."""
