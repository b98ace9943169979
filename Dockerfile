# The idleprobe image: a static binary on an empty base, non-root (UID
# 65532), with the CA bundle, the example config and the alert rules.
#
# Build: docker build -t idleprobe .   (or: podman build -t idleprobe .)
# Run the service:   docker run -p 9958:9958 -v $PWD/idleprobe.yml:/etc/idleprobe/idleprobe.yml:ro -v idleprobe-state:/home/nonroot idleprobe
# Run the responder: docker run -p 8080:8080 -p 9090:9090 idleprobe responder
#
# Without a registry (no base image to pull), deploy/image/build-local.sh
# builds the same final stage from local files (deploy/image/Containerfile.local).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" -o /out/idleprobe ./cmd/idleprobe
# The files of the final stage, as deploy/image/build-local.sh lays them out.
RUN mkdir -p /out/home && \
    echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >/out/passwd && \
    echo 'nonroot:x:65532:' >/out/group

FROM scratch
COPY --from=build /out/passwd /out/group /etc/
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/home /home/nonroot
COPY --from=build /out/idleprobe /usr/local/bin/idleprobe
COPY configs/examples/minimal.yml /etc/idleprobe/idleprobe.yml
COPY configs/alerts/idleprobe.rules.yml /etc/idleprobe/idleprobe.rules.yml
EXPOSE 9958 8080 9090
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/idleprobe"]
CMD ["serve", "--config.file=/etc/idleprobe/idleprobe.yml", "--storage.path=/home/nonroot/idleprobe-state.json"]
