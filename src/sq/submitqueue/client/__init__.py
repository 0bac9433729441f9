"""The gateway's client: HTTP calls (`http`), request trails (`trail`), rich views (`render`,
`watch`). The `sq` commands in `sq.service.cli.client` are thin shells over these."""
