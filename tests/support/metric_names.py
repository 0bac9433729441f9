"""A checker for Prometheus naming conventions on a scraped exposition, read with the client
library's own parser: `sq_` prefix, `_total` on counters only, base units (seconds, bytes) named
as suffixes, never milliseconds or minutes."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

_NON_BASE_UNITS = ("_ms", "_milliseconds", "_minutes", "_hours", "_kilobytes", "_megabytes")
_TIME_WORDS = ("duration", "latency", "time", "age", "turnaround")


def parse(text: str) -> dict[str, tuple[str, list[Sample]]]:
    """Family name (as the parser gives it: counters without `_total`) → (type, samples)."""
    return {f.name: (f.type, list(f.samples)) for f in text_string_to_metric_families(text)}


def naming_errors(text: str, prefix: str = "sq_") -> list[str]:
    errors: list[str] = []
    for name, (kind, samples) in parse(text).items():
        if not name.startswith(prefix) or name.endswith("_created"):
            continue  # `_created`: the client library's own creation timestamps
        sample_names = {s.name for s in samples}
        if kind == "counter":
            if any(not n.endswith(("_total", "_created")) for n in sample_names):
                errors.append(f"{name}: a counter's samples must end in _total")
        elif any(n.endswith("_total") for n in sample_names) or name.endswith("_total"):
            errors.append(f"{name}: only counters end in _total ({kind})")
        if name.endswith(_NON_BASE_UNITS) or any(u + "_" in name for u in _NON_BASE_UNITS):
            errors.append(f"{name}: use base units (seconds, bytes)")
        words = name.removeprefix(prefix).split("_")
        timed = kind == "histogram" and any(w in words for w in _TIME_WORDS)
        if timed and not name.endswith("_seconds"):
            errors.append(f"{name}: a time histogram is named in _seconds")
        if "seconds" in words and not name.endswith("_seconds") and kind != "counter":
            errors.append(f"{name}: the unit comes last")
    return errors


def value(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples named `sample` whose labels include `labels` (0 when none)."""
    total = 0.0
    for _, samples in parse(text).values():
        for s in samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total
