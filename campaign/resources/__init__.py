"""One module per JSON:API type: its schema, blueprint and thin views."""

from campaign.resources import (
    account_replies,
    activities,
    engagements,
    envelopes,
    opt_outs,
    phone_numbers,
    test_requests,
    text_templates,
    texts,
    triggers,
)

BLUEPRINTS = (
    text_templates.blp,
    engagements.blp,
    activities.blp,
    test_requests.blp,
    triggers.blp,
    phone_numbers.blp,
    envelopes.blp,
    texts.blp,
    opt_outs.blp,
    account_replies.blp,
)
