#!/usr/bin/env python3
"""Writes cassachange's wheels: `<name>-<version>-py3-none-<platform>.whl`.

--kind bin: `cassachange`, which installs the Rust binary (`cassachange`, or
`cassachange.exe`) into the environment's scripts folder, so `pip install cassachange`
puts it on PATH as the Python tool's entry point was.

--kind plugin: `cassachange_enterprise`, which installs the plugin (`libcassachange_enterprise.so`, or
`cassachange_enterprise.dll` for `win_amd64`) into the environment's scripts folder
(`<venv>/bin`, `<venv>\\Scripts` on Windows), beside the `cassachange` binary of the `cassachange` wheel (which it
requires, same version): the binary loads the plugin found beside itself, so
`pip install cassachange-enterprise` turns the venv's binary into the enterprise edition.
The original's extras (`vault`, `aws`, `azure`, `all`) are declared and add nothing: the
plugin carries every provider.

Standard library only; the same inputs give the same bytes (entries sorted, times from
SOURCE_DATE_EPOCH).

The platform tag is given (`manylinux_2_17_x86_64.manylinux2014_x86_64`, `win_amd64`, …):
packaging/build.sh builds against glibc 2.17 with zig and checks the Linux wheels with
`auditwheel show`.

usage: wheel.py --kind bin|plugin --file PATH --version V --platform TAG --out DIR
"""

import argparse
import base64
import hashlib
import os
import sys
import time
import zipfile

EXTRAS = ("vault", "aws", "azure", "all")


def digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--kind", required=True, choices=("bin", "plugin"))
    p.add_argument("--file", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--platform", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    try:
        with open(a.file, "rb") as f:
            payload = f.read()
    except OSError as e:
        print(f"wheel.py: cannot read {a.file}: {e}", file=sys.stderr)
        return 2
    name = "cassachange" if a.kind == "bin" else "cassachange_enterprise"
    dist_info = f"{name}-{a.version}.dist-info"
    data = f"{name}-{a.version}.data"
    if a.kind == "bin":
        metadata_lines = [
            "Metadata-Version: 2.1",
            "Name: cassachange",
            f"Version: {a.version}",
            "Summary: Schema migrations for Apache Cassandra and DataStax AstraDB "
            "(a Rust drop-in for cassachange 1.0.0)",
            "License: Apache-2.0",
            "",
            "Installs the `cassachange` binary on PATH. Add the enterprise plugin with "
            "`pip install cassachange-enterprise`.",
            "",
        ]
    else:
        metadata_lines = [
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
    metadata = "\n".join(metadata_lines)
    wheel = "\n".join(
        [
            "Wheel-Version: 1.0",
            "Generator: cassachange packaging/wheel.py",
            "Root-Is-Purelib: false",
            f"Tag: py3-none-{a.platform}",
            "",
        ]
    )
    # (path in the wheel, bytes, mode)
    files = [
        (f"{data}/scripts/{os.path.basename(a.file)}", payload, 0o755),
        (f"{dist_info}/METADATA", metadata.encode(), 0o644),
        (f"{dist_info}/WHEEL", wheel.encode(), 0o644),
    ]
    record = "".join(f"{path},{digest(b)},{len(b)}\n" for path, b, _ in files)
    record += f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode(), 0o644))

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip times start in 1980
    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, f"{name}-{a.version}-py3-none-{a.platform}.whl")
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
