"""Client commands for named rewards: `rlhf rewards [list|show NAME|create NAME]` (docs/rewards.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.render import console, fail, fail_request, print_table
from services.client import CollectorClient, CollectorError
from services.collector.reward_schemas import RewardPublic

rewards_app = typer.Typer(help="List, show and create named rewards.", invoke_without_command=True)

# A component's keys that describe where its score comes from, not an option of its function.
COMPONENT_KEYS = ("model_version_id", "function", "weight", "whiten")


def describe_component(component: dict[str, Any]) -> str:
    """One component in a line: `2×rougeL`, `0.1×length(target=60)`, `1×model 7 whitened(0.3, 1.2)`."""
    if "model_version_id" in component:
        source = f"model {component['model_version_id']}"
    else:
        options = ", ".join(f"{key}={value}" for key, value in component.items() if key not in COMPONENT_KEYS)
        source = f"{component.get('function')}({options})" if options else str(component.get("function"))
    text = f"{component.get('weight', 1.0):g}×{source}"
    whiten = component.get("whiten")
    if whiten:
        text += f" whitened({whiten['mean']:g}, {whiten['std']:g})"
    return text


def describe_gate(gate: dict[str, Any] | None) -> str:
    if gate is None:
        return "-"
    return f"safety #{gate['safety']} below {gate['threshold']:g}, else helpfulness #{gate['helpfulness']}"


def rewards_table(rewards: list[RewardPublic], default: str | None) -> Table:
    table = Table("name", "version", "components", "safety gate", "default", "created")
    latest: set[str] = set()
    for reward in rewards:
        # Listed newest version first: the first row of a name is the version requests and jobs use.
        newest = reward.name not in latest
        latest.add(reward.name)
        table.add_row(
            escape(reward.name),
            str(reward.version) + ("" if newest else " (old)"),
            escape("; ".join(describe_component(component) for component in reward.components)),
            escape(describe_gate(reward.safety_gate)),
            "yes" if default == f"{reward.name}@v{reward.version}" else "",
            f"{reward.created_at:%Y-%m-%d %H:%M}",
        )
    return table


def default_line(default: str | None) -> str:
    return f"default: {escape(default) if default else '(none: no reward model promoted)'}"


@rewards_app.callback()
def rewards(ctx: typer.Context) -> None:
    """List named rewards (the default)."""
    if ctx.invoked_subcommand is None:
        list_()


@rewards_app.command("list")
def list_() -> None:
    """Every version of every named reward, newest first, and what serves `/reward` by default."""
    with CollectorClient.from_settings() as client:
        try:
            found = client.list_rewards()
        except CollectorError as error:
            fail_request(error)
    print_table(rewards_table(found.data, found.default))
    console.print(default_line(found.default))


@rewards_app.command()
def show(name: str = typer.Argument(..., help="The reward's name.")) -> None:
    """A named reward's versions, each with its components as stored (JSON)."""
    with CollectorClient.from_settings() as client:
        try:
            found = client.list_rewards(name=name)
        except CollectorError as error:
            fail_request(error)
    if not found.data:
        fail(f"no reward named {name!r} (rlhf rewards lists them)")
    for reward in found.data:
        serving = " (default)" if found.default == f"{reward.name}@v{reward.version}" else ""
        console.print(
            f"[bold]{escape(reward.name)}[/bold] version {reward.version}{serving}, created "
            f"{reward.created_at:%Y-%m-%d %H:%M}"
        )
        for number, component in enumerate(reward.components):
            console.print(f"  #{number} {escape(describe_component(component))}")
        if reward.safety_gate is not None:
            console.print(f"  safety gate: {escape(describe_gate(reward.safety_gate))}")
        console.print(
            escape(json.dumps({"components": reward.components, "safety_gate": reward.safety_gate})),
            soft_wrap=True,
            highlight=False,
        )


def json_option(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{what} is not JSON: {error}")


@rewards_app.command()
def create(
    name: str = typer.Argument(..., help="The reward's name; an existing name gets its next version."),
    components: str | None = typer.Option(
        None,
        "--components",
        help='The components as JSON, e.g. \'[{"function": "rougeL", "weight": 2}, {"model_version_id": 7}]\'.',
    ),
    file: Path | None = typer.Option(
        None,
        "--file",
        exists=True,
        dir_okay=False,
        help="A JSON file with the body POST /api/v1/rewards takes (its name, if any, must be NAME).",
    ),
    safety_gate: str | None = typer.Option(
        None,
        "--safety-gate",
        help='Llama 2\'s gate as JSON: \'{"safety": 0, "helpfulness": 1, "threshold": -0.5}\' (component indices).',
    ),
) -> None:
    """Create a named reward (or its next version) from its components (docs/rewards.md)."""
    if (components is None) == (file is None):
        fail("give the components with --components JSON or the whole body with --file spec.json")
    body: dict[str, Any]
    if file is not None:
        body = json_option(file.read_text(encoding="utf-8"), str(file))
        if not isinstance(body, dict):
            fail(f"{file} must hold a JSON object: the body of POST /api/v1/rewards")
        if body.setdefault("name", name) != name:
            fail(f"{file} names the reward {body['name']!r}, not {name!r}")
    else:
        body = {"name": name, "components": json_option(str(components), "--components")}
    if safety_gate is not None:
        body["safety_gate"] = json_option(safety_gate, "--safety-gate")
    with CollectorClient.from_settings() as client:
        try:
            created = client.create_reward(body)
        except CollectorError as error:
            fail_request(error)
    console.print(
        f"created reward {escape(created.name)!r} version {created.version} (id {created.id}): "
        + escape("; ".join(describe_component(component) for component in created.components))
    )
