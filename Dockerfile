# Handrail worker image. Built by docker-compose.yml (`docker compose build worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HANDRAIL_DATA_DIR=/data

WORKDIR /app

# .dockerignore keeps the venv, local data, caches, .git and any .env (secrets) out of the image.
COPY . .
RUN pip install --no-cache-dir .

# Run as an unprivileged user. /data is created here, owned by that user, so a fresh named volume
# mounted on it inherits the ownership.
RUN groupadd --system --gid 10001 handrail \
    && useradd --system --uid 10001 --gid handrail --home-dir /app --no-create-home handrail \
    && mkdir -p /data \
    && chown handrail:handrail /data
USER handrail:handrail

CMD ["python", "worker.py"]
