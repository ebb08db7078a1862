"""``iamwatch`` with one optimisation switched off, for the ablation figures of the benchmark.

    python -m bench.variants ordinary scan DIR --format jsonl

``ordinary``: no fast decoder (every record built by orjson) and stdlib zlib;
``stdlib-zlib``: the fast decoder, but stdlib zlib instead of ISA-L for gunzip.
The switches replace private functions of ``iamwatch.sources``; if those move, the variant
fails loudly and the benchmark reports it as unavailable.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iamwatch.sources import Prefilter, Problem, RawRecord, Skipped

VARIANTS = ("ordinary", "stdlib-zlib")


def _no_fast_path(
    name: str, data: bytes, line: int | None, prefilter: Prefilter
) -> list[RawRecord | Problem | Skipped] | None:
    return None  # "take the ordinary path"


def apply(variant: str) -> None:
    import iamwatch.sources as sources

    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    for name in ("_new_decompressor", "_zlib_decompressor", "_fast_records"):
        if not hasattr(sources, name):
            raise SystemExit(f"iamwatch.sources.{name} is gone; update bench/variants.py")
    sources._new_decompressor = sources._zlib_decompressor
    if variant == "ordinary":
        sources._fast_records = _no_fast_path


def main(argv: Sequence[str]) -> None:
    if not argv:
        raise SystemExit(f"usage: python -m bench.variants {{{','.join(VARIANTS)}}} ARGS...")
    apply(argv[0])
    from iamwatch.cli import main as iamwatch_main

    sys.argv = ["iamwatch", *argv[1:]]
    iamwatch_main()


if __name__ == "__main__":
    main(sys.argv[1:])
