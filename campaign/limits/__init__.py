"""Per-account API rate limits: the pure arithmetic (`rates.py`) and its one Redis call
(`limiter.py`)."""
