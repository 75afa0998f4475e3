import subprocess
import sys

import tunesmith


def test_public_api_names_resolve():
    for name in tunesmith.__all__:
        assert getattr(tunesmith, name) is not None


def test_import_is_light():
    code = "import sys, tunesmith; print('torch' in sys.modules, 'music21' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"]
