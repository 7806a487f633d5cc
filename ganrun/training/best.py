"""The best score so far, which best.pt follows: the evaluation whose chosen metric (metrics.best, else the first of
fid, classifier_fd, … logged) beat every earlier one measured the same way. Part of the run state: a resumed run
goes on comparing with the best of the run before it."""

from __future__ import annotations

from ganrun.quality.names import best_metric, is_better


class BestScore:
    """{"step", <metric>: value, "protocol"} of the best evaluation so far ({} before the first)."""

    def __init__(self, chosen: str | None = None):
        self.chosen, self.record = chosen, {}

    def offer(self, scores: dict, step: int, protocols: dict[str, dict]) -> bool:
        """Take an evaluation's scores ({"metrics/<name>": value}) at `step`; whether they are the new best."""
        name = best_metric(scores, self.chosen)
        if name is None or not is_better(name, scores[f"metrics/{name}"], self.record, protocols.get(name)):
            return False
        self.record = {"step": step, name: scores[f"metrics/{name}"]}
        if name in protocols:
            self.record["protocol"] = protocols[name]
        return True

    def state_dict(self) -> dict:
        return dict(self.record)

    def load_state_dict(self, state: dict | None) -> None:
        self.record = dict(state or {})
