# Build stage: compile a release binary against the same Debian as the runtime image.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
RUN mkdir -p src benches tests/it \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in engine discord digest import import_read search; do echo 'fn main() {}' > benches/$b.rs; done \
 && touch tests/it/main.rs \
 && cargo build --release --locked --no-default-features \
 && rm -rf src benches tests
COPY . .
# Without the default `demo` feature: no demo or benchmark data generators in production.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --no-default-features --bin salesbot

# Runtime stage: just the binary and CA certificates, run as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home salesbot
COPY --from=build /src/target/release/salesbot /usr/local/bin/salesbot
USER 10001
# The HTTP API (HTTP_ADDR; the compose file sets 0.0.0.0:8080 inside the container).
EXPOSE 8080
# SIGTERM lets running commands finish and closes the gateway cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/salesbot"]
CMD ["run"]
