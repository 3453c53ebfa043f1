# One image for every Linju service. The command picks the service:
#   gateway (default)  uvicorn services.gateway.app:create_app    --factory --host 0.0.0.0 --port 8000
#   registry           uvicorn services.registry.app:create_app   --factory --host 0.0.0.0 --port 8001
#   activities         uvicorn services.activities.app:create_app --factory --host 0.0.0.0 --port 8002
#   evaluation         uvicorn services.evaluation.app:create_app --factory --host 0.0.0.0 --port 8003
#   one-shot jobs      linju migrate | linju seed | linju create-user … | linju rotate-keys
# Needs DATABASE_URL (PostgreSQL >= 15); see docker-compose.yml for a complete deployment.
FROM python:3.11-slim

# PYTHONPATH: import `services` from /app (the same tree as migrations/, which `linju migrate`
# finds beside it; LINJU_MIGRATIONS_DIR can point elsewhere).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

RUN groupadd --system --gid 10001 linju \
    && useradd --system --uid 10001 --gid linju --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin linju

# pyproject.toml names README.md as the project's readme, so the build needs it.
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install . \
    && rm -rf build ./*.egg-info
COPY migrations ./migrations

USER linju

EXPOSE 8000

# No curl in slim: ask Python. Compose overrides the URL for the services on 8001–8003.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

CMD ["uvicorn", "services.gateway.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
