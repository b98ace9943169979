# Build: docker build -t idleprobe .
# Run the service:   docker run -p 9958:9958 -v $PWD/idleprobe.yml:/etc/idleprobe/idleprobe.yml -v idleprobe-state:/home/nonroot idleprobe
# Run the responder: docker run -p 8080:8080 -p 9090:9090 idleprobe responder
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" -o /out/idleprobe ./cmd/idleprobe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idleprobe /usr/local/bin/idleprobe
COPY configs/examples/minimal.yml /etc/idleprobe/idleprobe.yml
COPY configs/alerts/idleprobe.rules.yml /etc/idleprobe/idleprobe.rules.yml
EXPOSE 9958 8080 9090
USER nonroot
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/idleprobe"]
CMD ["serve", "--config.file=/etc/idleprobe/idleprobe.yml", "--storage.path=/home/nonroot/idleprobe-state.json"]
