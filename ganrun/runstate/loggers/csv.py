"""`logger=csv`: `<run_dir>/metrics.csv`, a `step` column and one column per scalar tag, one row per logged step
(empty where a tag was not logged at that step), for people who plot with pandas, and protocols.json, how each
score was measured. On resume the rows past the
resumed step are dropped and written again, as TensorBoard purges its events."""

import contextlib
import csv
import io
import json
import os
from pathlib import Path

from ganrun.quality.protocol import by_metric
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.storage import write_failure

FILENAME = "metrics.csv"
PROTOCOLS = "protocols.json"  # beside it: how each metric's newest score was measured (quality/protocol.py)


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """The file's columns and its rows as {column: text}, each with an int "step"."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        rows = [dict(row, step=int(row["step"])) for row in reader if row.get("step")]
        return list(reader.fieldnames or ["step"]), rows


def read_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Each tag's (step, value) pairs, by step: what the sweep summary reads when a run has no TensorBoard events."""
    columns, rows = read_rows(path)
    return {tag: [(row["step"], float(row[tag])) for row in rows if row.get(tag)] for tag in columns if tag != "step"}


def row_text(columns: list[str], row: dict) -> str:
    """One CSV line of `row` (a float as repr writes it, so that it reads back exactly; empty where it has none)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(["" if row.get(c) is None else row[c] for c in columns])
    return line.getvalue()


def read_protocols(path: Path) -> dict[str, dict]:
    """metrics/<name> → the protocol of its newest score, from protocols.json; none without a readable file."""
    try:
        texts = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return by_metric(texts.values())


class CSVLogger:
    """Writes each logged step's row as it comes; a second call at the same step (the metrics after the losses)
    rewrites that row, and a tag seen for the first time rewrites the file with the wider header."""

    def __init__(self, run: RunInfo):
        self.path, self.step = Path(run.run_dir) / FILENAME, run.resumed_step
        self.columns, self.row, self.row_start = ["step"], None, 0
        with self._writing():
            kept = []
            if self.path.is_file():
                self.columns, rows = read_rows(self.path)
                kept = [row for row in rows if row["step"] <= run.resumed_step]
            self._rewrite(kept)

    @contextlib.contextmanager
    def _writing(self):
        try:
            yield
        except OSError as exc:
            raise write_failure("metrics", self.path, exc, step=self.step) from None

    def _rewrite(self, rows: list[dict]) -> None:
        """The whole file anew (atomically): header and rows; the row being filled last."""
        tmp = self.path.with_suffix(".csv.tmp")
        head = row_text(self.columns, dict(zip(self.columns, self.columns)))
        text = [head, *(row_text(self.columns, row) for row in rows)]
        try:
            tmp.write_text("".join(text), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        filled = 1 if self.row is not None else 0  # the row being filled is rewritten in place by the next call
        self.row_start = len("".join(text[: len(text) - filled]).encode())

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.step = step
        with self._writing():
            if self.row is not None and self.row["step"] == step:
                self.row.update(values)
            else:
                self.row, self.row_start = {"step": step, **values}, self.path.stat().st_size
            new = [tag for tag in self.row if tag not in self.columns]
            if new:
                self.columns += sorted(new)
                _, rows = read_rows(self.path)
                self._rewrite([row for row in rows if row["step"] < step] + [self.row])
                return
            with open(self.path, "r+", newline="", encoding="utf-8") as file:
                file.seek(self.row_start)
                file.truncate()
                file.write(row_text(self.columns, self.row))

    def images(self, tag: str, images, step: int, nrow: int | None = None) -> None:
        """A CSV file holds numbers only; the grids are in the other loggers."""

    def text(self, tag: str, text: str, step: int) -> None:
        """A text (how a score was measured) goes to protocols.json beside metrics.csv, the newest per tag."""
        path = self.path.with_name(PROTOCOLS)
        with self._writing():
            texts = json.loads(path.read_text()) if path.is_file() else {}
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps({**texts, tag: text}, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, path)

    def flush(self) -> None:
        """Every row is written when it is logged."""

    def close(self, outcome: str = "completed", final: dict | None = None) -> None:
        """Nothing is held open."""
