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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from services.modeling.windows import model_window, window_size
from training_jobs import checkpoints
from training_jobs.context import JobInputError
from training_jobs.reward_model import score as score_pairs


@dataclass
class RewardScorer:
    """A frozen reward model with its own tokenizer: (prompt, response) texts in, raw scores out."""

    model: Any
    tokenizer: Any
    max_length: int
    name: str

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return score_pairs(
            self.model, self.tokenizer, list(zip(prompts, responses, strict=True)), max_length=self.max_length
        )


def load_reward_scorer(path: str, name: str) -> RewardScorer:
    tokenizer = checkpoints.load_tokenizer(path)
    model = checkpoints.load_reward_model(path, pad_token_id=tokenizer.pad_token_id)
    model.eval()
    model.requires_grad_(False)
    max_length = window_size(tokenizer, model_window(model.config))
    return RewardScorer(model=model, tokenizer=tokenizer, max_length=max_length, name=name)


class _TextScoringBackbone(nn.Module):
    """Policy ids → (prompt, response) text → scores from the reward model, broadcast over positions."""

    def __init__(
        self, scorer: RewardScorer, policy_tokenizer: Any, prompts: dict[tuple[int, ...], str]
    ) -> None:
        super().__init__()
        self.reward_model = scorer.model  # a submodule, so that the trainer's .to(device) moves it
        self.scorer = scorer
        self.policy_tokenizer = policy_tokenizer
        self.prompts = prompts
        self.prompt_lengths = sorted({len(ids) for ids in prompts})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> SimpleNamespace:
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

    def __init__(
        self, scorer: RewardScorer, policy_tokenizer: Any, prompts: dict[tuple[int, ...], str]
    ) -> None:
        super().__init__()
        self.backbone = _TextScoringBackbone(scorer, policy_tokenizer, prompts)
        self.score = nn.Identity()


def reward_function(scorer: RewardScorer) -> Callable[..., list[float | None]]:
    """RLOO's reward: scores completions against `reward_prompt` (the untruncated prompt) when the dataset
    has that column, else against the prompt the policy saw."""

    def reward_model(
        prompts: list[str], completions: list[str], completion_ids: list[list[int]], **columns: Any
    ) -> list[float | None]:
        return list(scorer(columns.get("reward_prompt") or prompts, completions))

    return reward_model


def value_model(policy_path: str, policy_tokenizer: Any, reward_path: str, scorer: RewardScorer) -> Any:
    """PPO's critic, initialised as the module docstring explains; it always reads the policy's ids."""
    source = policy_path
    if _reads_policy_ids(scorer, policy_tokenizer):
        source = reward_path
    model = checkpoints.load_reward_model(source, pad_token_id=policy_tokenizer.pad_token_id)
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
    return isinstance(head, nn.Module) and scorer.tokenizer.get_vocab() == policy_tokenizer.get_vocab()
