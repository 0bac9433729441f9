"""Telling pull requests what became of them: a second reader of the request log.

It reads the `log` topic in a consumer group of its own (`gateway-github`), so the request log and
the reports never hold each other up, and turns the entries of requests on GitHub queues into
commit statuses on the pinned head (queued, building, landed, failed), a comment on failure (with
the failing build's log tail and a link) and on landing, and closes a landed pull request naming
the commit it landed as. GitHub's rate limits and 5xx are retried with the queue's backoff; a
call GitHub refuses for good is logged and dead-lettered, and its reconciler drops it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import structlog

from sq.platform.changeuri import ChangeURIError, GitHubChangeURI, parse
from sq.platform.github import GitHubClient, StatusState
from sq.platform.messagequeue import Delivery
from sq.service.settings_github import GitHubConfig
from sq.submitqueue.gateway.logsink import entries_of
from sq.submitqueue.gateway.materializer import Materializer, UnknownRequestError
from sq.submitqueue.gateway.model import LogEntry, Summary
from sq.submitqueue.gateway.status import is_terminal
from sq.submitqueue.gateway.storage import RequestLogStore

log = structlog.get_logger("sq.github")

CONSUMER_GROUP = "gateway-github"
LOG_TAIL_LINES = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportedQueue:
    """A GitHub queue as the reporter needs it."""

    name: str
    target: str
    config: GitHubConfig
    client: GitHubClient


@dataclass(frozen=True, slots=True, kw_only=True)
class _Report:
    state: StatusState
    description: str
    target_url: str = ""
    comment: str = ""
    close: bool = False


class GitHubReporter:
    name = "github-report"

    def __init__(
        self, store: RequestLogStore, queues: Callable[[str], ReportedQueue | None]
    ) -> None:
        self._store = store
        self._materializer = Materializer(store)
        self._queues = queues

    async def process(self, delivery: Delivery) -> None:
        entries = entries_of(delivery)
        queue = self._queues(entries[0].queue)
        if queue is None:
            return
        # Recorded here too (idempotent per entry key), so the summary read next has seen at
        # least every entry this reporter has, and a `closed` webhook after a landing finds the
        # landing in the history and cancels nothing.
        try:
            summary = await asyncio.to_thread(self._materializer.persist_all, entries)
        except UnknownRequestError:
            return
        for entry in entries:
            await self._report_entry(queue, entry, summary)

    async def _report_entry(self, queue: ReportedQueue, entry: LogEntry, summary: Summary) -> None:
        report = await self._report(queue, entry, summary)
        if report is None:
            return
        if report.comment:
            marker = f"<!-- submitqueue {summary.request_id} {entry.key} -->"
            report = dataclasses.replace(report, comment=f"{report.comment}\n\n{marker}")
        if report.state is StatusState.PENDING and is_terminal(summary.status):
            return  # a late progress entry must not hide the verdict
        for change in _pull_requests(summary.change_uris):
            await self._send(queue, change, report)

    async def _report(
        self, queue: ReportedQueue, entry: LogEntry, summary: Summary
    ) -> _Report | None:
        link = _request_link(queue.config, summary)
        if entry.type == "event":
            return self._event_report(queue, entry, summary, link)
        if entry.status == "started":
            return _Report(
                state=StatusState.PENDING,
                description=f"queued as {summary.request_id}",
                target_url=link,
            )
        if entry.status == "error":
            return await self._failure_report(queue, entry, summary, link)
        if entry.status == "cancelled":
            reason = entry.metadata.get("reason", "") or entry.last_error
            return _Report(
                state=StatusState.ERROR,
                description=f"cancelled: {reason}" if reason else "cancelled",
                target_url=link,
            )
        return None

    def _event_report(
        self, queue: ReportedQueue, entry: LogEntry, summary: Summary, link: str
    ) -> _Report | None:
        if entry.event == "building":
            build_id = entry.metadata.get("build_id", "")
            return _Report(
                state=StatusState.PENDING,
                description=f"building {build_id}".strip(),
                target_url=_build_link(queue.config, build_id) or link,
            )
        if entry.event == "merged":
            commits = [c for c in entry.metadata.get("commits", "").split(",") if c]
            if not commits:
                return None
            landed = commits[-1]
            branch = queue.target.removeprefix("refs/heads/")
            return _Report(
                state=StatusState.SUCCESS,
                description=f"landed on {branch} as {landed[:12]}",
                target_url=link,
                comment=(
                    f"Landed on `{branch}` as {landed} by the submit queue "
                    f"(request {summary.request_id}): the tree that landed is the tree CI built."
                ),
                close=True,
            )
        return None

    async def _failure_report(
        self, queue: ReportedQueue, entry: LogEntry, summary: Summary, link: str
    ) -> _Report:
        reason = entry.last_error or entry.metadata.get("reason", "") or "failed"
        history = await asyncio.to_thread(self._store.history, summary.queue, [summary.request_id])
        failed = [e for e in history.get(summary.request_id, []) if e.event == "build-failed"]
        lines = [f"The submit queue could not land this pull request ({summary.request_id}).", ""]
        lines.append(f"Reason: {reason}")
        target_url = link
        if failed:
            build = failed[-1].metadata
            build_id = build.get("build_id", "")
            target_url = _build_link(queue.config, build_id) or link
            lines += ["", f"Build `{build_id}` failed."]
            if target_url:
                lines.append(f"Full log: {target_url}")
            tail = _tail(build.get("log_tail", ""))
            if tail:
                lines += ["", "Last lines of the build log:", "", "```", tail, "```"]
        return _Report(
            state=StatusState.FAILURE,
            description=f"failed: {reason}",
            target_url=target_url,
            comment="\n".join(lines),
        )

    async def _send(self, queue: ReportedQueue, change: GitHubChangeURI, report: _Report) -> None:
        client = queue.client
        assert change.sha is not None
        await client.create_status(
            change.org,
            change.repo,
            change.sha,
            state=report.state,
            context=queue.config.status_context,
            description=report.description,
            target_url=report.target_url,
        )
        if report.comment and not await _commented(client, change, report.comment):
            await client.create_comment(change.org, change.repo, change.number, report.comment)
        if report.close:
            await client.close_pull(change.org, change.repo, change.number)


class GitHubReportReconciler:
    """DLQ reconciler: a report GitHub refused for good is dropped, and said so in the log."""

    name = "github-report-dlq"

    async def process(self, delivery: Delivery) -> None:
        log.warning(
            "a GitHub report was not delivered",
            message_id=delivery.message_id,
            error=delivery.message.last_error,
        )


async def _commented(client: GitHubClient, change: GitHubChangeURI, comment: str) -> bool:
    """Whether a redelivered report already left this comment (its last line is a marker
    naming the request and the log entry)."""
    marker = comment.rsplit("\n", 1)[-1]
    bodies = await client.comment_bodies(change.org, change.repo, change.number)
    return any(marker in body for body in bodies)


def _pull_requests(uris: tuple[str, ...]) -> list[GitHubChangeURI]:
    found = []
    for uri in uris:
        try:
            parsed = parse(uri)
        except ChangeURIError:
            continue
        if isinstance(parsed, GitHubChangeURI) and parsed.sha is not None:
            found.append(parsed)
    return found


def _request_link(config: GitHubConfig, summary: Summary) -> str:
    if not config.public_url:
        return ""
    queue, _, number = summary.request_id.rpartition("/")
    return f"{config.public_url}/api/v1/requests/{queue}/{number}/history"


def _build_link(config: GitHubConfig, build_id: str) -> str:
    if not config.public_url or not build_id:
        return ""
    return f"{config.public_url}/api/v1/builds/log?build_id={quote(build_id, safe='')}"


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-LOG_TAIL_LINES:]
    return "\n".join(lines).replace("```", "`\u200b``")


def queue_lookup(queues: Mapping[str, ReportedQueue]) -> Callable[[str], ReportedQueue | None]:
    return queues.get
