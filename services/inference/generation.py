"""Token-by-token generation for a micro-batch of requests, each with its own parameters.

A request's input is a text, or a conversation (OpenAI's messages) put through the tokenizer's chat
template; either way it is tokenized on the worker (services/inference/prompts.py), with the tokenizer of
the model that generates it.
Rows are left-padded into one batch and decoded together with a KV cache; each row's logits are then
processed and sampled on their own (TGI's order: repetition penalty, frequency penalty, then temperature,
top-k, top-p, typical-p), with a `torch.Generator` per request. A request's tokens therefore depend on its
seed and parameters, not on what it was batched with. Rows that finish leave the batch.
Stopping follows TGI's StoppingCriteria: length first, then the EOS token, then a stop sequence at the
end of the text so far (the stop sequence stays in the text, as in TGI). With `stop_inside_tokens`
(OpenAI's rule) a stop sequence that ends inside the newest token stops too; the OpenAI routes cut the text
before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)

from services.inference.errors import (
    GenerationError,
    InvalidRequestError,
    ModelNotFoundError,
    ValidationError,
)
from services.inference.loading import LoadedModel
from services.inference.prompts import Conversation, prepare_input
from services.inference.validation import SamplingParams


@dataclass
class TokenInfo:
    id: int
    text: str
    logprob: float | None
    special: bool
    top_tokens: list[TokenInfo] = field(default_factory=list)


@dataclass
class GenerationResult:
    generated_text: str
    finish_reason: str
    tokens: list[TokenInfo]
    prefill: list[TokenInfo]
    seed: int | None
    input_length: int
    model: str


# Called on the worker thread for each new token; `result` is set on the request's last token.
TokenCallback = Callable[[TokenInfo, "GenerationResult | None"], None]


@dataclass
class GenerationRequest:
    # A text to continue, or a conversation to answer (through the model's chat template).
    inputs: str | Conversation
    params: SamplingParams
    on_token: TokenCallback | None = None
    # The version that must generate it (a request that named one); None: whichever serves.
    required_model: str | None = None
    # The version that generates this request, set when its batch starts.
    model: str | None = None
    # Set from the event loop when the client goes away: the row leaves the batch at the next step.
    cancelled: bool = False


class _FrequencyPenalty:
    """TGI's frequency penalty: each token's logit lowered by penalty × its share of the sequence so far."""

    def __init__(self, penalty: float) -> None:
        self.penalty = penalty

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        frequency = torch.zeros_like(scores)
        frequency.scatter_add_(1, input_ids, torch.ones_like(input_ids, dtype=scores.dtype))
        return scores - self.penalty * frequency / input_ids.shape[1]


class _OpenAIPenalties:
    """OpenAI's frequency and presence penalties, counted over the generated tokens only (not the prompt):
    logit − count × frequency − (count > 0) × presence."""

    def __init__(self, *, frequency: float, presence: float, prompt_length: int) -> None:
        self.frequency = frequency
        self.presence = presence
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_length :]
        counts = torch.zeros_like(scores)
        counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


def _processors(
    params: SamplingParams, prompt_length: int
) -> list[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    processors: list[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = []
    if params.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
    if params.frequency_penalty != 0.0:
        processors.append(_FrequencyPenalty(params.frequency_penalty))
    if params.count_penalty != 0.0 or params.presence_penalty != 0.0:
        processors.append(
            _OpenAIPenalties(
                frequency=params.count_penalty, presence=params.presence_penalty, prompt_length=prompt_length
            )
        )
    if params.sampling:
        if params.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(params.temperature))
        if params.top_k != 0:
            processors.append(TopKLogitsWarper(params.top_k))
        if params.top_p < 1.0:
            processors.append(TopPLogitsWarper(params.top_p))
        if params.typical_p < 1.0:
            processors.append(TypicalLogitsWarper(params.typical_p))
    return processors


class _Row:
    """One request's state while its batch decodes."""

    def __init__(
        self,
        index: int,
        request: GenerationRequest,
        input_ids: list[int],
        max_new_tokens: int,
        policy: LoadedModel,
    ) -> None:
        self.index = index
        self.request = request
        self.params = request.params
        self.policy = policy
        self.input_ids = input_ids
        self.all_ids = list(input_ids)
        self.generated: list[int] = []
        self.tokens: list[TokenInfo] = []
        self.prefill: list[TokenInfo] = []
        self.max_new_tokens = max_new_tokens
        self.processors = _processors(self.params, len(input_ids))
        self.generator: torch.Generator | None = None
        if self.params.sampling:
            self.generator = torch.Generator(device=policy.device)
            self.generator.manual_seed(self.params.seed)
        # Incremental detokenization offsets (TGI's decode_token): text is emitted once it is complete.
        self.read_offset = len(input_ids)
        self.prefix_offset = max(len(input_ids) - 5, 0)
        self.text = ""
        self.finish_reason: str | None = None
        # What ended this row alone (its own step failed); the other rows of the batch decode on.
        self.error: GenerationError | None = None

    def _token(self, token_id: int, logprob: float | None) -> TokenInfo:
        tokenizer = self.policy.tokenizer
        return TokenInfo(
            id=token_id,
            text=tokenizer.decode([token_id], skip_special_tokens=False),
            logprob=logprob,
            special=token_id in self.policy.special_token_ids,
        )

    def _decode_increment(self) -> str:
        tokenizer = self.policy.tokenizer
        prefix = tokenizer.decode(
            self.all_ids[self.prefix_offset : self.read_offset], skip_special_tokens=False
        )
        full = tokenizer.decode(self.all_ids[self.prefix_offset :], skip_special_tokens=False)
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.all_ids)
            return full[len(prefix) :]
        return ""

    def set_prefill(self, logits: torch.Tensor) -> None:
        """Logprobs of the input tokens (TGI's decoder_input_details); `logits` are this row's, unpadded."""
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        self.prefill = [self._token(self.input_ids[0], None)]
        for position, token_id in enumerate(self.input_ids[1:]):
            self.prefill.append(self._token(token_id, float(logprobs[position, token_id])))

    def step(self, logits: torch.Tensor) -> None:
        """Choose the next token from this row's last-position logits (shape [1, vocab])."""
        scores = logits.float()
        if self.processors:
            history = torch.tensor([self.all_ids], device=scores.device)
            for processor in self.processors:
                scores = processor(history, scores)
        logprobs = torch.log_softmax(scores, dim=-1)[0]
        if self.generator is not None:
            # Exponential race (as TGI's Sampling): argmax(p / q), q ~ Exp(1), is a draw from p and
            # consumes the same random numbers whatever the probabilities are.
            race = torch.empty_like(logprobs).exponential_(1, generator=self.generator)
            token_id = int((logprobs.exp() / race).argmax())
        else:
            token_id = int(logprobs.argmax())
        self.generated.append(token_id)
        self.all_ids.append(token_id)
        token = TokenInfo(
            id=token_id,
            text=self._decode_increment(),
            logprob=float(logprobs[token_id]),
            special=token_id in self.policy.special_token_ids,
        )
        if self.params.top_n_tokens:
            top = torch.topk(logprobs, self.params.top_n_tokens)
            token.top_tokens = [
                self._token(int(i), float(v))
                for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
            ]
        self.tokens.append(token)
        self.text += token.text
        if len(self.generated) >= self.max_new_tokens:
            self.finish_reason = "length"
        elif token_id in self.policy.eos_token_ids:
            self.finish_reason = "eos_token"
        elif self._stopped(len(token.text)):
            self.finish_reason = "stop_sequence"
        result = self.result() if self.finish_reason is not None else None
        if self.request.on_token is not None:
            self.request.on_token(token, result)

    def _stopped(self, new_chars: int) -> bool:
        if not self.params.stop_inside_tokens:
            return any(self.text.endswith(stop) for stop in self.params.stop)
        # Only where the new characters could complete a stop sequence: the text before was checked.
        return any(
            stop in self.text[-(new_chars + len(stop) - 1) :] for stop in self.params.stop if new_chars
        )

    def result(self) -> GenerationResult:
        assert self.finish_reason is not None
        return GenerationResult(
            generated_text=self.policy.tokenizer.decode(self.generated, skip_special_tokens=True),
            finish_reason=self.finish_reason,
            tokens=self.tokens,
            prefill=self.prefill,
            seed=self.params.seed if self.params.sampling else None,
            input_length=len(self.input_ids),
            model=self.policy.name,
        )


def generate_batch(
    policy: LoadedModel, requests: list[GenerationRequest]
) -> list[GenerationResult | Exception]:
    """One outcome per request: its result, its 4xx (window rules, chat template, parameters its row cannot
    be built with), a 424 if its own row failed, or a 424 for every row if the model failed.

    Whatever a request holds can only fail that request: its row is built, and each of its steps taken,
    inside its own error handling (one bad request must never fail the others of its batch)."""
    outcomes: list[GenerationResult | Exception] = [GenerationError("request cancelled")] * len(requests)
    rows: list[_Row] = []
    for index, request in enumerate(requests):
        request.model = policy.name
        if request.required_model is not None and request.required_model != policy.name:
            # It named a version that stopped serving while the request waited (a promotion landed).
            outcomes[index] = ModelNotFoundError(
                f"The model `{request.required_model}` is no longer served: {policy.name} replaced it"
            )
            continue
        try:
            input_ids, max_new_tokens = prepare_input(policy, request.inputs, request.params)
            rows.append(_Row(index, request, input_ids, max_new_tokens, policy))
        except (ValidationError, InvalidRequestError) as exc:
            outcomes[index] = exc
        except Exception as exc:  # noqa: BLE001 - e.g. a logits processor refusing a parameter
            outcomes[index] = ValidationError(f"{type(exc).__name__}: {exc}")
    if not rows:
        return outcomes
    try:
        with torch.inference_mode():
            _decode(policy, rows)
    except Exception as exc:  # noqa: BLE001 - becomes each row's 424, as TGI's GenerationError
        for row in rows:
            outcomes[row.index] = GenerationError(f"{type(exc).__name__}: {exc}")
        return outcomes
    for row in rows:
        if row.error is not None:
            outcomes[row.index] = row.error
        elif row.finish_reason is not None:
            outcomes[row.index] = row.result()
    return outcomes


def _alone(row: _Row, action: Callable[[torch.Tensor], None], logits: torch.Tensor) -> None:
    """Run one row's own work on its logits; if it fails, only that row ends (with a 424)."""
    try:
        action(logits)
    except Exception as exc:  # noqa: BLE001 - the row's own failure, not the batch's
        row.error = GenerationError(f"{type(exc).__name__}: {exc}")


def _decode(policy: LoadedModel, rows: list[_Row]) -> None:
    model, device = policy.model, policy.device
    width = max(len(row.input_ids) for row in rows)
    input_ids = torch.full((len(rows), width), policy.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        input_ids[b, width - len(row.input_ids) :] = torch.tensor(row.input_ids)
        attention_mask[b, width - len(row.input_ids) :] = 1
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    # Left padding: positions count real tokens only, so a row's positions do not depend on its batch.
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    want_prefill = any(row.params.decoder_input_details for row in rows)
    kwargs: dict[str, Any] = {}
    if policy.accepts_logits_to_keep and not want_prefill:
        kwargs["logits_to_keep"] = 1
    output = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=True,
        **kwargs,
    )
    if want_prefill:
        for b, row in enumerate(rows):
            if row.params.decoder_input_details:
                _alone(row, row.set_prefill, output.logits[b, width - len(row.input_ids) : width - 1])
    logits = output.logits[:, -1, :]
    cache = output.cache
    next_positions = position_ids[:, -1] + 1
    active = rows
    while True:
        for b, row in enumerate(active):
            if row.error is None:
                _alone(row, row.step, logits[b : b + 1])
        keep = [
            b
            for b, row in enumerate(active)
            if row.finish_reason is None and row.error is None and not row.request.cancelled
        ]
        if not keep:
            return
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            attention_mask = attention_mask[index]
            next_positions = next_positions[index]
            active = [active[b] for b in keep]
        next_ids = torch.tensor([[row.all_ids[-1]] for row in active], device=device)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=1)
        output = model(
            input_ids=next_ids,
            attention_mask=attention_mask,
            position_ids=next_positions[:, None],
            cache=cache,
            use_cache=True,
        )
        cache = output.cache
        logits = output.logits[:, -1, :]
        next_positions = next_positions + 1
