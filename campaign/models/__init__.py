"""The tables, one module each; models own their state transitions and know no HTTP or Redis."""

from campaign.models.account import Account, ApiToken
from campaign.models.account_reply import AccountReply
from campaign.models.activity import Activity, ActivityKind
from campaign.models.base import new_id, new_ids, utcnow
from campaign.models.engagement import (
    DeliveryType,
    Direction,
    Engagement,
    EngagementStatus,
    InvalidTransition,
)
from campaign.models.envelope import Envelope, EnvelopeStatus
from campaign.models.idempotent_request import IdempotentRequest
from campaign.models.number_allotment import NumberAllotment
from campaign.models.opt_out import OptOut, OptOutSource
from campaign.models.phone_number import PhoneNumber
from campaign.models.text import Text, TextDirection, TextStatus
from campaign.models.text_template import TextTemplate
from campaign.models.trigger import Trigger, TriggerKind

__all__ = [
    "Account",
    "AccountReply",
    "Activity",
    "ActivityKind",
    "ApiToken",
    "DeliveryType",
    "Direction",
    "Engagement",
    "EngagementStatus",
    "Envelope",
    "EnvelopeStatus",
    "IdempotentRequest",
    "InvalidTransition",
    "NumberAllotment",
    "OptOut",
    "OptOutSource",
    "PhoneNumber",
    "Text",
    "TextDirection",
    "TextStatus",
    "TextTemplate",
    "Trigger",
    "TriggerKind",
    "new_id",
    "new_ids",
    "utcnow",
]
