"""GitHub wiring: tokens and clients per queue, the webhook that queues pull requests, and the
reporter that tells pull requests what became of them (doc/github.md)."""
