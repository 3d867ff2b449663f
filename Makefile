# Two commands set everything up on a fresh clone: `make demo` and `make test`.
# Both create .venv when it is missing and install descend with the pinned development versions.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench browser browser-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m descend.cli demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/loop_overhead.py

# The page tests open landscape.html and report.html in headless Chromium (tests/browser.py); without a browser
# they skip and say so. Debian/Ubuntu: `make browser` (needs root); elsewhere set DESCEND_BROWSER=/path/to/chrome.
browser:
	apt-get install -y chromium || sudo apt-get install -y chromium

browser-check: $(STAMP)
	$(PY) -m pytest -q -rs tests/test_landscape_browser.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
