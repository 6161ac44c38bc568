"""Regenerate the committed Python code for protos/ (`make protos`).

Messages (`_pb2.py`), typing stubs (`.pyi`, mypy-protobuf) and gRPC stubs (`_pb2_grpc.py`) land
under the `gdtmesh` import root, mirroring the proto packages (`gdtmesh.gdt_connector.v1` ->
`gdtmesh/gdt_connector/v1/`). tests/test_protos.py regenerates into a temporary folder and fails
on drift.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
VENDORED = ROOT / "third_party" / "googleapis"
# Generated packages: one per proto package under protos/gdtmesh/.
PACKAGES = ("invoice", "gdt_connector", "storage", "gateway")


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("gdtmesh/*/v1/*.proto"))


def generate(out_dir: Path) -> None:
    """Write the generated modules for every proto file under `out_dir`."""
    plugin_dir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{VENDORED}",
        f"-I{files('grpc_tools') / '_proto'}",
        f"--plugin=protoc-gen-mypy={plugin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(path.relative_to(PROTO_ROOT)) for path in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in PACKAGES:
        for folder in (out_dir / "gdtmesh" / package, out_dir / "gdtmesh" / package / "v1"):
            (folder / "__init__.py").touch()


def main() -> None:
    generate(ROOT)
    print(f"generated Python for {len(proto_files())} proto files under gdtmesh/")


if __name__ == "__main__":
    main()
