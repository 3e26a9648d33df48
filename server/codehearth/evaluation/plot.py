"""`--plot FILE`: quality against latency, one point per model, as a PNG.

matplotlib is an optional extra (`pip install "codehearth[plot]"`): without it the
evaluation still runs and says how to get the plot.
"""

from __future__ import annotations

import io

from .report import EvalReport

INSTALL_HINT = (
    "--plot needs matplotlib: pip install 'codehearth[plot]' (or pip install matplotlib)"
)


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def check_available() -> None:
    """Fail before the evaluation starts, not after it has run for minutes."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise PlotUnavailable(INSTALL_HINT) from exc


def render_png(report: EvalReport) -> bytes:
    check_available()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        for model in report.models:
            s = model.overall
            if model.status != "ok" or s is None or s.latency_p50_ms is None:
                continue
            label = f"{model.model} (exact {s.exact_match:.2f})"
            points = axes.scatter([s.latency_p50_ms], [s.edit_similarity], s=70, zorder=3,
                                  label=label)  # fmt: skip
            p95 = s.latency_p95_ms or s.latency_p50_ms
            axes.errorbar(
                [s.latency_p50_ms], [s.edit_similarity], fmt="none", alpha=0.6,
                ecolor=points.get_facecolor()[0], xerr=[[0], [max(0.0, p95 - s.latency_p50_ms)]],
            )  # fmt: skip
        axes.axvline(report.target_ms, linestyle="--", color="0.5", linewidth=1)
        axes.text(report.target_ms, 0.02, f" target {report.target_ms:.0f} ms", fontsize=8,
                  color="0.4")  # fmt: skip
        axes.set_xlabel("latency p50 (ms; whisker to p95)")
        axes.set_ylabel("edit similarity")
        axes.set_ylim(0, 1)
        axes.set_xlim(left=0)
        axes.set_title(f"codehearth eval: {len(report.holes)} holes, seed {report.seed!r}")
        axes.grid(True, alpha=0.3)
        if axes.collections:
            axes.legend(loc="upper right", fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()
