# The mfw worker image: the one generic image every pod runs. It holds only
# the `mfw` binary; a flow's code reaches a pod as its component, fetched
# from the datastore by hash, so one image runs every flow. See
# docs/kubernetes.md.
#
# Build and push it, then give runs the pushed digest, not the tag:
#
#   docker build -t registry.example.com/mfw-worker:0.1.0 .
#   docker push registry.example.com/mfw-worker:0.1.0
#   docker buildx imagetools inspect registry.example.com/mfw-worker:0.1.0   # its digest
#   mfw run flow --with kubernetes --datastore s3://bucket/prefix \
#       --kubernetes-image registry.example.com/mfw-worker@sha256:<digest> \
#       --kubernetes-secret mfw-datastore
#
# (`docker push` prints the digest too.) Each task records the image it ran
# in; mfw warns when the image is not pinned by digest.
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

# The builder: rustc 1.95.0, the workspace's rust-version, on Debian
# bookworm, the runtime's release, so the binary links against the glibc the
# runtime has (2.36).
# The digest pins the base so every pod runs the same bytes: a tag moves when
# it is rebuilt. To update it, read the tag's current digest with
# `docker buildx imagetools inspect rust:1.95.0-slim-bookworm` and replace
# the one below.
FROM rust:1.95.0-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS builder
WORKDIR /src
# The whole workspace: cargo reads every member's manifest (and the
# benchmark and test paths they name), and the CLI's build script embeds
# wit/flow.wit and the Python SDK's sources. .dockerignore keeps out
# target/, .git and caches.
COPY . .
# The image's gcc is all the C the dependencies need (aws-lc-sys and ring
# build with the cc crate). target/ is a cache mount, so the binary is
# copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mfw-cli \
    && install -D -m 0755 target/release/mfw /out/mfw

# The runtime: the binary, CA certificates (TLS to the datastore and the
# API server) and an unprivileged user.
# The digest pins the base so every pod runs the same bytes: a tag moves when
# it is rebuilt. To update it, read the tag's current digest with
# `docker buildx imagetools inspect debian:bookworm-slim` and replace the one
# below.
FROM debian:bookworm-slim@sha256:7b140f374b289a7c2befc338f42ebe6441b7ea838a042bbd5acbfca6ec875818
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mfw \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/mfw --create-home \
        --shell /usr/sbin/nologin mfw \
    && install -d -o 10001 -g 10001 -m 0755 /var/cache/mfw
COPY --from=builder /out/mfw /usr/local/bin/mfw
# Compiled components (MFW_CACHE_DIR/compiled, keyed by the component's hash
# and the engine) and the datastore's blob cache, both writable by mfw.
ENV HOME=/home/mfw \
    MFW_CACHE_DIR=/var/cache/mfw \
    MFW_BLOB_CACHE=/var/cache/mfw/blobs
WORKDIR /home/mfw
# Numeric, so `runAsNonRoot` can verify it.
USER 10001:10001
# Pods give the whole command: `mfw --datastore ... worker ...`, or
# `mfw --datastore ... run package:<hash> ...` for a scheduled flow.
ENTRYPOINT []
CMD ["mfw", "--help"]
