# Sourced by the benchmark scripts: nginx_conf DIR PORT CPU... writes DIR/nginx.conf for an
# nginx that answers "hello from nginx" on 127.0.0.1:PORT with one worker pinned to each CPU.
nginx_conf() {
  local dir=$1 port=$2; shift 2
  local masks="" c mask i
  # worker_cpu_affinity takes a bit mask per worker: CPU c is a 1 followed by c zeros.
  for c in "$@"; do mask=1; for ((i = 0; i < c; i++)); do mask+=0; done; masks+=" $mask"; done
  cat > "$dir/nginx.conf" <<CONF
worker_processes $#;
worker_cpu_affinity$masks;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port reuseport; location / { return 200 "hello from nginx\n"; } }
}
CONF
}
