"""Take the README screenshots (docs/*.png) of a running dashboard at 1280 px wide."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = {
    "runs": "/?params=eps,alpha",
    "viewer": "/viewer?run=pgd-linf-tgt4-eps0.06-shapes1&step=12",
    "compare": "/compare?runs=pgd-linf-tgt4-eps0.06-shapes1,square-eps0.06-shapes1,"
    "pgd-linf-eps0.002-shapes1&step=12",
    "experiments": "/experiments",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8501")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, path in PAGES.items():
            page.goto(args.url + path)
            page.wait_for_selector("[data-testid='stApp']")
            for _ in range(2):
                page.wait_for_timeout(1500)
                page.wait_for_selector(
                    "[data-testid='stStatusWidget']", state="detached", timeout=180_000
                )
            if page.locator("[data-testid='stException']").count():
                print(f"{name}: the page shows an exception", file=sys.stderr)
                return 1
            # Streamlit scrolls inside its main block: grow the viewport to the content
            height = page.evaluate(
                "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
            )
            page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 4000)})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / f"{name}.png"))
            page.set_viewport_size({"width": 1280, "height": 900})
            print(f"wrote {out / f'{name}.png'}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
