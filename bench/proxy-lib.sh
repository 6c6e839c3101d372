# The set-up bench/proxy.sh and bench/proxy-cost.sh share (sourced): a
# temp dir removed at exit with every process started, the nginx backend
# (1 worker, a 23-byte body), HAProxy and `slipway proxy` in front of it.
# The caller sets BACK (the backend's port) before nginx_backend.

need() { # need PROGRAM...: exits 1 naming the first one missing
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || { echo "$0 needs $p (scripts/deps.sh installs it)" >&2; exit 1; }
	done
}

T=$(mktemp -d "/tmp/slipway-bench-$(basename "$0" .sh).XXXXXX")
PIDS=()
cleanup() {
	local p f
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for f in "$T"/nginx-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

nginx_conf() { # nginx_conf NAME SERVER_BLOCK: an nginx of 1 worker with that http block
	cat >"$T/$1.conf" <<CONF
worker_processes 1;
pid $T/$1.pid;
error_log $T/$1.err;
events { worker_connections 20000; }
http {
  access_log off;
  $2
}
CONF
	nginx -c "$T/$1.conf" -p "$T"
}

nginx_backend() {
	nginx_conf nginx-backend "server { listen 127.0.0.1:$BACK; keepalive_requests 1000000; location / { return 200 'hello from the backend\n'; } }"
}

haproxy_start() { # haproxy_start NAME THREADS PORT: sets HPID_<NAME>
	cat >"$T/$1.cfg" <<CFG
global
  nbthread $2
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$3
  default_backend b
backend b
  server s1 127.0.0.1:$BACK
CFG
	haproxy -f "$T/$1.cfg" -D -p "$T/$1.pid"
	PIDS+=("$(cat "$T/$1.pid")")
	printf -v "HPID_$1" '%s' "$(cat "$T/$1.pid")"
}

slipway_start() { # slipway_start NAME PORT BINARY [PROXY_ARGS...]: sets SPID_<NAME>
	local name=$1 port=$2 bin=$3
	shift 3
	mkdir -p "$T/$name"
	(ulimit -n 19000; exec "$bin" proxy --state-dir "$T/$name" "$@" >"$T/$name.log" 2>&1) &
	PIDS+=("$!")
	printf -v "SPID_${name//-/_}" '%s' "$!"
	for _ in $(seq 1 100); do [ -S "$T/$name/proxy.sock" ] && break; sleep 0.05; done
	curl -fsS --unix-socket "$T/$name/proxy.sock" -X PUT http://proxy/v1/table -d @- >/dev/null <<JSON
{"version": 1, "routes": [{"app": "bench", "listen": "127.0.0.1:$port", "host": null,
 "pathPrefix": "/", "sticky": false, "headerRoutes": [],
 "groups": [{"revision": 1, "weight": 100, "backends": [{"id": "b1", "addr": "127.0.0.1:$BACK"}]}]}]}
JSON
}

serving() { # serving PORT...: waits (5 s at most each) until each answers
	local port
	for port in "$@"; do
		for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.05; done
	done
}
