# The wschaos binary in a container, for the Kubernetes manifests of deploy/kubernetes (the mock, the shards
# and the merge all run it):
#
#   docker build -t wschaos:latest .
#
# The runtime image keeps a shell and coreutils: the shard and merge Jobs use sh, ls and timeout.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin wschaos

FROM debian:bookworm-slim
COPY --from=build /src/target/release/wschaos /usr/local/bin/wschaos
ENTRYPOINT ["wschaos"]
