"""What the command-line tools share: the description `--help` shows, from the module's docstring."""


def description(doc: str | None) -> str:
    """A tool's docstring's first paragraph as one line: what --help says the tool does, whole (its first line
    alone would stop mid-sentence)."""
    paragraph = (doc or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())
