#!/usr/bin/env python3
"""Writes the enterprise plugin's wheel: `cassachange_enterprise-<version>-py3-none-<platform>.whl`.

The wheel installs the plugin (`libcassachange_enterprise.so`, or
`cassachange_enterprise.dll` for `win_amd64`) into the environment's scripts folder
(`<venv>/bin`, `<venv>\\Scripts` on Windows), beside the `cassachange` binary of the `cassachange` wheel (which it
requires, same version): the binary loads the plugin found beside itself, so
`pip install cassachange-enterprise` turns the venv's binary into the enterprise edition.
The original's extras (`vault`, `aws`, `azure`, `all`) are declared and add nothing: the
plugin carries every provider.

Standard library only; the same inputs give the same bytes (entries sorted, times from
SOURCE_DATE_EPOCH).

usage: plugin_wheel.py --plugin PATH --version V --platform TAG --out DIR
"""

import argparse
import base64
import hashlib
import os
import sys
import time
import zipfile

NAME = "cassachange_enterprise"
EXTRAS = ("vault", "aws", "azure", "all")


def digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--plugin", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--platform", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    try:
        with open(a.plugin, "rb") as f:
            plugin = f.read()
    except OSError as e:
        print(f"plugin_wheel.py: cannot read the plugin {a.plugin}: {e}", file=sys.stderr)
        return 2
    dist_info = f"{NAME}-{a.version}.dist-info"
    data = f"{NAME}-{a.version}.data"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            "Name: cassachange-enterprise",
            f"Version: {a.version}",
            "Summary: cassachange enterprise plugin: secret managers (HashiCorp Vault, AWS SSM, "
            "AWS Secrets Manager, Azure Key Vault), file secrets and the audit log",
            "License: Apache-2.0",
            f"Requires-Dist: cassachange=={a.version}",
            *[f"Provides-Extra: {e}" for e in EXTRAS],
            "",
            "Installs the enterprise plugin beside the `cassachange` binary of the "
            "`cassachange` wheel. The extras exist so the original's install commands work "
            "as written; each installs the same plugin, which carries every provider.",
            "",
        ]
    )
    wheel = "\n".join(
        [
            "Wheel-Version: 1.0",
            "Generator: cassachange packaging/plugin_wheel.py",
            "Root-Is-Purelib: false",
            f"Tag: py3-none-{a.platform}",
            "",
        ]
    )
    # (path in the wheel, bytes, mode)
    files = [
        (f"{data}/scripts/{os.path.basename(a.plugin)}", plugin, 0o755),
        (f"{dist_info}/METADATA", metadata.encode(), 0o644),
        (f"{dist_info}/WHEEL", wheel.encode(), 0o644),
    ]
    record = "".join(f"{path},{digest(b)},{len(b)}\n" for path, b, _ in files)
    record += f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode(), 0o644))

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip times start in 1980
    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, f"{NAME}-{a.version}-py3-none-{a.platform}.whl")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path, b, mode in files:
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, b)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
