"""The supervisor inside a pod: runs the worker server and terminates its own pod.

Standard library only, and run as a script (``python watchdog.py ...``) by ``vfx-ingest
worker pod``, so that nothing the stages import can break it: it is the pod's last line
of defence against billing after its run. It starts the server command given after
``--`` and ends the pod (``DELETE {rest}/pods/{RUNPOD_POD_ID}`` with the pod-scoped
``RUNPOD_API_KEY`` RunPod sets in every pod; if that is refused, the ``stop`` action),
retrying with backoff, when:

- no authenticated client request came for ``--heartbeat`` seconds (unless the client
  released the pod to its idle rule, ``--keep-pod``);
- no job ran for ``--idle`` seconds;
- the absolute ``--deadline`` (Unix time) passed;
- the server process died.

A SIGTERM (RunPod stopping the container) only stops the server. The server reports its
activity in the ``--status`` file (JSON: ``last_request``, ``busy``, ``last_busy``,
``kept``; Unix times), rewritten about twice a second.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

DEFAULT_REST = "https://api.runpod.io/v2"


def log(message):
    print(f"vfx-ingest watchdog: {message}", file=sys.stderr, flush=True)


def reason_to_end(status, started, now, heartbeat_s, idle_s, deadline):
    """Why the pod must end now, or None. ``status`` is the server's last report."""
    if now >= deadline:
        return "its deadline passed"
    last_request = status.get("last_request") or started
    if not status.get("kept") and now - last_request > heartbeat_s:
        return f"no client request for {now - last_request:.0f} s"
    last_busy = status.get("last_busy") or started
    if not status.get("busy") and now - last_busy > idle_s:
        return f"no job for {now - last_busy:.0f} s"
    return None


def _call(method, url, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def end_pod(rest, pod_id, key, attempts=12, first_wait=1.0, max_wait=60.0):
    """Terminate (or at least stop) this pod; True once RunPod took it."""
    wait = first_wait
    for _ in range(attempts):
        status = _call("DELETE", f"{rest}/pods/{pod_id}", key)
        if status is not None and (200 <= status < 300 or status == 404):
            log(f"pod {pod_id} terminated")
            return True
        if status in (401, 403):
            stopped = _call("POST", f"{rest}/pods/{pod_id}/action", key, {"action": "stop"})
            if stopped is not None and 200 <= stopped < 300:
                log(f"pod {pod_id} stopped (termination refused: HTTP {status})")
                return True
        log(f"ending pod {pod_id} failed (HTTP {status}); again in {wait:g} s")
        time.sleep(wait)
        wait = min(wait * 2, max_wait)
    return False


def read_status(path):
    try:
        with open(path, encoding="utf-8") as file:  # noqa: PTH123 (pathlib: same)
            return json.load(file)
    except (OSError, ValueError):
        return {}


def stop_server(server):
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vfx-ingest worker pod (watchdog)")
    parser.add_argument("--status", required=True)
    parser.add_argument("--heartbeat", type=float, required=True)
    parser.add_argument("--idle", type=float, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--rest", default=DEFAULT_REST)
    parser.add_argument("--check", type=float, default=1.0)
    parser.add_argument("server", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.server[1:] if args.server[:1] == ["--"] else args.server
    pod_id = os.environ.get("RUNPOD_POD_ID")
    key = os.environ.get("RUNPOD_API_KEY")
    if not pod_id or not key:
        log("RUNPOD_POD_ID and RUNPOD_API_KEY are not set: not inside a RunPod pod")
        return 2
    # The server must not inherit the pod-scoped key: the stages have no use for it.
    env = {k: v for k, v in os.environ.items() if k != "RUNPOD_API_KEY"}
    started = time.time()
    server = subprocess.Popen(command, env=env)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(args.check)
            if server.poll() is not None:
                reason = f"the worker server exited ({server.returncode})"
                break
            status = read_status(args.status)
            reason = reason_to_end(
                status, started, time.time(), args.heartbeat, args.idle, args.deadline
            )
            if reason:
                break
    except KeyboardInterrupt:
        # RunPod is stopping the container (the pod was stopped or terminated): nothing
        # more to end, and no time for retries.
        log("the container is stopping")
        stop_server(server)
        return 0
    log(f"ending the pod: {reason}")
    stop_server(server)
    return 0 if end_pod(args.rest.rstrip("/"), pod_id, key) else 1


if __name__ == "__main__":
    sys.exit(main())
