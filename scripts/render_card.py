"""`python scripts/render_card.py EXPORT_FOLDER OUT.html [--png OUT.png]`: an export's model card as the Hub shows
a model page: its Markdown body rendered with python-markdown (tables, fenced code), the YAML metadata as a side
panel (tags, data sets, the model-index scores), samples.png beside it; with --png a screenshot by headless Chromium
(Debian's `chromium`). How docs/sharing/card.png was made. Nothing here is imported by ganrun or its tests."""

from __future__ import annotations

import argparse
import base64
import html
import shutil
import subprocess
import sys
from pathlib import Path

import markdown
import yaml

STYLE = """
body { font-family: 'DejaVu Sans', sans-serif; margin: 0; color: #1f2937; background: #fff; }
header { padding: 16px 32px; border-bottom: 1px solid #e5e7eb; font-size: 20px; font-weight: bold; }
main { display: flex; gap: 32px; padding: 16px 32px; }
article { flex: 3; max-width: 820px; font-size: 14px; line-height: 1.5; }
aside { flex: 1; font-size: 13px; border-left: 1px solid #e5e7eb; padding-left: 24px; }
.tag { display: inline-block; background: #f3f4f6; border-radius: 6px; padding: 2px 8px; margin: 2px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #e5e7eb; padding: 4px 8px; }
pre { background: #f9fafb; padding: 8px; overflow-x: auto; } img { max-width: 360px; image-rendering: pixelated; }
code { font-size: 12px; }
"""


def render(folder: Path) -> str:
    text = (folder / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    metadata = yaml.safe_load(front)
    samples = base64.b64encode((folder / "samples.png").read_bytes()).decode()
    body = body.replace("](samples.png)", f"](data:image/png;base64,{samples})")
    page = markdown.markdown(body, extensions=["tables", "fenced_code"])
    tags = "".join(f'<span class="tag">{html.escape(str(t))}</span>' for t in metadata.get("tags", []))
    library = html.escape(metadata.get("library_name", ""))
    panel = [f"<p><b>Library</b><br>{library}</p>", f"<p><b>Tags</b><br>{tags}</p>"]
    if metadata.get("datasets"):
        panel.append("<p><b>Datasets used to train</b><br>" + "<br>".join(metadata["datasets"]) + "</p>")
    for model in metadata.get("model-index", []):
        for result in model["results"]:
            rows = "".join(
                f"<tr><td>{html.escape(m['name'])}</td><td>{m['value']}</td></tr>" for m in result["metrics"]
            )
            name = html.escape(result["dataset"]["name"])
            panel.append(f"<p><b>Evaluation results</b> ({name})</p><table>{rows}</table>")
    title = html.escape(folder.name)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
        f"<header>{title}</header><main><article>{page}</article><aside>{''.join(panel)}</aside></main></body></html>"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--png", type=Path, help="also a screenshot (needs Debian's chromium)")
    args = p.parse_args(argv)
    args.out.write_text(render(args.folder))
    if args.png:
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            print("no chromium: apt-get install chromium", file=sys.stderr)
            return 1
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1720",
             f"--screenshot={args.png.absolute()}", args.out.absolute().as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
    print(f"wrote {args.out}" + (f" and {args.png}" if args.png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
