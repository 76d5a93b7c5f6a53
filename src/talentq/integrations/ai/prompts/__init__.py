"""Each AI capability's prompt, request and answer model, by area, and the ``Capability`` that joins
them to the domain's rules: mail (classify, extract), deals (pricing, replies, contracts),
agents (an agent task's plan) and outreach (pitches, strategy, creator fit, bundles)."""
