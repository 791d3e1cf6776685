"""The CLI's deployment commands: the browser runtime, the static site, the Space's folder."""

from __future__ import annotations

import argparse
import sys

from digits import web


def add_parsers(sub, add_common) -> None:
    rt = sub.add_parser("web-runtime", help="vendor onnxruntime-web from the npm registry into digits/web/static "
                                            "(needs npm; the page then answers in the browser)")
    rt.set_defaults(func=cmd_web_runtime)
    ex = sub.add_parser("export-web", help="write the static Draw & compare page (models in the browser) to DIR")
    ex.add_argument("out", help="folder to write (serve it with any static file server)")
    add_common(ex)
    ex.set_defaults(func=cmd_export_web)
    sp = sub.add_parser("space", help="write a folder ready for `hf upload` as a Hugging Face Space (ZeroGPU or CPU)")
    sp.add_argument("out", help="folder to write")
    sp.add_argument("--no-runtime", action="store_true", help="leave the browser runtime out (the page then "
                                                             "answers on the server)")
    sp.set_defaults(func=cmd_space)


def cmd_web_runtime(args: argparse.Namespace) -> int:
    try:
        folder = web.build_runtime()
    except (web.RuntimeMissing, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sizes = web.runtime_bytes()
    print(f"onnxruntime-web vendored into {folder}: " + ", ".join(f"{f} {n / 1e6:.2f} MB" for f, n in sizes.items()))
    return 0


def cmd_export_web(args: argparse.Namespace) -> int:
    from digits.recognition.inference import ModelStore

    if not web.runtime_ready():
        code = cmd_web_runtime(args)
        if code:
            return code
    out = web.export_site(args.out, ModelStore(args.weights_dir))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote the static page to {out} ({total / 1e6:.1f} MB); try: python -m http.server -d {out}")
    return 0


def cmd_space(args: argparse.Namespace) -> int:
    from digits import space

    if not args.no_runtime and not web.runtime_ready():
        code = cmd_web_runtime(args)
        if code:
            return code
    out = space.write_space(args.out, runtime=not args.no_runtime)
    print(f"wrote the Space to {out}; upload it with: hf upload USER/SPACE {out} . --repo-type space")
    return 0
