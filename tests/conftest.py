"Shared pytest fixtures: the repo root and the real data folder (never copied into the repo)."
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

@pytest.fixture(scope='session')
def root(): return ROOT

# Markers for tests too heavy for every run (added with nbs/02_generate): skipped unless METAMATH_TEST_FLAGS names
# them, as the notebook shim does for flagged cells, e.g. METAMATH_TEST_FLAGS="slow" pytest tests -m slow
TEST_FLAGS = ('slow', 'gpu', 'api')

def pytest_configure(config):
    for f in TEST_FLAGS: config.addinivalue_line('markers', f'{f}: runs only when METAMATH_TEST_FLAGS contains "{f}"')

def pytest_collection_modifyitems(config, items):
    force = os.environ.get('METAMATH_TEST_FLAGS', '').split()
    for item in items:
        for f in TEST_FLAGS:
            if item.get_closest_marker(f) and f not in force:
                item.add_marker(pytest.mark.skip(reason=f'{f} test: set METAMATH_TEST_FLAGS="{f}" to run it'))
