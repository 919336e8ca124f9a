# dualnova: the Slack bot's runtime image.
# Build context: the repository root; .dockerignore admits only pyproject.toml,
# bot/, retrieval/ and kernel/. Built by `cdk deploy` (infra/service.py) for linux/amd64.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a self-contained virtualenv with the app and its dependencies ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that this slow layer is reused
# until the dependency list changes. Every dependency ships manylinux wheels for
# CPython 3.11 on x86_64, so no compiler is needed even here.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

# Then the app itself (packages bot, retrieval and kernel, console script `dualnova`).
COPY bot ./bot
COPY retrieval ./retrieval
COPY kernel ./kernel
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import bot, retrieval, kernel, llama_index.core" \
    && dualnova --help > /dev/null

# --- runtime: the venv on a clean slim image, run as an unprivileged user ---------
FROM ${PYTHON_IMAGE} AS runtime
# One BLAS thread: vector search is one small matrix product per question, and extra
# BLAS threads only fight the answer threads for the task's CPU (p95 at 100k: 31 -> 21 ms).
# Two malloc arenas keep many short-lived threads from growing the heap.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPENBLAS_NUM_THREADS=1 \
    MALLOC_ARENA_MAX=2
RUN groupadd --system --gid 10001 dualnova \
    && useradd --system --uid 10001 --gid dualnova --home-dir /home/dualnova \
       --create-home --shell /usr/sbin/nologin dualnova \
    && install -d -o dualnova -g dualnova /home/dualnova/.dualnova
# ^ the state file and local index live there: a named volume mounted on it starts with this
#   folder's owner, so uid 10001 can write (`docker run -v dualnova-data:/home/dualnova/.dualnova`).
# Same base image in both stages, so the venv's interpreter symlinks stay valid.
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/dualnova

# Exits 0 only while the Socket Mode connection is up. ECS runs the same command
# from the task definition; this one serves `docker run` and compose. It imports only
# the standard library (bot/entry.py -> bot/health.py): ~20 ms of CPU, ~12 MB per run.
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["dualnova", "health"]
CMD ["dualnova", "serve"]
