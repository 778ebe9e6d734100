"""``make demo``: a dozen sample outlets replayed on 127.0.0.1, a local mailbox, and the
real daemon polling them (``python -m aggregator.demo``; see docs/cli.md, "Demo")."""
