"""Where a client's settings came from, for the messages of refused requests (`rlhf jobs` answered 401 must
say whether the token was the environment's, .env's or the state dir's)."""

from __future__ import annotations

import os
from pathlib import Path

from services.core.settings import Settings


def setting_source(name: str) -> str:
    """Where a setting came from, for messages: the environment, else .env, else (a default or a Settings
    object made in code) just its name."""
    if name in os.environ:
        return f"{name} in the environment"
    if name.removeprefix("RLHF_").lower() in Settings.model_fields and _in_dotenv(name):
        return f"{name} in .env"
    return name


def _in_dotenv(name: str) -> bool:
    dotenv = Path(".env")
    return dotenv.is_file() and any(
        line.strip().startswith(f"{name}=") for line in dotenv.read_text(errors="replace").splitlines()
    )


def admin_sources(settings: Settings) -> tuple[str, str]:
    """Where the admin client's URL and token come from: (url_source, token_source)."""
    if settings.collector_url:
        url_source = setting_source("RLHF_COLLECTOR_URL")
    else:
        url_source = f"{setting_source('RLHF_HOST')} and {setting_source('RLHF_COLLECTOR_PORT')}"
    if settings.admin_token is None:
        token_source = str(settings.state_dir.resolve() / "admin_token")
    elif settings.admin_token_is_placeholder:
        token_source = (
            f"{setting_source('RLHF_ADMIN_TOKEN')}, still a placeholder: set the stack's admin token"
        )
    else:
        token_source = setting_source("RLHF_ADMIN_TOKEN")
    return url_source, token_source
