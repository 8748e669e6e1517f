"""GoRules JDM interoperability for the subset the engine supports: one decision table between input and output.

Supported: ``inputNode`` → one ``decisionTableNode`` (hit policy ``first`` or ``collect``; input columns
with a ``field``; cells from the unary-test subset in :mod:`.expressions`; output cells that are literals)
→ ``outputNode``. Anything else (expression, switch, function or sub-decision nodes, input columns without
a field, computed outputs) is refused with a message naming it. Export writes the same shape, so a table
round-trips; ``priority`` and ``unique`` hit policies do not exist in JDM and are refused on export.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..errors import DomainError
from .expressions import RuleSyntaxError, compile_expression
from .tables import Column, CompiledTable, DecisionTable, Row, compile_table

SUPPORTED_NODES = {"inputNode", "outputNode", "decisionTableNode"}


class UnsupportedJDM(DomainError):
    """The JDM document uses a construct outside the supported subset."""


def import_jdm(document: dict[str, Any] | str) -> DecisionTable:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise UnsupportedJDM(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        raise UnsupportedJDM("a JDM document is an object with 'nodes' and 'edges'")
    nodes = document["nodes"]
    for node in nodes:
        if node.get("type") not in SUPPORTED_NODES:
            raise UnsupportedJDM(f"node {node.get('name') or node.get('id')!r} of type {node.get('type')!r} is not "
                                 f"supported (only inputNode → one decisionTableNode → outputNode)")
    tables = [n for n in nodes if n["type"] == "decisionTableNode"]
    if len(tables) != 1:
        raise UnsupportedJDM(f"exactly one decisionTableNode is supported, found {len(tables)}")
    node = tables[0]
    edges = document.get("edges", [])
    kinds = {n["id"]: n["type"] for n in nodes}
    for edge in edges:
        pair = (kinds.get(edge.get("sourceId")), kinds.get(edge.get("targetId")))
        if pair not in (("inputNode", "decisionTableNode"), ("decisionTableNode", "outputNode")):
            raise UnsupportedJDM(f"edge {edge.get('id')!r} from {pair[0]} to {pair[1]} is not supported")
    content = node.get("content") or {}
    policy = content.get("hitPolicy", "first")
    if policy not in ("first", "collect"):
        raise UnsupportedJDM(f"hit policy {policy!r} is not supported (first or collect)")
    if content.get("passThrough") or content.get("inputField") or content.get("outputPath"):
        raise UnsupportedJDM("passThrough, inputField and outputPath are not supported")
    inputs = []
    for column in content.get("inputs", []):
        if not column.get("field"):
            raise UnsupportedJDM(f"input column {column.get('name') or column['id']!r} has no field "
                                 "(cells as full expressions are not supported)")
        inputs.append(Column(column["id"], column["field"], column.get("name", "")))
    outputs = []
    for column in content.get("outputs", []):
        if not column.get("field"):
            raise UnsupportedJDM(f"output column {column.get('name') or column['id']!r} has no field")
        outputs.append(Column(column["id"], column["field"], column.get("name", "")))
    rows = []
    for i, rule in enumerate(content.get("rules", [])):
        row_id = str(rule.get("_id") or f"row{i + 1}")
        cells = {c.id: str(rule.get(c.id, "") or "") for c in inputs}
        outs = {}
        for c in outputs:
            text = str(rule.get(c.id, "") or "")
            if text.strip():
                try:
                    compiled = compile_expression(text, catalogue=None, where=f"row {row_id}, output {c.name}")
                except RuleSyntaxError as exc:
                    raise UnsupportedJDM(f"unsupported output cell: {exc}") from None
                if not compiled.constant:
                    raise UnsupportedJDM(f"row {row_id}, output {c.name or c.id}: only literal outputs are supported, "
                                         f"not {text!r}")
            outs[c.id] = text
        rows.append(Row(row_id, cells, outs, description=str(rule.get("_description", "") or "")))
    table = DecisionTable(node.get("id") or "table", node.get("name", ""), policy, inputs, outputs, rows)
    try:
        compile_table(table, catalogue=None)
    except RuleSyntaxError as exc:
        raise UnsupportedJDM(f"unsupported cell: {exc}") from None
    return table


def export_jdm(table: DecisionTable) -> dict[str, Any]:
    if table.hit_policy not in ("first", "collect"):
        raise UnsupportedJDM(f"JDM has no {table.hit_policy!r} hit policy; use first or collect to export")
    rules = []
    for row in table.rows:
        if not row.enabled:
            continue
        rule: dict[str, Any] = {"_id": row.id}
        if row.description:
            rule["_description"] = row.description
        for c in table.inputs:
            rule[c.id] = row.cells.get(c.id, "")
        for c in table.outputs:
            rule[c.id] = row.outputs.get(c.id, "")
        rules.append(rule)
    position = {"x": 0, "y": 0}
    return {
        "nodes": [
            {"id": "input", "type": "inputNode", "name": "Request", "position": position},
            {"id": table.id, "type": "decisionTableNode", "name": table.name or table.id, "position": position,
             "content": {"hitPolicy": table.hit_policy,
                         "inputs": [{"id": c.id, "name": c.name or c.field, "field": c.field} for c in table.inputs],
                         "outputs": [{"id": c.id, "name": c.name or c.field, "field": c.field}
                                     for c in table.outputs],
                         "rules": rules}},
            {"id": "output", "type": "outputNode", "name": "Response", "position": position},
        ],
        "edges": [
            {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, table.id + "/in")), "sourceId": "input",
             "targetId": table.id, "type": "edge"},
            {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, table.id + "/out")), "sourceId": table.id,
             "targetId": "output", "type": "edge"},
        ],
    }


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for path, value in flat.items():
        parts = path.split(".")
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def evaluate_jdm(compiled: CompiledTable, payload: dict[str, Any]) -> Any:
    """The result zen-engine gives for the table: an object (first) or a list of objects (collect)."""
    rows = compiled.hits(payload)
    # zen-engine 2.1 leaves out null outputs under 'first' but keeps them under 'collect'
    keep_null = compiled.table.hit_policy == "collect"
    results = [_nest({k: _plain(v) for k, v in compiled.outputs_of(r, payload).items()
                      if keep_null or v is not None}) for r in rows]
    if compiled.table.hit_policy == "first":
        return results[0] if results else {}
    return results


def load_jdm(document: dict[str, Any] | str) -> CompiledTable:
    return compile_table(import_jdm(document), catalogue=None)


__all__ = ["UnsupportedJDM", "evaluate_jdm", "export_jdm", "import_jdm", "load_jdm"]
