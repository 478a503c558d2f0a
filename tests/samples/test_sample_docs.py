"""docs/api.md links every sample, and every sample folder is run by the tests."""

from __future__ import annotations

import re
from pathlib import Path

from tests.samples.toolchains import COMMAND_LINE_SAMPLES, SAMPLES

API_DOC = SAMPLES.parent / "api.md"
BROWSER_SAMPLE = "javascript"  # run by test_browser_sample.py


def test_api_doc_links_each_sample_and_each_link_exists() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    section = text[text.index("## Samples") : text.index("## Python client")]
    links = re.findall(r"\]\((samples/[^)]+)\)", section)
    assert links, "no sample links in docs/api.md"
    for link in links:
        assert (API_DOC.parent / link).is_file(), link
    folders = {Path(link).parts[1] for link in links if len(Path(link).parts) > 2}
    assert folders == {p.name for p in SAMPLES.iterdir() if p.is_dir()}
    assert len(folders) == 12


def test_every_sample_folder_is_run_by_the_tests() -> None:
    tested = {sample.language for sample in COMMAND_LINE_SAMPLES} | {BROWSER_SAMPLE}
    assert tested == {p.name for p in SAMPLES.iterdir() if p.is_dir()}
