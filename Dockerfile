# syntax=docker/dockerfile:1
# Latchkey: a static binary (no cgo: SQLite is pure Go) on a minimal, non-root base image.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/latchkey ./cmd/latchkey
# A data directory the non-root user owns, for SQLite or the example app's volume.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/latchkey /usr/local/bin/latchkey
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
EXPOSE 8080
ENV LATCHKEY_LISTEN=:8080
ENTRYPOINT ["/usr/local/bin/latchkey"]
CMD ["serve"]
