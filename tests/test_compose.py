"""Static checks of the Compose stack (no Docker engine runs in CI).

The file is validated against the Compose Specification's JSON Schema, kept in ``shared/data``
beside the repository, and then checked for the things the schema cannot see: pinned images,
dependencies that exist and are healthchecked, unique host ports, the worker pointed at the real
Temporal service, no literal secrets, and the collector config and Dockerfile it refers to.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SCHEMA_FILE = REPO.parent / "shared" / "data" / "compose-spec.json"

TEMPORAL_SERVICE = "temporal"
WORKER_SERVICE = "worker"
COLLECTOR_SERVICE = "otel-collector"

SECRET_KEY_PARTS = ("KEY", "PASSWORD", "PWD", "TOKEN", "SECRET")
# Values that look like real credentials, wherever they appear.
LITERAL_SECRET = re.compile(
    r"sk-[A-Za-z0-9_-]{10,}"  # OpenAI-style keys
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
# The whole value is one interpolation, e.g. ${VAR}, ${VAR:-default}, ${VAR:?error}.
INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}")

Service = dict[str, Any]


# --- helpers ------------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def services(compose: dict[str, Any]) -> dict[str, Service]:
    found = compose.get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services mapping"
    assert found, "docker-compose.yml defines no services"
    return found


def environment(service: Service) -> dict[str, str | None]:
    """A service's environment as a dict, from either the list or the mapping form.

    ``None`` means "pass through from the host environment, unset if unset there".
    """
    raw = service.get("environment")
    if raw is None:
        return {}
    if isinstance(raw, list):
        env: dict[str, str | None] = {}
        for item in raw:
            key, sep, value = str(item).partition("=")
            env[key] = value if sep else None
        return env
    assert isinstance(raw, dict)
    return {str(k): None if v is None else str(v) for k, v in raw.items()}


def dependencies(service: Service) -> dict[str, str]:
    """``depends_on`` as {service: condition}; the short list form means service_started."""
    raw = service.get("depends_on")
    if raw is None:
        return {}
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    assert isinstance(raw, dict)
    return {str(name): str(spec.get("condition", "service_started")) for name, spec in raw.items()}


def published_ports(service: Service) -> list[tuple[int, str]]:
    """(host port, protocol) for every port the service publishes on the host."""
    result: list[tuple[int, str]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            if published is None:
                continue
            protocol = str(entry.get("protocol", "tcp"))
            host_parts = [str(published)]
        else:
            spec, _, protocol = str(entry).partition("/")
            protocol = protocol or "tcp"
            parts = spec.rsplit(":", 2)
            if len(parts) == 1:  # container port only: Docker picks a random host port
                continue
            host_parts = [parts[-2]]
        for host in host_parts:
            if not host:
                continue
            first, _, last = host.partition("-")
            result.extend((port, protocol) for port in range(int(first), int(last or first) + 1))
    return result


def bind_mounts(service: Service) -> list[tuple[str, str]]:
    """(source, target) of every bind mount given as a relative or absolute host path."""
    mounts: list[tuple[str, str]] = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts.append((str(entry["source"]), str(entry["target"])))
            continue
        source, _, rest = str(entry).partition(":")
        if source.startswith((".", "/", "~")):
            mounts.append((source, rest.split(":", 1)[0]))
    return mounts


def named_volumes(service: Service) -> list[str]:
    names: list[str] = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type", "volume") == "volume" and entry.get("source"):
                names.append(str(entry["source"]))
            continue
        source, sep, _ = str(entry).partition(":")
        if sep and not source.startswith((".", "/", "~", "$")):
            names.append(source)
    return names


def schema_errors(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    instructions: list[tuple[str, str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, args = stripped.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    if not SCHEMA_FILE.is_file():
        pytest.skip(
            f"Compose Specification schema not found at {SCHEMA_FILE}; "
            "clone the shared/ data beside the repository to run this check"
        )
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    Draft7Validator.check_schema(schema)
    return schema


# --- schema -------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    errors = schema_errors(compose, compose_schema)
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(errors)


def test_schema_check_rejects_a_misspelt_key(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    broken = copy.deepcopy(compose)
    postgresql = broken["services"]["postgresql"]
    postgresql["helthcheck"] = postgresql.pop("healthcheck")
    errors = schema_errors(broken, compose_schema)
    assert any("helthcheck" in error for error in errors), errors


def test_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "`version:` is obsolete in the Compose Specification"


# --- images and dependencies --------------------------------------------------------------------


def test_every_image_is_pinned_to_an_explicit_tag(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name}: neither image nor build"
            continue
        reference = str(image).split("@", 1)[0]
        last_segment = reference.rsplit("/", 1)[-1]
        assert ":" in last_segment, f"{name}: image {image!r} has no tag"
        tag = last_segment.rsplit(":", 1)[1]
        assert tag, f"{name}: image {image!r} has an empty tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        assert "$" not in str(image), f"{name}: image {image!r} depends on interpolation"


def test_dependencies_exist_and_healthy_waits_have_healthchecks(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        for dependency, condition in dependencies(service).items():
            assert dependency in all_services, f"{name} depends on unknown service {dependency!r}"
            assert dependency != name, f"{name} depends on itself"
            if condition == "service_healthy":
                check = all_services[dependency].get("healthcheck")
                missing = f"{name} waits for {dependency} to be healthy, but it has no healthcheck"
                assert isinstance(check, dict), missing
                assert check.get("test"), missing
                assert not check.get("disable"), f"{dependency}'s healthcheck is disabled"


def test_published_host_ports_are_unique(compose: dict[str, Any]) -> None:
    owners: dict[tuple[int, str], str] = {}
    for name, service in services(compose).items():
        for port in published_ports(service):
            assert port not in owners, f"host port {port} published by {owners[port]} and {name}"
            owners[port] = name
    assert owners, "no ports published at all"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    for name, service in services(compose).items():
        for volume in named_volumes(service):
            assert volume in declared, f"{name} uses undeclared volume {volume!r}"


# --- worker -------------------------------------------------------------------------------------


def test_worker_points_at_the_temporal_service(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    assert TEMPORAL_SERVICE in all_services
    env = environment(all_services[WORKER_SERVICE])
    assert env.get("HANDRAIL_TEMPORAL_ADDRESS") == f"{TEMPORAL_SERVICE}:7233"
    embedded = env.get("HANDRAIL_EMBEDDED_SERVER")
    assert embedded is not None, "HANDRAIL_EMBEDDED_SERVER is not set"
    assert embedded.lower() == "false", embedded
    assert dependencies(all_services[WORKER_SERVICE]).get(TEMPORAL_SERVICE) == "service_healthy"
    assert (7233, "tcp") in published_ports(all_services[TEMPORAL_SERVICE])


def test_worker_exports_telemetry_to_the_collector(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    assert COLLECTOR_SERVICE in all_services
    endpoint = environment(all_services[WORKER_SERVICE]).get("HANDRAIL_OTLP_ENDPOINT")
    # Handrail exports over OTLP/HTTP (handrail/telemetry.py): the collector's port 4318.
    assert endpoint == f"http://{COLLECTOR_SERVICE}:4318", endpoint


# --- secrets ------------------------------------------------------------------------------------


def secret_problems(compose: dict[str, Any]) -> list[str]:
    """Environment values that hold, or could hold, a literal secret."""
    problems: list[str] = []
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            if value is None:  # passed through from the host; nothing literal in the file
                continue
            if LITERAL_SECRET.search(value):
                problems.append(f"{name}.{key} holds what looks like a secret")
            elif any(part in key.upper() for part in SECRET_KEY_PARTS) and not (
                INTERPOLATION.fullmatch(value)
            ):
                problems.append(f"{name}.{key} must come from the environment (${{...}})")
    return problems


def test_no_literal_secrets_in_environment(compose: dict[str, Any]) -> None:
    assert not secret_problems(compose)


def test_whole_compose_file_has_no_literal_secret() -> None:
    assert not LITERAL_SECRET.search(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("OPENAI_API_KEY", "${OPENAI_API_KEY}", True),
        ("POSTGRES_PWD", "${POSTGRES_PASSWORD:-temporal}", True),
        ("OPENAI_API_KEY", None, True),
        ("HANDRAIL_DATA_DIR", "/data", True),
        ("OPENAI_API_KEY", "sk-abcdefghijklmnop", False),
        ("NOTES", "sk-abcdefghijklmnop", False),
        ("POSTGRES_PASSWORD", "hunter2", False),
        ("API_TOKEN", "prefix-${TOKEN}", False),
    ],
)
def test_secret_rule_itself(key: str, value: str | None, ok: bool) -> None:
    problems = secret_problems({"services": {"svc": {"environment": {key: value}}}})
    assert (not problems) is ok, problems


# --- collector config ---------------------------------------------------------------------------


def test_collector_config_exists_and_exports_traces(compose: dict[str, Any]) -> None:
    collector = services(compose)[COLLECTOR_SERVICE]
    configs = [(s, t) for s, t in bind_mounts(collector) if s.endswith((".yaml", ".yml"))]
    assert len(configs) == 1, f"expected one mounted collector config, found {configs}"
    source, target = configs[0]
    path = (COMPOSE_FILE.parent / source).resolve()
    assert path.is_file(), f"{source} (mounted at {target}) does not exist"

    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    otlp = config["receivers"]["otlp"]
    # Since collector 0.104 receivers default to localhost, unreachable from other containers.
    assert otlp["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"

    pipelines = config["service"]["pipelines"]
    traces = [spec for key, spec in pipelines.items() if key.split("/")[0] == "traces"]
    assert traces, "no traces pipeline"
    for pipeline in traces:
        assert "otlp" in pipeline["receivers"]
        for exporter in pipeline["exporters"]:
            assert exporter in config["exporters"], f"pipeline uses undefined exporter {exporter}"
        for processor in pipeline.get("processors", []):
            assert processor in config["processors"], f"undefined processor {processor}"
    endpoints = [
        str((config["exporters"][exporter] or {}).get("endpoint", ""))
        for pipeline in traces
        for exporter in pipeline["exporters"]
    ]
    assert any(e.startswith("jaeger:") for e in endpoints), (
        f"traces do not reach jaeger: {endpoints}"
    )
    assert "jaeger" in services(compose)


# --- Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_base_user_and_install() -> None:
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms, "Dockerfile has no FROM"
    assert froms[-1].split()[0] == "python:3.11-slim", froms
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "pip install --no-cache-dir ." in runs
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}, users[-1]


def test_dockerfile_cmd_runs_worker_py_which_exists(compose: dict[str, Any]) -> None:
    cmds = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert cmds, "Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])  # exec form only: signals reach Python, not a shell
    assert cmd == ["python", "worker.py"], cmd
    command = services(compose)[WORKER_SERVICE].get("command")
    assert command in (None, cmd, "python worker.py"), command
    assert (REPO / "worker.py").is_file(), "worker.py is missing at the repository root"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", "data", ".git", ".env"):
        assert required in entries, f".dockerignore does not exclude {required}"
    assert any("__pycache__" in entry for entry in entries)
