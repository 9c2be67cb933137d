# One image for every SWEN role: `swen api | engine | simulate | dashboard` (the command is the argument).
#
#   BASE            a Debian bookworm image with python3 (>= 3.11) and python3-venv; the default is the
#                   official Python image. `make image` builds a local one with debootstrap (docs/DEPLOY.md).
#   TERRAFORM_IMAGE an image holding the terraform binary at /bin/terraform (the official one does); the
#                   engine's pipeline runs `terraform`. `make image` makes it from the terraform on PATH.
ARG BASE=docker.io/library/python:3.11-slim-bookworm
ARG TERRAFORM_IMAGE=docker.io/hashicorp/terraform:1.11.4

FROM ${TERRAFORM_IMAGE} AS terraform

# --- build: a virtualenv with SWEN and its runtime dependencies (no dev tools) ------------------------
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, in their own layer: a change to the code alone reuses it.
COPY pyproject.toml ./
RUN python3 -m venv /opt/swen \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && /opt/swen/bin/pip install --no-cache-dir -r requirements.txt
COPY README.md ./
COPY src ./src
RUN /opt/swen/bin/pip install --no-cache-dir --no-deps .

# --- runtime -----------------------------------------------------------------------------------------
FROM ${BASE}
# git for the infra repository the engine commits to; libatomic1 for regopy's native library (the
# policy gate); versions come with the pinned bookworm base.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates libatomic1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 swen \
    && useradd --system --uid 10001 --gid swen --home-dir /var/lib/swen --create-home --shell /usr/sbin/nologin swen
COPY --from=terraform /bin/terraform /usr/local/bin/terraform
COPY --from=build /opt/swen /opt/swen
ENV PATH=/opt/swen/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SWEN_HOME=/var/lib/swen \
    SWEN_API_HOST=0.0.0.0 \
    SWEN_DASHBOARD_HOST=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/swen
# Fails the build if an import or a binary the CLI needs at start (git) is missing, or if the policy
# gate's native library (regopy) cannot load.
RUN swen --help > /dev/null && python3 -c 'import swen.pipeline.policy'
EXPOSE 8000 8501
ENTRYPOINT ["swen"]
CMD ["api"]
