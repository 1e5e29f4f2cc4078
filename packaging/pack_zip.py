#!/usr/bin/env python3
"""Writes a reproducible `.zip` archive (the Windows artifacts' form of the `.tar.gz`).

Entries sit under one top folder named like the archive, sorted, with times from
SOURCE_DATE_EPOCH and fixed modes, so the same inputs give the same bytes.

usage: pack_zip.py --out FILE.zip FILE [FILE ...]
"""

import argparse
import os
import sys
import time
import zipfile


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    top = os.path.basename(a.out)
    if top.endswith(".zip"):
        top = top[: -len(".zip")]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip times start in 1980
    entries = sorted((os.path.basename(f), f) for f in a.files)
    with zipfile.ZipFile(a.out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, path in entries:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                print(f"pack_zip.py: cannot read {path}: {e}", file=sys.stderr)
                return 2
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=stamp)
            mode = 0o755 if name.endswith((".exe", ".dll")) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
