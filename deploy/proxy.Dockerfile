# The reverse proxy of compose.yaml: Debian's HAProxy (the package the tests run), as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/*
USER haproxy
# -W: master-worker (reloads on SIGUSR2), -db: in the foreground, logs to stderr
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
