"""Published values that reports draw beside this toolkit's own results (REFERENCES.md)."""

from __future__ import annotations

__all__ = ["Reference", "TAU_GABA_GAMMA"]


class Reference(tuple):
    """``(xs, ys, label)``: a published curve, as :func:`~pinglab_bio.report.figures.metric_figure`
    draws it; ``source`` says where it comes from."""

    source: str

    def __new__(cls, xs, ys, label, source=""):
        obj = super().__new__(cls, (tuple(xs), tuple(ys), label))
        obj.source = source
        return obj


#: Gamma frequency (Hz) of a trained conductance-based PING network against tau_GABA (ms),
#: 3 seeds (REFERENCES.md §1).
TAU_GABA_GAMMA = Reference((4.5, 6.0, 9.0, 12.0, 18.0), (67.5, 59.0, 48.5, 43.0, 33.0),
                           "published PING (3 seeds)",
                           "trained conductance-based PING network, gamma frequency against tau_GABA, "
                           "3 seeds (REFERENCES.md §1)")
