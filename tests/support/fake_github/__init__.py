"""A local GitHub stand-in: the REST endpoints the queue calls, git over smart HTTP, webhooks.

`FakeGitHub` serves `http://127.0.0.1:PORT` (API under `/api/v3`, repositories at
`/OWNER/REPO`), records statuses, comments and closures, and sends signed webhooks to a URL.
"""

from support.fake_github.server import FakeGitHub, FakePull, Recorded

__all__ = ["FakeGitHub", "FakePull", "Recorded"]
