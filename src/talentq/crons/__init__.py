"""The work behind the cron entries, one module per area; ``talentq.cron`` lists the entries."""
