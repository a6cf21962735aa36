from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.responses import FileResponse

from services.collector.auth import MODEL_UPLOAD_PATH
from services.collector.deps import AdminDep, ReadOrTrainDep, SessionDep, TrainDep
from services.collector.params import IdPath
from services.collector.prune_schemas import ModelsPrune, ModelsPruned
from services.collector.reward_schemas import ModelRegister
from services.collector.schemas import ModelVersionPublic, ModelVersionsPublic
from services.core.enums import ModelKind, ScoreInput, ScoreTransform
from services.core.errors import InvalidInputError
from services.core.settings import get_settings
from services.domain import (
    model_registration,
    model_sources,
    model_versions,
    policy_registration,
    retention,
    scores,
)
from services.queue.broker import enqueue_job

router = APIRouter(tags=["models"])


@router.get("/models")
def list_models(session: SessionDep, _: ReadOrTrainDep, kind: ModelKind | None = None) -> ModelVersionsPublic:
    """Model versions, newest first, with their kind, base model, metrics and promoted flag."""
    rows = model_versions.list_versions(session, kind=kind)
    return ModelVersionsPublic(data=[ModelVersionPublic.model_validate(v) for v in rows], count=len(rows))


@router.get("/models/{version_id}")
def get_model(version_id: IdPath, session: SessionDep, _: ReadOrTrainDep) -> ModelVersionPublic:
    """One model version."""
    return ModelVersionPublic.model_validate(model_versions.get(session, version_id))


@router.get("/models/{version_id}/curves.png", response_class=FileResponse)
def model_curves(version_id: IdPath, session: SessionDep, _: ReadOrTrainDep) -> FileResponse:
    """The version's training curves (PNG); 404 when its job drew none."""
    return FileResponse(model_versions.curves_path(session, version_id), media_type="image/png")


@router.post("/models/{version_id}/promote")
def promote_model(version_id: IdPath, session: SessionDep, _: TrainDep) -> ModelVersionPublic:
    """Make this version the active model of its kind (the inference service loads it); a reward model's
    promotion asks the worker to rescore the open comparisons of uncertainty datasets."""
    version = ModelVersionPublic.model_validate(model_versions.promote(session, version_id))
    if version.kind == ModelKind.REWARD:
        scores.request_rescoring(session, enqueue=enqueue_job)
    return version


@router.post("/models", status_code=status.HTTP_201_CREATED)
def register_model(body: ModelRegister, session: SessionDep, _: AdminDep) -> ModelVersionPublic:
    """Register a checkpoint trained elsewhere, copied into the artifact store. `kind: reward`: a sequence
    classifier (a folder, or a hub id in the server's Hugging Face cache), whose `label` (id2label name or
    index) under `transform` is the reward; POST /models/upload takes its folder as an archive.
    `kind: policy`: a causal LM with its tokenizer (a folder, or a hub id in the server's Hugging Face cache),
    or a LoRA adapter folder merged into its `base_model`."""
    if body.kind == ModelKind.POLICY:
        version = policy_registration.register_policy(session, source=body.source, base_model=body.base_model)
    else:
        version = model_registration.register_reward(
            session, source=body.source, label=body.label, transform=body.transform, reads=body.input
        )
    return ModelVersionPublic.model_validate(version)


@router.post(MODEL_UPLOAD_PATH, status_code=status.HTTP_201_CREATED)
def upload_model(
    session: SessionDep,
    _: AdminDep,
    archive: Annotated[UploadFile, File(description="the model folder as a tar, tar.gz or zip archive")],
    kind: Annotated[ModelKind, Form()] = ModelKind.REWARD,
    label: Annotated[str, Form(max_length=200, description="its id2label name or its index")] = "0",
    transform: Annotated[ScoreTransform, Form()] = ScoreTransform.LOGIT,
    input: Annotated[ScoreInput, Form()] = ScoreInput.PROMPT_RESPONSE,
) -> ModelVersionPublic:
    """Register a sequence classifier uploaded as an archive of its folder (multipart: `archive` and the fields
    of POST /models), for clients that do not share the server's filesystem. Links, paths leaving the folder
    and archives unpacking past RLHF_MAX_MODEL_UPLOAD_BYTES are refused (422) before anything is kept."""
    if kind != ModelKind.REWARD:
        raise InvalidInputError("only reward checkpoints can be registered (kind: reward)")
    origin = f"upload:{archive.filename or 'archive'}"
    with model_sources.unpacked(archive.file, max_bytes=get_settings().max_model_upload_bytes) as folder:
        version = model_registration.register_folder(
            session, folder=folder, origin=origin, label=label, transform=transform, reads=input
        )
    return ModelVersionPublic.model_validate(version)


@router.post("/models/{version_id}/unpromote")
def unpromote_model(version_id: IdPath, session: SessionDep, _: TrainDep) -> ModelVersionPublic:
    """Stop serving this version: the inference service goes back to the default policy (RLHF_POLICY_MODEL),
    or to no reward model; 409 when it is not promoted."""
    return ModelVersionPublic.model_validate(model_versions.unpromote(session, version_id))


@router.delete("/models/{version_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(version_id: IdPath, session: SessionDep, _: AdminDep) -> Response:
    """Delete a version and its artifact files; 409 while it is promoted, used by a queued or running job,
    or named by generated comparisons."""
    retention.delete_version(session, version_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/models/prune")
def prune_models(body: ModelsPrune, session: SessionDep, _: AdminDep) -> ModelsPruned:
    """Delete the unpromoted versions of each kind and base model past the `keep` newest (default:
    RLHF_KEEP_UNPROMOTED_VERSIONS) with their files; versions in use or named stay, listed with the reason."""
    keep = body.keep if body.keep is not None else get_settings().keep_unpromoted_versions
    if keep is None:
        raise InvalidInputError(
            "give keep (how many unpromoted versions to keep) or set RLHF_KEEP_UNPROMOTED_VERSIONS"
        )
    pruned = retention.prune_unpromoted(session, keep=keep, kind=body.kind, base_model=body.base_model)
    return ModelsPruned.model_validate(pruned)
