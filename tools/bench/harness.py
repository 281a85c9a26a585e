"""In-process timing harness shared by every benchmark script.

``time_call`` times one function: the first call (which includes jit compilation for a
jitted function) is reported separately as ``compile_s``; then ``warmup`` more calls are
discarded and ``repeats`` calls are timed, each ended by ``jax.block_until_ready`` so
asynchronous dispatch does not flatter the figure. The median is the headline number.

``write_report`` prints a table and writes ``benchmarks/results/<suite>.json`` with the
machine description (CPU model, cores, memory, JAX backend and devices, versions) so
that figures are never quoted without the machine that produced them.

Example::

    from tools.bench.harness import time_call, write_report
    f = jax.jit(lambda x: x @ x.T)
    r = time_call("matmul 1000", f, x, n_items=1000)
    write_report("example", [r])
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"


@dataclass
class Timing:
    """Result of one timed function.

    Attributes:
        label: what was timed.
        compile_s: wall time of the first call (jit compile + one run), seconds.
        median_s: median wall time of one call after warm-up, seconds.
        min_s, max_s: fastest and slowest timed call, seconds.
        repeats: number of timed calls.
        n_items: items processed per call (spectra, galaxies...), for throughput.
        items_per_s: n_items / median_s.
        us_per_item: median_s / n_items in microseconds.
        extra: free-form metadata (batch size, dtype, device...).
    """

    label: str
    compile_s: float
    median_s: float
    min_s: float
    max_s: float
    repeats: int
    n_items: int = 1
    items_per_s: float = 0.0
    us_per_item: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _block(x: Any) -> Any:
    try:
        import jax

        return jax.block_until_ready(x)
    except ImportError:  # harness also times plain numpy / peer codes
        return x


def chunked_map(f: Callable[..., Any], chunk: int) -> Callable[..., Any]:
    """``f(state, params)`` for one item -> ``many(state, batch)`` over a batch:
    ``jax.lax.map`` over chunks of ``chunk`` items, each chunk vmapped (jit it yourself).
    On a CPU this is the fastest batched form of both engines here: a plain ``vmap`` over
    10^4 galaxies moves every (galaxies x cells) intermediate through memory, chunks keep
    them in cache."""
    import jax

    def many(state: Any, batch: Any) -> Any:
        return jax.lax.map(lambda p: f(state, p), batch, batch_size=chunk)

    return many


def time_call(
    label: str,
    fn: Callable[..., Any],
    *args: Any,
    n_items: int = 1,
    repeats: int = 7,
    warmup: int = 1,
    min_time_s: float = 0.0,
    extra: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Timing:
    """Time ``fn(*args, **kwargs)``.

    Args:
        label: row label in the report.
        fn: function to time (jit it yourself; the first call's time is reported as
            ``compile_s``).
        n_items: items handled per call, for throughput columns.
        repeats: timed calls; the median is reported.
        warmup: untimed calls after the first (compile) call.
        min_time_s: if > 0, keep timing beyond ``repeats`` until this much time has
            been spent, for very fast functions.
        extra: metadata stored with the result.

    Returns:
        A `Timing`.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    t0 = time.perf_counter()
    _block(fn(*args, **kwargs))
    compile_s = time.perf_counter() - t0
    for _ in range(warmup):
        _block(fn(*args, **kwargs))
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats or spent < min_time_s:
        t0 = time.perf_counter()
        _block(fn(*args, **kwargs))
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    med = statistics.median(times)
    return Timing(
        label=label,
        compile_s=compile_s,
        median_s=med,
        min_s=min(times),
        max_s=max(times),
        repeats=len(times),
        n_items=n_items,
        items_per_s=n_items / med if med > 0 else float("inf"),
        us_per_item=1e6 * med / n_items,
        extra=dict(extra or {}),
    )


def machine_info() -> dict[str, Any]:
    """Describe the machine and software stack the figures come from."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and "cpu_model" not in info:
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    # XLA's CPU kernels differ by vector width: machines sold under one
                    # model name here come with and without AVX-512, and time differently.
                    flags = set(line.split(":", 1)[1].split())
                    info["cpu_simd"] = ("avx512f" if "avx512f" in flags
                                        else "avx2" if "avx2" in flags else "other")
                    break
        with open("/proc/meminfo") as fh:
            info["mem_total"] = fh.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        import jax

        info["jax"] = jax.__version__
        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["jax_device_kind"] = jax.devices()[0].device_kind  # e.g. "NVIDIA H200" or "cpu"
        info["jax_x64"] = bool(jax.config.jax_enable_x64)
    except ImportError:
        pass
    return info


def _fmt_s(s: float) -> str:
    if s >= 1:
        return f"{s:8.3f} s "
    if s >= 1e-3:
        return f"{s * 1e3:8.3f} ms"
    return f"{s * 1e6:8.2f} us"


def format_table(results: list[Timing]) -> str:
    """Plain-text table of timings."""
    w = max([len(r.label) for r in results] + [5])
    head = f"{'label':<{w}}  {'compile':>11}  {'median':>11}  {'items':>7}  {'items/s':>12}  {'us/item':>10}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.label:<{w}}  {_fmt_s(r.compile_s):>11}  {_fmt_s(r.median_s):>11}  "
            f"{r.n_items:>7d}  {r.items_per_s:12.4g}  {r.us_per_item:10.4g}"
        )
    return "\n".join(lines)


def write_report(
    suite: str,
    results: list[Timing],
    meta: dict[str, Any] | None = None,
    results_dir: Path | None = None,
) -> Path:
    """Print a table and write ``<results_dir>/<suite>.json`` atomically.

    Args:
        suite: benchmark suite name (file stem).
        results: timings to report.
        meta: extra metadata (e.g. ratios between rows, notes on what was compared).
        results_dir: defaults to ``benchmarks/results`` at the repository root.

    Returns:
        Path of the JSON file written.
    """
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "suite": suite,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "meta": meta or {},
        "results": [asdict(r) for r in results],
    }
    path = out_dir / f"{suite}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    print(f"\n== {suite} ({payload['machine'].get('cpu_model', '?')} "
          f"{payload['machine'].get('cpu_simd', '')}, "
          f"{payload['machine'].get('jax_backend', '?')}) ==")
    print(format_table(results))
    for k, v in (meta or {}).items():
        print(f"{k}: {v}")
    print(f"-> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path
