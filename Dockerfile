# hitl-bot for AWS Lambda (container image on the custom runtime base).
#
#   docker build -t hitl-bot .        (or: ./build_and_deploy.sh build)
#
# Stages: chef (toolchain), planner (dependency recipe), builder (cached
# dependency layer, then the binary), runtime (provided.al2023 + the binary).
# The builder is Amazon Linux 2023 too, so the binary links against the
# same glibc it runs on. The target is x86_64-unknown-linux-gnu, the one CI
# builds with `cargo build --release -p hitl-bot`.

ARG RUST_VERSION=1.95.0

FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS chef
ARG RUST_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3041
RUN dnf install -y --setopt=install_weak_deps=False gcc gcc-c++ make tar gzip \
    && dnf clean all
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}" \
    && cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer: rebuilt only when Cargo.toml or Cargo.lock change.
RUN cargo chef cook --release --locked -p hitl-bot --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p hitl-bot \
    && strip target/release/hitl-bot

FROM public.ecr.aws/lambda/provided:al2023 AS runtime
#checkov:skip=CKV_DOCKER_2:Lambda ignores HEALTHCHECK; the runtime API tracks the function's health.
#checkov:skip=CKV_DOCKER_3:Lambda runs the image as its own unprivileged user whatever USER says.
LABEL org.opencontainers.image.title="hitl-bot" \
      org.opencontainers.image.description="Human approval for AI agents' risky tool calls: the approval service on AWS Lambda" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/hitl-dev/hitl"
COPY --from=builder /src/target/release/hitl-bot /var/runtime/bootstrap
# The Lambda runtime passes the image command as _HANDLER: api, tasks,
# router or drain (terraform/lambda.tf sets it per function).
CMD ["api"]
