"""Writing the JSON records of ``mfcore train``, ``evaluate``, ``recommend`` and ``tour``."""
import json
import os
import tempfile

import numpy as np


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically (temp file, then rename)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".mfcore-", suffix=".json.part", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, default=_json_default)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.dtype):
        return str(o)
    return str(o)
