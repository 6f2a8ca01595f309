# Handrail worker image. Built by docker-compose.yml (`docker compose build worker`).
#
# Two stages: the first builds Handrail's wheel from the sources it needs (the package, with the
# workflows/ and activities/ folders its symlinks point at); the second installs that wheel, the
# entry points and the app they host (the store example: the wheel holds no example), and
# nothing else from the checkout.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# pyproject names README.md as the package's readme, so the build needs it.
COPY pyproject.toml README.md ./
COPY handrail ./handrail
COPY workflows ./workflows
COPY activities ./activities
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HANDRAIL_DATA_DIR=/data

WORKDIR /app

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels

# The entry points: thin wrappers over the installed package (handrail.cli.worker and
# handrail.cli.main), the same as the handrail-worker and handrail console scripts; and the app
# they host, importable from /app as examples.store (HANDRAIL_APP in docker-compose.yml names it;
# worker.py hosts it by default). Your own agent's image copies its package here instead.
COPY worker.py starter.py ./
COPY examples/__init__.py ./examples/
COPY examples/store ./examples/store

# Run as an unprivileged user. /data is created here, owned by that user, so a fresh named volume
# mounted on it inherits the ownership.
RUN groupadd --system --gid 10001 handrail \
    && useradd --system --uid 10001 --gid handrail --home-dir /app --no-create-home handrail \
    && mkdir -p /data \
    && chown handrail:handrail /data
USER handrail:handrail

# Exec form: SIGTERM from `docker stop` reaches Python, which drains the worker and exits.
CMD ["python", "worker.py"]
