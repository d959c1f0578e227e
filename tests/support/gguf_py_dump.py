"""Prints, as one JSON object, what llama.cpp's Python reader (gguf-py's
GGUFReader) sees in a GGUF file: its metadata (each key's value types and
its values, nested arrays flattened as the reader keeps them) and its
tensors (type id, dimensions, where their data starts, the bytes in hex).
gguf_file_test compares it with what ralm_gguf wrote.

usage: gguf_py_dump.py GGUF_PY_DIR FILE.gguf
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader, GGUFValueType  # noqa: E402


def leaf(part, value_type):
    if value_type == GGUFValueType.STRING:
        return bytes(part).decode("utf-8")
    return part[0].item()


reader = GGUFReader(sys.argv[2])
fields = []
for name, field in reader.fields.items():
    if name.startswith("GGUF."):  # the header, which the reader lists as fields
        continue
    leaf_type = field.types[-1]
    fields.append({
        "key": name,
        "types": [t.name for t in field.types],
        "values": [leaf(field.parts[i], leaf_type) for i in field.data] if field.types[-1] != GGUFValueType.ARRAY else [],
    })
tensors = [{
    "name": t.name,
    "type": int(t.tensor_type),
    "dims": [int(d) for d in t.shape],
    "data_offset": int(t.data_offset),
    "hex": t.data.tobytes().hex(),
} for t in reader.tensors]
print(json.dumps({"alignment": int(reader.alignment), "fields": fields, "tensors": tensors}))
