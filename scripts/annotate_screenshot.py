"""Take docs/annotate.png: the annotation form mid-judgement, in headless Chromium.

It creates an annotator and a one-comparison dataset on a running collector, so point it at a scratch stack:

    RLHF_STATE_DIR=$(mktemp -d) rlhf up &      # then, once it is up:
    RLHF_STATE_DIR=<same dir> python scripts/annotate_screenshot.py

The collector URL and admin token come from the RLHF_* settings unless given as options.
"""

from __future__ import annotations

import argparse
import shutil
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from services.core.settings import get_settings

GUIDELINES = """Judge which response better answers the prompt: correct first, then helpful, then clear.
Do not reward length for its own sake. Use "Both bad" when neither response is acceptable."""

PROMPT = "How do I reverse a list in Python without changing the original list?"

BETTER = """Use slicing: it builds a new list and leaves the original alone.

```python
numbers = [1, 2, 3, 4]
backwards = numbers[::-1]
print(backwards)  # [4, 3, 2, 1]
print(numbers)    # [1, 2, 3, 4], unchanged
```

If you only need to iterate in reverse, `reversed(numbers)` avoids the copy:
it returns an iterator over the same list."""

WORSE = """Call `reverse()` on the list:

```python
numbers = [1, 2, 3, 4]
numbers.reverse()
```

Now `numbers` is `[4, 3, 2, 1]`."""

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--collector-url", default=settings.resolved_collector_url)
    parser.add_argument("--admin-token", default=None, help="default: the RLHF_* settings' admin token")
    parser.add_argument("--out", type=Path, default=Path("docs/annotate.png"))
    args = parser.parse_args()
    admin_token = args.admin_token or settings.resolved_admin_token()

    with httpx.Client(
        base_url=args.collector_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    ) as admin:
        annotator = admin.post("/api/v1/annotators", json={"name": "Ada"}).raise_for_status().json()
        dataset = (
            admin.post(
                "/api/v1/datasets",
                json={"name": f"python-help-{uuid.uuid4().hex[:4]}", "guidelines": GUIDELINES},
            )
            .raise_for_status()
            .json()
        )
        admin.post(
            f"/api/v1/datasets/{dataset['id']}/comparisons",
            json={"items": [{"prompt": PROMPT, "response_a": BETTER, "response_b": WORSE}]},
        ).raise_for_status()

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(f"{args.collector_url}/annotate?token={annotator['token']}&dataset={dataset['id']}")
        page.locator("#view-work").wait_for(state="visible")
        better_key = "1" if "slicing" in page.locator("#left-text").inner_text() else "2"
        page.keyboard.press(better_key)
        page.keyboard.press("Shift+2")
        page.keyboard.press("r")
        page.keyboard.type("The other answer changes the original list, which the prompt rules out.")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
