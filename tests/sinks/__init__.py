"""Loopback servers that speak a carrier's protocol, so tests fake only the carrier."""
