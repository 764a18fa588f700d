"""Screenshot of a run report's article view, for the README:

python scripts/report_screenshot.py RUN_DIR docs/report.png [ARTICLE_ID]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selenium.webdriver.common.by import By

from tests.browser import chromium


def main() -> None:
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    article = sys.argv[3] if len(sys.argv) > 3 else None
    with chromium() as driver:
        driver.get((run / "report.html").resolve().as_uri())
        driver.find_element(By.ID, "tab-articles").click()
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.article-row")
        row = next((r for r in rows if article and r.text.startswith(article)), rows[0])
        row.click()
        time.sleep(0.3)
        marks = driver.find_elements(By.CSS_SELECTOR, ".article-text .mark.status-correct")
        if marks:
            marks[0].click()
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
