# convosync-server in a container: packs on a volume, accounts in SQLite on the same volume.
#   docker build -t convosync-server .
#   docker run -p 8000:8000 -v convosync-data:/data convosync-server
FROM swift:6.2-bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      zlib1g-dev libdeflate-dev libzstd-dev libsqlite3-dev pkg-config >/dev/null
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product convosync-server --product convosync \
 && mkdir /out && cp .build/release/convosync-server .build/release/convosync /out/

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libdeflate0 libzstd1 zlib1g libsqlite3-0 libcurl4 ca-certificates tzdata >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data --shell /usr/sbin/nologin convosync \
 && mkdir -p /data && chown convosync /data
COPY --from=build /usr/lib/swift/linux/*.so /usr/lib/swift/linux/
COPY --from=build /out/ /usr/local/bin/
ENV LD_LIBRARY_PATH=/usr/lib/swift/linux CONVOSYNC_DATA_DIR=/data
USER convosync
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["convosync-server"]
CMD ["serve", "--data-dir", "/data", "--listen", "0.0.0.0:8000"]
