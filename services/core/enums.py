"""Every enumeration of the platform, each written once: the ORM's CHECK constraints, the API's schemas and
routes, the domain, the job queue and the CLI all use these.

Outside Python there are copies, each with a test or a reason: the migrations spell the CHECK constraints
out (history does not change; tests/migrations/test_drift.py compares them with these enums), and the web
form's JavaScript keeps its own list of choices (annotation_ui/app.js), which the browser tests exercise.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    """What a job does; one module per kind in training_jobs/."""

    REWARD_MODEL = "reward_model"
    PPO = "ppo"
    SFT = "sft"
    DPO = "dpo"
    RLOO = "rloo"
    GENERATE_COMPARISONS = "generate_comparisons"
    SCORE_COMPARISONS = "score_comparisons"
    GRPO = "grpo"
    REJECTION_SAMPLING = "rejection_sampling"
    CLASSIFIER = "classifier"
    AI_FEEDBACK = "ai_feedback"


class JobStatus(StrEnum):
    """queued → running (claimed by one worker) → succeeded | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_JOB_STATUSES


FINISHED_JOB_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class ModelKind(StrEnum):
    """A model version is a policy (generates) or a reward model (scores); one of each kind is promoted."""

    POLICY = "policy"
    REWARD = "reward"


class Choice(StrEnum):
    """An annotator's vote: response a, response b, a tie (both as good, or "both bad"), or skip (no vote)."""

    A = "a"
    B = "b"
    TIE = "tie"
    SKIP = "skip"


class Side(StrEnum):
    """One of a comparison's two responses (which one the annotator saw on the left, which one won)."""

    A = "a"
    B = "b"


# The answers a gold item may have: a real judgement (a skip is none).
JUDGEMENTS = (Choice.A, Choice.B, Choice.TIE)


class Sampling(StrEnum):
    """The order `next` hands out a dataset's comparisons: by id, at random, or the reward model's least
    certain first (served in sequential order while no scores exist)."""

    SEQUENTIAL = "sequential"
    RANDOM = "random"
    UNCERTAINTY = "uncertainty"


class AnnotatorRole(StrEnum):
    """People who vote, the built-in `import` annotator that carries imported winners, and AI judges (named
    `ai:<model>`, written by ai_feedback jobs; no token, never in the annotation queue)."""

    ANNOTATOR = "annotator"
    SYSTEM = "system"
    AI = "ai"


class PreferenceSource(StrEnum):
    """Who made a preference: people (votes in the form, imported winners) or an AI judge (ai_feedback jobs).
    AI preferences stand outside the human queue: k, leases, gold and trust count people only."""

    HUMAN = "human"
    AI = "ai"


class SourceFilter(StrEnum):
    """Which preferences exports, stats and training jobs read (`source=`): people's (the default, what
    clients saw before AI feedback existed), the AI judges', or both."""

    HUMAN = "human"
    AI = "ai"
    ALL = "all"

    @property
    def sources(self) -> tuple[PreferenceSource, ...]:
        if self == SourceFilter.ALL:
            return tuple(PreferenceSource)
        return (PreferenceSource(self.value),)


class AnnotatorStatus(StrEnum):
    """Whether an annotator's token works: active, revoked by the admin, or past its expiry."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ApiKeyScope(StrEnum):
    """What an API key reaches: `infer` the inference service's model routes, `read` the collector's GET routes
    and exports, `train` jobs and model versions, `admin` everything the admin token reaches."""

    INFER = "infer"
    READ = "read"
    TRAIN = "train"
    ADMIN = "admin"


class DatasetKind(StrEnum):
    """What a dataset's rows are: comparisons to judge (`preference`, the only kind the annotation queue
    serves), prompts with an optional reference (`prompt`: PPO/RLOO and generation), prompt-completion pairs
    (`demonstration`: SFT), or texts with a label (`labelled`: classifiers)."""

    PREFERENCE = "preference"
    PROMPT = "prompt"
    DEMONSTRATION = "demonstration"
    LABELLED = "labelled"


class MessageRole(StrEnum):
    """The role of a message in a conversational prompt (TRL's and OpenAI's chat roles)."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ImportFormat(StrEnum):
    """JSONL formats a dataset imports: every TRL dataset type the platform stores (told apart by its keys),
    Anthropic HH-RLHF, OpenAssistant trees, and `{"text","label"}` rows."""

    TRL = "trl"
    HH = "hh"
    OASST = "oasst"
    LABELLED = "labelled"


class ExportFormat(StrEnum):
    """Exports: `trl`, one decided pair per comparison (other kinds: their rows in the format they were
    imported in); `raw`, every vote (other kinds: every row with its id and metadata); `parquet`, a preference
    dataset's trl rows as a Parquet file."""

    TRL = "trl"
    RAW = "raw"
    PARQUET = "parquet"


class ParamSource(StrEnum):
    """Where a job's resolved parameter came from, strongest first (job.config's `param_sources`)."""

    EXPLICIT = "explicit"  # the job's params
    RECIPE = "recipe"  # the recipe params.recipe names (services/domain/job_params/presets.py)
    BASE_MODEL = "base_model"  # the defaults for the job's base model (the same module)
    KIND = "kind"  # the job kind's defaults (services/domain/job_params/kinds.py)
    PLATFORM = "platform"  # the platform's, for every kind: schedule, device, where outputs go
    TRL = "trl"  # TRL's own default for its config field


class RewardFunction(StrEnum):
    """A reward computed from text, no model (services/modeling/reward_functions.py): ROUGE-1/2/L and BLEU
    against the input's reference, a length penalty toward a target, a regular expression's match."""

    ROUGE1 = "rouge1"
    ROUGE2 = "rouge2"
    ROUGEL = "rougeL"
    BLEU = "bleu"
    LENGTH = "length"
    REGEX = "regex"

    @property
    def needs_reference(self) -> bool:
        return self in {
            RewardFunction.ROUGE1,
            RewardFunction.ROUGE2,
            RewardFunction.ROUGEL,
            RewardFunction.BLEU,
        }


class ScoreTransform(StrEnum):
    """What a classifier's score is, of its chosen label: the raw logit, its log-probability or probability."""

    LOGIT = "logit"
    LOGPROB = "logprob"
    PROB = "prob"


class ScoreInput(StrEnum):
    """What a reward model reads: the response alone (a sentiment classifier) or the prompt with it."""

    RESPONSE = "response"
    PROMPT_RESPONSE = "prompt_response"
