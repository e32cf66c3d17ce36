# memprof: `make demo` and `make test` each do the whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memprof-installed
# A portable AVX2/FMA/F16C build: the default -march=native build uses AVX-512 where the CPU
# has it, and Valgrind 3.19 stops at the first AVX-512 instruction (SIGILL in ggml_cpu_init).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
PYTEST_ARGS ?=
# the third-party corpus's venvs (tests/corpus/cases.json pins cp311 wheels)
CORPUS_PYTHON ?= python3.11
MEMPROF_CORPUS_VENV ?= $(HOME)/.cache/memprof/corpus-venv
export MEMPROF_CORPUS_VENV

.PHONY: setup demo test unit bench clean corpus-venv

setup: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml profiler/parsers/_htdecode.c scripts/install_system.sh
	PYTHON=$(PYTHON) bash scripts/install_system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	    $(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python scripts/check_llama_build.py
	touch $(STAMP)

# each demo is a new run directory under runs/; runs/latest points at the newest
demo: setup
	$(BIN)/memprof run
	$(BIN)/memprof report runs/latest

# under CI the live corpus test must run, so its venvs are made first
test: setup $(if $(filter true,$(CI)),corpus-venv)
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS) tests

unit: setup
	$(BIN)/python -m pytest -q -ra tests/unit

corpus-venv:
	CORPUS_PYTHON=$(CORPUS_PYTHON) bash scripts/make_corpus.sh venvs

bench: setup
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache profiler/parsers/_htdecode*.so
