"""A warm interpreter that starts pipeline steps by forking (standard library only: it runs as a
script, so that nothing of the factory, and no model's code, is ever imported into it).

Started by mlops.pipeline.launch with two pipe descriptors: requests arrive as JSON lines on
the first, replies leave on the second. With --keep it is kept between builds instead (see
daemon() and mlops/pipeline/kept.py): each build's pipes are served by a session forked from it. It imports the libraries the steps use
(imports, plus a few read-only caches of the installed environment: no tracking URI, no run,
nothing configured), then for each request forks a child that becomes a step exactly as
``python <script> <args>`` would in its code folder: its own session (process group), working
folder, environment, stdin from /dev/null, stdout and stderr appended to the step's log,
sys.argv, sys.path[0] = the script's folder (whose modules replace any preloaded module of the
same name), and the script run as __main__. The server reports each child's pid and, when it
ends, its exit code. When the request pipe closes (the runner finished, or died), it stops its
remaining children and exits.

Requests:  {"op": "preload", "id": n, "modules": [...]}             -> {"id": n, "preloaded": ...}
           {"op": "run", "id": n, "argv": [...], "cwd", "env", "log"} -> {"id": n, "pid": p}, later
                                                                        {"id": n, "exit": code}
A run may name "err", a file for stderr apart from the log (then stdout only goes to the log),
and argv may start with "-m" to run a module as `python -m` does (sys.path[0] is the working
folder).
The first reply, {"id": 0, "preloaded": ...}, says the modules on the command line are loaded.
"""

import atexit
import contextlib
import errno
import importlib
import importlib.machinery
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
import types

STOP_GRACE_SECONDS = 5.0
_STARTED_WITH = dict(os.environ)  # what the preloaded libraries set is reported (see _preload)


def _send(fd, message):
    os.write(fd, (json.dumps(message) + "\n").encode())


def _preload(modules, warm_calls):
    """Import ``modules``; then call each warm call whose module is loaded (once)."""
    started = time.monotonic()
    loaded, failed = [], {}
    for name in modules:
        if name in sys.modules:  # loaded before (by a kept server): reported as loaded
            loaded.append(name)
            continue
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException as exc:  # noqa: BLE001 - the step will meet (and report) it itself
            failed[name] = f"{type(exc).__name__}: {exc}"
    for after, target in list(warm_calls.items()):
        if after not in sys.modules:
            continue
        del warm_calls[after]
        module, _, function = target.partition(":")
        try:
            getattr(importlib.import_module(module), function)()
            loaded.append(target)
        except BaseException as exc:  # noqa: BLE001 - a missed cache costs time, nothing else
            failed[target] = f"{type(exc).__name__}: {exc}"
    # variables the libraries set for themselves on import (scikit-learn sets KMP_* for
    # OpenMP): a new interpreter importing them would set the same
    set_by_libraries = {k: v for k, v in os.environ.items() if _STARTED_WITH.get(k) != v}
    return {"preloaded": loaded, "failed": failed, "set_by_libraries": set_by_libraries,
            "seconds": round(time.monotonic() - started, 3),
            "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task")
            else None}


def _shadowed(folder):
    """Top-level module names the folder provides (a module or a regular package)."""
    names = set()
    try:
        entries = os.listdir(folder)
    except OSError:
        return names
    for entry in entries:
        path = os.path.join(folder, entry)
        if entry.endswith(".py") or (entry.endswith(".so") and "." in entry):
            names.add(entry.split(".", 1)[0])
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            names.add(entry)
    return names


def _trimmed_traceback(exc):
    """The traceback as `python script.py` prints it: without this server's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _exit_code(run):
    """Call ``run`` and return the exit code the interpreter would: SystemExit's code, or 1
    after printing the traceback of any other exception."""
    try:
        run()
        return 0
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        print(code, file=sys.stderr)
        return 1
    except BaseException as exc:  # noqa: BLE001 - as the interpreter does: print, exit 1
        _trimmed_traceback(exc)
        return 1


def _run_script(script):
    """Run ``script`` as the __main__ module, as the interpreter runs `python script`."""
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", script)
    sys.modules["__main__"] = main

    def run():
        with open(script, "rb") as source:
            code = compile(source.read(), script, "exec")
        exec(code, main.__dict__)

    return _exit_code(run)


def _run_module(name):
    """Run module ``name`` as __main__, as `python -m name` does."""
    import runpy

    return _exit_code(lambda: runpy.run_module(name, run_name="__main__", alter_sys=True))


def _finish(code):
    """End the child as an interpreter ends: join non-daemon threads, run atexit, flush."""
    with contextlib.suppress(Exception):
        threading._shutdown()
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _child(request, inherited):
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in inherited:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        log = os.open(request["log"], flags, 0o644)
        err = os.open(request["err"], flags, 0o644) if request.get("err") else os.dup(log)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(err, 2)
        for fd in (log, err, devnull):
            os.close(fd)
        argv = request["argv"]
        module = argv[1] if argv[0] == "-m" else None
        if module:  # `python -m module args`: the working folder first on the path
            folder = os.getcwd()
            sys.argv = [module, *argv[2:]]  # runpy puts the module's file in argv[0]
        else:
            script = os.path.abspath(argv[0])
            folder = os.path.dirname(script)
            sys.argv = list(argv)  # argv[0] as given, as the interpreter keeps it
        sys.path.insert(0, folder)
        provided = _shadowed(folder)  # the code folder's modules win, as in a new interpreter
        for name in [m for m in sys.modules if m.split(".", 1)[0] in provided]:
            del sys.modules[name]
        importlib.invalidate_caches()
        numpy = sys.modules.get("numpy")
        if numpy is not None:  # a new interpreter seeds numpy's global generator afresh
            numpy.random.seed()
        code = _run_module(module) if module else _run_script(script)
    except BaseException as exc:  # noqa: BLE001
        try:
            _trimmed_traceback(exc)
        finally:
            code = 1
    _finish(code)


def _stop(children):
    """Stop every child's process group: SIGTERM, then SIGKILL after a grace period."""
    for pid in children:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while children and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            children.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in children:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def serve(requests, replies, modules, warm_calls):
    children = {}  # pid -> request id
    try:
        _serve(requests, replies, modules, warm_calls, children)
    except BrokenPipeError:  # the runner is gone (its reply pipe closed): as on end of requests
        _stop(children)


def _serve(requests, replies, modules, warm_calls, children):
    here = os.path.dirname(os.path.abspath(__file__))
    # this folder holds factory modules (tracking.py, spec.py...): never importable by a step
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    _send(replies, {"id": 0, "pid": os.getpid(), **_preload(modules, warm_calls)})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    inherited = (requests, replies, wake_r, wake_w)
    pending = b""
    while True:
        try:
            readable, _, _ = select.select([requests, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            _send(replies, {"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
        if requests not in readable:
            continue
        try:
            data = os.read(requests, 1 << 16)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            data = b""
        if not data:  # the runner is gone: leave nothing running behind it
            _stop(children)
            return
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            if request.get("op") == "preload":
                _send(replies, {"id": request["id"], **_preload(request["modules"], warm_calls)})
                continue
            try:
                pid = os.fork()
            except OSError as exc:
                _send(replies, {"id": request["id"], "error": f"fork failed: {exc}"})
                continue
            if pid == 0:
                _child(request, inherited)  # never returns
            children[pid] = request["id"]
            _send(replies, {"id": request["id"], "pid": pid})


# -- kept between builds ------------------------------------------------------------------------
def _watched():
    """mtimes that change when the environment's packages do (an install adds or removes a
    dist-info folder in a folder of sys.path) or this file does: a kept server must then not
    fork another step."""
    paths = [__file__, *(p for p in sys.path if p and os.path.isdir(p))]
    stamps = {}
    for path in paths:
        with contextlib.suppress(OSError):
            stamps[path] = os.stat(path).st_mtime_ns
    return stamps


def _read_hello(conn):
    """The client's first line and the two pipe descriptors sent with it (SCM_RIGHTS)."""
    import socket

    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 2)
    while data and not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    try:
        hello = json.loads(data)
    except ValueError:
        hello = None
    if not isinstance(hello, dict) or (len(fds) != 2 and not hello.get("stop")):
        for fd in fds:
            os.close(fd)
        return None, ()
    return hello, fds


def _session(listener, conn, hello, fds, warm_calls):
    """Child of the kept server: serve one build's pipes exactly as a server of its own would."""
    code = 0
    try:
        listener.close()
        conn.close()
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(hello["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.chdir(os.path.dirname(hello["log"]))
        serve(fds[0], fds[1], hello["modules"], warm_calls)
        if os.fstat(1).st_size == 0:  # nothing to tell: no file left behind
            with contextlib.suppress(OSError):
                os.unlink(hello["log"])
    except BaseException:  # noqa: BLE001 - reported in the session's log
        traceback.print_exc()
        code = 1
    _finish(code)


def _unlink_own(path, inode):
    with contextlib.suppress(OSError):  # a newer server may own the path by now
        if os.stat(path).st_ino == inode:
            os.unlink(path)


def daemon(path, idle_seconds, warm_calls):
    """A warm server kept between builds, listening on the Unix socket ``path``.

    A client connects and sends one JSON line, {"modules": [...], "log": path, "later": [...]},
    with its request and reply pipes attached ({"stop": true}, without, asks the server to
    leave). The server answers {"ok": true} (or {"stale": why} when its packages changed: it
    then leaves, and the client starts a new one), imports the modules itself, so that later
    builds find them loaded, and forks a session that serves the pipes as serve() does; then
    it imports the "later" modules, which this build's session does not wait for and later
    builds' sessions have. A session is its own process: a build whose kept server dies goes
    on. The server exits after ``idle_seconds`` without a session, removing its socket."""
    import socket

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    mine = os.stat(path).st_ino
    stamps = _watched()
    sessions = set()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    idle_since = time.monotonic()
    reason = "idle"
    while True:
        while sessions:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                sessions.clear()
                break
            if not pid:
                break
            sessions.discard(pid)
            print(f"{time.strftime('%H:%M:%S')} session {pid} exited (code "
                  f"{os.waitstatus_to_exitcode(status)})", flush=True)
            if not sessions:
                idle_since = time.monotonic()
        left = idle_seconds - (time.monotonic() - idle_since)
        if not sessions and left <= 0:
            break
        try:
            readable, _, _ = select.select([listener, wake_r], [], [],
                                           None if sessions else left)
        except InterruptedError:
            continue
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
        if listener not in readable:
            continue
        conn, _ = listener.accept()
        with conn:
            hello, fds = _read_hello(conn)
            if hello is None:
                continue
            try:
                if hello.get("stop"):  # asked to leave (sessions running go on)
                    _unlink_own(path, mine)
                    conn.sendall(b'{"ok": true}\n')
                    reason = "asked to stop"
                    break
                if _watched() != stamps:  # gone from the path first: the client starts anew
                    _unlink_own(path, mine)
                    conn.sendall(b'{"stale": "its packages or its code changed"}\n')
                    reason = "stale"
                    break
                conn.sendall(b'{"ok": true}\n')
                _preload(hello["modules"], warm_calls)
                pid = os.fork()
                if pid == 0:
                    _session(listener, conn, hello, fds, warm_calls)  # never returns
                sessions.add(pid)
                print(f"{time.strftime('%H:%M:%S')} session {pid} for {hello['log']}",
                      flush=True)
                _preload(hello.get("later") or [], warm_calls)  # for the builds after this one
            finally:
                for fd in fds:
                    os.close(fd)
    _unlink_own(path, mine)  # before the listener closes: a client connecting now starts anew
    listener.close()
    print(f"{time.strftime('%H:%M:%S')} exits: {reason}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--keep":
        daemon(sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4]))
    else:
        serve(int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]),
              json.loads(sys.argv[4]))
