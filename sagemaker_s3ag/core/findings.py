"""Finding: one thing a rule noticed in a job request, and what was done about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["removed", "replaced", "refused", "noted"]


@dataclass(frozen=True)
class Finding:
    """One observation of a rule on one place of a CreateTrainingJob / CreateProcessingJob request.

    Attributes:
        rule: the rule id, e.g. ``"pipe-mode"``.
        action: ``"removed"`` or ``"replaced"`` (the request was fixed), ``"refused"`` (the job is not
            sent) or ``"noted"`` (recorded, nothing changed).
        where: the place in the request, e.g. ``"InputDataConfig[train].InputMode"``.
        message: one sentence for a person.
        explicit: ``True`` when you asked for the thing (a warning is due when it changes);
            ``False`` when the SDK added it on its own (changed quietly, logged at INFO).
    """

    rule: str
    action: Action
    where: str
    message: str
    explicit: bool = True

    @property
    def changed(self) -> bool:
        """Whether this finding changed the request."""
        return self.action in ("removed", "replaced")

    def __str__(self) -> str:
        return f"[s3ag:{self.rule}] {self.where}: {self.message}"
