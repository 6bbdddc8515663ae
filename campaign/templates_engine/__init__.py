"""Sandboxed SMS message templates with hyphenated meta variables, and SMS segment counting."""

from campaign.templates_engine.environment import (
    ALLOWED_FILTERS,
    ALLOWED_TESTS,
    MAX_RENDERED_LENGTH,
    MAX_TEMPLATE_LENGTH,
    CompiledTemplate,
    RenderError,
    TemplateError,
    compile_template,
    template_variables,
)
from campaign.templates_engine.segments import (
    GSM_PART,
    GSM_SINGLE,
    UCS2_PART,
    UCS2_SINGLE,
    SegmentInfo,
    count_segments,
)

__all__ = [
    "ALLOWED_FILTERS",
    "ALLOWED_TESTS",
    "GSM_PART",
    "GSM_SINGLE",
    "MAX_RENDERED_LENGTH",
    "MAX_TEMPLATE_LENGTH",
    "UCS2_PART",
    "UCS2_SINGLE",
    "CompiledTemplate",
    "RenderError",
    "SegmentInfo",
    "TemplateError",
    "compile_template",
    "count_segments",
    "template_variables",
]
