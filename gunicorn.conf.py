"""gunicorn settings for the `web` process (Procfile); command-line flags override them.

Threaded workers: the worker's main loop keeps telling the arbiter it is alive while requests run in threads, so
`timeout` restarts only a stuck worker and never cuts a long response short. A sync worker is killed `timeout`
seconds into any request, which truncated large CSV exports (status 200 already sent) for clients on slow links.
"""

import os

worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30
