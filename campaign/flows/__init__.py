"""Flows: activities linked by triggers, and the pure logic their runs use (docs/flows.md)."""
