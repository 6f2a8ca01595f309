"""Static checks of the Compose stack (no Docker engine runs in CI).

The file is validated against the Compose Specification's JSON Schema, kept in ``shared/data``
beside the repository, and then checked for what the schema cannot see: Temporal on PostgreSQL
with its schema set up by a one-shot admin-tools job before the server starts (never the
deprecated auto-setup image), the namespace and Handrail's search attributes registered before
the workers start, two worker replicas on Handrail's PostgreSQL state database, the collector and
the trace viewer, pinned images, dependencies that exist, no literal secrets, and a Dockerfile
that installs the package and what ``worker.py`` needs (the store example it hosts).

Each check returns the problems it finds; the real files must have none, and every check is also
run on a broken copy (``BREAKAGES``) to show that it can fail.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from sqlalchemy.engine import make_url

from handrail import search_attributes
from handrail.settings import HandrailSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = REPO / "pyproject.toml"
SCHEMA_FILE = REPO.parent / "shared" / "data" / "compose-spec.json"

SERVER_IMAGE = "temporalio/server"
ADMIN_TOOLS_IMAGE = "temporalio/admin-tools"
UI_IMAGE = "temporalio/ui"
DEPRECATED_IMAGE = "temporalio/auto-setup"
POSTGRES_IMAGE = "postgres"
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"
# Trace viewers that accept OTLP themselves.
VIEWER_IMAGES = ("jaegertracing/jaeger", "jaegertracing/all-in-one", "grafana/tempo")
TEMPORAL_DATABASES = ("temporal", "temporal_visibility")
MIN_STOP_GRACE_SECONDS = 15

# The temporal CLI's names for the index types (`temporal operator search-attribute create`).
CLI_TYPES = {
    "BOOL": "Bool",
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DOUBLE": "Double",
    "DATETIME": "Datetime",
    "TEXT": "Text",
    "KEYWORD_LIST": "KeywordList",
}

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
# A password inside a URL: scheme://user:PASSWORD@host.
URL_PASSWORD = re.compile(r"://[^/@\s:]*:(?P<password>[^@\s]*)@")
# ${NAME}, ${NAME:-default}, ${NAME-default} (Compose and POSIX shell alike).
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")

Service = dict[str, Any]
Compose = dict[str, Any]
Reader = Callable[[str], str]


# --- helpers ------------------------------------------------------------------------------------


def load_compose() -> Compose:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def read_repo_file(relative: str) -> str:
    """A file of the repository by a path relative to docker-compose.yml ('' if missing)."""
    path = (COMPOSE_FILE.parent / relative).resolve()
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def services(compose: Compose) -> dict[str, Service]:
    found = compose.get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services mapping"
    assert found, "docker-compose.yml defines no services"
    return found


def image_name(service: Service) -> str:
    """The image without tag or digest ('' for a service built here)."""
    image = str(service.get("image") or "").split("@", 1)[0]
    head, _, last = image.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def image_tag(service: Service) -> str:
    last = str(service.get("image") or "").split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def named(compose: Compose, *images: str) -> dict[str, Service]:
    return {n: s for n, s in services(compose).items() if image_name(s) in images}


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


def resolve(text: str, env: dict[str, str | None] | None = None) -> str:
    """``text`` with ${VAR} / ${VAR:-default} replaced: from ``env``, else the default, else ''."""

    def value(match: re.Match[str]) -> str:
        given = (env or {}).get(match["name"])
        if given is not None:
            return resolve(given)
        return match["default"] or ""

    return VARIABLE.sub(value, text)


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


def command_words(service: Service) -> list[str]:
    """``entrypoint`` + ``command`` as words (the shell form split on whitespace)."""
    words: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if isinstance(value, str):
            words.extend(value.split())
        elif isinstance(value, list):
            words.extend(str(word) for word in value)
    return words


def script_text(service: Service, read: Reader) -> str:
    """What a one-shot job runs: the scripts its command names, read through their bind mount,
    plus the command itself (for jobs that inline their shell)."""
    texts = [" ".join(command_words(service))]
    for word in command_words(service):
        for source, target in bind_mounts(service):
            target = target.rstrip("/")
            if word == target or word.startswith(target + "/"):
                texts.append(read(source.rstrip("/") + word[len(target) :]))
    return "\n".join(texts)


def duration_seconds(value: object) -> float:
    """A Compose duration ("1m30s", "45s", "500ms") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value)):
        total += float(number) * units[unit]
    return total


def schema_errors(document: Compose, schema: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    instructions: list[tuple[str, str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, args = stripped.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def worker_services(compose: Compose) -> dict[str, Service]:
    """Services built from this repository's Dockerfile: the Handrail workers."""
    return {n: s for n, s in services(compose).items() if "build" in s}


def replicas(service: Service) -> int:
    deploy = service.get("deploy") or {}
    return int(deploy.get("replicas", 1))


def only(found: dict[str, Service], what: str, problems: list[str]) -> tuple[str, Service] | None:
    if len(found) != 1:
        problems.append(f"expected one {what} service, found {sorted(found)}")
        return None
    return next(iter(found.items()))


# --- checks: each returns the problems it finds -------------------------------------------------


def image_problems(compose: Compose) -> list[str]:
    problems: list[str] = []
    for name, service in services(compose).items():
        image = service.get("image")
        if image is None:
            if "build" not in service:
                problems.append(f"{name}: neither image nor build")
            continue
        tag = image_tag(service)
        if "$" in str(image):
            problems.append(f"{name}: image {image!r} depends on interpolation")
        elif not tag:
            problems.append(f"{name}: image {image!r} has no tag")
        elif tag == "latest":
            problems.append(f"{name}: image {image!r} is not pinned")
        if image_name(service) == DEPRECATED_IMAGE:
            problems.append(f"{name}: {DEPRECATED_IMAGE} is deprecated")
    if DEPRECATED_IMAGE in yaml.safe_dump(compose):
        problems.append(f"{DEPRECATED_IMAGE} appears in the file")
    return problems


def dependency_problems(compose: Compose) -> list[str]:
    problems: list[str] = []
    all_services = services(compose)
    for name, service in all_services.items():
        for dependency, condition in dependencies(service).items():
            if dependency not in all_services:
                problems.append(f"{name} depends on unknown service {dependency!r}")
                continue
            if dependency == name:
                problems.append(f"{name} depends on itself")
            target = all_services[dependency]
            if condition == "service_healthy":
                check = target.get("healthcheck")
                if not isinstance(check, dict) or not check.get("test") or check.get("disable"):
                    problems.append(f"{name} waits for {dependency} to be healthy: no healthcheck")
            if condition == "service_completed_successfully" and str(
                target.get("restart", "no")
            ) not in {"no", "on-failure"} | {f"on-failure:{n}" for n in range(1, 10)}:
                problems.append(f"{name} waits for {dependency} to exit, but it restarts always")
    return problems


def temporal_problems(compose: Compose, read: Reader) -> list[str]:
    """Temporal server on PostgreSQL, its schema set up first by a one-shot admin-tools job."""
    problems: list[str] = []
    server = only(named(compose, SERVER_IMAGE), SERVER_IMAGE, problems)
    if server is None:
        return problems
    server_name, server_service = server
    env = environment(server_service)
    if env.get("DB") not in {"postgres12", "postgres12_pgx"}:
        problems.append(f"{server_name}: DB={env.get('DB')!r} is not PostgreSQL")
    seeds = env.get("POSTGRES_SEEDS")
    if seeds not in named(compose, POSTGRES_IMAGE):
        problems.append(f"{server_name}: POSTGRES_SEEDS={seeds!r} is not a postgres service")
    databases = (
        resolve(env.get("DBNAME") or "temporal"),
        resolve(env.get("VISIBILITY_DBNAME") or "temporal_visibility"),
    )
    if databases != TEMPORAL_DATABASES:
        problems.append(f"{server_name} uses databases {databases}")

    jobs = {
        dependency: services(compose).get(dependency, {})
        for dependency, condition in dependencies(server_service).items()
        if condition == "service_completed_successfully"
    }
    schema_jobs = {n: s for n, s in jobs.items() if image_name(s) == ADMIN_TOOLS_IMAGE}
    if not schema_jobs:
        problems.append(f"{server_name} does not wait for an admin-tools schema job to complete")
    for job_name, job in schema_jobs.items():
        if image_tag(job) != image_tag(server_service):
            problems.append(f"{job_name}'s admin-tools tag differs from the server's")
        script = resolve(script_text(job, read), environment(job)).replace('"', "")
        if "temporal-sql-tool" not in script:
            problems.append(f"{job_name} does not run temporal-sql-tool")
        steps = set(re.findall(r"--db\s+(\S+)\s+(create|setup-schema|update-schema)", script))
        for database in TEMPORAL_DATABASES:
            for step in ("create", "setup-schema", "update-schema"):
                if (database, step) not in steps:
                    problems.append(f"{job_name} does not {step} the {database} database")
        for database, folder in zip(TEMPORAL_DATABASES, ("temporal", "visibility"), strict=True):
            if not re.search(rf"--db\s+{database}\s+update-schema\s+-d\s+\S+/{folder}/", script):
                problems.append(f"{job_name} updates {database} from the wrong schema folder")
    return problems


def namespace_problems(compose: Compose, read: Reader) -> list[str]:
    """A one-shot job creates the namespace and every Handrail search attribute, with its type,
    after the server is up and before any worker starts."""
    problems: list[str] = []
    servers = named(compose, SERVER_IMAGE)
    jobs = {
        name: service
        for name, service in named(compose, ADMIN_TOOLS_IMAGE).items()
        if any(dependencies(service).get(server) == "service_healthy" for server in servers)
    }
    job = only(jobs, "namespace job (admin-tools after a healthy server)", problems)
    if job is None:
        return problems
    job_name, job_service = job
    script = resolve(script_text(job_service, read), environment(job_service))
    if not re.search(r"operator namespace create", script):
        problems.append(f"{job_name} does not create the namespace")
    namespace = resolve(environment(job_service).get("TEMPORAL_NAMESPACE") or "default")
    registered = dict(re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", script))
    if "operator search-attribute create" not in script:
        problems.append(f"{job_name} does not create search attributes")
    for key in search_attributes.ALL:
        wanted = CLI_TYPES[key.indexed_value_type.name]
        if registered.get(key.name) != wanted:
            problems.append(
                f"{job_name} registers {key.name} as {registered.get(key.name)}, not {wanted}"
            )
    for name, worker in worker_services(compose).items():
        if dependencies(worker).get(job_name) != "service_completed_successfully":
            problems.append(f"{name} does not wait for {job_name} to complete")
        worker_namespace = resolve(
            environment(worker).get("HANDRAIL_TEMPORAL_NAMESPACE") or "default"
        )
        if worker_namespace != namespace:
            problems.append(f"{name} uses namespace {worker_namespace}, {job_name} {namespace}")
    return problems


def ui_problems(compose: Compose) -> list[str]:
    problems: list[str] = []
    ui = only(named(compose, UI_IMAGE), UI_IMAGE, problems)
    servers = named(compose, SERVER_IMAGE)
    if ui is None or len(servers) != 1:
        return problems
    name, service = ui
    server = next(iter(servers))
    if environment(service).get("TEMPORAL_ADDRESS") != f"{server}:7233":
        problems.append(f"{name} does not point at {server}:7233")
    if not published_ports(service):
        problems.append(f"{name} publishes no port")
    return problems


def worker_problems(compose: Compose) -> list[str]:
    """Two or more worker replicas on the Temporal service, the PostgreSQL state database, a
    healthcheck and time to drain on SIGTERM."""
    problems: list[str] = []
    workers = worker_services(compose)
    if sum(replicas(s) for s in workers.values()) < 2:
        problems.append(f"fewer than two worker replicas: {sorted(workers)}")
    servers = named(compose, SERVER_IMAGE)
    databases = named(compose, POSTGRES_IMAGE)
    if "state_url" not in HandrailSettings.model_fields:
        problems.append("HandrailSettings has no state_url (HANDRAIL_STATE_URL)")
    scripts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["scripts"]
    for name, service in workers.items():
        env = environment(service)
        if str(env.get("HANDRAIL_EMBEDDED_SERVER", "")).lower() != "false":
            problems.append(f"{name}: HANDRAIL_EMBEDDED_SERVER is not false")
        address = env.get("HANDRAIL_TEMPORAL_ADDRESS")
        if address not in {f"{server}:7233" for server in servers}:
            problems.append(f"{name}: HANDRAIL_TEMPORAL_ADDRESS={address!r} is not the server")
        for variable in SHARED_DATABASES:
            problems.extend(database_url_problems(name, service, databases, variable))
        state, store = (environment(service).get(v) for v in SHARED_DATABASES)
        if (
            state
            and store
            and make_url(resolve(state)).database == make_url(resolve(store)).database
        ):
            problems.append(f"{name}: the store example shares Handrail's state database")

        problems.extend(app_problems(name, env))

        words = command_words(service)
        if not words:
            problems.append(f"{name} relies on the image's CMD; give the command here")
        elif words not in (["python", "worker.py"], ["handrail-worker"]):
            problems.append(f"{name} runs {words}, not python worker.py or handrail-worker")
        if words == ["python", "worker.py"] and not (REPO / "worker.py").is_file():
            problems.append("worker.py is missing at the repository root")
        if words == ["handrail-worker"] and "handrail-worker" not in scripts:
            problems.append("pyproject.toml has no handrail-worker console script")

        if duration_seconds(service.get("stop_grace_period", "10s")) < MIN_STOP_GRACE_SECONDS:
            problems.append(f"{name}: stop_grace_period too short to drain")
        if str(service.get("stop_signal", "SIGTERM")) not in {"SIGTERM", "TERM", "15"}:
            problems.append(f"{name}: stop_signal is not SIGTERM")
        check = service.get("healthcheck")
        if not isinstance(check, dict) or not check.get("test") or check.get("disable"):
            problems.append(f"{name} has no healthcheck")
        elif "9464" in str(check["test"]) and not str(
            env.get("HANDRAIL_PROMETHEUS_ADDRESS", "")
        ).endswith(":9464"):
            problems.append(f"{name}'s healthcheck reads metrics the worker does not serve")
    return problems


def app_problems(name: str, env: dict[str, str | None]) -> list[str]:
    """The worker names the app it hosts (``HANDRAIL_APP=module:attribute``), and the module
    is in the repository (the Dockerfile copies examples/: ``dockerfile_problems``)."""
    app = resolve(env.get("HANDRAIL_APP") or "")
    module, _, attribute = app.partition(":")
    if not module or not attribute:
        return [f"{name}: HANDRAIL_APP is not module:attribute ({app!r})"]
    if not (REPO / (module.replace(".", "/") + ".py")).is_file():
        return [f"{name}: HANDRAIL_APP names {module}, which is not in the repository"]
    return []


SHARED_DATABASES = ("HANDRAIL_STATE_URL", "HANDRAIL_STORE_URL")
"""What every worker replica must share: Handrail's state and the store example's data."""


def database_url_problems(
    name: str, service: Service, databases: dict[str, Service], variable: str
) -> list[str]:
    """``variable`` (a worker's database URL) names a PostgreSQL service it waits for, and a
    database of its own."""
    url = environment(service).get(variable)
    if not url:
        return [f"{name}: {variable} is not set"]
    parsed = make_url(resolve(url))
    problems: list[str] = []
    if parsed.drivername != "postgresql+psycopg":
        problems.append(f"{name}: {variable} is {parsed.drivername}, not postgresql+psycopg")
    if parsed.host not in databases:
        problems.append(f"{name}: {variable} host {parsed.host!r} is no postgres service")
    elif dependencies(service).get(parsed.host) != "service_healthy":
        problems.append(f"{name} does not wait for {parsed.host} to be healthy")
    if not parsed.database or parsed.database in TEMPORAL_DATABASES:
        problems.append(f"{name}: {variable} needs its own database, not {parsed.database}")
    return problems


def handrail_database_problems(compose: Compose, read: Reader) -> list[str]:
    """The databases the workers use are created by a job they (indirectly) wait for."""
    problems: list[str] = []
    jobs = named(compose, ADMIN_TOOLS_IMAGE)
    created = {
        database.strip('"')
        for job in jobs.values()
        for database in re.findall(
            r"--db\s+(\S+)\s+create",
            resolve(script_text(job, read), environment(job)).replace('"', ""),
        )
    }
    for name, service in worker_services(compose).items():
        for variable in SHARED_DATABASES:
            url = environment(service).get(variable)
            database = make_url(resolve(url)).database if url else None
            if database not in created:
                problems.append(f"{name}: no job creates the database {database!r} ({variable})")
    return problems


def telemetry_problems(compose: Compose, read: Reader) -> list[str]:
    """Workers -> OTLP/HTTP -> collector -> OTLP -> a trace viewer."""
    problems: list[str] = []
    collector = only(named(compose, COLLECTOR_IMAGE), COLLECTOR_IMAGE, problems)
    viewers = named(compose, *VIEWER_IMAGES)
    if not viewers:
        problems.append(f"no trace viewer among {VIEWER_IMAGES}")
    if collector is None:
        return problems
    collector_name, collector_service = collector
    for name, service in worker_services(compose).items():
        endpoint = environment(service).get("HANDRAIL_OTLP_ENDPOINT")
        # Handrail exports over OTLP/HTTP (handrail/telemetry/core.py): the collector's port 4318.
        if endpoint != f"http://{collector_name}:4318":
            problems.append(f"{name}: HANDRAIL_OTLP_ENDPOINT={endpoint!r}")

    configs = [(s, t) for s, t in bind_mounts(collector_service) if s.endswith((".yaml", ".yml"))]
    if len(configs) != 1:
        return [*problems, f"expected one mounted collector config, found {configs}"]
    text = read(configs[0][0])
    if not text:
        return [*problems, f"{configs[0][0]} does not exist"]
    config = yaml.safe_load(text)
    protocols = config["receivers"]["otlp"]["protocols"]
    # Since collector 0.104 receivers default to localhost, unreachable from other containers.
    if (protocols.get("http") or {}).get("endpoint") != "0.0.0.0:4318":
        problems.append("the collector's OTLP/HTTP receiver does not listen on 0.0.0.0:4318")
    pipelines = config["service"]["pipelines"]
    traces = [spec for key, spec in pipelines.items() if key.split("/")[0] == "traces"]
    if not traces:
        problems.append("no traces pipeline")
    endpoints: list[str] = []
    for pipeline in traces:
        if "otlp" not in pipeline["receivers"]:
            problems.append("a traces pipeline does not receive OTLP")
        for processor in pipeline.get("processors", []):
            if processor not in config.get("processors", {}):
                problems.append(f"undefined processor {processor}")
        for exporter in pipeline["exporters"]:
            if exporter not in config["exporters"]:
                problems.append(f"pipeline uses undefined exporter {exporter}")
                continue
            endpoints.append(str((config["exporters"][exporter] or {}).get("endpoint", "")))
    hosts = {re.sub(r"^\w+://", "", e).split(":", 1)[0] for e in endpoints}
    if not hosts & set(viewers):
        problems.append(f"traces go to {sorted(hosts)}, not to a viewer {sorted(viewers)}")
    return problems


def secret_problems(compose: Compose) -> list[str]:
    """Environment values that hold, or could hold, a literal secret."""
    problems: list[str] = []
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            if value is None:  # passed through from the host; nothing literal in the file
                continue
            # Interpolations masked first: ${VAR:-default} has a colon of its own.
            url_password = URL_PASSWORD.search(INTERPOLATION.sub("\x00", value))
            if LITERAL_SECRET.search(value):
                problems.append(f"{name}.{key} holds what looks like a secret")
            elif any(part in key.upper() for part in SECRET_KEY_PARTS) and not (
                INTERPOLATION.fullmatch(value)
            ):
                problems.append(f"{name}.{key} must come from the environment (${{...}})")
            elif url_password and url_password["password"] != "\x00":
                problems.append(f"{name}.{key} has a literal password in its URL")
    return problems


def dockerfile_problems(text: str) -> list[str]:
    """The final stage installs Handrail (built from pyproject with the folders its symlinks
    point at), holds worker.py, runs it in exec form, and not as root."""
    problems: list[str] = []
    instructions = dockerfile_instructions(text)
    froms = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    if not froms:
        return ["Dockerfile has no FROM"]
    final = instructions[froms[-1] :]
    if instructions[froms[-1]][1].split()[0] != "python:3.11-slim":
        problems.append(f"final stage is {instructions[froms[-1]][1]}, not python:3.11-slim")

    copied = " ".join(args for keyword, args in instructions if keyword == "COPY")
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    builds_here = any(re.search(r"pip (install|wheel)\b.*\s\.(\s|$)", run) for run in runs)
    if not builds_here:
        problems.append("no RUN builds or installs the package from the context (pip ... .)")
    whole_context = re.search(r"(^|\s)\.\s+\.(\s|$)", copied)
    for needed in ("pyproject.toml", "README.md", "handrail", "workflows", "activities"):
        if not whole_context and not re.search(rf"(^|\s){re.escape(needed)}(\s|$)", copied):
            problems.append(f"the build does not copy {needed}")
    final_runs = " ".join(args for keyword, args in final if keyword == "RUN")
    if "pip install" not in final_runs:
        problems.append("the final stage installs nothing")
    final_copies = " ".join(args for keyword, args in final if keyword == "COPY")
    if not whole_context and "worker.py" not in final_copies:
        problems.append("the final stage does not copy worker.py")
    if not whole_context and "examples/store" not in final_copies:
        problems.append("the final stage does not copy examples/store (the app worker.py hosts)")

    users = [args for keyword, args in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("the image runs as root")
    cmds = [args for keyword, args in final if keyword == "CMD"]
    if not cmds:
        problems.append("Dockerfile has no CMD")
    else:
        try:
            cmd = json.loads(cmds[-1])  # exec form only: signals reach Python, not a shell
        except json.JSONDecodeError:
            cmd = None
        if cmd not in (["python", "worker.py"], ["handrail-worker"]):
            problems.append(f"CMD {cmds[-1]} is not the worker in exec form")
    return problems


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Compose:
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
    compose: Compose, compose_schema: dict[str, Any]
) -> None:
    errors = schema_errors(compose, compose_schema)
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(errors)


@pytest.mark.parametrize(
    ("path", "change", "expected"),
    [
        (("postgresql",), lambda s: s.update(helthcheck=s.pop("healthcheck")), "helthcheck"),
        (
            ("temporal", "depends_on", "temporal-schema"),
            lambda d: d.update(condition="service_done"),
            "service_done",
        ),
        (("worker",), lambda s: s.update(stop_grace_period=30), "stop_grace_period"),
    ],
)
def test_schema_check_rejects_broken_files(
    compose: Compose,
    compose_schema: dict[str, Any],
    path: tuple[str, ...],
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    broken = copy.deepcopy(compose)
    node = broken["services"]
    for key in path:
        node = node[key]
    change(node)
    errors = schema_errors(broken, compose_schema)
    assert any(expected in error for error in errors), errors


def test_no_obsolete_version_key(compose: Compose) -> None:
    assert "version" not in compose, "`version:` is obsolete in the Compose Specification"


# --- the stack as it is -------------------------------------------------------------------------


def test_every_image_is_pinned_and_none_is_auto_setup(compose: Compose) -> None:
    assert not image_problems(compose)
    assert DEPRECATED_IMAGE not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_dependencies_exist_and_their_conditions_can_be_met(compose: Compose) -> None:
    assert not dependency_problems(compose)


def test_temporal_runs_on_postgresql_after_its_schema_job(compose: Compose) -> None:
    assert not temporal_problems(compose, read_repo_file)


def test_namespace_and_search_attributes_are_created_before_workers(compose: Compose) -> None:
    assert not namespace_problems(compose, read_repo_file)


def test_temporal_ui_points_at_the_server(compose: Compose) -> None:
    assert not ui_problems(compose)


def test_workers_are_replicated_on_postgresql_state(compose: Compose) -> None:
    assert not worker_problems(compose)
    assert not handrail_database_problems(compose, read_repo_file)


def test_traces_flow_from_workers_through_the_collector_to_a_viewer(compose: Compose) -> None:
    assert not telemetry_problems(compose, read_repo_file)


def test_no_literal_secrets(compose: Compose) -> None:
    assert not secret_problems(compose)
    assert not LITERAL_SECRET.search(COMPOSE_FILE.read_text(encoding="utf-8"))


def test_dockerfile_installs_handrail_and_runs_the_worker() -> None:
    assert not dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8"))


def test_published_host_ports_are_unique(compose: Compose) -> None:
    owners: dict[tuple[int, str], str] = {}
    for name, service in services(compose).items():
        for port in published_ports(service):
            assert port not in owners, f"host port {port} published by {owners[port]} and {name}"
            owners[port] = name
    assert owners, "no ports published at all"
    for name, service in worker_services(compose).items():
        if replicas(service) > 1:  # replicas cannot share a fixed host port
            assert not published_ports(service), f"{name} publishes a port from every replica"


def test_named_volumes_are_declared(compose: Compose) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    for name, service in services(compose).items():
        for volume in named_volumes(service):
            assert volume in declared, f"{name} uses undeclared volume {volume!r}"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", "data", ".git", ".env"):
        assert required in entries, f".dockerignore does not exclude {required}"
    assert any("__pycache__" in entry for entry in entries)


# --- every check can fail -----------------------------------------------------------------------


def _set(path: str, value: object) -> Callable[[Compose], None]:
    """A breakage that sets services.<path> (dot-separated) to ``value`` (None: delete it)."""

    def change(compose: Compose) -> None:
        *parents, last = path.split(".")
        node = compose["services"]
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return change


def _script_edit(path: str, old: str, new: str) -> Reader:
    def read(relative: str) -> str:
        text = read_repo_file(relative)
        if Path(relative).as_posix().lstrip("./") == path:
            assert old in text, f"{old!r} not in {path}"
            return text.replace(old, new)
        return text

    return read


SCHEMA_SCRIPT = "deploy/temporal-schema.sh"
NAMESPACE_SCRIPT = "deploy/temporal-namespace.sh"
COLLECTOR_CONFIG = "deploy/otel-collector.yaml"

Check = Callable[[Compose, Reader], list[str]]


def _compose_only(check: Callable[[Compose], list[str]]) -> Check:
    return lambda compose, read: check(compose)


def broken(name: str, path: str, value: object, check: Check, expected: str) -> Any:
    """A case: services.<path> set to ``value`` (None: deleted); ``check`` reports ``expected``."""
    return pytest.param(_set(path, value), read_repo_file, check, expected, id=name)


def edited(name: str, file: str, old: str, new: str, check: Check, expected: str) -> Any:
    """A case: ``old`` replaced by ``new`` in a mounted file; ``check`` reports ``expected``."""
    return pytest.param(None, _script_edit(file, old, new), check, expected, id=name)


IMAGES = _compose_only(image_problems)
DEPENDENCIES = _compose_only(dependency_problems)
UI = _compose_only(ui_problems)
WORKERS = _compose_only(worker_problems)
SECRETS = _compose_only(secret_problems)
PG_URL = "postgresql+psycopg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgresql:5432/"

BREAKAGES = [
    broken("auto-setup", "temporal.image", "temporalio/auto-setup:1.29.1", IMAGES, "deprecated"),
    broken("latest tag", "jaeger.image", "jaegertracing/jaeger:latest", IMAGES, "not pinned"),
    broken("untagged image", "postgresql.image", "postgres", IMAGES, "no tag"),
    broken(
        "unknown dependency",
        "worker.depends_on.otel",
        {"condition": "service_started"},
        DEPENDENCIES,
        "unknown service",
    ),
    broken("no healthcheck", "postgresql.healthcheck", None, DEPENDENCIES, "no healthcheck"),
    broken("job restarts", "temporal-schema.restart", "unless-stopped", DEPENDENCIES, "restarts"),
    broken(
        "server before schema",
        "temporal.depends_on.temporal-schema",
        {"condition": "service_started"},
        temporal_problems,
        "schema job",
    ),
    broken("server on MySQL", "temporal.environment.DB", "mysql8", temporal_problems, "not Postg"),
    broken(
        "schema job version",
        "temporal-schema.image",
        "temporalio/admin-tools:1.31.0",
        temporal_problems,
        "tag differs",
    ),
    edited(
        "visibility not set up",
        SCHEMA_SCRIPT,
        'sql --db "${VISIBILITY_DBNAME:-temporal_visibility}" setup-schema -v 0.0',
        "",
        temporal_problems,
        "setup-schema the temporal_visibility",
    ),
    edited(
        "visibility from the main schema",
        SCHEMA_SCRIPT,
        "visibility/versioned",
        "temporal/versioned",
        temporal_problems,
        "wrong schema folder",
    ),
    edited(
        "search attribute missing",
        NAMESPACE_SCRIPT,
        "--name HandrailTokens --type Int",
        "",
        namespace_problems,
        "HandrailTokens",
    ),
    edited(
        "search attribute type",
        NAMESPACE_SCRIPT,
        "--name AwaitingReview --type Bool",
        "--name AwaitingReview --type Keyword",
        namespace_problems,
        "AwaitingReview",
    ),
    edited(
        "namespace not created",
        NAMESPACE_SCRIPT,
        "operator namespace create",
        "operator namespace describe",
        namespace_problems,
        "create the namespace",
    ),
    broken(
        "workers before namespace",
        "worker.depends_on.temporal-namespace",
        {"condition": "service_started"},
        namespace_problems,
        "does not wait",
    ),
    broken(
        "UI elsewhere", "temporal-ui.environment.TEMPORAL_ADDRESS", "x:7233", UI, "does not point"
    ),
    broken("one replica", "worker.deploy.replicas", 1, WORKERS, "fewer than two"),
    broken(
        "embedded server",
        "worker.environment.HANDRAIL_EMBEDDED_SERVER",
        "true",
        WORKERS,
        "EMBEDDED_SERVER",
    ),
    broken(
        "state on SQLite",
        "worker.environment.HANDRAIL_STATE_URL",
        "sqlite+aiosqlite:////data/handrail.db",
        WORKERS,
        "not postgresql+psycopg",
    ),
    broken(
        "state in Temporal's database",
        "worker.environment.HANDRAIL_STATE_URL",
        PG_URL + "temporal",
        WORKERS,
        "its own database",
    ),
    broken(
        "state database never created",
        "worker.environment.HANDRAIL_STATE_URL",
        PG_URL + "agents",
        handrail_database_problems,
        "no job creates",
    ),
    broken("state URL unset", "worker.environment.HANDRAIL_STATE_URL", None, WORKERS, "is not set"),
    broken("store URL unset", "worker.environment.HANDRAIL_STORE_URL", None, WORKERS, "is not set"),
    broken(
        "store in Handrail's state database",
        "worker.environment.HANDRAIL_STORE_URL",
        PG_URL + "handrail",
        WORKERS,
        "shares Handrail's state",
    ),
    broken(
        "store database never created",
        "worker.environment.HANDRAIL_STORE_URL",
        PG_URL + "shop",
        handrail_database_problems,
        "no job creates",
    ),
    broken("no app", "worker.environment.HANDRAIL_APP", None, WORKERS, "not module:attribute"),
    broken(
        "an app not in the repository",
        "worker.environment.HANDRAIL_APP",
        "shop.app:APP",
        WORKERS,
        "not in the repository",
    ),
    broken(
        "worker runs the demo",
        "worker.command",
        ["python", "starter.py", "demo"],
        WORKERS,
        "not python worker.py",
    ),
    broken("no time to drain", "worker.stop_grace_period", "5s", WORKERS, "stop_grace_period"),
    broken("worker unchecked", "worker.healthcheck", None, WORKERS, "no healthcheck"),
    broken(
        "metrics not served",
        "worker.environment.HANDRAIL_PROMETHEUS_ADDRESS",
        None,
        WORKERS,
        "does not serve",
    ),
    broken(
        "OTLP to gRPC port",
        "worker.environment.HANDRAIL_OTLP_ENDPOINT",
        "http://otel-collector:4317",
        telemetry_problems,
        "HANDRAIL_OTLP_ENDPOINT",
    ),
    broken("no viewer", "jaeger.image", "nginx:1.27", telemetry_problems, "no trace viewer"),
    edited(
        "traces elsewhere",
        COLLECTOR_CONFIG,
        "endpoint: jaeger:4317",
        "endpoint: tempo:4317",
        telemetry_problems,
        "not to a viewer",
    ),
    edited(
        "receiver on localhost",
        COLLECTOR_CONFIG,
        "endpoint: 0.0.0.0:4318",
        "endpoint: localhost:4318",
        telemetry_problems,
        "0.0.0.0:4318",
    ),
    broken(
        "literal password", "temporal.environment.POSTGRES_PWD", "hunter2", SECRETS, "POSTGRES_PWD"
    ),
    broken(
        "literal password in URL",
        "worker.environment.HANDRAIL_STATE_URL",
        "postgresql+psycopg://temporal:hunter2@postgresql:5432/handrail",
        SECRETS,
        "literal password",
    ),
]


@pytest.mark.parametrize(("change", "read", "check", "expected"), BREAKAGES)
def test_each_check_finds_its_breakage(
    compose: Compose,
    change: Callable[[Compose], None] | None,
    read: Reader,
    check: Check,
    expected: str,
) -> None:
    assert not check(compose, read_repo_file), "the real stack must pass this check"
    copy_ = copy.deepcopy(compose)
    if change is not None:
        change(copy_)
    problems = check(copy_, read)
    assert any(expected in problem for problem in problems), problems


DOCKERFILE_BREAKAGES = [
    ("pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .", "true", "no RUN builds"),
    ("COPY workflows ./workflows", "", "does not copy workflows"),
    ("COPY worker.py starter.py ./", "COPY starter.py ./", "does not copy worker.py"),
    ("COPY examples/store ./examples/store", "", "does not copy examples/store"),
    ('CMD ["python", "worker.py"]', "CMD python worker.py", "exec form"),
    ("USER handrail:handrail", "USER root", "runs as root"),
    (
        "RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels",
        "",
        "installs nothing",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), DOCKERFILE_BREAKAGES)
def test_dockerfile_check_finds_its_breakage(old: str, new: str, expected: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text
    problems = dockerfile_problems(text.replace(old, new))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("OPENAI_API_KEY", "${OPENAI_API_KEY}", True),
        ("POSTGRES_PWD", "${POSTGRES_PASSWORD:-temporal}", True),
        ("OPENAI_API_KEY", None, True),
        ("HANDRAIL_DATA_DIR", "/data", True),
        ("HANDRAIL_STATE_URL", "postgresql+psycopg://u:${PW:-x}@db:5432/h", True),
        ("HANDRAIL_STATE_URL", "postgresql+psycopg://u:pw@db:5432/h", False),
        ("OPENAI_API_KEY", "sk-abcdefghijklmnop", False),
        ("NOTES", "sk-abcdefghijklmnop", False),
        ("POSTGRES_PASSWORD", "hunter2", False),
        ("API_TOKEN", "prefix-${TOKEN}", False),
    ],
)
def test_secret_rule_itself(key: str, value: str | None, ok: bool) -> None:
    problems = secret_problems({"services": {"svc": {"environment": {key: value}}}})
    assert (not problems) is ok, problems


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m30s", 90), ("2m", 120), ("500ms", 0.5)]
)
def test_duration_parsing(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)
