"Shared pytest fixtures: the repo root and the real data folder (never copied into the repo)."
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

@pytest.fixture(scope='session')
def root(): return ROOT
