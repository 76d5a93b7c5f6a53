"""Developer tooling, never imported by the worker or the client: the embedded Redis and
PostgreSQL of ``talentq dev`` and the sample agency it (and ``talentq seed``) creates."""
