"""TGI's parameter rules for /generate (router/src/validation.rs), checked before anything is queued.

The messages are TGI's own, so that clients matching on them keep working. Rules that need the token
count of the input (window, truncation) are in `prompts.prepare_input`, which runs them with the
tokenizer of the model that will generate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from services.inference.errors import ValidationError
from services.inference.schemas import GenerateParameters

# TGI's launcher defaults (--max-stop-sequences 4, --max-top-n-tokens 5); best_of's limit is a setting
# (RLHF_MAX_BEST_OF).
MAX_STOP_SEQUENCES = 4
MAX_TOP_N_TOKENS = 5
# TGI's documented default when the client sends no max_new_tokens.
DEFAULT_MAX_NEW_TOKENS = 100


@dataclass(frozen=True)
class SamplingParams:
    """A validated request: everything generation needs, with TGI's defaults filled in."""

    max_new_tokens: int | None
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    do_sample: bool = False
    seed: int = 0
    stop: tuple[str, ...] = ()
    truncate: int | None = None
    top_n_tokens: int = 0
    decoder_input_details: bool = False
    # Sequences sampled for the request, of which one is returned (TGI's best_of; services/inference/best_of.py).
    best_of: int = 1
    # Tokens to generate when the request names no limit (TGI's 100; the OpenAI routes: up to the cap).
    default_max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    # OpenAI's penalties, over the generated tokens only: each token's logit is lowered by
    # count_penalty × its count (OpenAI's frequency_penalty; TGI's above divides by the length) and by
    # presence_penalty once it appeared.
    count_penalty: float = 0.0
    presence_penalty: float = 0.0
    # OpenAI's stop rule: a stop sequence ending inside the newest token stops too (TGI: only at the end).
    stop_inside_tokens: bool = False

    @property
    def sampling(self) -> bool:
        # As TGI's NextTokenChooser: any warper away from its neutral value turns sampling on.
        warped = self.temperature != 1.0 or self.top_k != 0 or self.top_p < 1.0 or self.typical_p < 1.0
        return self.do_sample or warped


def validate_parameters(
    inputs: str,
    parameters: GenerateParameters,
    *,
    max_new_tokens_cap: int,
    stream: bool,
    max_best_of: int = 1,
) -> SamplingParams:
    """TGI's checks, in TGI's order; raises ValidationError (422) with TGI's message."""
    p = parameters
    best_of = 1 if p.best_of is None else p.best_of
    if stream and best_of != 1:
        raise ValidationError("`best_of` != 1 is not supported when streaming tokens")
    if stream and p.decoder_input_details:
        raise ValidationError("`decoder_input_details` == true is not supported when streaming tokens")
    if best_of != 1 and max_best_of == 1:
        raise ValidationError("`best_of` != 1 is not allowed for this endpoint")
    if not 0 < best_of <= max_best_of:
        raise ValidationError(f"`best_of` must be > 0 and <= {max_best_of}. Given: {best_of}")
    temperature = 1.0 if p.temperature is None else p.temperature
    if temperature <= 0.0:
        raise ValidationError("`temperature` must be strictly positive")
    repetition_penalty = 1.0 if p.repetition_penalty is None else p.repetition_penalty
    if repetition_penalty <= 0.0:
        raise ValidationError("`repetition_penalty` must be strictly positive")
    frequency_penalty = 0.0 if p.frequency_penalty is None else p.frequency_penalty
    if not -2.0 <= frequency_penalty <= 2.0:
        raise ValidationError("`frequency_penalty` must be >= -2.0 and <= 2.0")
    if p.top_p is not None and not 0.0 < p.top_p < 1.0:
        raise ValidationError("`top_p` must be > 0.0 and < 1.0")
    if p.typical_p is not None and not 0.0 < p.typical_p < 1.0:
        raise ValidationError("`typical_p` must be > 0.0 and < 1.0")
    if p.top_k is not None and p.top_k <= 0:
        raise ValidationError("`top_k` must be strictly positive")
    if p.max_new_tokens is not None and p.max_new_tokens <= 0:
        raise ValidationError("`max_new_tokens` must be strictly positive")
    if p.max_new_tokens is not None and p.max_new_tokens > max_new_tokens_cap:
        raise ValidationError(f"`max_new_tokens` must be <= {max_new_tokens_cap}. Given: {p.max_new_tokens}")
    stop = tuple(p.stop or ())
    if len(stop) > MAX_STOP_SEQUENCES:
        raise ValidationError(
            f"`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {len(stop)}"
        )
    if any(sequence == "" for sequence in stop):
        raise ValidationError("`stop` sequences cannot be empty")
    top_n_tokens = p.top_n_tokens or 0
    if not 0 <= top_n_tokens <= MAX_TOP_N_TOKENS:
        raise ValidationError(f"`top_n_tokens` must be >= 0 and <= {MAX_TOP_N_TOKENS}. Given: {top_n_tokens}")
    if inputs == "":
        raise ValidationError("`inputs` cannot be empty")
    if p.truncate is not None and p.truncate <= 0:
        raise ValidationError(f"`truncate` must be strictly positive. Given: {p.truncate}")
    if p.grammar is not None:
        raise ValidationError("grammar is not supported")
    if p.watermark:
        raise ValidationError("watermark is not supported")
    if p.adapter_id is not None:
        raise ValidationError("adapters are not supported: promote a merged model version instead")
    params = SamplingParams(
        max_new_tokens=p.max_new_tokens,
        temperature=temperature,
        top_k=p.top_k or 0,
        top_p=1.0 if p.top_p is None else p.top_p,
        typical_p=1.0 if p.typical_p is None else p.typical_p,
        repetition_penalty=repetition_penalty,
        frequency_penalty=frequency_penalty,
        do_sample=bool(p.do_sample),
        # As TGI's router: a seed is always drawn, and reported when the request samples.
        seed=random.getrandbits(64) if p.seed is None else p.seed,
        stop=stop,
        truncate=p.truncate,
        top_n_tokens=top_n_tokens,
        decoder_input_details=bool(p.decoder_input_details),
        best_of=best_of,
    )
    # TGI's rules: several sequences of one greedy decoding would all be the same, and one seed would give
    # them all the same draws (each sequence gets its own seed: services/inference/best_of.py).
    if best_of > 1 and not params.sampling:
        raise ValidationError("you must use sampling when `best_of` is > 1")
    if best_of > 1 and p.seed is not None:
        raise ValidationError("`seed` must not be set when `best_of` > 1")
    return params


def check_text_size(text: str, what: str, limit: int) -> None:
    """A text larger than RLHF_MAX_TEXT_BYTES is refused before it is tokenized."""
    size = len(text.encode())
    if size > limit:
        raise ValidationError(f"{what} is {size} bytes; the limit is {limit}")
