"""Record the golden outputs: ``.venv/bin/python tests/golden/record.py [CASE ...]``.

Run it only when a change is meant to alter results (and say so in the commit message).
"""

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, path_of  # noqa: E402


def main(names):
    for name in names or CASES:
        with tempfile.TemporaryDirectory() as tmp:
            value = CASES[name](Path(tmp))
        path_of(name).write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path_of(name)}")


if __name__ == "__main__":
    main(sys.argv[1:])
