"""A Jupyter kernel manager that starts every kernel inside the grading jail (:mod:`nngrader.jail`).

nbgrader's ``Execute`` (``autograde``, ``validate``, the formgrader's Autograde button) and our
``ResilientExecute`` start kernels through nbclient's ``kernel_manager_class``;
``nbgrader_config.py`` sets it to :class:`JailedKernelManager`::

    c.Execute.kernel_manager_class = "nngrader.jailed_kernel.JailedKernelManager"

How nbgrader reaches a kernel that has no network:

- The kernel uses the ``ipc`` transport: its five ZeroMQ sockets are Unix sockets in
  ``/tmp/run`` of its own jail, a tmpfs nobody else can see. The grader connects through
  ``/proc/<pid>/root/tmp/run/...`` of the jail's first process.
- It connects once, after the kernel has made all five sockets and before any student code has
  run, and never reconnects (``RECONNECT_IVL = -1``): code that later swaps a socket for a
  symbolic link cannot turn the grader's connection towards a socket of the host.
- The kernel's working directory is a copy of the submission folder (``/tmp/work``), its
  home a fresh folder in the same tmpfs: IPython start-up files or ``usercustomize`` cannot pass
  from one student to the next.
- Interrupts go as messages on the control channel (``interrupt_mode = "message"``): the kernel
  is in another process tree, where a signal to bwrap's process group would not reach it.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import zmq
import zmq.asyncio
from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from traitlets import Instance, Unicode, default

from .jail import RUN, GradingJail

__all__ = ["JailedKernelManager"]

_CONNECTION = f"{RUN}/kernel.json"
_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class NoReconnectClient(AsyncKernelClient):
    """A kernel client whose sockets connect once and never again."""

    @default("context")
    def _context_default(self):
        self._created_context = True
        return _no_reconnect(zmq.asyncio.Context())


class JailedKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` whose kernels start in a :class:`~nngrader.jail.GradingJail`."""

    transport = Unicode("ipc")
    client_class = Unicode("nngrader.jailed_kernel.NoReconnectClient")
    grading_jail = Instance(GradingJail)

    @default("grading_jail")
    def _jail_default(self):
        return GradingJail(parent=self)

    @default("context")
    def _context_default(self):
        self._created_context = True
        return _no_reconnect(zmq.asyncio.Context())

    async def _async_pre_start_kernel(self, **kw):
        if self.grading_jail.ready(course_root=os.getcwd()):
            # the connection file the kernel reads names its own paths; the grader's are set at launch
            self.transport, self.ip = "ipc", f"{RUN}/kernel"
            if self.kernel_spec is not None:
                self.kernel_spec.interrupt_mode = "message"
        else:  # an ordinary local kernel, as nbclient would start it
            self.transport, self.ip = "tcp", "127.0.0.1"
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if not self.grading_jail.enabled:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        host_file = os.path.realpath(self.connection_file)
        with open(host_file) as f:
            info = f.read()
        cmd = [_CONNECTION if os.path.realpath(a) == host_file else a for a in kernel_cmd]
        read_end, write_end = os.pipe()
        jailed = self.grading_jail.command(
            cmd, env=kw.pop("env", None), course_root=os.getcwd(), submission=kw.pop("cwd", None),
            files={_CONNECTION: info}, info_fd=write_end,
        )
        self._jailed = jailed
        kw.update(jailed.kwargs)
        kw.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # raw fd writes go nowhere
        try:
            await super()._async_launch_kernel(jailed.argv, **kw)
        finally:
            os.close(write_end)
        try:
            pid = await asyncio.to_thread(_read_child_pid, read_end)
        finally:
            os.close(read_end)
        self.ip = f"/proc/{pid}/root{RUN}/kernel"
        await self._wait_for_sockets(json.loads(info))

    async def _wait_for_sockets(self, info: dict) -> None:
        """Connect only once the kernel has made every socket (no reconnecting later)."""
        paths = [f"{self.ip}-{info[p]}" for p in _PORTS]
        deadline = time.monotonic() + 60
        while not all(os.path.exists(p) for p in paths):
            if not await self.is_alive():
                raise RuntimeError("the jailed kernel exited while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the jailed kernel did not open its sockets within 60 s")
            await asyncio.sleep(0.02)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        jailed = getattr(self, "_jailed", None)
        if jailed is not None:
            jailed.cleanup()
            self._jailed = None

    cleanup_resources = _async_cleanup_resources

    def cleanup_ipc_files(self) -> None:
        """Nothing to remove: the sockets lived in the jail's tmpfs, gone with it. (Removing
        ``/proc/<pid>/root/...`` paths could follow links the student made.)"""


def _no_reconnect(context):
    context.setsockopt(zmq.RECONNECT_IVL, -1)
    return context


def _read_child_pid(fd: int) -> int:
    data = b""
    while b"}" not in data:
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError("bwrap exited before the jail was ready")
        data += chunk
    return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])
