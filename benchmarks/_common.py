"""Helpers the benchmark scripts share: server processes pinned to a CPU, percentiles, context.

Everything here stays on loopback (127.0.0.1). Servers are started as child processes and are
always stopped (SIGTERM, then SIGKILL) by the context manager that started them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CHAT_PATH = "/v1/chat/completions"
_URL = re.compile(r"(http://127\.0\.0\.1:\d+)")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

#: A reply of exactly 50 tokens by llmfake's estimate (``llmfake.engine._text.tokenize``), so a
#: stream of it has exactly 50 content chunks. ``{"generate": {"words": 50}}`` does not: words
#: longer than 10 letters count as two tokens and the final period as one (52-53 tokens).
TEXT_50 = ("The fake server sends this reply to every chat request so that each run of the "
           "benchmark streams the same text, one token per chunk, with no latency at all unless "
           "the scenario asks for some, and then it keeps to the schedule it was given.")
TEXT_50_TOKENS = 50


# --- CPUs --------------------------------------------------------------------------------------

def usable_cpus() -> list[int]:
    """The CPUs this process may run on, sorted."""
    return sorted(os.sched_getaffinity(0))


def pick_cpus(server_cpu: int, client_cpu: int) -> tuple[int | None, int | None, str]:
    """The CPUs to pin the server and the load generator to, and a note when pinning is off.

    Pinning needs two distinct usable CPUs; with fewer, nothing is pinned and the note says so.
    """
    cpus = usable_cpus()
    if server_cpu == client_cpu:
        return None, None, "server and client CPUs are the same: not pinned"
    if server_cpu in cpus and client_cpu in cpus:
        return server_cpu, client_cpu, ""
    return None, None, f"CPUs {server_cpu}/{client_cpu} not both usable (have {cpus}): not pinned"


def pin_self(cpu: int | None) -> None:
    """Pin this process (all its threads created later too) to ``cpu``."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds ``pid`` has used so far (from /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def cpu_busy_seconds(cpu: int | None) -> float:
    """Seconds CPU ``cpu`` has been busy (any process) since boot, from /proc/stat; nan if
    unknown. Compared with a process's own CPU time, it tells how much others took."""
    if cpu is None:
        return float("nan")
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{cpu} "):
                f = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal: busy = all but idle, iowait
                return (sum(f[:8]) - f[3] - f[4]) / _CLK_TCK
    return float("nan")


def wait_for_idle(cpus: Sequence[int | None], max_wait: float, threshold: float = 0.10,
                  sample: float = 0.5) -> bool:
    """Wait (at most ``max_wait`` seconds) until every CPU in ``cpus`` was busy less than
    ``threshold`` of a ``sample``-second interval: other work on a shared machine skews the
    figures. True when they were idle; False (go ahead anyway) when the wait ran out."""
    usable = usable_cpus()
    wanted = [c for c in cpus if c is not None and c in usable] or usable
    deadline = time.monotonic() + max_wait
    while True:
        before = [cpu_busy_seconds(c) for c in wanted]
        time.sleep(sample)
        after = [cpu_busy_seconds(c) for c in wanted]
        if all((b - a) / sample < threshold for a, b in zip(before, after, strict=True)):
            return True
        if time.monotonic() >= deadline:
            return False


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


def process_rss_mb(pid: int) -> float:
    """The resident set size of ``pid`` in MiB (from /proc/PID/status); nan if unknown."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def self_cpu_seconds() -> float:
    """User plus system CPU seconds of this process (all threads)."""
    t = os.times()
    return t.user + t.system


# --- server processes --------------------------------------------------------------------------

@dataclass
class ServerProcess:
    """A server running as a child process."""

    name: str
    url: str
    proc: subprocess.Popen[str]
    cpu: int | None
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def rss_mb(self) -> float:
        return process_rss_mb(self.proc.pid)


def _drain(stream: Any, out: list[str], first: queue.Queue[str]) -> None:
    """Hand over the first line that holds a URL (and everything before it); keep the rest."""
    sent = False
    before: list[str] = []
    for line in stream:
        if not sent and (_URL.search(line) or len(before) >= 20):
            first.put("".join(before) + line)
            sent = True
        elif not sent:
            before.append(line)
        else:
            out.append(line)
    if not sent:
        first.put("".join(before))


@contextlib.contextmanager
def server_process(name: str, argv: Sequence[str], cpu: int | None,
                   timeout: float = 20.0) -> Iterator[ServerProcess]:
    """Run ``argv`` (a server that prints its ``http://127.0.0.1:PORT`` URL within its first
    lines),
    pinned to ``cpu``; yield it once it listens; stop it on exit."""
    # The child inherits the affinity at fork: pin it before it runs a single instruction of
    # Python by running it through taskset when available, else pin it right after the fork.
    cmd = list(argv)
    if cpu is not None and _which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        if cpu is not None:
            os.sched_setaffinity(proc.pid, {cpu})
        output: list[str] = []
        first: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_drain, args=(proc.stdout, output, first), daemon=True).start()
        try:
            line = first.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{name} did not start within {timeout:.0f}s") from None
        m = _URL.search(line)
        if m is None:
            time.sleep(0.2)
            raise RuntimeError(f"{name} did not print its URL; it said: {line!r} "
                               f"{''.join(output)[-2000:]}")
        if cpu is not None and os.sched_getaffinity(proc.pid) != {cpu}:
            raise RuntimeError(f"{name} is not pinned to CPU {cpu}")
        yield ServerProcess(name, m.group(1), proc, cpu, output)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _which(program: str) -> bool:
    return any(os.access(os.path.join(d, program), os.X_OK)
               for d in os.environ.get("PATH", "").split(os.pathsep) if d)


def llmfake_argv(scenario_file: Path) -> list[str]:
    """The command line of ``llmfake serve`` on a free port, quiet."""
    return [sys.executable, "-m", "llmfake", "serve", "--host", HOST, "--port", "0",
            "--scenario", str(scenario_file), "--quiet"]


@contextlib.contextmanager
def scenario_file(scenario: dict[str, Any]) -> Iterator[Path]:
    """``scenario`` written to a temporary JSON file."""
    with tempfile.TemporaryDirectory(prefix="llmfake-bench-") as tmp:
        path = Path(tmp) / "scenario.json"
        path.write_text(json.dumps(scenario))
        yield path


def check_text_50() -> None:
    """Fail loudly if llmfake's tokenizer no longer cuts ``TEXT_50`` into 50 tokens."""
    from llmfake.engine._text import tokenize

    n = len(tokenize(TEXT_50))
    if n != TEXT_50_TOKENS:
        raise RuntimeError(f"TEXT_50 is {n} tokens by llmfake's tokenizer, not 50; adjust it")


def chat_request(stream: bool) -> bytes:
    """The JSON body of the chat request every benchmark sends."""
    body: dict[str, Any] = {"model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": "Say something."}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


# --- statistics --------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded to microseconds."""
    return round(seconds * 1000.0, 3)


# --- context -----------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_revision() -> str:
    """The checkout's commit, with ``+dirty`` when the working tree has changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                             capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=HERE, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty.strip() else "")


def environment() -> dict[str, Any]:
    """Where and with what the benchmark ran."""
    import aiohttp

    import llmfake

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "aiohttp": aiohttp.__version__,
        "llmfake": llmfake.__version__,
        "git": git_revision(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in load_average()],
    }


def print_json(doc: dict[str, Any]) -> None:
    """``doc`` as indented JSON on stdout."""
    print(json.dumps(doc, indent=2, default=str))
