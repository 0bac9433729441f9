"""`sq stovepipe …` against the HTTP API served in-process: the promotion ref's live value,
full URIs in `--json` and 12-digit shas in human output, and the per-project queries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from sq.platform.build import BuildState
from sq.service.access import Access
from sq.service.cli.common import EXIT_FAILED, EXIT_OK
from sq.service.cli.stovepipe import stovepipe
from sq.service.http import HttpServer, build_app
from sq.stovepipe import api
from sq.stovepipe.deps import ProjectSetup, QueueSetup
from sq.stovepipe.extension.projectmapper.glob import GlobProjectMapper
from support.stovepipe import Q, Stovepipe

pytestmark = pytest.mark.anyio

SHAS = [f"{n:x}" * 40 for n in range(1, 4)]
URIS = [f"git://example.com/monorepo/refs%2Fheads%2Fmain/{sha}" for sha in SHAS]


class Cli:
    def __init__(self, sp: Stovepipe, addr: str) -> None:
        self.sp, self.addr = sp, addr

    async def __call__(self, *args: str) -> Result:
        argv = [*args, "--addr", self.addr]
        return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(stovepipe, argv))

    async def json(self, *args: str) -> dict[str, object]:
        result = await self(*args, "--json")
        assert result.exit_code in (EXIT_OK, EXIT_FAILED), result.output
        answer: dict[str, object] = json.loads(result.stdout)
        return answer


@pytest.fixture
async def cli(tmp_path: Path) -> AsyncIterator[Cli]:
    setup = QueueSetup(
        name=Q,
        full_command="make",
        projects=(ProjectSetup(name="a", command="make -C a"), ProjectSetup(name="b")),
    )
    sp = Stovepipe(tmp_path, setup=setup, mapper=GlobProjectMapper({"a": ["a"], "b": ["b"]}))
    sp.sc.refs["a"] = "refs/heads/verified-a"
    await sp.start()
    server = HttpServer(
        build_app([api.router(sp.ingester)], ready=lambda: True, access=Access()), "127.0.0.1", 0
    )
    await server.start()
    try:
        yield Cli(sp, f"http://127.0.0.1:{server.port}")
    finally:
        await server.stop()
        await sp.stop()


async def test_status_shows_where_the_promotion_ref_points_now(cli: Cli) -> None:
    before = await cli("status", Q)
    assert "promotion ref  refs/heads/verified unset" in before.stdout
    await cli.sp.push_and_ingest(URIS[0])
    await cli.sp.settle()
    after = await cli("status", Q)
    assert f"promotion ref  refs/heads/verified at {SHAS[0][:12]}" in after.stdout
    assert f"project a            last green {SHAS[0][:12]}" in after.stdout
    answer = await cli.json("status", Q)
    assert (answer["promotion_ref"], answer["promotion_uri"]) == ("refs/heads/verified", URIS[0])
    projects = {p["project"]: p for p in answer["projects"]}  # type: ignore[attr-defined]
    assert projects["a"]["promotion_uri"] == URIS[0]
    assert projects["b"]["promotion_ref"] is None


async def test_json_carries_full_uris_and_humans_get_twelve_digits(cli: Cli) -> None:
    ingested = await cli("ingest", Q)
    assert ingested.exit_code == EXIT_FAILED  # the fake repository has no commit yet
    cli.sp.sc.push(URIS[0])
    ingested = await cli("ingest", Q)
    assert ingested.stdout.split() == [f"{Q}/1", SHAS[0][:12]]
    await cli.sp.settle()
    assert (await cli.json("ingest", Q))["uri"] == URIS[0]
    for args in (("greenness", Q, URIS[0]), ("greenness", Q, SHAS[0])):
        human = await cli(*args)
        assert (human.exit_code, human.stdout.split()) == (EXIT_OK, ["green", SHAS[0][:12]])
        assert (await cli.json(*args))["uri"] == URIS[0]
    history = await cli("history", Q)
    assert SHAS[0][:12] in history.stdout and SHAS[0] not in history.stdout
    [row] = (await cli.json("history", Q))["requests"]  # type: ignore[misc]
    assert row["uri"] == URIS[0]


async def test_project_queries(cli: Cli) -> None:
    sp = cli.sp
    await sp.push_and_ingest(URIS[0])
    await sp.settle()
    sp.runner.outcomes[URIS[1]] = BuildState.FAILED
    sp.sc.push(URIS[1], files=["b/x"])
    await sp.ingester.ingest(Q)
    await sp.settle()
    await sp.advance(2)
    a_at_1 = await cli("green", Q, "--project", "a", "--uri", URIS[1])
    b_at_1 = await cli("green", Q, "--project", "b", "--uri", SHAS[1])
    assert (a_at_1.exit_code, b_at_1.exit_code) == (EXIT_OK, EXIT_FAILED)
    assert b_at_1.stdout.split() == ["broken", SHAS[1][:12]]
    assert (await cli("green", Q, "--project", "b", "--uri", SHAS[2])).exit_code == EXIT_FAILED
    latest = {p: await cli.json("green", Q, "--project", p) for p in ("a", "b")}
    assert (latest["a"]["uri"], latest["b"]["uri"]) == (URIS[1], URIS[0])
    assert (await cli("green", Q)).stdout.strip() == SHAS[0][:12]
    rows = (await cli.json("history", Q, "--project", "b"))["requests"]
    assert [(r["uri"], r["degree"]) for r in rows] == [(URIS[1], 1.0), (URIS[0], 0.0)]  # type: ignore[attr-defined]
    unknown = await cli("green", Q, "--project", "zz")
    assert unknown.exit_code == EXIT_FAILED and "unknown_project" in unknown.stderr
