"""Job parameters: each kind's own, typed (kinds.py), checked and resolved in one pass (resolution.py), and
described for the API, the CLI and forms (schema.py). Light imports only: the collector uses it."""

from services.domain.job_params.ai_feedback import AiFeedbackParams, JudgeParams
from services.domain.job_params.fields import JobParams, LoraParams, TrainingParams
from services.domain.job_params.kinds import (
    ClassifierParams,
    DpoParams,
    GenerateComparisonsParams,
    GrpoParams,
    PpoParams,
    RejectionSamplingParams,
    RewardModelParams,
    RlooParams,
    ScoreComparisonsParams,
    SftParams,
)
from services.domain.job_params.resolution import ResolvedParams, params_class, resolve, settable_trl_fields
from services.domain.job_params.schema import KindDescription, ParamDescription, describe_kind

__all__ = [
    "ClassifierParams",
    "AiFeedbackParams",
    "DpoParams",
    "GenerateComparisonsParams",
    "GrpoParams",
    "JobParams",
    "JudgeParams",
    "KindDescription",
    "LoraParams",
    "ParamDescription",
    "PpoParams",
    "RejectionSamplingParams",
    "ResolvedParams",
    "RewardModelParams",
    "RlooParams",
    "ScoreComparisonsParams",
    "SftParams",
    "TrainingParams",
    "describe_kind",
    "params_class",
    "resolve",
    "settable_trl_fields",
]
