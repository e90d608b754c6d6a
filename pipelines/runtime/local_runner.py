"""The local runner: Beam's in-process FnApiRunner, whose `--workers N` SDK worker processes are forked from
the driver instead of started afresh.

Beam's multi-process mode starts each SDK worker as `python -m apache_beam.runners.worker.sdk_worker_main`:
a fresh interpreter that imports Beam and then, while unpickling the first bundle's DoFns, Winnow's modules
(trafilatura, fastText, tokenizers, pyarrow, ...) and builds the tokenizer again -- 1.5-3 s of CPU per worker
that the in-process runner (`--workers 1`) never pays, which on a 2-core machine ate the whole gain of the
second worker (tokenize went 0.70x). Here the workers are forked instead, from a "zygote": a process forked
from the driver when the first multi-worker pipeline starts (the driver has imported everything the
pipeline's DoFns need by then, and the runner has not started gRPC yet; a process with live gRPC threads is
never forked: Beam's own subprocess workers are used then). The zygote stays single-threaded and forks one
worker per request, so a worker is ready in milliseconds with the driver's modules (and per-process caches
such as the tokenizer handle) already in memory, shared copy-on-write. Later pipelines of the same driver
reuse the zygote; it first imports any of Winnow's modules the driver has loaded since. Each worker then
runs Beam's own SDK harness (`sdk_worker_main.create_harness`) against the runner's gRPC endpoints, exactly
as a subprocess worker would; only how the process comes to exist differs.

`make_local_runner()` is the runner pipelines/runtime/options.py's `make_pipeline` builds on when no `--runner`
is given; with several workers it also runs a stage whose input all falls to one worker on that worker alone.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import threading
from typing import Dict, List, Optional, Sequence

FORKED_SDK_URN = "winnow:env:forked_python_sdk:v1"
_WINNOW_PACKAGES = ("pipelines", "filters", "schemas", "tokenizer")  # what the zygote imports for later pipelines
_WORKER_STOP_TIMEOUT_S = 60.0

_zygote_lock = threading.Lock()
_zygote: Optional["_Zygote"] = None
_zygote_refused: Optional[str] = None


def _send(sock: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode("utf-8")
    socket.send_fds(sock, [struct.pack("!I", len(data))], list(fds))
    sock.sendall(data)


def _recv_exactly(sock: socket.socket, n: int, head: bytes = b"") -> bytes:
    buf = bytearray(head)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed")
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket):
    """One message and the fds sent with it, or (None, []) when the peer has closed."""
    head, fds, _, _ = socket.recv_fds(sock, 4, 4)
    if not head:
        return None, fds
    size = struct.unpack("!I", _recv_exactly(sock, 4, head))[0]
    return json.loads(_recv_exactly(sock, size)), fds


def _grpc_threads() -> List[str]:
    """Names of this process's gRPC core threads (a process with these must not be forked)."""
    names = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
    except OSError:
        return ["(unknown: no /proc)"]
    return [n for n in names if n.startswith(("grpc", "event_engine"))]


def _loaded_winnow_modules() -> List[str]:
    return sorted(name for name, module in list(sys.modules.items())
                  if module is not None and name.split(".", 1)[0] in _WINNOW_PACKAGES)


def _neutralise_inherited_fds(keep: Sequence[int]) -> None:
    """Point the sockets and pipes inherited from the driver (a docs-site listener, a child's stdin, ...) at
    /dev/null, so that this long-lived process holds no port and delays no EOF; fd numbers stay taken, so a
    stale Python object that closes one later closes /dev/null, not a descriptor opened since."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd <= 2 or fd == devnull or fd in keep:
                continue
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(("socket:", "pipe:")):
                os.dup2(devnull, fd, inheritable=False)
    finally:
        os.close(devnull)


def _zygote_main(sock: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; EOF ends this process
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel; the driver waits on pipes
    _neutralise_inherited_fds(keep=(sock.fileno(),))
    while True:
        try:
            message, fds = _recv(sock)
        except (EOFError, OSError):
            message, fds = None, []
        if message is None:  # the driver has gone
            os._exit(0)
        if message["op"] == "warm":  # load what every worker would load for itself (see warm_workers)
            module, _, function = message["target"].partition(":")
            try:
                getattr(importlib.import_module(module), function)()
            except BaseException:  # noqa: BLE001 -- a worker loads it again and reports the error
                pass
            _send(sock, {"ok": True})
        elif message["op"] == "import":
            for name in message["modules"]:
                try:
                    importlib.import_module(name)
                except BaseException:  # noqa: BLE001 -- a worker imports it again and reports the error
                    pass
            _send(sock, {"ok": True})
        elif message["op"] == "start":
            pid = os.fork()
            if pid == 0:
                sock.close()
                _forked_worker_main(message["env"], fds[0])  # never returns
            os.close(fds[0])
            _send(sock, {"pid": pid})


def _forked_worker_main(env: Dict[str, str], exit_fd: int) -> None:
    """Run Beam's SDK harness in this forked process until the runner closes its control stream."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # N worker processes already share the cores out, and a Rust thread pool the driver used before the
        # fork would not work here: HF tokenizers runs single-threaded in a worker unless the user says so.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # Process-local state that belongs to the driver: its progress line, and Beam's shared thread pool
        # (whose threads, if any, did not survive the fork).
        progress = sys.modules.get("pipelines.runtime.progress")
        if progress is not None:
            progress._REPORTERS.clear()
        from apache_beam.utils import thread_pool_executor

        if hasattr(thread_pool_executor, "_SHARED_UNBOUNDED_THREAD_POOL_EXECUTOR"):
            thread_pool_executor._SHARED_UNBOUNDED_THREAD_POOL_EXECUTOR = \
                thread_pool_executor._SharedUnboundedThreadPoolExecutor()
        from apache_beam.runners.worker import sdk_worker_main

        # Log like the driver (its handlers and levels came with the fork); no main session to load here. Beam's
        # harness sets the root logger to INFO while it starts: its start-up lines (control channel, state cache)
        # show only where the driver logs at INFO itself.
        root_level = logging.getLogger().level
        logging.getLogger(sdk_worker_main.__name__).setLevel(logging.ERROR)
        worker_log = logging.getLogger("apache_beam.runners.worker")
        worker_level = worker_log.level
        worker_log.setLevel(root_level or logging.WARNING)
        _, harness, _ = sdk_worker_main.create_harness(env)
        logging.getLogger().setLevel(root_level)
        worker_log.setLevel(worker_level)
        harness.run()
        code = 0
    except BaseException:  # noqa: BLE001 -- report, then leave without running the driver's atexit hooks
        import traceback

        traceback.print_exc()
    finally:
        try:
            os.write(exit_fd, bytes([code]))
        finally:
            os._exit(code)


class _Zygote:
    def __init__(self):
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here may be written twice
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _zygote_main(theirs)
            finally:
                os._exit(0)
        theirs.close()
        self.pid, self._sock, self._lock = pid, ours, threading.Lock()
        self._modules = set(_loaded_winnow_modules())
        self._unanswered = 0  # requests sent without waiting (`send_warm`), answered before the next call's
        self.warmed: set = set()

    def _call(self, message: dict, fds: Sequence[int] = ()) -> dict:
        with self._lock:
            _send(self._sock, message, fds)
            for _ in range(self._unanswered):
                _recv(self._sock)
            self._unanswered = 0
            reply, _ = _recv(self._sock)
        if reply is None:
            raise RuntimeError("the worker zygote has exited")
        return reply

    def send_warm(self, target: str) -> None:
        """Ask the zygote to call `target` ("module:function") and go on without waiting: it runs while the
        driver builds the job, and the first worker it forks afterwards has the result in memory."""
        with self._lock:
            if target in self.warmed:
                return
            _send(self._sock, {"op": "warm", "target": target})
            self._unanswered += 1
            self.warmed.add(target)

    def warm(self) -> None:
        """Import in the zygote the Winnow modules the driver loaded since it was forked (once, not per worker)."""
        missing = [m for m in _loaded_winnow_modules() if m not in self._modules]
        if missing:
            self._call({"op": "import", "modules": missing})
            self._modules.update(missing)

    def start_worker(self, env: Dict[str, str]) -> "_ForkedWorker":
        read_fd, write_fd = os.pipe()
        try:
            pid = self._call({"op": "start", "env": env}, fds=[write_fd])["pid"]
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return _ForkedWorker(pid, read_fd)


class _ForkedWorker:
    """A forked SDK worker; its exit is seen as its status byte (or EOF) on a pipe only it holds open."""

    def __init__(self, pid: int, exit_fd: int):
        self.pid, self._exit_fd = pid, exit_fd

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if self._exit_fd < 0:
            return None
        ready, _, _ = select.select([self._exit_fd], [], [], timeout)
        if not ready:
            logging.getLogger(__name__).warning("forked SDK worker %d did not stop in %.0f s; killing it",
                                                self.pid, timeout)
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            code = None
        else:
            data = os.read(self._exit_fd, 1)
            code = data[0] if data else None
        os.close(self._exit_fd)
        self._exit_fd = -1
        if code != 0:
            logging.getLogger(__name__).warning("forked SDK worker %d exited with %s", self.pid,
                                                "no status (killed?)" if code is None else f"status {code}")
        return code


def _worker_zygote() -> Optional[_Zygote]:
    """The process's zygote, started now if it can be; None where forking is not safe or not available."""
    global _zygote, _zygote_refused
    with _zygote_lock:
        if _zygote is None and _zygote_refused is None:
            if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
                _zygote_refused = f"fork-based workers need Linux (platform {sys.platform})"
            elif _grpc_threads():
                _zygote_refused = f"gRPC threads already running in this process ({', '.join(_grpc_threads())})"
            else:
                _zygote = _Zygote()
            if _zygote_refused:
                logging.getLogger(__name__).info("--workers: %s; using Beam's subprocess workers", _zygote_refused)
        return _zygote


def warm_workers(target: str) -> bool:
    """For a multi-worker local job about to be built: start the worker zygote now (if it can be) and have it call
    `target` ("module:function", e.g. a per-process model loader) while the driver builds the job, so that every
    forked worker starts with it loaded instead of each loading it for itself (spaCy's tokenizer: 0.87 s per
    worker). False where no zygote can be started (Beam's subprocess workers load it themselves)."""
    zygote = _worker_zygote()
    if zygote is None:
        return False
    zygote.send_warm(target)
    return True


def _register_forked_worker_handler() -> None:
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from google.protobuf import json_format, text_format
    from apache_beam.portability.api import endpoints_pb2

    if FORKED_SDK_URN in worker_handlers.WorkerHandler._registered_environments:
        return

    @worker_handlers.WorkerHandler.register_environment(FORKED_SDK_URN, bytes)
    class ForkedSdkWorkerHandler(worker_handlers.GrpcWorkerHandler):
        """An SDK worker forked from the zygote; control, data, state and logging over the runner's gRPC."""

        def __init__(self, unused_payload, state, provision_info, grpc_server):
            super().__init__(state, provision_info, grpc_server)
            self._worker: Optional[_ForkedWorker] = None

        def start_worker(self):
            zygote = _worker_zygote()
            if zygote is None:
                raise RuntimeError(f"forked SDK workers unavailable: {_zygote_refused}")
            env = {
                "CONTROL_API_SERVICE_DESCRIPTOR": text_format.MessageToString(
                    endpoints_pb2.ApiServiceDescriptor(url=self.control_address)),
                "PIPELINE_OPTIONS": json_format.MessageToJson(self.provision_info.provision_info.pipeline_options),
                "WORKER_ID": self.worker_id,
            }
            self._worker = zygote.start_worker(env)

        def stop_worker(self):
            if self._worker is not None:
                self._worker.wait(_WORKER_STOP_TIMEOUT_S)
                self._worker = None


def make_local_runner():
    """Beam's in-process FnApiRunner; with several workers, their SDK environment is the forked one, and a
    stage whose input all falls to one worker is not also sent, empty, to the others. What waits between stages
    (collections, group-by tables, a bundle's input) goes to disk past 16 MiB (pipelines/runtime/buffers.py)."""
    from apache_beam.portability import python_urns
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.runners.portability.fn_api_runner.fn_runner import BundleManager, ParallelBundleManager
    from pipelines.runtime import buffers

    buffers.install()  # the runner's holders spill to temporary files (pipelines/runtime/buffers.py)

    class SkipEmptyParts(ParallelBundleManager):
        """Beam sends every worker its part of a stage's input, even an empty one: a one-element stage (an
        Impulse, a global combine, a side-input singleton) then costs each other worker the stage's set-up
        (unpickling its DoFns, Beam's signature checks: 10-30 ms) and a round trip for nothing -- on a short
        job such as tokenize (15 stages) most of what a second worker adds. When only one part holds data,
        that part runs alone, as the whole stage would with `--workers 1`."""

        def process_bundle(self, inputs, expected_outputs, fired_timers, expected_output_timers, dry_run=False):
            parts = [{} for _ in range(self._num_workers)]
            for name, buffer in inputs.items():
                for i, part in enumerate(buffer.partition(self._num_workers)):
                    parts[i][name] = part
            holding = [p for p in parts if any(buffers.holds_data(chunks) for chunks in p.values())]
            if len(holding) > 1:
                return super().process_bundle(inputs, expected_outputs, fired_timers, expected_output_timers,
                                              dry_run)
            only = holding[0] if holding else parts[0]  # timers, if any, go with it (Beam sends them to part 0)
            return BundleManager(self.bundle_context_manager, self._progress_frequency,
                                 cache_token_generator=self._cache_token_generator).process_bundle(
                only, expected_outputs, fired_timers, expected_output_timers, dry_run)

    class LocalRunner(FnApiRunner):
        def run_via_runner_api(self, pipeline_proto, options):
            if self._num_workers > 1:
                zygote = _worker_zygote()
                if zygote is not None:
                    _register_forked_worker_handler()
                    zygote.warm()
                    for env in pipeline_proto.components.environments.values():
                        if env.urn == python_urns.SUBPROCESS_SDK:  # Beam's `multi_processing` environment
                            env.urn = FORKED_SDK_URN
            return super().run_via_runner_api(pipeline_proto, options)

        def _get_bundle_manager(self, bundle_context_manager):
            manager = super()._get_bundle_manager(bundle_context_manager)
            if type(manager) is not ParallelBundleManager:
                return manager
            try:
                return SkipEmptyParts(bundle_context_manager, self._progress_frequency,
                                      cache_token_generator=manager._cache_token_generator)
            except (AttributeError, TypeError):  # a Beam whose internals moved: its own manager still works
                return manager

    return LocalRunner()
