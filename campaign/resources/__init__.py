"""One module per JSON:API type: its schema, blueprint and thin views."""

from campaign.resources import (
    activities,
    engagements,
    envelopes,
    phone_numbers,
    text_templates,
    texts,
)

BLUEPRINTS = (
    text_templates.blp,
    engagements.blp,
    activities.blp,
    phone_numbers.blp,
    envelopes.blp,
    texts.blp,
)
