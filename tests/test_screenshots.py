"""Headless-Chromium screenshots of the auditor's report and of the Dagster UI's
asset page, on a small generated month run through the real job.

Needs Debian's `chromium` (apt-get install chromium fonts-noto-cjk); skipped with
that reason when it is not installed, so CI does not depend on a browser. The PNGs
go to $SCREENSHOTS (`make screenshots` sets var/screenshots) or the test's tmp dir,
to be looked at; the test checks they were rendered (not blank) and that the
report prints on A4 in a bounded number of pages."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium); screenshots skipped"
    ),
]
ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "data_samples" / "params.yaml"


def _chromium(*args: str, timeout: int = 240) -> None:
    """Run headless Chromium; a browser that hangs (an overloaded machine) skips the
    test with that reason instead of failing it: the artefact was not judged."""
    try:
        subprocess.run(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--disable-dev-shm-usage",
                *args,
            ],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"chromium did not finish within {timeout} s (machine overloaded?); screenshot not taken")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One month of 80 households processed on a persistent Dagster instance."""
    from data_samples.generate import generate

    root = tmp_path_factory.mktemp("shots")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "MONITOR_INBOX": str(root / "inbox"),
        "MONITOR_WAREHOUSE": str(root / "warehouse.duckdb"),
        "MONITOR_EXPORTS": str(root / "exports"),
        "MONITOR_PARAMS": str(PARAMS),
        "MONITOR_FIRST_MONTH": "2026-07-01",
    }
    generate(root, households=80, months=1, start_month="2026-07", seed=5)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--month", "2026-07"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = Path(os.environ.get("SCREENSHOTS") or root / "png")
    out.mkdir(parents=True, exist_ok=True)
    return root, env, out


def test_report_screenshot_and_print(demo):
    root, _env, out = demo
    report = next((root / "exports" / "2026-07" / "dq").glob("*.html"))
    png = out / "report.png"
    _chromium("--window-size=1280,2400", "--virtual-time-budget=8000", f"--screenshot={png}", report.as_uri())
    assert png.exists() and png.stat().st_size > 60_000, "report screenshot missing or blank"
    assert _png_size(png) == (1280, 2400)
    pdf = out / "report.pdf"
    _chromium("--virtual-time-budget=8000", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report.as_uri())
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    print(f"report prints to {pages} A4 pages; screenshots in {out}")
    assert 1 <= pages <= 16


def test_dagster_ui_asset_page_screenshot(demo):
    _root, env, out = demo
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.time() < deadline, "dagster-webserver did not start"
            time.sleep(2)
        png = out / "dagster_asset_page.png"
        # the UI polls live data: on a loaded machine virtual time may not settle (then skipped, see _chromium)
        _chromium(
            "--window-size=1440,1000",
            "--virtual-time-budget=25000",
            f"--screenshot={png}",
            f"http://127.0.0.1:{port}/assets/flags/risk_flags",
            timeout=200,
        )
        assert png.exists() and png.stat().st_size > 40_000, "asset page screenshot missing or blank"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
