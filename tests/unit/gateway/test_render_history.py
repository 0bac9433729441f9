from __future__ import annotations

from rich.console import Console

from sq.submitqueue.client.render import history_table


def test_a_failed_build_shows_the_end_of_its_log_not_a_metadata_blob() -> None:
    events = [
        {
            "timestamp_ms": 0,
            "type": "event",
            "event": "build-failed",
            "last_error": "",
            "metadata": {"build_id": "q/batch/1/ab/1", "log_tail": "$ make test\nFAIL: test_x"},
        }
    ]
    console = Console(record=True, width=200)
    console.print(history_table(events))
    text = console.export_text()
    assert "build_id=q/batch/1/ab/1" in text
    assert "log (last lines):" in text
    assert "FAIL: test_x" in text
    assert "log_tail=" not in text
