"""torchmetrics Metrics for posterior quality."""

from .c2st import C2ST, c2st

__all__ = ["C2ST", "c2st"]
