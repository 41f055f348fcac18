"""gunicorn settings for `make serve` (docs/deploy.md); every value from the environment."""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Sync workers: CPU-bound requests that each hold one database connection.
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count() * 2)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "500"))
# Django logs JSON to stdout; gunicorn's own error log goes there too, its access log is off
# (the request id and status are in Django's lines).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
limit_request_line = 8190
limit_request_field_size = 16380
# gunicorn 27's control socket lives in the user's home by default and is shared by every
# gunicorn of that user; the back office doesn't use it.
control_socket_disable = True
