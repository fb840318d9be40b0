"""The Python half of the cross-language encoding test: reads every vector
the Rust step wrote, checks its Python type and canonical bytes, and
writes it back for the Rust step to compare."""

from mfw import FlowSpec, step
from mfw._encoding import encode
from vectors import VECTORS  # written beside this file by the test

PYTHON_TYPES = {
    "null": type(None),
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "bytes": bytes,
    "list": list,
    "tuple": tuple,
    "set": set,
    "map": dict,
}


class VectorsCheck(FlowSpec):
    @step
    def check_py(self):
        mismatches = []
        checked = 0
        for index in self.indices:
            vector = VECTORS["valid"][index]
            value = getattr(self, f"v{index}")
            expected_type = PYTHON_TYPES[vector["value"]["type"]]
            if type(value) is not expected_type:
                mismatches.append(f"{vector['name']}: got {type(value).__name__}")
            elif encode(value) != bytes.fromhex(vector["hex"]):
                mismatches.append(f"{vector['name']}: re-encodes differently")
            else:
                checked += 1
            setattr(self, f"p{index}", value)
        self.py_mismatches = mismatches
        self.py_checked = checked
        self.next(self.check_rust)
