# Two commands a user needs: `make run` (serve the committed model) and `make test` (full test suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(or $(MODERATION_DATA_DIR),../shared/data)
# `make run HOST=... PORT=...` only: a HOST or PORT already in the environment (a PaaS's, zsh's) does not move the
# server, and without them the settings decide (MODERATION_HOST/PORT, the MODERATION_CONFIG file, else 127.0.0.1:8000).
SERVE_ADDRESS = $(if $(filter command line,$(origin HOST)),--host $(HOST)) $(if $(filter command line,$(origin PORT)),--port $(PORT))

.PHONY: install run test test-fast train train-encoder requantise rewindow undisguise sentences wider-disguises one-letter-words symbol-disguises reproduce eval ceiling bench notebooks screenshots clean

install: $(STAMP)

# What serving needs (and `moderate score --engine dask`), without the test extra's torch, browser driver and linters:
# the first `make run` fills .venv with about 1 GB instead of 2.5 GB. `make test` and the other targets add the rest.
SERVE_STAMP := $(VENV)/.installed-serve

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: install python3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

$(SERVE_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dask]'
	@touch $(SERVE_STAMP)

run: $(SERVE_STAMP)
	$(BIN)/moderate keys ensure-local
	$(BIN)/moderate serve $(SERVE_ADDRESS)

# One test process per core, at most 4 (pytest-xdist); `PYTEST_WORKERS=0` runs the suite in this process.
PYTEST_WORKERS ?= auto --maxprocesses 4
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist worksteal

# The suite must stay well under 15 minutes on 2 cores: it ends with its 20 slowest tests, to see where time goes.
test: install
	$(BIN)/ruff check model service tests notebooks
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations 20

test-fast: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

# Rebuilds the TF-IDF bundle bundles/1.4.0 in place (the base of the encoder bundles 2.11.0 to 2.13.0; the served one is
# untouched).
# 1.3.0 (base of 2.10.0) and 1.2.0 (base of 2.2.0-2.9.0; `moderate train --no-added-sets --version 1.2.0`) are rebuilt
# by the code of commit 240ff17, before 1.4.0 changed the normaliser and the test texts left out of training.
train: install
	$(BIN)/moderate train --data-dir $(DATA_DIR) --overwrite

# Fine-tunes the encoder of bundle 2.x: about 45 minutes on 2 idle cores without AVX-512 VNNI (2.6.0's recipe trains
# all six layers; 2.12.0's run took 40.7 minutes on VNNI cores, part of them beside tests, 2.13.0's 36.2 minutes), over an hour on shared ones (one pass,
# seeded, checkpoints in var/encoder; run it again with RESUME=1 after an interruption), then exports it to int8 ONNX
# and builds bundles/$(ENCODER_VERSION) (6.3 minutes for 2.12.0). Never over an existing bundle unless OVERWRITE=1, and
# never over the served one (checked first): to rebuild 2.13.0 (the base of 2.14.0, `make undisguise`, 2.15.0, 2.16.0 and the served 2.17.0),
# name a copy (ENCODER_VERSION=2.13.0-check) and compare.
ENCODER_VERSION ?= 2.13.0
# The fine-tuning's seed (the sample, the batch order, dropout, the heads' start): 2.13.0 used the default, 7;
# 2.6.0 and 2.12.0 used 20261231 (ENCODER_SEED=20261231 ENCODER_VERSION=2.12.0-check).
ENCODER_SEED ?= 7
# BALANCE_IDENTITIES=1 adds civil sentences naming each group term the sample names mostly in toxic rows (Dixon et al.'s
# mitigation; model/training/identity_templates.py); no committed bundle was trained with it.
# The TF-IDF bundle the encoder joins: 1.4.0 from 2.11.0 on (`make train` builds it), 1.3.0 for 2.10.0, 1.2.0 for
# 2.2.0-2.9.0.
TFIDF_BASE ?= 1.4.0
# make requantise: the bundle whose fine-tuned encoder bundles/$(ENCODER_VERSION) is built from without training.
# 2.8.0 was `make requantise ENCODER_VERSION=2.8.0 TFIDF_BASE=1.2.0 ALIGN=stride`.
REQUANTISE_FROM ?= 2.6.0
# The shipped mode: the encoder on every comment (MODEL_CARD.md says why); `cascade` is the faster alternative.
ENCODER_MODE ?= encoder
# Word pieces between the starts of a long comment's encoder windows: 32 (every bundle to 2.8.0) overlaps them by half,
# 62 reads each piece once (MODEL_CARD.md, *Windows without overlap*).
STRIDE ?= 32
# How a long comment's windows are cut: `stride` (every STRIDE pieces; every bundle to 2.8.0) or `sentences` (each
# window ends at a sentence end and the next starts there, so a sentence is read whole and once; 2.9.0 on).
ALIGN ?= sentences
# make bench: the archive runs (1M rows take about an hour per run with the encoder on every comment).
ARCHIVE_ROWS ?= 1000000
ARCHIVE_MODE ?= cascade
train-encoder: install
	$(BIN)/python -m pip install --quiet -e '.[train]'
	$(BIN)/python -m model.training.encoder bundle --version $(ENCODER_VERSION) $(if $(OVERWRITE),--overwrite) --check-folder
	$(BIN)/python -m model.training.encoder train --data-dir $(DATA_DIR) --work var/encoder --seed $(ENCODER_SEED) $(if $(RESUME),--resume) $(if $(BALANCE_IDENTITIES),--balance-identities)
	$(BIN)/python -m model.training.encoder export --work var/encoder --out var/encoder/export
	$(BIN)/python -m model.training.encoder bundle --data-dir $(DATA_DIR) --work var/encoder --version $(ENCODER_VERSION) --base $(TFIDF_BASE) --mode $(ENCODER_MODE) --stride $(STRIDE) --align $(ALIGN) $(if $(OVERWRITE),--overwrite)

# 2.10.0 (like 2.7.0-2.9.0) is 2.6.0's fine-tuned encoder with activations quantised per token
# (model/training/quantisation.py), around the TF-IDF bundle 1.3.0, calibrated and thresholded again: about 10 minutes,
# no fine-tuning. Its graph is what `export` gives from 2.6.0's weights. 2.11.0 was `make requantise
# ENCODER_VERSION=2.11.0` at commit a9bea86 (the encoder has read styled letters plainly since, which moves a few
# validation scores: a rebuild now is close to 2.11.0, not byte for byte).
requantise: install
	$(BIN)/python -m pip install --quiet -e '.[train]'
	$(BIN)/python -m model.training.encoder bundle --version $(ENCODER_VERSION) --check-folder
	$(BIN)/python -m model.training.encoder requantise --bundle $(REQUANTISE_FROM) --work var/encoder_requantised
	$(BIN)/python -m model.training.encoder bundle --data-dir $(DATA_DIR) --work var/encoder_requantised --version $(ENCODER_VERSION) --base $(TFIDF_BASE) --mode $(ENCODER_MODE) --stride $(STRIDE) --align $(ALIGN)

# 2.9.0 is 2.8.0 reading long comments in windows that end at sentence ends, every choice of 2.8.0 kept (MODEL_CARD.md,
# *Version 2.9.0*): about 4 minutes (probes, validation AUCs before and after, test metrics), no fine-tuning. It will
# not overwrite a bundle: to check the committed one, give another name (REWINDOWED_VERSION=2.9.0-check) and compare.
REWINDOW_FROM ?= 2.8.0
REWINDOWED_VERSION ?= 2.9.0
rewindow: install
	$(BIN)/python -m model.training.encoder rewindow --data-dir $(DATA_DIR) --bundle $(REWINDOW_FROM) --version $(REWINDOWED_VERSION) --align sentences

# 2.14.0 is 2.13.0 also reading each comment with its disguises undone ("i.d.i.o.t", look-alike letters), every choice
# of 2.13.0 kept (MODEL_CARD.md, *Version 2.14.0*): a few minutes (probes, validation AUCs before and after, test
# metrics), no fine-tuning. It will not overwrite a bundle: to check the committed one, give another name
# (UNDISGUISED_VERSION=2.14.0-check) and compare.
UNDISGUISE_FROM ?= 2.13.0
UNDISGUISED_VERSION ?= 2.14.0
undisguise: install
	$(BIN)/python -m model.training.encoder rewindow --data-dir $(DATA_DIR) --bundle $(UNDISGUISE_FROM) --version $(UNDISGUISED_VERSION) --align sentences --undisguised

# 2.15.0 is 2.14.0 also reading each sentence of a one-window comment on its own, a margin taken off its logits chosen
# on the validation sets among 0, 0.5, 1 and 2, every other choice of 2.14.0 kept (MODEL_CARD.md, *Version 2.15.0*):
# 7 minutes, no fine-tuning. It will not overwrite a bundle: to check the committed one, give another name
# (SENTENCES_VERSION=2.15.0-check) and compare.
SENTENCES_FROM ?= 2.14.0
SENTENCES_VERSION ?= 2.15.0
sentences: install
	$(BIN)/python -m model.training.encoder rewindow --data-dir $(DATA_DIR) --bundle $(SENTENCES_FROM) --version $(SENTENCES_VERSION) --align sentences --sentences

# 2.16.0 is 2.15.0 whose undisguised reading undoes wider disguises too (letters spaced wider or a line apart, blank
# fillers, upside-down words, lone regional indicator letters, dotted words parted at blanks: "y.o.u a.r.e a l.o.s.e.r"),
# every other choice of 2.15.0 kept (MODEL_CARD.md, *Version 2.16.0*): 4.5 minutes, no fine-tuning. It will not
# overwrite a bundle: to check the committed one, give another name (WIDER_VERSION=2.16.0-check) and compare.
WIDER_FROM ?= 2.15.0
WIDER_VERSION ?= 2.16.0
wider-disguises: install
	$(BIN)/python -m model.training.encoder rewindow --data-dir $(DATA_DIR) --bundle $(WIDER_FROM) --version $(WIDER_VERSION) --align sentences --wider-disguises

# 2.17.0 is 2.16.0 whose wider undisguised reading parts "a" or "i" from spaced letters after it that are a word of
# the tokenizer's vocabulary or one its TF-IDF heads learned, and together none ("a l o s e r" -> "a loser", "I h a t e
# you" -> "i hate you"), every other choice of 2.16.0 kept (MODEL_CARD.md, *Version 2.17.0*): 5.5 minutes, no
# fine-tuning. It will not overwrite a bundle: to check the committed one, give another name
# (ONE_LETTER_VERSION=2.17.0-check) and compare.
ONE_LETTER_FROM ?= 2.16.0
ONE_LETTER_VERSION ?= 2.17.0
one-letter-words: install
	$(BIN)/python -m model.training.encoder rewindow --data-dir $(DATA_DIR) --bundle $(ONE_LETTER_FROM) --version $(ONE_LETTER_VERSION) --align sentences --one-letter-words

# 2.18.0 is 2.17.0 whose wider undisguised reading also undoes disguises made with symbols: characters each in
# brackets ("(i)(d)(i)(o)(t)"), digits among spaced letters ("i d 1 o t", "l 0 s e r") and an "@" inside a word
# ("f@g", "b@stard"), every other choice of 2.17.0 kept (MODEL_CARD.md, *Version 2.18.0*): about 5 minutes, no
# fine-tuning. It will not overwrite a bundle: to check the committed one, give another name
# (SYMBOLS_VERSION=2.18.0-check) and compare.
SYMBOLS_FROM ?= 2.17.0
SYMBOLS_VERSION ?= 2.18.0
symbol-disguises: install
	$(BIN)/python -m model.training.encoder rewindow --data-dir $(DATA_DIR) --bundle $(SYMBOLS_FROM) --version $(SYMBOLS_VERSION) --align sentences --symbol-disguises

reproduce: install
	$(BIN)/python -m model.training.reproduce --data-dir $(DATA_DIR)

eval: install
	$(BIN)/moderate eval --data-dir $(DATA_DIR) --out reports $(if $(BASELINE),--baseline $(BASELINE))

ceiling: install
	$(BIN)/python -m model.evaluation.claims_ceiling --data-dir $(DATA_DIR) --out reports/claims_ceiling.md

bench: install
	$(BIN)/python -m model.evaluation.benchmark --out reports/bench.md
	MODERATION_ENCODER_MODE=cascade $(BIN)/python -m model.evaluation.benchmark --out reports/bench_cascade.md
	$(BIN)/python -m service.loadtest --out reports/bench_service.md
	$(BIN)/python -m service.loadtest --encoder-mode cascade --out reports/bench_service_cascade.md
	$(BIN)/python -m service.request_cost --out reports/request_cost.md
	MODERATION_ENCODER_MODE=$(ARCHIVE_MODE) $(BIN)/python -m model.evaluation.archive_bench --rows $(ARCHIVE_ROWS) --out reports/archive_bench.md

notebooks: install
	$(BIN)/python -m model.evaluation.notebook_runner --data-dir $(DATA_DIR) $(if $(SITE_DATA),--site-data $(SITE_DATA)) \
		$(if $(POLICY),--policy $(POLICY))

# The moderation page's README screenshots (needs Chromium: `bash .ci/browser.sh` as root installs it).
screenshots: install
	$(BIN)/python -m tests.screenshots --out docs/screenshots

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
