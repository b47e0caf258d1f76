import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A 2-layer random llama with the local tokenizer (shared, read-only: copy before changing)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")
