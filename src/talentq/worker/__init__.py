"""The worker: its loop (``loop``: arq's ``Worker``, made to keep its promises under faults) and how it
is built and started (``boot``: ``WorkerSettings``, startup and shutdown, the event loop)."""
