"""Scores of different protocols never share a column: a metric whose jobs measured it differently (another
reference split, number of images, generator, feature weights or resize; the step does not count) is split into
one column per protocol, `metrics/fid [A]`, `metrics/fid [B]`, …, and summary.md says how each column was
measured and in what its protocols differ."""

from ganrun.quality.protocol import comparable, describe, differences

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NOT_RECORDED = "not recorded (measured before ganrun logged protocols)"


def base_tag(tag: str) -> str:
    """The logged tag of a column: metrics/fid of metrics/fid [B]."""
    return tag.split(" [", 1)[0]


def metric_tags(records: list[dict]) -> list[str]:
    return sorted({tag for r in records for tag in r["final"] if tag.startswith("metrics/")})


def _key(protocol: dict | None):
    return None if protocol is None else comparable(protocol)


def protocol_groups(records: list[dict], tag: str) -> list[list[dict]]:
    """The records that logged `tag`, grouped by its protocol: the group most jobs share first, then by first
    appearance."""
    groups: dict = {}
    for record in records:
        if tag in record["final"]:
            groups.setdefault(_key(record.get("protocols", {}).get(tag)), []).append(record)
    return sorted(groups.values(), key=len, reverse=True)  # sorted() is stable: ties stay in order of appearance


def _renamed(record: dict, tag: str, new: str) -> dict:
    """The record with its final value and curve of `tag` under the column name `new`."""
    rename = lambda values: {new if k == tag else k: v for k, v in values.items()}  # noqa: E731
    return {
        **record,
        "final": rename(record["final"]),
        "curves": rename(record["curves"]),
        "protocols": rename(record.get("protocols", {})),
    }


def separate(records: list[dict]) -> tuple[list[dict], list[str]]:
    """The records with each metric of several protocols split into one column per protocol, and the lines of
    summary.md that say how each metric column was measured."""
    lines = []
    for tag in metric_tags(records):
        groups = protocol_groups(records, tag)
        first = groups[0][0].get("protocols", {}).get(tag)
        if len(groups) == 1:
            lines.append(f"- {tag}: {describe(first, metric=False) if first else NOT_RECORDED}")
            continue
        known = [g[0]["protocols"][tag] for g in groups if g[0].get("protocols", {}).get(tag)]
        fields = differences(known) + (["whether it was recorded"] if len(known) < len(groups) else [])
        lines.append(
            f"- {tag} was measured under {len(groups)} protocols, which differ in {', '.join(fields)}: "
            f"one column each, never ranked against each other"
        )
        renames = {}
        for index, group in enumerate(groups):
            column = f"{tag} [{LETTERS[index] if index < len(LETTERS) else index + 1}]"
            protocol = group[0].get("protocols", {}).get(tag)
            renames.update({id(r): column for r in group})
            jobs = ", ".join(r["job"] for r in group)
            lines.append(
                f"  - {column}: {describe(protocol, metric=False) if protocol else NOT_RECORDED} (jobs {jobs})"
            )
        records = [_renamed(r, tag, renames[id(r)]) if id(r) in renames else r for r in records]
    return records, (["", "## How the metrics were measured", ""] + lines if lines else [])
