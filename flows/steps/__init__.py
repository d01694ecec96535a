"""Step handlers, one module per concern; importing this package fills the
table in ``flows.steps.registry``."""

from flows.steps import codes, info, intake, menu, status
from flows.steps.registry import HANDLERS, Handler, answer, handles

__all__ = ["HANDLERS", "Handler", "answer", "codes", "handles", "info", "intake", "menu", "status"]
