"""A network namespace joined to the host by a rate-capped veth pair: a real, slow network link
between two processes on this machine.

    host side  fsnet-host 10.213.7.1/30  <-- tbf 8 Mbit/s each way -->  10.213.7.2/30 fsnet-ns
                                                                         (namespace flowscope-net)

Traffic between the two addresses crosses the veth pair and is shaped by a token bucket
(`tc qdisc ... tbf`) on the egress of *both* ends, so each direction is capped. The kernel's
`netem` (injected delay) is not available on these machines; `tbf` is. Nothing is routed
beyond the two addresses: the namespace has no default route and no NAT.

`CappedLink` is a context manager that always removes what it created: on normal exit, on an
exception, on Ctrl-C, and at interpreter exit. Creating namespaces needs root (CAP_NET_ADMIN);
`netns_supported()` says whether this machine allows it, and why not.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from flowscope.lab.cluster import LabError


@dataclass(frozen=True)
class LinkSpec:
    """Names, addresses and the cap of the link. Interface names have at most 15 characters."""

    namespace: str = "flowscope-net"
    host_if: str = "fsnet-host"
    ns_if: str = "fsnet-ns"
    host_addr: str = "10.213.7.1"
    ns_addr: str = "10.213.7.2"
    prefix_len: int = 30
    rate: str = "8mbit"  # tc units: bits per second
    burst: str = "32kbit"  # bucket size
    latency: str = "50ms"  # longest a packet may wait in the queue before it is dropped


def _run(
    args: list[str], check: bool = True, timeout: float = 20.0
) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise LabError(f"`{' '.join(args)}` failed: {(run.stderr or run.stdout).strip()}")
    return run


def _tools_missing() -> str | None:
    missing = [t for t in ("ip", "tc") if shutil.which(t) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian: apt-get install iproute2)"
    return None


def netns_supported() -> tuple[bool, str]:
    """Whether a namespace with a tbf-capped veth can be created here: (ok, reason).

    Tries it for real with a throw-away namespace (and a veth pair inside it, so the host's
    interfaces are never touched), then removes it."""
    missing = _tools_missing()
    if missing:
        return False, missing
    probe = f"flowscope-probe-{os.getpid()}"
    try:
        added = _run(["ip", "netns", "add", probe], check=False)
        if added.returncode != 0:
            return False, f"`ip netns add` is not permitted here: {added.stderr.strip()}"
        try:
            veth = _run(["ip", "-n", probe, "link", "add", "fsprobe-a", "type", "veth",
                         "peer", "name", "fsprobe-b"], check=False)
            if veth.returncode != 0:
                return False, f"cannot create a veth pair: {veth.stderr.strip()}"
            tbf = _run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "fsprobe-a",
                        "root", "tbf", "rate", "8mbit", "burst", "32kbit", "latency", "50ms"],
                       check=False)
            if tbf.returncode != 0:
                return False, f"the tbf qdisc is not available: {tbf.stderr.strip()}"
        finally:
            _run(["ip", "netns", "del", probe], check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot run ip/tc: {exc}"
    return True, "ip netns, veth and tc tbf work here"


class CappedLink:
    """The namespace and its capped veth pair. Use as a context manager."""

    def __init__(self, spec: LinkSpec | None = None) -> None:
        self.spec = spec or LinkSpec()
        self._created = False

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace."""
        return ["ip", "netns", "exec", self.spec.namespace]

    def _exists(self) -> bool:
        listed = _run(["ip", "netns", "list"], check=False).stdout.split()
        return self.spec.namespace in listed

    def pids(self) -> list[int]:
        """Processes running inside the namespace."""
        if not self._exists():
            return []
        out = _run(["ip", "netns", "pids", self.spec.namespace], check=False).stdout
        return [int(p) for p in out.split() if p.isdigit()]

    def create(self) -> None:
        """Create the namespace, the veth pair, the addresses and the tbf caps."""
        missing = _tools_missing()
        if missing:
            raise LabError(missing)
        s = self.spec
        if self._exists():
            if self.pids():
                raise LabError(
                    f"network namespace {s.namespace} exists and has processes in it: another "
                    f"lab run is using it (remove it with `ip netns del {s.namespace}`)"
                )
            # A leftover of a run that was killed before it could clean up.
            self._delete()
        self._created = True
        _ACTIVE.append(self)
        try:
            cap = ["tbf", "rate", s.rate, "burst", s.burst, "latency", s.latency]
            ns = ["ip", "-n", s.namespace]
            _run(["ip", "netns", "add", s.namespace])
            _run(["ip", "link", "add", s.host_if, "type", "veth", "peer", "name", s.ns_if])
            _run(["ip", "link", "set", s.ns_if, "netns", s.namespace])
            _run(["ip", "addr", "add", f"{s.host_addr}/{s.prefix_len}", "dev", s.host_if])
            _run([*ns, "addr", "add", f"{s.ns_addr}/{s.prefix_len}", "dev", s.ns_if])
            _run(["ip", "link", "set", s.host_if, "up"])
            _run([*ns, "link", "set", s.ns_if, "up"])
            _run([*ns, "link", "set", "lo", "up"])
            _run(["tc", "qdisc", "add", "dev", s.host_if, "root", *cap])
            _run([*self.exec_prefix(), "tc", "qdisc", "add", "dev", s.ns_if, "root", *cap])
        except BaseException:
            self.remove()
            raise

    def qdisc_stats(self) -> str:
        """`tc -s qdisc` of both ends: bytes sent, drops and overlimits (for reports)."""
        s = self.spec
        host = _run(["tc", "-s", "qdisc", "show", "dev", s.host_if], check=False).stdout
        inner = _run([*self.exec_prefix(), "tc", "-s", "qdisc", "show", "dev", s.ns_if],
                     check=False).stdout
        return f"{s.host_if}:\n{host}{s.ns_if}:\n{inner}"

    def remove(self, grace_s: float = 5.0) -> None:
        """Stop what still runs inside, delete the veth pair and the namespace. Idempotent."""
        if not self._created:
            return
        self._created = False
        # Only processes started inside this namespace (by this lab) can be in it.
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while pids and time.monotonic() < deadline and self.pids():
            time.sleep(0.2)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._delete()
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def _delete(self) -> None:
        # Deleting one end of a veth pair deletes both.
        _run(["ip", "link", "del", self.spec.host_if], check=False)
        _run(["ip", "netns", "del", self.spec.namespace], check=False)

    def __enter__(self) -> CappedLink:
        if not self._created:
            self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_ACTIVE: list[CappedLink] = []


def _remove_all() -> None:
    for link in list(_ACTIVE):
        link.remove(grace_s=2.0)


# A process that exits without leaving the `with` block still removes its namespace.
atexit.register(_remove_all)
