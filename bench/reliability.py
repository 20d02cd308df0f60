"""Reliability under fuzzing, load, faults and a long soak, against real daemon processes.

    .venv/bin/python bench/reliability.py                     # full run, writes docs/reliability.md
    .venv/bin/python bench/reliability.py --quick --no-write  # a minute-long smoke run

- fuzz: structure-aware messages (valid headers with bad fields, lying descriptors and frames,
  garbage, unknown types, other versions) on one socket; every message must get an answer,
  the daemon must not die; its RSS growth is reported;
- load: N clients x M jobs, fast and gatys mixed at small sizes, some cancelled as they run, while
  a prober asks `status` every 50 ms: every job must end as asked (result, or cancelled when
  cancelled), none lost; `status` latency p50/p99;
- faults: a client SIGKILLed mid-job (time until its job is freed), the daemon SIGKILLed mid-job
  and restarted on the same address (time until the client learns, and whether it recovers),
  exceptions injected into the engine every third job (the daemon keeps serving);
- soak: K consecutive jobs; RSS growth after warm-up.

Traffic stays on the loopback; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import msgpack
import numpy as np
import zmq
from common import REPO, BenchDaemon, machine, publish, revision

sys.path.insert(0, str(REPO))
from shared import protocol  # noqa: E402
from shared.client import Client  # noqa: E402
from shared.errors import ImpastoError, JobCancelled, JobLost, Unavailable  # noqa: E402

BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
CLIENT_TIMEOUT = 5.0
RNG = random.Random(5747)
PHOTO = (np.random.default_rng(0).random((64, 64, 4)) * 255).astype(np.uint8)
PHOTO[..., 3] = 255


def job(engine: str, side: int = 64) -> tuple[dict, list]:
    body = {
        "engine": engine,
        "content": {"frame": 1, "width": side, "height": side},
        "styles": [{"name": "great-wave" if engine == "fast" else "starry-night"}],
    }
    if engine == "gatys":
        body |= {"iterations": 3, "size": 48}
    return body, [np.ascontiguousarray(PHOTO[:side, :side]).tobytes()]


# -- fuzz -----------------------------------------------------------------------------------------
JUNK = [None, True, -1, 0, 2**70, 1e308, float("nan"), float("inf"), -0.0, "", "x" * 300,
        [], {}, [1, 2], {"a": 1}, b"\x00\xff", "../../etc/passwd"]  # fmt: skip
FIELDS = ["engine", "size", "strength", "preserve_color", "style_scale", "iterations",
          "optimizer", "init", "scales", "seed", "content_weight", "style_weight", "tv_weight",
          "preview", "base", "upscaler", "mask", "nonsense"]  # fmt: skip


def fuzz_message(i: int) -> list[bytes]:
    """One generated message: mostly well-formed envelopes around bad or lying contents."""
    kind = RNG.random()
    msg_id = f"f{i}"
    if kind < 0.05:  # raw garbage
        return [RNG.randbytes(RNG.randint(0, 64)) for _ in range(RNG.randint(1, 3))]
    if kind < 0.10:  # a bad envelope
        head = {
            "v": RNG.choice([1, 2, None, "1"]),
            "type": RNG.choice(["hello", "paint", 3]),
            "id": RNG.choice([msg_id, "", None, "x" * 200]),
            "body": RNG.choice([{}, [], 1]),
        }
        return [msgpack.packb(head)]
    msg_type = RNG.choice(["submit"] * 6 + ["cancel", "status", "styles", "ping", "hello"])
    body: dict = {}
    frames: list[bytes] = []
    if msg_type == "submit":
        w, h = RNG.choice([(4, 4), (16, 8), (65536, 65536), (0, 3), (3, -1)])
        content = {
            "frame": RNG.choice([1, 1, 1, 2, 0]),
            "width": w,
            "height": h,
            "channels": RNG.choice([4, 4, 3, 1, 5]),
            "dtype": RNG.choice(["u8", "f32", "u4"]),
            "stride": RNG.choice([None, 0, 3, 64, -8]),
        }
        content = {k: v for k, v in content.items() if v is not None}
        body = {"content": content, "styles": RNG.choice(
            [[{"name": "starry"}], [], [{"name": RNG.choice(JUNK)}], [{"image": content}],
             [{"name": "wave", "weight": RNG.choice(JUNK)}]] )}  # fmt: skip
        for _ in range(RNG.randint(0, 3)):
            body[RNG.choice(FIELDS)] = RNG.choice(JUNK)
        body["strength"] = 0.0  # should one be valid, it costs nothing to run
        frames = [RNG.randbytes(RNG.choice([0, 16, 64, 256])) for _ in range(RNG.randint(0, 3))]
    elif msg_type == "cancel":
        body = {"job": RNG.choice(JUNK + [msg_id])}
    elif msg_type == "ping":
        body = {"jobs": RNG.choice([[msg_id], JUNK, ["x" * 200], list(map(str, range(100)))])}
    head = {"v": 1, "type": msg_type, "id": msg_id, "body": body}
    try:
        return [msgpack.packb(head), *frames]
    except (TypeError, ValueError, OverflowError):  # an int msgpack cannot hold: send garbage
        return [RNG.randbytes(8)]


def fuzz(daemon: BenchDaemon, count: int) -> dict:
    """Send `count` generated messages in windows; every one must get a reply with its id."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(daemon.endpoint)
    before = daemon.rss()
    answered = unanswered = deaths = 0
    started = time.monotonic()
    window = 200
    for start in range(0, count, window):
        pending: Counter[str] = Counter()
        for i in range(start, min(count, start + window)):
            frames = fuzz_message(i)
            pending[protocol.peek_id(frames)] += 1  # the id the daemon's answer will carry
            sock.send_multipart(frames)
        deadline = time.monotonic() + 10
        while sum(pending.values()) and time.monotonic() < deadline:
            if not sock.poll(100):
                continue
            reply_id = protocol.peek_id(sock.recv_multipart())
            if pending[reply_id] > 0:  # later replies to one id (a result, a job_lost) are extra
                pending[reply_id] -= 1
                answered += 1
        unanswered += sum(pending.values())
        if daemon.proc.poll() is not None:
            deaths += 1
            break
    sock.close()
    return {
        "messages": count,
        "answered": answered,
        "unanswered": unanswered,
        "deaths": deaths,
        "rate": count / (time.monotonic() - started),
        "rss_growth_mb": (daemon.rss() - before) / 2**20,
    }


# -- load -----------------------------------------------------------------------------------------
def load(daemon: BenchDaemon, clients: int, jobs: int) -> dict:
    outcomes: dict[str, int] = {"result": 0, "cancelled as asked": 0}
    problems: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def client(n: int) -> None:
        with Client(daemon.endpoint, timeout=30) as c:
            for j in range(jobs):
                engine = "gatys" if (n + j) % 4 == 0 else "fast"
                cancel = j % 10 == 9
                handle = c.submit(*job(engine))
                if cancel:
                    c.cancel(handle.id)
                try:
                    c.wait(handle, timeout=300)
                    key = "result"  # also a cancelled job that finished before the cancel
                except JobCancelled:
                    key = "cancelled as asked" if cancel else "cancelled without being asked"
                except ImpastoError as exc:
                    key = f"{exc.code}: {exc.message[:60]}"
                with lock:
                    if key in outcomes:
                        outcomes[key] += 1
                    else:
                        problems.append(key)

    def prober() -> None:
        with Client(daemon.endpoint, timeout=5) as c:
            while not done.is_set():
                t = time.perf_counter()
                c.status()
                latencies.append(time.perf_counter() - t)
                time.sleep(0.05)

    probe = threading.Thread(target=prober)
    probe.start()
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    probe.join()
    latencies.sort()
    return {
        "jobs": clients * jobs,
        "outcomes": outcomes,
        "problems": problems,
        "seconds": time.monotonic() - started,
        "status_p50_ms": 1000 * statistics.median(latencies),
        "status_p99_ms": 1000 * latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)],
        "status_samples": len(latencies),
    }


# -- faults ---------------------------------------------------------------------------------------
CLIENT_SCRIPT = """
import sys, time, numpy as np
from shared.client import Client
c = Client(sys.argv[1])
photo = np.zeros((96, 96, 4), np.uint8)
body = {"engine": "gatys", "iterations": 5000, "size": 96,
        "content": {"frame": 1, "width": 96, "height": 96}, "styles": [{"name": "starry"}]}
job = c.submit(body, [photo.tobytes()])
while True:
    c.poll(0.2)
"""


def running(daemon: BenchDaemon) -> int:
    with Client(daemon.endpoint, timeout=5) as c:
        st = c.status()
    return st["running"] + st["queued"]


def wait_for(predicate, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def faults(daemon: BenchDaemon, data: Path) -> tuple[dict, BenchDaemon]:
    out: dict = {}
    # 1. a client killed mid-job
    client = subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, daemon.endpoint], cwd=REPO)
    wait_for(lambda: running(daemon) == 1, 60)
    client.send_signal(signal.SIGKILL)
    client.wait()
    out["client_kill_freed_s"] = wait_for(lambda: running(daemon) == 0, 30)
    # 2. the daemon killed mid-job and restarted on its address
    with Client(daemon.endpoint, timeout=20) as c:
        body, frames = job("gatys")
        handle = c.submit(body | {"iterations": 5000}, frames)
        wait_for(lambda: (c.poll(0.05), handle.state == "running")[1], 60)
        endpoint = daemon.endpoint
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        killed = time.monotonic()
        daemon = BenchDaemon(data, "--client-timeout", str(CLIENT_TIMEOUT), endpoint=endpoint)
        out["restart_s"] = time.monotonic() - killed
        try:
            c.wait(handle, timeout=60)
            out["job_after_restart"] = "a result (wrong: the daemon lost it)"
        except (JobLost, Unavailable) as exc:
            out["job_after_restart"] = f"{exc.code}"
        out["client_learned_s"] = time.monotonic() - killed
        again = c.run(*job("fast"), timeout=60)
        out["recovered"] = bool(again.image_bytes(0)[1])
    # 3. exceptions injected into the engine: every third fast job raises
    daemon.stop()
    daemon = BenchDaemon(data, "--client-timeout", str(CLIENT_TIMEOUT), endpoint=endpoint,
                         inject_faults=True)  # fmt: skip
    codes: dict[str, int] = {}
    with Client(daemon.endpoint, timeout=20) as c:
        for _ in range(30):
            try:
                c.run(*job("fast"), timeout=60)
                codes["result"] = codes.get("result", 0) + 1
            except ImpastoError as exc:
                codes[exc.code] = codes.get(exc.code, 0) + 1
        out["injected"] = codes
        out["served_after_injection"] = c.hello()["daemon"] == "impasto"
    daemon.stop()
    daemon = BenchDaemon(data, "--client-timeout", str(CLIENT_TIMEOUT), endpoint=endpoint)
    return out, daemon


# -- soak -----------------------------------------------------------------------------------------
def soak(daemon: BenchDaemon, count: int) -> dict:
    warm = max(1, count // 10)
    rss = []
    started = time.monotonic()
    with Client(daemon.endpoint, timeout=30) as c:
        for i in range(count):
            c.run(*job("gatys" if i % 10 == 0 else "fast"), timeout=120)
            if i + 1 == warm or i + 1 == count:
                rss.append(daemon.rss())
    return {
        "jobs": count,
        "seconds": time.monotonic() - started,
        "rss_after_warmup_mb": rss[0] / 2**20,
        "rss_end_mb": rss[-1] / 2**20,
        "growth_pct": 100 * (rss[-1] - rss[0]) / rss[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--soak", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="5,000 / 4x5 / 100: a smoke run")
    parser.add_argument("--markdown", type=Path, default=REPO / "docs" / "reliability.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.fuzz, args.clients, args.jobs, args.soak = 5000, 4, 5, 100
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        daemon = BenchDaemon(data, "--client-timeout", str(CLIENT_TIMEOUT))
        try:
            f = fuzz(daemon, args.fuzz)
            print("fuzz", f, flush=True)
            if daemon.proc.poll() is not None:
                daemon = BenchDaemon(data, "--client-timeout", str(CLIENT_TIMEOUT))
            ld = load(daemon, args.clients, args.jobs)
            print("load", ld, flush=True)
            ft, daemon = faults(daemon, data)
            print("faults", ft, flush=True)
            sk = soak(daemon, args.soak)
            print("soak", sk, flush=True)
        finally:
            daemon.stop()
    info = machine("pyzmq")
    lost = (": " + "; ".join(ld["problems"][:5])) if ld["problems"] else ""
    command = "bench/reliability.py" + (" --quick" if args.quick else "")
    text = f"""{BEGIN}
# Reliability

`.venv/bin/python {command}` on {info["cpu"]} ({info["nproc"]} cores, {info["ram"]}), torch
{info["torch"]}, pyzmq {info["pyzmq"]}, revision {revision()}; daemon on the CPU with
`--client-timeout {CLIENT_TIMEOUT:g}`, loopback only.

## Fuzz
{f["messages"]:,} generated messages (valid envelopes with bad or lying fields, descriptors and
frames, bad envelopes, garbage) on one socket, {f["rate"]:,.0f} messages/s: {f["answered"]:,}
answered, {f["unanswered"]:,} unanswered, **{f["deaths"]} daemon deaths**, daemon RSS
{f["rss_growth_mb"]:+.1f} MB over the run.

## Load
{args.clients} clients x {args.jobs} jobs ({ld["jobs"]} jobs: fast 64 px and gatys 48 px x 3
steps, one in four gatys, every tenth cancelled right after submitting) in {ld["seconds"]:.0f} s:
{ld["outcomes"]["result"]} results, {ld["outcomes"]["cancelled as asked"]} cancelled as asked,
**{len(ld["problems"])} lost or failed**{lost}.
`status` every 50 ms meanwhile ({ld["status_samples"]} answers): p50 {ld["status_p50_ms"]:.1f} ms,
p99 {ld["status_p99_ms"]:.1f} ms.

## Faults
- A client SIGKILLed while its gatys job ran: the daemon freed the job after
  {ft["client_kill_freed_s"]:.1f} s (its silence limit is {CLIENT_TIMEOUT:g} s).
- The daemon SIGKILLed while a client's job ran, and started again on the same address
  ({ft["restart_s"]:.1f} s to answer again): the client's job ended with `{ft["job_after_restart"]}`
  {ft["client_learned_s"]:.1f} s after the kill; the same client's next job
  {"succeeded" if ft["recovered"] else "failed"}.
- An exception injected into the fast engine every third job, 30 jobs: {ft["injected"]};
  the daemon {"kept serving" if ft["served_after_injection"] else "stopped serving"}.

## Soak
{sk["jobs"]:,} consecutive jobs (one in ten gatys) in {sk["seconds"]:.0f} s: daemon RSS
{sk["rss_after_warmup_mb"]:.0f} MB after the first tenth, {sk["rss_end_mb"]:.0f} MB at the end
(**{sk["growth_pct"]:+.1f}%**).
{END}"""
    publish(text, None if args.no_write else args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
