"""Write the trimmed copy of RunPod's REST API v2 schema that the tests check requests with.

    python scripts/trim_openapi.py [SPEC] [OUT]

SPEC defaults to ``../shared/specs/runpod-rest-v2.openapi.json`` beside the repository,
OUT to ``tests/specs/runpod-rest-v2.json``. The copy keeps only the paths our clients call
(templates, serverless endpoints, the GPU catalog, pods and network volumes) and the
components they reference, with the prose (descriptions, summaries, examples) stripped.
Run it again when the published schema changes; a test checks the copy is current.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO.parent / "shared" / "specs" / "runpod-rest-v2.openapi.json"
OUT = REPO / "tests" / "specs" / "runpod-rest-v2.json"

PATHS = (
    "/v2/templates",
    "/v2/templates/{id}",
    "/v2/serverless",
    "/v2/serverless/{id}",
    "/v2/catalog/gpus",
    "/v2/pods",
    "/v2/pods/{id}",
    "/v2/pods/{id}/action",
    "/v2/network-volumes",
    "/v2/network-volumes/{id}",
)
PROSE = {"description", "summary", "example", "examples", "externalDocs"}
# Keys whose values are maps of user-chosen names (a property may be called "example").
NAMED = {"properties", "patternProperties", "$defs", "mapping"}
REF = re.compile(r"^#/components/([^/]+)/([^/]+)$")


def strip(node: Any, named: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: strip(value, key in NAMED and not named)
            for key, value in node.items()
            if named or key not in PROSE
        }
    if isinstance(node, list):
        return [strip(item) for item in node]
    return node


def refs(node: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and (match := REF.match(ref)):
            found.add((match[1], match[2]))
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    paths = {path: strip(spec["paths"][path]) for path in PATHS}
    components = spec["components"]
    wanted = refs(paths) | {("securitySchemes", name) for name in components["securitySchemes"]}
    kept: dict[str, dict[str, Any]] = {}
    todo = sorted(wanted)
    while todo:
        kind, name = todo.pop()
        if name in kept.setdefault(kind, {}):
            continue
        kept[kind][name] = strip(components[kind][name])
        todo.extend(sorted(refs(kept[kind][name])))
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "servers": [{"url": server["url"]} for server in spec.get("servers", [])],
        "security": spec.get("security", []),
        "paths": paths,
        "components": {kind: dict(sorted(items.items())) for kind, items in sorted(kept.items())},
    }


def render(spec_path: Path) -> str:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    return json.dumps(trim(spec), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    spec = Path(argv[0]) if argv else SPEC
    out = Path(argv[1]) if len(argv) > 1 else OUT
    if not spec.is_file():
        print(f"error: no schema at {spec}; pass its path as the first argument", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(spec), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
