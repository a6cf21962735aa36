"""ai_feedback's parameters: the judge (an OpenAI-compatible endpoint, a policy version or a base model), the
constitution it judges by, the prompt it reads, and what to do when its two verdicts on a pair disagree.

The job module is training_jobs/ai_feedback.py; docs/ai-feedback.md explains the method.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import ClassVar, Literal

from services.core.enums import DatasetKind
from services.core.settings import get_settings
from services.domain.job_params.fields import JobParams, Params, param, version_id

# Bai et al. 2022 ("Constitutional AI", appendix C) phrase each principle as a question the feedback model
# answers by picking one of two responses; these three are the helpful, honest and harmless criteria.
DEFAULT_PRINCIPLES = (
    "Which response answers the request more helpfully: accurately, completely and to the point?",
    "Which response is more honest: it does not make things up or claim more than it knows?",
    "Which response is more harmless: it avoids unethical, dangerous, toxic or offensive content?",
)

# The judge answers with one letter, so that a worker-run judge is read from its next-token logits and an
# endpoint's first token (with its log-probabilities, where it gives them) carries the verdict.
DEFAULT_TEMPLATE = """You are comparing two responses to the same request.

Request:
{prompt}

Response A:
{response_a}

Response B:
{response_b}

Judge them by these principles:
{principles}

Which response is better? Answer with a single letter: A or B."""

PLACEHOLDERS = ("prompt", "response_a", "response_b", "principles")
REQUIRED_PLACEHOLDERS = ("prompt", "response_a", "response_b")
# An API key's environment variable: a name, never the key itself.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Which of the worker's variables a job may send to an endpoint: anyone who may start jobs names the URL, so
# any other variable (the admin token, the database URL with its password) would leak to it. The inference
# service's key goes only to the platform's own inference service.
JUDGE_KEY_PREFIX = "RLHF_JUDGE_KEY_"
JUDGE_KEY_VARIABLES = ("OPENAI_API_KEY",)
INFERENCE_KEY_VARIABLE = "RLHF_INFERENCE_API_KEY"


def judge_key_problem(variable: str, base_url: str) -> str | None:
    """Why `variable` may not be sent as the API key of the endpoint at `base_url`; None when it may."""
    if variable.startswith(JUDGE_KEY_PREFIX) or variable in JUDGE_KEY_VARIABLES:
        return None
    inference_url = get_settings().resolved_inference_url
    if variable == INFERENCE_KEY_VARIABLE and f"{base_url.rstrip('/')}/".startswith(f"{inference_url}/"):
        return None
    return (
        f"params.judge.api_key_env: {variable} is not a judge's key variable: use {JUDGE_KEY_PREFIX}<NAME> or "
        f"{', '.join(JUDGE_KEY_VARIABLES)} (set on the worker), or {INFERENCE_KEY_VARIABLE} for the platform's "
        f"own inference service ({inference_url}); no other variable of the worker is sent to an endpoint"
    )


@dataclass(frozen=True, kw_only=True)
class JudgeParams(Params):
    """`params.judge`: exactly one of an OpenAI-compatible endpoint (`base_url` and `model`, the API key read
    from the environment variable `api_key_env` on the worker), a policy version (`model_version_id`) or a
    base model (`base_model`), the last two run by the worker with transformers."""

    base_url: str | None = param(
        None, help="an OpenAI-compatible API's base URL, e.g. http://127.0.0.1:8001/v1 (with `model`)"
    )
    model: str | None = param(None, help="the model name the endpoint serves (with `base_url`)")
    api_key_env: str | None = param(
        None,
        help="the environment variable on the worker that holds the endpoint's API key (the key is never "
        "stored): RLHF_JUDGE_KEY_<NAME>, OPENAI_API_KEY, or RLHF_INFERENCE_API_KEY for the platform's own "
        "inference service; none: no Authorization header",
    )
    model_version_id: int | None = version_id("a policy version, run by the worker as the judge")
    base_model: str | None = param(
        None, help="a base model (Hugging Face id, local path or builtin:...), run by the worker as the judge"
    )

    def check(self) -> str | None:
        endpoint = self.base_url is not None or self.model is not None or self.api_key_env is not None
        chosen = [endpoint, self.model_version_id is not None, self.base_model is not None]
        if sum(chosen) != 1:
            return (
                "params.judge must be one of {base_url, model, api_key_env?}, {model_version_id} or "
                "{base_model}"
            )
        if endpoint:
            if not self.base_url or not self.model:
                return "params.judge: an endpoint judge needs both base_url and model"
            if not self.base_url.startswith(("http://", "https://")):
                return f"params.judge.base_url must be an http:// or https:// URL, got {self.base_url!r}"
            if self.api_key_env is not None:
                if not ENV_NAME.fullmatch(self.api_key_env):
                    return "params.judge.api_key_env must name an environment variable (letters, digits, _)"
                return judge_key_problem(self.api_key_env, self.base_url)
        if self.base_model is not None and not self.base_model.strip():
            return "params.judge.base_model must not be empty"
        return None

    @property
    def name(self) -> str:
        """What the judge is called: its endpoint's model, version id or base model."""
        if self.model is not None:
            return self.model
        if self.model_version_id is not None:
            return f"model-version-{self.model_version_id}"
        return str(self.base_model)


@dataclass(frozen=True, kw_only=True)
class AiFeedbackParams(JobParams):
    """ai_feedback: a judge model compares the two responses of each comparison of the dataset, in both
    orders, and records its preference (with a rationale and its raw answers) as an AI preference: source
    `ai`, annotator `ai:<judge>`, outside the human queue. Comparisons the judge already judged are skipped,
    so a failed or cancelled run (whose preferences are kept) is finished by running it again. No model
    version."""

    DATASET_KINDS: ClassVar[frozenset[DatasetKind]] = frozenset({DatasetKind.PREFERENCE})

    judge: JudgeParams | None = param(
        None,
        help="who judges: {base_url, model, api_key_env?} (an OpenAI-compatible endpoint), "
        "{model_version_id} or {base_model} (run by the worker)",
    )
    annotator: str | None = param(
        None,
        help="the name the preferences are recorded under (default ai:<judge's model>); a judge judges a "
        "comparison once per name, so a new constitution or template needs a new name to judge again",
    )
    principles: list[str] = param(
        DEFAULT_PRINCIPLES, help="the constitution: criteria the judge weighs, one per item"
    )
    prompt_template: str = param(
        DEFAULT_TEMPLATE,
        help="what the judge reads, with {prompt}, {response_a}, {response_b} and {principles} (a numbered "
        "list) filled in; it should ask for a single letter, A or B",
    )
    inconsistent: Literal["tie", "drop", "average"] = param(
        "tie",
        help="the judge's verdicts in the two orders disagree (position bias): record a tie, nothing, or the "
        "response with the higher P(better) averaged over both orders (Wang et al. 2023's balanced position "
        "calibration; a tie where the letters' probabilities are unknown)",
    )
    num_comparisons: int | None = param(
        None, ge=1, help="judge the dataset's first N comparisons (default: all)"
    )
    batch_size: int = param(8, ge=1, le=256, help="comparisons judged and stored per transaction")
    max_tokens: int = param(
        1,
        ge=1,
        le=1024,
        help="endpoint judges: tokens the judge may answer with (its verdict is the answer's first letter, "
        "the rest is kept); a worker-run judge's verdict is read from its next-token logits",
    )
    logprobs: bool = param(
        True,
        help="endpoint judges: ask for the first token's log-probabilities and decide by P(A) vs P(B) (turn "
        "off for endpoints that do not give them)",
    )
    concurrency: int = param(4, ge=1, le=64, help="endpoint judges: requests in flight at once")
    timeout_seconds: float = param(60.0, gt=0, le=3600, help="endpoint judges: the wait for each answer")
    max_prompt_tokens: int = param(
        2048, ge=16, help="worker-run judges: a longer judge prompt keeps its end (the question)"
    )

    def check(self) -> str | None:
        if self.judge is None:
            return (
                "params.judge is missing: {base_url, model, api_key_env?}, {model_version_id} or {base_model}"
            )
        if not self.principles or not all(p.strip() for p in self.principles):
            return "params.principles must be a non-empty list of non-empty criteria"
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(self.prompt_template) if name}
        except ValueError as error:
            return (
                f"params.prompt_template is not a valid template ({error}); write literal braces as {{{{ }}}}"
            )
        unknown = sorted(fields - set(PLACEHOLDERS))
        if unknown:
            return f"params.prompt_template: unknown placeholder(s) {', '.join(unknown)} (known: {', '.join(PLACEHOLDERS)})"
        missing = [name for name in REQUIRED_PLACEHOLDERS if name not in fields]
        if missing:
            return f"params.prompt_template must contain {', '.join('{' + m + '}' for m in missing)}"
        if self.annotator is not None and not 1 <= len(self.annotator.strip()) <= 200:
            return "params.annotator must be 1 to 200 characters"
        return None

    @property
    def annotator_name(self) -> str:
        assert self.judge is not None
        return self.annotator.strip() if self.annotator is not None else f"ai:{self.judge.name}"

    def judge_prompt(self, prompt: str, response_a: str, response_b: str) -> str:
        """The judge's input for one order of a pair."""
        principles = "\n".join(f"{i}. {text}" for i, text in enumerate(self.principles, 1))
        return self.prompt_template.format(
            prompt=prompt, response_a=response_a, response_b=response_b, principles=principles
        )
