# A throwaway PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only.
# `start_postgres` sets TEST_DATABASE_URL; `stop_postgres` stops the server and removes the folder.

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

# initdb and postgres refuse to run as root: run them as the package's `postgres` user then.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    PG_DIR="$(mktemp -d /tmp/concert-pg.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U concert --auth=trust --no-sync >/dev/null
    # Durable settings as in production (fsync on); enough connections for parallel tests.
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w start \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=600 -c shared_buffers=256MB" >/dev/null
    TEST_DATABASE_URL="postgres://concert@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
    echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT ($PG_DIR)"
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
        rm -rf "$PG_DIR"
    fi
}
