"""gunicorn settings for production: ``gunicorn -c python:creditfactory.gunicorn_conf creditfactory.wsgi:app``.

Every value can be overridden by gunicorn's own ``GUNICORN_CMD_ARGS`` or by the environment variables below,
which the Helm chart sets from its values.
"""

from __future__ import annotations

import gc
import multiprocessing
import os

#: CPUs this process may use: in a container os.cpu_count() sees the node's, so the chart passes the pod's CPU
#: limit (downward API, rounded up to whole cores) as CPU_LIMIT.
cpus = int(os.environ.get("CPU_LIMIT") or multiprocessing.cpu_count())
#: Sync workers, 2 x CPUs + 1 (gunicorn's rule of thumb for I/O-bound apps), unless WEB_CONCURRENCY says so.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * cpus + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
#: Seconds in-flight requests get to finish after SIGTERM (the pod's terminationGracePeriodSeconds is larger).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
keepalive = 5
#: Recycle workers now and then, jittered so they never restart together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# The app trusts X-Forwarded-* itself (CREDITFACTORY_TRUSTED_PROXIES hops, werkzeug ProxyFix), so gunicorn's own
# forwarded-header handling stays off: one place decides which proxy to believe.
forwarded_allow_ips = ""
accesslog = "-"
errorlog = "-"
# Each worker builds its own app: database pools and the job broker's connections must never be shared across
# a fork, and a worker that dies takes nothing of the master's with it.
preload_app = False
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server) -> None:
    """Start each server with an empty multi-process metrics directory (stale files would add old samples)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))


def post_worker_init(worker) -> None:
    """Leave what the worker built at start (the app, its modules and metadata, the tenant registry: about 280,000
    objects) out of the garbage collector's full passes. Without this a full pass walked them every thousand
    requests or so and held that worker for about 125 ms, a stall the slowest requests waited out."""
    gc.freeze()


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multi-process metrics (PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
