"""The API's OpenAPI description (`/api/openapi.json`): collections.py, components.py, paths.py."""

from campaign.openapi.paths import document_api

__all__ = ["document_api"]
