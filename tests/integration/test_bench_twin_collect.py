"""The twin's driver outlives a status read the gateway fails (a loaded PostgreSQL refusing the
gateway a connection answers 500): it reads again at its next poll instead of ending the run."""

from __future__ import annotations

import httpx2
import pytest

from pipeline_stack import QUEUE
from sq.service.settings_twin import TwinConfig
from sq.service.twin import workload_of
from twin_stack import TwinSetup, _Driver

pytestmark = pytest.mark.anyio

REQUEST = f"{QUEUE}/1"


async def test_a_failed_status_read_is_read_again_at_the_next_poll() -> None:
    answers = [httpx2.Response(500, json={"error": "internal"})]

    def gateway(request: httpx2.Request) -> httpx2.Response:
        if answers:
            return answers.pop()
        row = {"id": REQUEST, "status": "landed", "status_at_ms": 2_000, "last_error": ""}
        return httpx2.Response(200, json={"requests": [row]})

    twin = TwinConfig(
        scenario="small",
        failure_probability=0.1,
        warmup_hours=0.1,
        window_hours=0.2,
        tail_hours=0.1,
        factor=60,
    )
    setup = TwinSetup(workload=workload_of(twin), twin=twin, capacity=4, timeout_s=60)
    transport = httpx2.MockTransport(gateway)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
        driver = _Driver(http, setup)
        driver.index_of_id[REQUEST], driver.received_ms[REQUEST] = 0, 1_000
        await driver._collect()
        assert not answers  # the failed read happened
        assert driver.settled == {}
        await driver._collect()
    assert driver.settled[0]["status"] == "landed"
