"""Client commands for training: `rlhf train KIND` (one command per job kind, whose --help lists what it
takes), `rlhf models [promote|unpromote|delete ID | register FOLDER | prune]`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.markup import escape

from services.cli.data import dataset_id
from services.cli.render import (
    console,
    fail,
    fail_request,
    follow_job,
    kind_help,
    models_table,
    print_job_result,
    print_table,
)
from services.client import CollectorClient, CollectorError
from services.client.archives import upload_reward
from services.core.enums import JobKind, JobStatus, ModelKind, ScoreInput, ScoreTransform
from services.domain.job_params import describe_kind

train_app = typer.Typer(
    help="Queue a training or generation job; `rlhf train KIND --help` lists what KIND takes.",
    no_args_is_help=True,
)
models_app = typer.Typer(
    help="List model versions; promote, unpromote or delete one (`rlhf models promote ID`), register a "
    "checkpoint trained elsewhere (`rlhf models register FOLDER --label POSITIVE`, a classifier as a reward "
    "version; `rlhf models register FOLDER --kind policy`, a causal LM or LoRA adapter as a policy version), "
    "or delete old unpromoted versions (`rlhf models prune --keep 3`).",
    invoke_without_command=True,
)


def _train_command(kind: JobKind) -> Callable[..., None]:
    def train(
        dataset: str = typer.Option(..., "--dataset", help="Dataset name (its preferences or prompts)."),
        base_model: str | None = typer.Option(
            None,
            "--base-model",
            help="HF id, local path, builtin:smollm2-135m-instruct, builtin:tiny-gpt2 or "
            "sentence-transformers/all-MiniLM-L6-v2.",
        ),
        params: str | None = typer.Option(
            None, "--params", help="JSON object of params, e.g. '{\"learning_rate\": 1e-5}' (see below)."
        ),
        wait: bool = typer.Option(False, "--wait", help="Follow the job with a progress bar until it ends."),
    ) -> None:
        try:
            parsed = json.loads(params) if params else {}
        except json.JSONDecodeError as error:
            fail(f"--params is not valid JSON: {error}")
        if not isinstance(parsed, dict):
            fail("--params must be a JSON object")
        with CollectorClient.from_settings() as client:
            try:
                job = client.submit_job(
                    kind, dataset_id(client, dataset), base_model=base_model, params=parsed
                )
                console.print(f"job {job.id} queued ({kind} on dataset {dataset!r})")
                if not wait:
                    return
                final = follow_job(client, job.id)
            except CollectorError as error:
                fail_request(error)
        print_job_result(final)
        if final.status != JobStatus.SUCCEEDED:
            raise typer.Exit(1)

    return train


for _kind in JobKind:
    _described = describe_kind(_kind)
    train_app.command(name=_kind.value, help=_described.description, epilog=kind_help(_described))(
        _train_command(_kind)
    )


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List model versions (newest first) with their metrics and which are promoted."""
    if ctx.invoked_subcommand is not None:
        return
    with CollectorClient.from_settings() as client:
        try:
            versions = client.list_models()
        except CollectorError as error:
            fail_request(error)
    print_table(models_table(versions))


@models_app.command()
def promote(version_id: int = typer.Argument(..., help="Model version id.")) -> None:
    """Make a version the active one of its kind (the inference service loads it)."""
    with CollectorClient.from_settings() as client:
        try:
            version = client.promote(version_id)
        except CollectorError as error:
            fail_request(error)
    console.print(f"promoted {version.name} (the active {version.kind} model)")


@models_app.command()
def register(
    source: str = typer.Argument(
        ..., help="A model folder on the collector's machine, or a hub id in its Hugging Face cache."
    ),
    kind: ModelKind = typer.Option(
        ModelKind.REWARD, help="reward: a sequence classifier; policy: a causal LM or a LoRA adapter folder."
    ),
    base_model: str | None = typer.Option(
        None, help="policy, LoRA adapter: its base (default: the one its adapter_config.json names)."
    ),
    label: str = typer.Option(
        "0", help="reward: the label whose score is the reward, its id2label name or index."
    ),
    transform: ScoreTransform = typer.Option(
        ScoreTransform.LOGIT, help="reward: logit, logprob or prob of the label."
    ),
    reads: ScoreInput = typer.Option(
        ScoreInput.PROMPT_RESPONSE,
        "--input",
        help="reward: what the model reads, response or prompt_response.",
    ),
    upload: bool = typer.Option(
        False,
        "--upload",
        help="reward: SOURCE is a folder on this machine, sent to the collector as an archive.",
    ),
) -> None:
    """Register a checkpoint trained elsewhere as a version (copied into the artifact store): a classifier as a
    reward version, or a causal LM (a LoRA adapter is merged into its base) as a policy version."""
    # The server copies (and may merge or unpack) gigabytes before it answers: wait as an import does.
    with CollectorClient.from_settings(timeout=3600) as client:
        try:
            if kind == ModelKind.POLICY:
                version = client.register_policy(source, base_model=base_model)
            elif upload:
                folder = Path(source).expanduser()
                if not folder.is_dir():
                    fail(f"{source} is not a folder on this machine")
                version = upload_reward(client, folder, label=label, transform=transform, reads=reads)
            else:
                version = client.register_model(
                    source, label=int(label) if label.isdigit() else label, transform=transform, reads=reads
                )
        except CollectorError as error:
            fail_request(error)
    if kind == ModelKind.POLICY:
        adapter = version.params.get("adapter")
        merged = f", a LoRA adapter merged into {adapter['base_model']}" if adapter else ""
        console.print(
            f"registered {version.name} (model version id {version.id}) from {escape(version.params['source'])}"
            f"{escape(merged)}; `rlhf models promote {version.id}` serves it"
        )
        return
    scoring = version.params["scoring"]
    console.print(
        f"registered {version.name} (model version id {version.id}): the {scoring['transform']} of label "
        f"{scoring['label']!r} (index {scoring['label_index']}) of the {scoring['input']}"
    )


@models_app.command()
def unpromote(version_id: int = typer.Argument(..., help="Model version id.")) -> None:
    """Stop serving a version: the inference service goes back to the default policy (RLHF_POLICY_MODEL),
    or to no reward model."""
    with CollectorClient.from_settings() as client:
        try:
            version = client.unpromote(version_id)
        except CollectorError as error:
            fail_request(error)
    fallback = "the default policy" if version.kind == ModelKind.POLICY else "no reward model"
    console.print(f"unpromoted {version.name}: the inference service serves {fallback} now")


@models_app.command()
def delete(
    version_id: int = typer.Argument(..., help="Model version id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a version and its artifact files (refused while promoted or used by a queued or running job)."""
    with CollectorClient.from_settings() as client:
        try:
            version = client.get_model(version_id)
            console.print(
                f"[yellow]warning:[/yellow] this deletes {version.name} and its files ({escape(version.path)} "
                "under RLHF_ARTIFACT_DIR); it cannot be undone."
            )
            if not yes and not typer.confirm("Delete it?"):
                raise typer.Exit(1)
            client.delete_model(version_id)
        except CollectorError as error:
            fail_request(error)
    console.print(f"deleted {version.name}")


@models_app.command()
def prune(
    keep: int | None = typer.Option(
        None,
        "--keep",
        min=0,
        help="Unpromoted versions to keep per kind and base model, newest first "
        "(default: RLHF_KEEP_UNPROMOTED_VERSIONS on the collector).",
    ),
    kind: ModelKind | None = typer.Option(None, "--kind", help="Only versions of this kind."),
    base_model: str | None = typer.Option(None, "--base-model", help="Only versions trained from this."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete old unpromoted versions and their files; promoted ones, and ones in use or named by a reward,
    stay."""
    if not yes and not typer.confirm(
        "Delete the unpromoted versions past the newest "
        + (f"{keep}" if keep is not None else "RLHF_KEEP_UNPROMOTED_VERSIONS")
        + " of each kind and base model, with their files?"
    ):
        raise typer.Exit(1)
    with CollectorClient.from_settings() as client:
        try:
            pruned = client.prune_models(keep=keep, kind=kind, base_model=base_model)
        except CollectorError as error:
            fail_request(error)
    for version in pruned.deleted:
        console.print(f"deleted {version.name} ({escape(version.base_model)})")
    for version in pruned.kept:
        console.print(f"kept {version.name}: {escape(version.reason or '')}", style="yellow")
    console.print(f"{len(pruned.deleted)} deleted, {len(pruned.kept)} kept past the limit")
