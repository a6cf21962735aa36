"""OpenRLHF's remote reward protocol (`--remote_rm_url http://HOST:8001/get_reward`): its wire format, and how
each query (the decoded prompt followed by the response) is split back into the two.

OpenRLHF's client (openrlhf/utils/remote_rm_utils.py, request_api_wrapper) posts
`{"query": [...], "prompts": [...], "labels": [...]}` and reads `rewards` (newer versions `scores` first, and
`extra_logs`, a dict of per-sample number lists that it logs). Labels are the dataset's references.

A query normally starts with its prompt. OpenRLHF may cut a long prompt from the left before generation, and its
decoding may differ from the prompt text; such a query is split where it stops matching, in this order: where a
tail of the prompt (the part kept after a left cut) begins the query, the scored prompt being the whole prompt;
else at the longest common prefix of query and prompt. `extra_logs.prompt_split` says which, per sample.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from services.core.inputs import StrictInput
from services.inference.schemas import MAX_REWARD_PAIRS

# extra_logs.prompt_split: how each query was split.
EXACT, LEFT_CUT, COMMON_PREFIX = 0, 1, 2


class GetRewardRequest(StrictInput):
    model_config = ConfigDict(extra="ignore")  # newer clients add keys (datasources, metas, ...)

    query: list[str] = Field(min_length=1, max_length=MAX_REWARD_PAIRS)
    prompts: list[str]
    labels: list[str | None] | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_text(cls, labels: Any) -> Any:
        # Datasets hold numeric answers too ("label_key" of a math set); a reference is text.
        if isinstance(labels, list):
            return [label if label is None or isinstance(label, str) else str(label) for label in labels]
        return labels


@dataclass(frozen=True)
class Split:
    prompt: str
    response: str
    how: int


def _prompt_tail_starting(query: str, prompt: str) -> int:
    """Length of the longest tail of `prompt` that `query` starts with (the prefix function of query·|·prompt)."""
    head: list[str | None] = list(query[: len(prompt)])
    text = head + [None] + list(prompt)  # None matches nothing: a tail never runs into the query
    border = [0] * len(text)
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        if text[i] == text[k]:
            k += 1
        border[i] = k
    return border[-1]


def split_query(query: str, prompt: str) -> Split:
    if query.startswith(prompt):
        return Split(prompt, query[len(prompt) :], EXACT)
    tail = _prompt_tail_starting(query, prompt)
    if tail:
        return Split(prompt, query[tail:], LEFT_CUT)
    common = len(os.path.commonprefix([query, prompt]))
    return Split(query[:common], query[common:], COMMON_PREFIX)
