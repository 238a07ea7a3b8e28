# syntax=docker/dockerfile:1
# A small image that runs `lotzero serve` on its embedded defaults:
#   docker build -t lotzero . && docker run -p 8080:8080 lotzero
# The runtime image carries the PostgreSQL server, which lotzero starts
# itself; it runs as an unprivileged user, so PostgreSQL needs no user switch.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/lotzero ./cmd/lotzero

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/lotzero lotzero \
 && mkdir -p /data && chown lotzero:lotzero /data
COPY --from=build /out/lotzero /usr/local/bin/lotzero
USER lotzero
ENV LOTZERO_ADDR=:8080 \
    LOTZERO_DATA_DIR=/data/postgres \
    PATH=/usr/lib/postgresql/15/bin:$PATH
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["lotzero"]
CMD ["serve"]
