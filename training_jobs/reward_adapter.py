"""Any reward-model version as the reward of an online RL trainer, whatever its tokenizer.

`RewardScorer` scores (prompt, response) *text* with the reward model's own tokenizer, through
services.modeling.reward_inputs.encode_reward_input: the rule that training and POST /reward use too.

TRL needs it in two shapes:

- PPO (`PolicyTokenRewardModel`): TRL 1.12's PPOTrainer feeds the reward model the *policy's* token ids,
  `getattr(rm, rm.base_model_prefix)(input_ids=..., attention_mask=...)`, then `rm.score(hidden_states[-1])`,
  and reads each row's score at its last response token (trl.experimental.utils.get_reward). Out of the box
  the reward model must therefore share the policy's tokenizer and have a `score` head (TRL issue #1979).
  This module's backbone decodes the ids back into the prompt and the response, scores the text with the
  reward model's own tokenizer, and returns the score at every position; its `score` is the identity.
  The backbone is told neither where the prompt ends nor which prompt it is: it finds the boundary by
  matching each row's leading tokens against the job's tokenized prompts (every row of a PPO batch is
  left-padded to the same width, so the boundary is one column shared by all rows).
- RLOO (`reward_function`): a plain callable f(prompts, completions, completion_ids, **kw) -> list[float].
  RLOOTrainer would tokenize prompt+completion for a reward *model* itself, without special tokens or
  truncation (a BERT reward model would lose [CLS]/[SEP], and > 512 tokens crash; docs/training-notes.md):
  a callable that is not an nn.Module is left to tokenize on its own.

The value model (`value_model`) is what PPO's critic needs: a sequence classifier with a `score` head that
reads the *policy's* ids. When the reward model shares the policy's vocabulary and has such a head, the
value model starts as a copy of it (InstructGPT's choice, Ouyang et al. 2022, and TRL's examples). When it
does not (a MiniLM reward model reads WordPiece ids, not the policy's BPE ids), the value model starts from
the policy's own weights with a fresh scalar head: the one network at hand that already reads these ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.profiler import record_function

from services.modeling.chat import Conversation, Prompt, prompt_text
from services.modeling.combined_reward import RewardSpec
from services.modeling.reward_functions import score_function
from services.modeling.reward_inputs import encode_inputs
from services.modeling.scoring import ScoreHead, score_encoded
from services.modeling.windows import model_window, window_size
from training_jobs import checkpoints
from training_jobs.chat_format import response_text
from training_jobs.checkpoints import ModelSource
from training_jobs.context import JobInputError
from training_jobs.profiling import REWARD_SPAN


@dataclass
class RewardScorer:
    """A frozen reward model with its own tokenizer: (prompt, response) texts in, its head's scores out."""

    model: Any
    tokenizer: Any
    max_length: int
    name: str
    path: str
    head: ScoreHead = ScoreHead()

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        encoded = encode_inputs(
            self.tokenizer,
            list(zip(prompts, responses, strict=True)),
            max_length=self.max_length,
            reads=self.head.input,
        )
        return score_encoded(
            self.model,
            encoded,
            pad_token_id=self.tokenizer.pad_token_id,
            head=self.head,
        )

    @property
    def module(self) -> nn.Module:
        """Its networks, for whoever moves them to a device."""
        return self.model  # type: ignore[no-any-return]


@dataclass
class CombinedScorer:
    """A named reward's version: its model components' scorers and its functions, combined as the inference
    service combines them (services/modeling/combined_reward.py). ROUGE and BLEU compare each response with
    its prompt's reference, found by the prompt's text (`references`: the dataset's, see load_scorer)."""

    spec: RewardSpec
    scorers: dict[int, RewardScorer]
    references: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.label

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        raw = []
        references = [self.references.get(prompt) for prompt in prompts]
        for component in self.spec.components:
            if component.model_version_id is not None:
                raw.append(self.scorers[component.model_version_id](prompts, responses))
            else:
                assert component.function is not None
                raw.append(
                    [
                        score_function(component.function, component.options, response, reference)
                        for response, reference in zip(responses, references, strict=True)
                    ]
                )
        return self.spec.combine(raw, [False] * len(responses))

    @property
    def module(self) -> nn.Module:
        return nn.ModuleList([scorer.model for scorer in self.scorers.values()])


Scorer = RewardScorer | CombinedScorer


def load_reward_scorer(source: ModelSource) -> RewardScorer:
    tokenizer = checkpoints.load_tokenizer(source.path)
    model = checkpoints.load_scoring_model(source.path, pad_token_id=tokenizer.pad_token_id)
    model.eval()
    model.requires_grad_(False)
    max_length = window_size(tokenizer, model_window(model.config))
    return RewardScorer(model, tokenizer, max_length, source.name, source.path, source.head)


def load_scorer(
    reward: ModelSource | RewardSpec,
    *,
    prompts: Sequence[Prompt] = (),
    references: Mapping[str, str] | None = None,
) -> Scorer:
    """The scorer of a job's reward (evaluation.OnlineRLSources.reward). A reward with ROUGE or BLEU needs a
    reference for every one of the job's `prompts` (`references`, by prompt text: OnlineRLSources.references)."""
    if isinstance(reward, ModelSource):
        return load_reward_scorer(reward)
    references = references or {}
    if reward.needs_reference:
        if not prompts:
            raise JobInputError(
                f"the reward {reward.label} compares responses with references (ROUGE, BLEU), which this job "
                "does not give it"
            )
        missing = [p for p in map(prompt_text, prompts) if p not in references]
        if missing:
            raise JobInputError(
                f"the reward {reward.label} compares responses with references (ROUGE, BLEU): "
                f"{len(missing)} of the job's {len(prompts)} prompts have none, e.g. {missing[:1]} (import "
                "prompt rows or comparisons with a `reference`)"
            )
    scorers = {
        c.model_version_id: load_reward_scorer(checkpoints.model_version_source(c.model_version_id))
        for c in reward.components
        if c.model_version_id is not None
    }
    return CombinedScorer(reward, scorers, dict(references))


class _TextScoringBackbone(nn.Module):
    """Policy ids → (prompt, response) text → scores from the reward model, broadcast over positions."""

    def __init__(self, scorer: Scorer, policy_tokenizer: Any, prompts: dict[tuple[int, ...], str]) -> None:
        super().__init__()
        self.reward_model = scorer.module  # a submodule, so that the trainer's .to(device) moves it
        self.scorer = scorer
        self.policy_tokenizer = policy_tokenizer
        self.prompts = prompts
        self.prompt_lengths = sorted({len(ids) for ids in prompts})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> SimpleNamespace:
        with record_function(REWARD_SPAN):
            return self._score(input_ids, attention_mask)

    def _score(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        rows = input_ids.tolist()
        masks = attention_mask.tolist()
        boundary = self._prompt_end(rows, masks)
        prompts, responses = [], []
        for ids, mask in zip(rows, masks, strict=True):
            start = mask.index(1)
            prompts.append(self.prompts[tuple(ids[start:boundary])])
            response = [token for token, keep in zip(ids[boundary:], mask[boundary:], strict=True) if keep]
            responses.append(self.policy_tokenizer.decode(response, skip_special_tokens=True))
        scores = torch.tensor(self.scorer(prompts, responses), dtype=torch.float32, device=input_ids.device)
        hidden = scores[:, None, None].expand(input_ids.shape[0], input_ids.shape[1], 1)
        return SimpleNamespace(hidden_states=(hidden,))

    def _prompt_end(self, rows: list[list[int]], masks: list[list[int]]) -> int:
        """The column where every row's prompt ends (the first response column)."""
        common: set[int] | None = None
        for ids, mask in zip(rows, masks, strict=True):
            start = mask.index(1) if 1 in mask else len(mask)
            ends = {
                start + length
                for length in self.prompt_lengths
                if start + length <= len(ids)
                and all(mask[start : start + length])
                and tuple(ids[start : start + length]) in self.prompts
            }
            common = ends if common is None else common & ends
        if not common:
            raise RuntimeError("a PPO batch row does not start with one of the job's prompts")
        return max(common)


class PolicyTokenRewardModel(nn.Module):
    """The shape TRL's PPO expects of a reward model (see the module docstring), over any reward model."""

    base_model_prefix = "backbone"

    def __init__(self, scorer: Scorer, policy_tokenizer: Any, prompts: dict[tuple[int, ...], str]) -> None:
        super().__init__()
        self.backbone = _TextScoringBackbone(scorer, policy_tokenizer, prompts)
        self.score = nn.Identity()


def reward_function(scorer: Scorer) -> Callable[..., list[float | None]]:
    """RLOO's reward: scores completions against `reward_prompt` (the untruncated prompt as text) when the
    dataset has that column, else against the prompt the policy saw. Conversational prompts and completions
    (a chat policy's) are read as plain text."""

    def reward_model(
        prompts: list[Prompt],
        completions: list[str | Conversation],
        completion_ids: list[list[int]],
        **columns: Any,
    ) -> list[float | None]:
        with record_function(REWARD_SPAN):
            texts = [response_text(completion) for completion in completions]
            return list(scorer(columns.get("reward_prompt") or [prompt_text(p) for p in prompts], texts))

    return reward_model


def value_model(policy_path: str, policy_tokenizer: Any, scorer: Scorer) -> Any:
    """PPO's critic, initialised as the module docstring explains; it always reads the policy's ids."""
    source = policy_path
    if isinstance(scorer, RewardScorer) and _reads_policy_ids(scorer, policy_tokenizer):
        source = scorer.path
    # The critic trains in full (fp32 master weights on a GPU), with or without LoRA on the policy.
    model = checkpoints.load_reward_model(
        source, pad_token_id=policy_tokenizer.pad_token_id, full_training=True
    )
    if not isinstance(getattr(model, "score", None), nn.Module) or not hasattr(
        model, model.base_model_prefix
    ):
        raise JobInputError(
            f"PPO needs a value model with a `score` head over the policy's ids; {type(model).__name__} "
            f"(from {source}) has none"
        )
    return model


def _reads_policy_ids(scorer: RewardScorer, policy_tokenizer: Any) -> bool:
    head = getattr(scorer.model, "score", None)
    return (
        isinstance(head, nn.Module)
        and scorer.model.config.num_labels == 1  # a classifier's head has an output per label, a critic one
        and scorer.tokenizer.get_vocab() == policy_tokenizer.get_vocab()
    )
