"""Builds and loads the project's C kernels (digits/training/accel/csrc) on first use.

The kernels are plain C with no Python or PyTorch headers, so a build takes under a second.
It is compiled for the machine it runs on (`-march=native`) and cached under a key made of
the sources, the flags and the CPU, in $DIGITS_CACHE or ~/.cache/digits. It links OpenMP
as `libgomp.so.1`, the very library PyTorch's Linux wheels load, so the kernels share
PyTorch's thread pool instead of starting a second one that would fight it for the cores.

Everything here is optional: without a C compiler, on a platform where the build fails, or
with DIGITS_ACCEL=0, `library()` returns None and callers use the PyTorch path;
`status()` says why. The C side exports its functions' signatures, and loading compares
them with the table here (`_SIGNATURES`): a change made on one side only raises instead of
corrupting memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import torch  # imported before any kernel loads: its libgomp is the one they bind to

from digits.config import ACCEL_ENV, CACHE_ENV, accel_enabled, cache_dir  # noqa: F401 (CACHE_ENV: for callers)

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
ENTRY_SOURCE = "kernels.c"
BUILD_TIMEOUT_S = 120
_OPENMP_FLAGS = ("-fopenmp",)
_BASE_FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=gnu11")

_I64 = ctypes.c_int64
_U32 = ctypes.c_uint32
_PTR = ctypes.c_void_p
# argument types of every exported function, per storage type suffix
_SIGNATURES = {
    "tanh_pool_fwd": [_PTR, _PTR, _PTR, _I64, _I64, _I64],
    "tanh_pool_bwd": [_PTR, _PTR, _PTR, _I64, _I64, _I64],
    "conv_tanh_pool_fwd": [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64],
    "conv_tanh_pool_bwd": [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64],
    "conv_relu_maxpool_fwd": [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64, _U32, _U32, ctypes.c_float],
    "conv_relu_maxpool_bwd": [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _I64, _U32, _U32, ctypes.c_float],
}
SUFFIXES = {torch.bfloat16: "bf16", torch.float32: "f32"}

_lock = threading.Lock()
_state: dict[str, object] = {}


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _cpu_signature() -> str:
    """What -march=native depends on: the machine and its CPU flags."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line
                break
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()} {flags}"


def _build_key(compiler: str, flags: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.c")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(" ".join((compiler, *flags, _cpu_signature())).encode())
    return digest.hexdigest()[:16]


def _compile(compiler: str, flags: tuple[str, ...], target: Path) -> None:
    """Compile into a temporary file, then rename: a half-written library is never loaded."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so.tmp", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *flags, "-o", tmp, str(SOURCE_DIR / ENTRY_SOURCE)], check=True,
                       capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load() -> tuple[ctypes.CDLL | None, str]:
    if not accel_enabled():
        return None, f"turned off by {ACCEL_ENV}=0"
    if platform.system() != "Linux":
        return None, f"not built on {platform.system()} (Linux only)"
    compiler = _compiler()
    if compiler is None:
        return None, "no C compiler found (cc, gcc or clang)"
    errors = []
    for extra in (_OPENMP_FLAGS, ()):  # a compiler without OpenMP still gets single-threaded kernels
        flags = _BASE_FLAGS + extra
        for directory in _build_dirs():
            target = directory / f"digits-kernels-{_build_key(compiler, flags)}.so"
            try:
                if not target.exists():
                    _compile(compiler, flags, target)
                lib = ctypes.CDLL(str(target))
            except (OSError, subprocess.SubprocessError) as exc:
                detail = (getattr(exc, "stderr", "") or str(exc)).strip()
                errors.append(detail.splitlines()[-1] if detail else type(exc).__name__)
                continue
            check_signatures(lib)
            for name, argtypes in _SIGNATURES.items():
                for suffix in SUFFIXES.values():
                    fn = getattr(lib, f"{name}_{suffix}")
                    fn.argtypes, fn.restype = argtypes, ctypes.c_int  # 0, or -1: out of memory
            threads = "OpenMP" if extra else "one thread"
            return lib, f"built with {compiler} ({threads}): {target}"
    return None, "build failed: " + " | ".join(dict.fromkeys(errors))


class SignatureMismatch(RuntimeError):
    """The compiled kernels and this module disagree about a function's arguments."""


_TYPE_CODES = {_PTR: "p", _I64: "l", _U32: "u", ctypes.c_float: "f"}


def signature_table() -> str:
    """`_SIGNATURES` in the C side's notation (see digits_signatures in csrc/kernels.c)."""
    return ";".join(f"{name}:{''.join(_TYPE_CODES[t] for t in args)}" for name, args in _SIGNATURES.items())


def check_signatures(lib: ctypes.CDLL) -> None:
    """Raise SignatureMismatch unless the library declares exactly the argument types used here."""
    lib.digits_signatures.restype = ctypes.c_char_p
    lib.digits_signatures.argtypes = []
    declared = lib.digits_signatures().decode()
    if declared != signature_table():
        raise SignatureMismatch(f"C kernels declare {declared!r}, digits/training/accel/native.py expects "
                                f"{signature_table()!r}: update both sides together")


def known_status() -> str:
    """What is known without building anything: the load's outcome, or that it has not happened."""
    with _lock:
        if "lib" in _state:
            return str(_state["status"])
    return f"turned off by {ACCEL_ENV}=0" if not accel_enabled() else "not built yet (built on first use)"


def _build_dirs() -> list[Path]:
    """The cache, then a private temporary folder if the cache cannot be written."""
    fallback = Path(tempfile.gettempdir()) / f"digits-{os.getuid()}"
    return [cache_dir(), fallback] if cache_dir() != fallback else [fallback]


def library() -> ctypes.CDLL | None:
    """The loaded kernels, built on first call; None when they are unavailable."""
    with _lock:
        if "lib" not in _state:
            _state["lib"], _state["status"] = _load()
        return _state["lib"]  # type: ignore[return-value]


def status() -> str:
    """Why the kernels are, or are not, in use."""
    library()
    return str(_state["status"])


def reset() -> None:
    """Forget the loaded library (tests change the environment between calls)."""
    with _lock:
        _state.clear()


@contextlib.contextmanager
def turned_off() -> Iterator[None]:
    """Within the block, act as if the kernels were unavailable (benchmarks compare paths)."""
    library()
    with _lock:
        saved = dict(_state)
        _state.update(lib=None, status="turned off for this block")
    try:
        yield
    finally:
        with _lock:
            _state.clear()
            _state.update(saved)
