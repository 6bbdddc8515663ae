"""The OpenAPI description of the wire format (filled in below)."""

from flask_smorest import Api


def document_api(api: Api) -> None:
    """Describe JSON:API documents for every operation."""
