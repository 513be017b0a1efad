"""The encoder path end to end on a tiny randomly initialised BERT built here: no weights, no data.

Tokenise (a WordPiece tokenizer made from the generated corpus), fine-tune a few steps, export to ONNX,
quantise to int8, build a bundle around the tiny TF-IDF bundle, load it, verify its hashes, and find a
hostile sentence buried in a long civil comment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.attributes import HOSTILITY_ATTRIBUTES
from tests.corpus import make_claim_sentences, make_corpus, make_spans

torch = pytest.importorskip("torch", reason="the encoder tests need the train extra (torch==2.13.0)")

N_STEPS = 120
BURIED = "You are a pathetic loser and a dumb fool."
CIVIL = "The council explains the budget and I think that is fair. The report describes the new rules. "


def _tokenizer_file(folder, texts):
    from tokenizers import BertWordPieceTokenizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    words = sorted({word for text in texts for word, _ in BertPreTokenizer().pre_tokenize_str(text.lower())})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tokenizer = BertWordPieceTokenizer(vocab, lowercase=True)
    path = folder / "tokenizer.json"
    tokenizer.save(str(path))
    return path, len(vocab)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A 2-layer, 32-wide BERT fitted for a few steps on the generated corpus, exported fp32 and int8."""
    from transformers import BertConfig

    from model.encoder import load_tokenizer
    from model.training.encoder_batches import batch_order, collate, masked_loss, tokenise
    from model.training.encoder_export import export_onnx
    from model.training.encoder_weights import build_classifier
    from model.training.quantisation import quantise

    folder = tmp_path_factory.mktemp("encoder")
    frame = make_corpus(360, seed=0)
    texts = frame["text"].tolist() + [CIVIL, BURIED]
    tokenizer_path, vocab_size = _tokenizer_file(folder, texts)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    model = build_classifier(config, dropout=0.0)
    ids = tokenise(load_tokenizer(tokenizer_path), frame["text"])
    labels = frame[list(HOSTILITY_ATTRIBUTES)].to_numpy(float)
    weights = np.ones(len(frame))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batches = batch_order(np.array([len(row) for row in ids]), 16, seed=0)
    model.train()
    for step in range(N_STEPS):
        input_ids, mask, batch_labels, batch_weights = collate(ids, batches[step % len(batches)], labels, weights)
        loss = masked_loss(model(input_ids, mask), batch_labels, batch_weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with warnings.catch_warnings():
        # torch.onnx's TorchScript exporter warns about its own deprecation and about traced shape checks.
        for category in (DeprecationWarning, FutureWarning, UserWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        fp32 = export_onnx(model, folder / "encoder_fp32.onnx")
    int8 = quantise(fp32, folder / "encoder.onnx")
    return {"model": model.eval(), "fp32": fp32, "int8": int8, "tokenizer": tokenizer_path, "folder": folder}


def build_tiny_encoder_bundle(tiny_encoder, tiny_bundle_path, out: Path, **options):
    """The tiny TF-IDF bundle wrapped with the tiny encoder, calibrated and thresholded on generated data."""
    from model.bundle import load_bundle
    from model.training.encoder_bundle import build_encoder_bundle

    holdout = make_corpus(120, seed=5)
    validation = make_corpus(120, seed=6)
    validation = {"tiny_val": validation.assign(label=validation["toxicity"].astype(int))[["text", "label"]]}
    claims = make_claim_sentences(seed=3, n=40)
    held_out = make_claim_sentences(seed=4, n=12)
    claims_validation = {"tiny_claims": held_out.assign(label=((held_out["checkable"] == 1) & (held_out["supported"] == 0)).astype(int))}
    return build_encoder_bundle(load_bundle(tiny_bundle_path), tiny_encoder["int8"], tiny_encoder["tokenizer"],
                                holdout, validation, out, version="2.0.0-test", mode="encoder", threads=1,
                                claims_training=claims, claims_validation=claims_validation,
                                span_posts=make_spans(make_corpus(60, seed=7)), **options)


@pytest.fixture(scope="module")
def encoder_bundle(tiny_encoder, tiny_bundle_path, tmp_path_factory):
    """A 2.0-style bundle: the tiny TF-IDF bundle wrapped with the tiny encoder, calibrated and thresholded."""
    return build_tiny_encoder_bundle(tiny_encoder, tiny_bundle_path, tmp_path_factory.mktemp("bundles") / "enc")


def test_a_bundle_built_with_windows_that_do_not_overlap_serves_with_them(tiny_encoder, tiny_bundle_path, encoder_bundle,
                                                                            tmp_path):
    """Every bundle read long comments in windows 32 pieces apart, overlapping by half; the stride is now a choice of
    the build, made before calibrating, and the manifest carries it to serving."""
    from model.bundle import load_bundle, read_manifest

    path, _ = build_tiny_encoder_bundle(tiny_encoder, tiny_bundle_path, tmp_path / "enc62", stride=62)
    assert read_manifest(path)["encoder"]["stride"] == 62
    assert read_manifest(encoder_bundle[0])["encoder"]["stride"] == 32  # the default, as before
    runner = load_bundle(path).model.runner
    long_text = " ".join([CIVIL] * 12)
    windows = runner.windows([long_text])
    assert len(windows) > 2 and runner.stride == 62
    assert all(after.begin >= before.end for before, after in zip(windows, windows[1:]))  # each piece read once
    overlapping = load_bundle(encoder_bundle[0]).model.runner.windows([long_text])
    assert len(overlapping) > len(windows) and overlapping[1].begin < overlapping[0].end


@pytest.mark.parametrize("stride", [0, 63])
def test_a_stride_the_windows_cannot_have_is_refused_before_calibrating(stride, tiny_encoder, tiny_bundle_path, tmp_path,
                                                                       capsys):
    from model.training.encoder import main

    with pytest.raises(ValueError, match=f"stride {stride}: a whole number from 1 to 62"):
        build_tiny_encoder_bundle(tiny_encoder, tiny_bundle_path, tmp_path / "bad", stride=stride)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as stopped:
        main(["bundle", "--version", "9.9.9", "--work", str(tmp_path / "nothing"), "--stride", str(stride)])
    assert stopped.value.code == 2 and f"--stride {stride}: a whole number from 1 to 62" in capsys.readouterr().err


def _pieces(n_pieces, sentence_lengths):
    """Sentence ends (``sentence_cuts``'s form) of consecutive sentences of the given lengths, up to ``n_pieces``."""
    return [int(end) for end in np.cumsum(sentence_lengths) if end <= n_pieces]


@pytest.mark.parametrize("lengths", [[5] * 40, [30, 61, 2, 17, 44, 9, 62, 1] * 4, [3, 59, 60, 4, 20, 20, 20, 1] * 5])
def test_windows_aligned_to_sentences_read_each_sentence_whole_and_each_piece_once(lengths):
    from model.encoder import window_starts

    n = sum(lengths)
    cuts = _pieces(n, lengths)
    windows = window_starts(n, 62, 32, cuts)
    assert windows[0][0] == 0 and windows[-1][1] == n
    assert all(stop == start for (_, stop), (start, _) in zip(windows, windows[1:]))  # no gap, no overlap
    assert all(0 < stop - start <= 62 for start, stop in windows)
    for begin, end in zip([0, *cuts], cuts):  # every sentence inside one window
        assert any(start <= begin and end <= stop for start, stop in windows), (begin, end, windows)
    # Two windows in a row hold more than one window's pieces, so there are at most about twice as many as pieces/62.
    assert len(windows) <= 2 * n / 62 + 1
    assert window_starts(n, 62, 32) == [(s, min(s + 62, n)) for s in range(0, n - 62 + 32, 32)]  # without cuts, as before


def test_a_sentence_longer_than_a_window_is_read_in_overlapping_windows_until_a_sentence_ends():
    from model.encoder import window_starts

    windows = window_starts(200, 62, 32, [150, 160, 200])
    assert windows[:3] == [(0, 62), (32, 94), (64, 126)]  # no sentence end within reach: stride steps
    assert (96, 158) not in windows and (96, 150) in windows and windows[-1] == (150, 200)
    assert window_starts(50, 62, 32, [10]) == [(0, 50)]  # a short comment is one window whatever its sentences


def test_a_bundle_built_with_windows_aligned_to_sentences_serves_with_them(tiny_encoder, tiny_bundle_path, tmp_path):
    from model.bundle import load_bundle, read_manifest
    from model.scoring import Scorer

    path, _ = build_tiny_encoder_bundle(tiny_encoder, tiny_bundle_path, tmp_path / "sent", align="sentences")
    assert read_manifest(path)["encoder"]["align"] == "sentences"
    runner = load_bundle(path).model.runner
    text = CIVIL * 15 + BURIED + " " + CIVIL * 15
    windows = runner.windows([text])
    assert runner.align == "sentences" and len(windows) > 2
    assert all(after.begin > before.end for before, after in zip(windows, windows[1:]))  # each piece read once
    assert all(text[w.end - 1] in ".!?" for w in windows)  # every window ends a sentence
    start = text.index(BURIED)
    assert any(w.begin <= start and start + len(BURIED) <= w.end for w in windows)  # never split
    assert len(runner.windows([text], whole_only=True)) == 1 and runner.windows([text], whole_only=True)[0].begin == 0
    decision = Scorer.load(path).moderate([text])[0]
    assert any(start <= span.begin and span.end <= start + len(BURIED) for span in decision.spans.get("toxicity") or [])


def test_rewindow_copies_a_bundle_with_other_windows_and_every_choice_kept(encoder_bundle, tmp_path):
    from model.bundle import read_manifest
    from model.scoring import Scorer
    from model.training.encoder_bundle import rewindow_bundle

    source = encoder_bundle[0]
    validation = make_corpus(40, seed=9)
    validation = {"tiny_val": validation.assign(label=validation["toxicity"].astype(int))[["text", "label"]]}
    manifest = rewindow_bundle(source, tmp_path / "2.0.1", "2.0.1-test", validation=validation)
    before, after = read_manifest(source), read_manifest(tmp_path / "2.0.1")
    assert after == manifest and after["model_version"] == "2.0.1-test"
    assert after["encoder"] == {**before["encoder"], "align": "sentences"}
    for key in ("files", "calibration", "blend_weights", "band", "span_floor", "mode"):
        assert after[key] == before[key], key
    assert (tmp_path / "2.0.1" / "policy.toml").read_text() == (Path(source) / "policy.toml").read_text()
    origin = after["windows_from"]
    assert (origin["version"], origin["align"], origin["stride"]) == ("2.0.0-test", "stride", 32)
    assert set(origin["validation_toxicity_auc"]) == {"before", "after"}
    assert set(origin["validation_toxicity_auc"]["after"]) == {"tiny_val"}
    assert after["probe"]["texts"] == before["probe"]["texts"] and "test_metrics" not in after
    old, new = Scorer.load(source), Scorer.load(tmp_path / "2.0.1")
    short = make_corpus(30, seed=10)["text"].tolist()
    assert np.array_equal(old.predict_scores(short), new.predict_scores(short))  # one window each: the same scores
    text = CIVIL * 15 + BURIED + " " + CIVIL * 15
    assert new.bundle.model.runner.align == "sentences"
    assert len(new.bundle.model.runner.windows([text])) < len(old.bundle.model.runner.windows([text]))
    assert not list(tmp_path.glob(".*partial*"))


def test_rewindow_writes_in_a_hidden_folder_and_removes_those_a_killed_run_left(encoder_bundle, tmp_path, monkeypatch):
    """A rewindow killed with SIGKILL kept its 36 MB ``.<version>.partial`` until the same version was made again, and
    no listing named it: it now writes as ``moderate train`` does, in ``.<name>.partial-<pid>``, removed by the next
    run once that process is gone."""
    import model.training.encoder_bundle as encoder_bundle_module
    from model.training.encoder_bundle import rewindow_bundle

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = tmp_path / f".2.0.1.partial-{int(done.stdout)}"  # a process that has ended
    killed.mkdir()
    (killed / "encoder.onnx").write_bytes(b"half a copy")

    def fail(path):
        assert path.name == f".2.0.2.partial-{os.getpid()}" and path.parent == tmp_path.resolve()
        raise RuntimeError("stopped while scoring the probes")

    monkeypatch.setattr(encoder_bundle_module, "record_probe", fail)
    with pytest.raises(RuntimeError, match="stopped while scoring the probes"):
        rewindow_bundle(encoder_bundle[0], tmp_path / "2.0.2", "2.0.2-test")
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # the killed run's folder and its own are gone


def test_rewindow_refuses_what_it_cannot_make_and_leaves_nothing(encoder_bundle, tiny_bundle_path, tmp_path, capsys):
    from model.training.encoder import main
    from model.training.encoder_bundle import rewindow_bundle

    with pytest.raises(ValueError, match="has no encoder"):
        rewindow_bundle(tiny_bundle_path, tmp_path / "a", "9.9.9")
    with pytest.raises(ValueError, match="already reads windows aligned to 'stride' with stride 32"):
        rewindow_bundle(encoder_bundle[0], tmp_path / "b", "9.9.9", align="stride")
    with pytest.raises(ValueError, match="stride 0: a whole number from 1 to 62"):
        rewindow_bundle(encoder_bundle[0], tmp_path / "c", "9.9.9", stride=0)
    (tmp_path / "d").mkdir()
    with pytest.raises(FileExistsError, match="choose another --version"):
        rewindow_bundle(encoder_bundle[0], tmp_path / "d", "9.9.9")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d"]
    with pytest.raises(SystemExit) as stopped:
        main(["rewindow", "--bundle", str(tiny_bundle_path), "--version", "9.9.9", "--bundles-root", str(tmp_path)])
    assert stopped.value.code == 2 and "has no encoder" in capsys.readouterr().err


def test_windows_aligned_to_something_unknown_are_refused_when_building_and_loading(tiny_encoder, tiny_bundle_path,
                                                                                    encoder_bundle, tmp_path, capsys):
    from model.bundle import BundleError, load_bundle
    from model.training.encoder import main

    with pytest.raises(ValueError, match="windows aligned to 'paragraphs': one of stride, sentences"):
        build_tiny_encoder_bundle(tiny_encoder, tiny_bundle_path, tmp_path / "bad", align="paragraphs")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as stopped:
        main(["bundle", "--version", "9.9.9", "--work", str(tmp_path / "nothing"), "--align", "paragraphs"])
    assert stopped.value.code == 2 and "invalid choice: 'paragraphs'" in capsys.readouterr().err
    copy = tmp_path / "newer"
    shutil.copytree(encoder_bundle[0], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["encoder"]["align"] = "paragraphs"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="aligned to 'paragraphs', which this version cannot read"):
        load_bundle(copy)


@pytest.mark.parametrize(("key", "value", "words"), [
    ("stride", 0, "stride 0: a whole number from 1 to 62"), ("stride", 63, "stride 63: a whole number from 1 to 62"),
    ("stride", "32", "stride '32': a whole number"), ("max_tokens", 2, "max_tokens 2: a whole number of at least 3"),
    ("undisguised", "yes", "\"undisguised\" is 'yes', not true or false"),
    ("sentences", 1, "\"sentences\" is 1, not true or false"),
    ("wider_disguises", "yes", "\"wider_disguises\" is 'yes', not true or false"),
    ("wider_disguises", True, "wider_disguises without undisguised: wider disguises are undone in the undisguised reading"),
    ("one_letter_words", 1, "\"one_letter_words\" is 1, not true or false"),
    ("one_letter_words", True, "one_letter_words without wider_disguises: one-letter words are parted from spaced"),
    ("symbol_disguises", "yes", "\"symbol_disguises\" is 'yes', not true or false"),
    ("symbol_disguises", True, "symbol_disguises without wider_disguises: symbol disguises are undone in the wider"),
    ("read_backwards", True, "encoder 'read_backwards', which this version cannot read: upgrade the service or serve"),
    ("sentence_margin", -1, "\"sentence_margin\" is -1, not a number of at least 0"),
    ("sentence_margin", "1", "\"sentence_margin\" is '1', not a number of at least 0")])
def test_a_manifest_whose_windows_cannot_be_read_is_refused_at_load(key, value, words, encoder_bundle, tmp_path):
    """A stride edited to 0 loaded, then read a long comment aligned to sentences in windows without end."""
    from model.bundle import BundleError, load_bundle

    copy = tmp_path / "edited"
    shutil.copytree(encoder_bundle[0], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["encoder"][key] = value
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=re.escape(words)):
        load_bundle(copy)


def _runner(tiny_encoder, path_key="int8"):
    from model.encoder import EncoderRunner

    return EncoderRunner(tiny_encoder[path_key], tiny_encoder["tokenizer"], HOSTILITY_ATTRIBUTES)


def test_onnx_matches_torch_and_int8_stays_close(tiny_encoder):
    from model.encoder import pad_batch

    runner = _runner(tiny_encoder, "fp32")
    texts = make_corpus(30, seed=9)["text"].tolist()
    windows = runner.windows(texts, whole_only=True)
    ids, mask = pad_batch(windows)
    with torch.no_grad():
        expected = tiny_encoder["model"](torch.tensor(ids), torch.tensor(mask)).numpy()
    np.testing.assert_allclose(runner.window_logits(windows), expected, atol=1e-4)
    quantised = _runner(tiny_encoder).window_logits(windows)
    assert np.corrcoef(quantised[:, 0], expected[:, 0])[0, 1] > 0.95


def test_padding_does_not_change_a_comments_logits(tiny_encoder):
    runner = _runner(tiny_encoder, "fp32")
    short, long = "You are a moron.", CIVIL * 2
    together = runner.logits([short, long], whole_only=True)[0]
    alone = runner.logits([short], whole_only=True)[0]
    np.testing.assert_allclose(together[0], alone[0], atol=1e-4)


def _largest_batch_effect(runner, texts):
    """Largest difference between a window's logits in one call with all the others and in a call of its own."""
    windows = runner.windows(texts)
    alone = np.vstack([runner.window_logits([window]) for window in windows])
    return float(np.abs(runner.window_logits(windows) - alone).max())


def test_int8_logits_of_a_window_do_not_depend_on_its_batch(tiny_encoder, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from model.encoder import EncoderRunner

    texts = make_corpus(40, seed=11)["text"].tolist() + [CIVIL * 3, BURIED]
    per_tensor = tmp_path / "per_tensor.onnx"
    quantize_dynamic(str(tiny_encoder["fp32"]), str(per_tensor), weight_type=QuantType.QInt8)
    # quantize_dynamic alone gives one activation scale per call: the batch moves every window's logits.
    assert _largest_batch_effect(EncoderRunner(per_tensor, tiny_encoder["tokenizer"], HOSTILITY_ATTRIBUTES), texts) > 5e-3
    assert _largest_batch_effect(_runner(tiny_encoder), texts) < 1e-3


def test_onnxruntime_graph_optimisations_keep_the_per_token_logits(tiny_encoder):
    """onnxruntime fuses MatMulInteger -> Cast -> Mul into MatMulIntegerToFloat, whose scale is per column: a
    per-token scale in that Mul would be misread (model.training.quantisation applies it after)."""
    import onnxruntime

    from model.encoder import pad_batch

    ids, mask = pad_batch(_runner(tiny_encoder).windows(make_corpus(30, seed=12)["text"].tolist()))

    def logits(level):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = level
        session = onnxruntime.InferenceSession(str(tiny_encoder["int8"]), options, providers=["CPUExecutionProvider"])
        return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    levels = onnxruntime.GraphOptimizationLevel
    np.testing.assert_allclose(logits(levels.ORT_ENABLE_ALL), logits(levels.ORT_DISABLE_ALL), atol=1e-4)


def test_fine_tuned_tiny_encoder_ranks_hostile_above_neutral(tiny_encoder):
    from sklearn.metrics import roc_auc_score

    held_out = make_corpus(120, seed=7)
    logits, _ = _runner(tiny_encoder).logits(held_out["text"].tolist())
    assert roc_auc_score(held_out["toxicity"], logits[:, 0]) > 0.9


def test_windows_cover_every_piece_with_bounded_length(tiny_encoder):
    from model.encoder import MAX_TOKENS, WINDOW_STRIDE

    runner = _runner(tiny_encoder)
    text = CIVIL * 20
    windows = runner.windows([text])
    n_pieces = len(runner.tokenizer.encode(text, add_special_tokens=False).ids)
    assert len(windows) > 1
    assert all(len(w.ids) <= MAX_TOKENS for w in windows)
    assert windows[0].begin == 0 and windows[-1].end == len(text.rstrip())
    covered = (len(windows) - 1) * WINDOW_STRIDE + MAX_TOKENS - 2
    assert covered >= n_pieces
    # Cost is linear in length: twice the text, about twice the windows.
    assert abs(len(runner.windows([text * 2])) - 2 * len(windows)) <= 2


def test_best_window_holds_the_buried_sentence(tiny_encoder):
    runner = _runner(tiny_encoder)
    text = CIVIL * 15 + BURIED + " " + CIVIL * 15
    start = text.index(BURIED)
    logits, spans = runner.logits([text])
    begin, end = spans[0, 0]
    assert begin <= start and start + len(BURIED) <= end
    assert end - begin < len(text) / 5
    civil_logits, _ = runner.logits([CIVIL * 31])
    assert logits[0, 0] > civil_logits[0, 0]


def test_styled_letters_are_read_as_the_plain_ones_with_spans_into_the_text_as_written(tiny_encoder):
    # "Fancy text" (mathematical bold, small capitals, negative squared capitals) has no word piece of its own: the
    # tokenizer made every such word one [UNK], so a styled insult read as nothing at all.
    runner = _runner(tiny_encoder)
    styled = {"\U0001d41a": "a", "\u1d00": "a", "\U0001f170": "a"}  # three styles of "a"
    plain_text = CIVIL + BURIED
    for style, letter in styled.items():
        text = plain_text.replace(letter, style)
        assert text != plain_text and len(text) == len(plain_text)
        assert [w.ids for w in runner.windows([text])] == [w.ids for w in runner.windows([plain_text])]
        logits, spans = runner.logits([text])
        plain_logits, plain_spans = runner.logits([plain_text])
        assert np.array_equal(logits, plain_logits) and np.array_equal(spans, plain_spans)


DOTTED = CIVIL + BURIED.replace("loser", "l.o.s.e.r").replace("fool", "f o o l")
"""The buried insult with its words disguised as the tokenizer cannot read them (single letters are not in its
vocabulary: each is an unknown piece)."""


def test_an_undisguised_reading_counts_where_it_scores_higher_and_a_plain_comment_is_read_once(tiny_encoder, monkeypatch):
    from model import encoder as encoder_module
    from model.encoder import EncoderRunner
    from model.normalize import undisguised

    plain, reading = _runner(tiny_encoder), EncoderRunner(tiny_encoder["int8"], tiny_encoder["tokenizer"],
                                                          HOSTILITY_ATTRIBUTES, undisguised=True)
    assert undisguised(DOTTED) == (CIVIL + BURIED).lower()
    as_written, _ = plain.logits([DOTTED])
    undone, _ = plain.logits([undisguised(DOTTED)])
    logits, spans = reading.logits([DOTTED])
    np.testing.assert_allclose(logits[0], np.maximum(as_written[0], undone[0]), atol=1e-5)  # padding: float noise
    assert (undone[0] > as_written[0] + 1e-3).any()  # the disguise hid something from the reading as written ...
    won = undone[0] > as_written[0] + 1e-3
    assert (spans[0, won] == [0, len(DOTTED)]).all()  # ... and a best reading undone points at no sentence
    # A comment without a disguise is read once, as before; a sentence's embedding comes from the text as written.
    texts = make_corpus(12, seed=11)["text"].tolist() + [CIVIL + BURIED]
    assert all(undisguised(text) is None for text in texts)
    read = []
    monkeypatch.setattr(encoder_module, "undisguised",
                        lambda text, **how: read.append(text) or undisguised(text, **how))
    np.testing.assert_array_equal(reading.logits(texts)[0], plain.logits(texts)[0])  # the same windows, batched alike
    assert read == texts
    sentences = [[(0, len(CIVIL))], [(len(CIVIL), len(DOTTED))]]
    _, _, embedded = reading.encode([DOTTED, DOTTED], sentences=sentences)
    _, _, embedded_as_written = plain.encode([DOTTED, DOTTED], sentences=sentences)
    np.testing.assert_allclose(embedded, embedded_as_written, atol=1e-5)


def test_a_tie_with_an_undisguised_reading_keeps_the_window_of_the_text(tiny_encoder):
    """A long comment read twice for one hidden character scored its best window as the whole comment (the reading's
    windows came last, and the last of equal logits was kept), so its sentence span was lost (found in review)."""
    from model.encoder import EncoderRunner
    from model.normalize import undisguised

    plain, reading = _runner(tiny_encoder), EncoderRunner(tiny_encoder["int8"], tiny_encoder["tokenizer"],
                                                          HOSTILITY_ATTRIBUTES, undisguised=True)
    text = (CIVIL * 15).replace("council", "coun\u200bcil", 1) + BURIED + " " + CIVIL * 15
    assert undisguised(text) is not None and len(plain.windows([text])) > 2
    logits, spans = reading.logits([text])
    plain_logits, plain_spans = plain.logits([text])
    np.testing.assert_allclose(logits, plain_logits, atol=1e-5)
    np.testing.assert_array_equal(spans, plain_spans)
    assert (spans[0, :, 1] - spans[0, :, 0] < len(text)).all()


def test_rewindow_can_give_a_copy_an_undisguised_reading_that_scores_plain_comments_as_before(encoder_bundle, tmp_path):
    from model.bundle import read_manifest
    from model.scoring import Scorer
    from model.training.encoder_bundle import rewindow_bundle

    source = encoder_bundle[0]
    before = read_manifest(source)
    manifest = rewindow_bundle(source, tmp_path / "2.0.2", "2.0.2-test", align="stride", undisguised=True)
    assert manifest["encoder"] == {**before["encoder"], "undisguised": True}
    assert manifest["windows_from"]["undisguised"] is False
    old, new = Scorer.load(source), Scorer.load(tmp_path / "2.0.2")
    assert new.bundle.model.runner.undisguised and not old.bundle.model.runner.undisguised
    plain = make_corpus(30, seed=10)["text"].tolist()
    assert np.array_equal(old.predict_scores(plain), new.predict_scores(plain))
    column = new.bundle.model.hostility_attributes.index("toxicity")
    assert new.predict_scores([DOTTED])[0, column] >= old.predict_scores([DOTTED])[0, column]
    with pytest.raises(ValueError, match="and disguises undone: a copy would change nothing"):
        rewindow_bundle(tmp_path / "2.0.2", tmp_path / "2.0.3", "2.0.3-test", align="stride")
    back = rewindow_bundle(tmp_path / "2.0.2", tmp_path / "2.0.3", "2.0.3-test", align="stride", undisguised=False)
    assert back["encoder"] == before["encoder"] and back["windows_from"]["undisguised"] is True


WIDE = CIVIL + BURIED.replace("loser", "l  o  s  e  r").replace("fool", "f\no\no\nl")
"""The buried insult with its letters spaced wider than the undisguised reading of 2.14.0 and 2.15.0 undoes."""


def test_rewindow_can_undo_wider_disguises_in_the_undisguised_reading_only(encoder_bundle, tmp_path, capsys):
    from model.encoder import EncoderError, EncoderRunner
    from model.normalize import undisguised
    from model.scoring import Scorer
    from model.training.encoder import main
    from model.training.encoder_bundle import rewindow_bundle

    source = encoder_bundle[0]
    with pytest.raises(ValueError, match="wider_disguises without undisguised"):
        rewindow_bundle(source, tmp_path / "2.0.8", "2.0.8-test", align="stride", wider_disguises=True)
    assert not (tmp_path / "2.0.8").exists()
    with pytest.raises(SystemExit) as stopped:
        main(["rewindow", "--bundle", str(source), "--version", "2.0.8-test", "--bundles-root", str(tmp_path),
              "--wider-disguises"])
    assert stopped.value.code == 2 and "add undisguised=True (--undisguised), or wider_disguises=False" in capsys.readouterr().err
    narrow = rewindow_bundle(source, tmp_path / "2.0.8", "2.0.8-test", align="stride", undisguised=True)
    manifest = rewindow_bundle(tmp_path / "2.0.8", tmp_path / "2.0.9", "2.0.9-test", align="stride",
                               wider_disguises=True)
    assert manifest["encoder"] == {**narrow["encoder"], "wider_disguises": True}
    assert manifest["windows_from"]["wider_disguises"] is False and manifest["windows_from"]["undisguised"] is True
    with pytest.raises(ValueError, match=r"or wider_disguises=False \(--no-wider-disguises\)"):  # its own wider reading
        rewindow_bundle(tmp_path / "2.0.9", tmp_path / "2.0.10", "2.0.10-test", align="stride", undisguised=False)
    old, new = Scorer.load(tmp_path / "2.0.8"), Scorer.load(tmp_path / "2.0.9")
    runner = new.bundle.model.runner
    assert runner.wider_disguises and not old.bundle.model.runner.wider_disguises
    plain = make_corpus(30, seed=10)["text"].tolist() + [DOTTED]
    np.testing.assert_array_equal(old.predict_scores(plain), new.predict_scores(plain))
    # The narrow reading leaves the wider gaps as they are; the wider one reads them undone, its higher logit counting.
    assert undisguised(WIDE) is None and undisguised(WIDE, wider=True) == (CIVIL + BURIED).lower()
    as_written, _ = old.bundle.model.runner.logits([WIDE])
    undone, _ = old.bundle.model.runner.logits([undisguised(WIDE, wider=True)])
    np.testing.assert_allclose(runner.logits([WIDE])[0][0], np.maximum(as_written[0], undone[0]), atol=1e-5)
    assert (undone[0] > as_written[0] + 1e-3).any()
    with pytest.raises(EncoderError, match="wider_disguises without undisguised"):  # before any file is read
        EncoderRunner(tmp_path / "none.onnx", tmp_path / "none.json", HOSTILITY_ATTRIBUTES, wider_disguises=True)


PARTED = CIVIL + BURIED.replace("a dumb fool", "a d u m b fool")
"""The buried insult with "dumb" spaced after the article, which the wider reading joins to it ("adumb")."""


def test_rewindow_can_part_one_letter_words_from_spaced_letters_in_the_wider_reading_only(encoder_bundle, tmp_path,
                                                                                          capsys):
    from model.encoder import EncoderError, EncoderRunner, whole_words
    from model.normalize import undisguised
    from model.scoring import Scorer
    from model.training.encoder import main
    from model.training.encoder_bundle import rewindow_bundle

    source = encoder_bundle[0]
    with pytest.raises(ValueError, match=r"add wider_disguises=True \(--wider-disguises\) and undisguised=True "
                                         r"\(--undisguised\), or one_letter_words=False \(--no-one-letter-words\)"):
        rewindow_bundle(source, tmp_path / "2.0.8", "2.0.8-test", align="stride", one_letter_words=True)
    narrow = rewindow_bundle(source, tmp_path / "2.0.8", "2.0.8-test", align="stride", undisguised=True)
    with pytest.raises(SystemExit) as stopped:
        main(["rewindow", "--bundle", str(tmp_path / "2.0.8"), "--version", "2.0.9-test", "--bundles-root",
              str(tmp_path), "--one-letter-words"])
    assert stopped.value.code == 2
    assert ("one_letter_words without wider_disguises: one-letter words are parted from spaced letters in the wider "
            "undisguised reading only: add wider_disguises=True (--wider-disguises), or one_letter_words=False "
            "(--no-one-letter-words)" in capsys.readouterr().err)
    assert not (tmp_path / "2.0.9-test").exists()
    rewindow_bundle(tmp_path / "2.0.8", tmp_path / "2.0.9", "2.0.9-test", align="stride", wider_disguises=True)
    main(["rewindow", "--bundle", str(tmp_path / "2.0.9"), "--version", "2.0.10-test", "--bundles-root", str(tmp_path),
          "--align", "stride", "--one-letter-words"])
    manifest = json.loads((tmp_path / "2.0.10-test" / "manifest.json").read_text())
    assert manifest["encoder"] == {**narrow["encoder"], "wider_disguises": True, "one_letter_words": True}
    assert manifest["windows_from"]["one_letter_words"] is False and manifest["windows_from"]["wider_disguises"] is True
    wider, new = Scorer.load(tmp_path / "2.0.9"), Scorer.load(tmp_path / "2.0.10-test")
    runner = new.bundle.model.runner
    assert runner.one_letter_words and not wider.bundle.model.runner.one_letter_words
    assert {"loser", "dumb", "fool"} <= runner.words and not {"[CLS]", "a", "i"} & runner.words
    learned = new.bundle.model.base.learned_words()  # the TF-IDF heads' words count too
    assert learned and runner.words == whole_words(runner.tokenizer) | learned
    plain = make_corpus(30, seed=10)["text"].tolist() + [DOTTED, WIDE]
    np.testing.assert_array_equal(wider.predict_scores(plain), new.predict_scores(plain))
    # The wider reading joins "a" and "dumb" into an unknown piece; parted, the insult reads as written plainly, its
    # reading's logit or the comment's own, the higher counting.
    joined = undisguised(PARTED, wider=True)
    read = undisguised(PARTED, wider=True, words=whole_words(runner.tokenizer))
    assert "adumb" in joined and read == (CIVIL + BURIED).lower()
    as_written, _ = wider.bundle.model.runner.logits([PARTED])
    undone, _ = wider.bundle.model.runner.logits([read])
    np.testing.assert_allclose(runner.logits([PARTED])[0][0], np.maximum(as_written[0], undone[0]), atol=1e-5)
    assert not np.allclose(runner.logits([PARTED])[0][0], wider.bundle.model.runner.logits([PARTED])[0][0], atol=1e-4)
    # A word the tokenizer lacks is parted off when the TF-IDF heads learned it ("moron" in the served bundle).
    onnx, tokenizer = tmp_path / "2.0.10-test" / "encoder.onnx", tmp_path / "2.0.10-test" / "tokenizer.json"
    mine = EncoderRunner(onnx, tokenizer, HOSTILITY_ATTRIBUTES, undisguised=True, wider_disguises=True,
                         one_letter_words=True, learned_words=frozenset({"mooron"}))
    assert "mooron" in mine.words and "mooron" not in runner.words
    assert undisguised("You are a m o o r o n", wider=True, words=mine.words) == "you are a mooron"
    with pytest.raises(EncoderError, match="pass wider_disguises=True as well, or one_letter_words=False"):
        EncoderRunner(tmp_path / "none.onnx", tmp_path / "none.json", HOSTILITY_ATTRIBUTES, undisguised=True,
                      one_letter_words=True)


SYMBOLED = CIVIL + BURIED.replace("loser", "(l)(o)(s)(e)(r)").replace("fool", "f o 0 l")
"""The buried insult with "loser" bracketed letter by letter and a digit among the spaced letters of "fool"."""


def test_rewindow_can_undo_symbol_disguises_in_the_wider_reading_only(encoder_bundle, tmp_path, capsys):
    from model.encoder import EncoderError, EncoderRunner
    from model.normalize import undisguised
    from model.scoring import Scorer
    from model.training.encoder import main
    from model.training.encoder_bundle import rewindow_bundle

    source = encoder_bundle[0]
    narrow = rewindow_bundle(source, tmp_path / "2.0.8", "2.0.8-test", align="stride", undisguised=True)
    with pytest.raises(SystemExit) as stopped:
        main(["rewindow", "--bundle", str(tmp_path / "2.0.8"), "--version", "2.0.9-test", "--bundles-root",
              str(tmp_path), "--symbol-disguises"])
    assert stopped.value.code == 2
    assert ("symbol_disguises without wider_disguises: symbol disguises are undone in the wider undisguised reading "
            "only: add wider_disguises=True (--wider-disguises), or symbol_disguises=False (--no-symbol-disguises)"
            in capsys.readouterr().err)
    rewindow_bundle(tmp_path / "2.0.8", tmp_path / "2.0.9", "2.0.9-test", align="stride", wider_disguises=True)
    main(["rewindow", "--bundle", str(tmp_path / "2.0.9"), "--version", "2.0.10-test", "--bundles-root", str(tmp_path),
          "--align", "stride", "--symbol-disguises"])
    manifest = json.loads((tmp_path / "2.0.10-test" / "manifest.json").read_text())
    assert manifest["encoder"] == {**narrow["encoder"], "wider_disguises": True, "symbol_disguises": True}
    assert manifest["windows_from"]["symbol_disguises"] is False
    wider, new = Scorer.load(tmp_path / "2.0.9"), Scorer.load(tmp_path / "2.0.10-test")
    runner = new.bundle.model.runner
    assert runner.symbol_disguises and not wider.bundle.model.runner.symbol_disguises
    plain = make_corpus(30, seed=10)["text"].tolist() + [DOTTED, WIDE]
    np.testing.assert_array_equal(wider.predict_scores(plain), new.predict_scores(plain))
    # The wider reading leaves the brackets and the digit; this one reads the insult as written plainly, its reading's
    # logit or the comment's own, the higher counting.
    read = undisguised(SYMBOLED, wider=True, symbols=True)
    assert undisguised(SYMBOLED, wider=True) is None and read == (CIVIL + BURIED).lower()
    as_written, _ = wider.bundle.model.runner.logits([SYMBOLED])
    undone, _ = wider.bundle.model.runner.logits([read])
    np.testing.assert_allclose(runner.logits([SYMBOLED])[0][0], np.maximum(as_written[0], undone[0]), atol=1e-5)
    assert (undone[0] > as_written[0] + 1e-3).any()
    with pytest.raises(EncoderError, match="pass wider_disguises=True as well, or symbol_disguises=False"):
        EncoderRunner(tmp_path / "none.onnx", tmp_path / "none.json", HOSTILITY_ATTRIBUTES, undisguised=True,
                      symbol_disguises=True)


SANDWICH = "The council met today. " + BURIED + " Thanks for the report."
"""A hostile sentence between two civil ones, short enough for one window: read whole, its neighbours dilute it."""


def test_sentence_windows_are_a_short_comments_sentences_and_none_for_one_sentence_or_a_long_comment(tiny_encoder):
    from model.encoder import encode_pieces, sentence_windows

    runner = _runner(tiny_encoder)
    [encoding] = encode_pieces(runner.tokenizer, [SANDWICH])
    found = sentence_windows(encoding, 3, runner.cls_id, runner.sep_id)
    assert [SANDWICH[w.begin:w.end] for w in found] == ["The council met today.", BURIED, "Thanks for the report."]
    assert all(w.comment == 3 and w.ids[0] == runner.cls_id and w.ids[-1] == runner.sep_id for w in found)
    assert sum(len(w.ids) - 2 for w in found) == len(encoding.ids)  # each piece once
    for text in (BURIED, "Thanks for the report. ", (CIVIL * 8) + BURIED):  # one sentence; longer than a window
        [encoding] = encode_pieces(runner.tokenizer, [text])
        assert sentence_windows(encoding, 0, runner.cls_id, runner.sep_id) == []


def test_sentences_read_alone_count_where_they_score_higher_and_other_comments_are_read_as_before(tiny_encoder):
    from model.encoder import EncoderRunner

    plain, reading = _runner(tiny_encoder), EncoderRunner(tiny_encoder["int8"], tiny_encoder["tokenizer"],
                                                          HOSTILITY_ATTRIBUTES, sentences=True)
    pieces = ["The council met today.", BURIED, "Thanks for the report."]
    whole, _ = plain.logits([SANDWICH])
    alone, _ = plain.logits(pieces)
    logits, spans = reading.logits([SANDWICH])
    np.testing.assert_allclose(logits[0], np.maximum(whole[0], alone.max(axis=0)), atol=1e-5)
    won = alone.max(axis=0) > whole[0] + 1e-3
    assert won.any()  # a sentence alone scored higher than the comment for some attribute in this random model ...
    best = alone.argmax(axis=0)
    for j in np.flatnonzero(won):  # ... and its span is that sentence
        assert SANDWICH[spans[0, j, 0]:spans[0, j, 1]] == pieces[best[j]]
    # A comment of one sentence, or longer than a window, is read as before; embeddings come from the comment's window.
    texts = [BURIED, "Thanks.", "Thanks for the report. ", CIVIL * 8 + BURIED, CIVIL * 3 + SANDWICH * 2]
    assert [len(plain.windows([text])) > 1 for text in texts] == [False, False, False, True, True]
    np.testing.assert_array_equal(reading.logits(texts)[0], plain.logits(texts)[0])
    sentences = [[(0, 22), (23, 23 + len(BURIED))]]
    _, _, embedded = reading.encode([SANDWICH], sentences=sentences)
    _, _, embedded_plain = plain.encode([SANDWICH], sentences=sentences)
    np.testing.assert_allclose(embedded, embedded_plain, atol=1e-5)
    # A margin is taken off a sentence read alone before it competes with the comment.
    margin = float((alone.max(axis=0) - whole[0]).max()) / 2
    assert margin > 0
    held = EncoderRunner(tiny_encoder["int8"], tiny_encoder["tokenizer"], HOSTILITY_ATTRIBUTES, sentences=True,
                         sentence_margin=margin)
    np.testing.assert_allclose(held.logits([SANDWICH])[0][0], np.maximum(whole[0], alone.max(axis=0) - margin), atol=1e-5)


def test_rewindow_can_give_a_copy_sentences_read_alone_and_refuses_a_reading_it_does_not_know(encoder_bundle, tmp_path):
    from model.bundle import read_manifest
    from model.scoring import Scorer
    from model.training.encoder_bundle import check_rewindow, rewindow_bundle

    source = encoder_bundle[0]
    before = read_manifest(source)
    manifest = rewindow_bundle(source, tmp_path / "2.0.4", "2.0.4-test", align="stride", sentences=True)
    assert manifest["encoder"] == {**before["encoder"], "sentences": True, "sentence_margin": 0.0}  # no data to choose
    assert manifest["windows_from"]["sentences"] is False and "undisguised" not in manifest["windows_from"]
    old, new = Scorer.load(source), Scorer.load(tmp_path / "2.0.4")
    assert new.bundle.model.runner.sentences and not old.bundle.model.runner.sentences
    one_sentence = [BURIED, "The council met today", "Thanks for the report!"]
    assert np.array_equal(old.predict_scores(one_sentence), new.predict_scores(one_sentence))
    assert (new.predict_scores([SANDWICH]) >= old.predict_scores([SANDWICH]) - 1e-6).all()
    with pytest.raises(ValueError, match="and sentences read alone: a copy would change nothing"):
        rewindow_bundle(tmp_path / "2.0.4", tmp_path / "2.0.5", "2.0.5-test", align="stride")
    with pytest.raises(ValueError, match="readings paragraphs unknown: an encoder reads undisguised, sentences"):
        check_rewindow(source, tmp_path / "2.0.6", "stride", None, paragraphs=True)
    with pytest.raises(ValueError, match="sentences='yes': True, False, or None for the bundle's own"):
        check_rewindow(source, tmp_path / "2.0.6", "stride", None, sentences="yes")
    with pytest.raises(ValueError, match="a sentence margin of 1.0 with no sentences read alone"):
        check_rewindow(source, tmp_path / "2.0.6", "stride", None, 1.0)
    with pytest.raises(ValueError, match="sentence margin -1: a number of at least 0"):
        check_rewindow(source, tmp_path / "2.0.6", "stride", None, -1, sentences=True)
    again = rewindow_bundle(tmp_path / "2.0.4", tmp_path / "2.0.6", "2.0.6-test", align="stride", sentence_margin=1.5)
    assert again["encoder"]["sentence_margin"] == 1.5 and again["windows_from"]["sentence_margin"] == 0.0
    assert Scorer.load(tmp_path / "2.0.6").bundle.model.runner.sentence_margin == 1.5


def test_a_runner_reading_sentences_alone_does_not_pad_them_to_the_comments_length(tiny_encoder):
    """Read with its sentences in one batch, a comment of three sentences paid four windows of its own length."""
    from model.encoder import BATCH_SIZE, EncoderRunner

    reading = EncoderRunner(tiny_encoder["int8"], tiny_encoder["tokenizer"], HOSTILITY_ATTRIBUTES, sentences=True)
    windows = reading.windows([SANDWICH]) + reading._sentence_windows(reading.tokenizer.encode_batch([SANDWICH],
                                                                                                   add_special_tokens=False))
    assert len(windows) == 4
    shapes = [ids.shape for _, ids, _ in reading._batches(windows)]
    assert shapes[-1] == (1, len(windows[0].ids)) and all(width < len(windows[0].ids) for _, width in shapes[:-1])
    assert [ids.shape for _, ids, _ in _runner(tiny_encoder)._batches(windows)] == [(4, len(windows[0].ids))]
    # The batches' make-up does not change a logit (activations quantised per token).
    alone = np.concatenate([reading.window_logits([w]) for w in windows])
    np.testing.assert_allclose(reading.window_logits(windows), alone, atol=1e-5)
    # Windows of one length still fill whole batches.
    same = [windows[0]] * (BATCH_SIZE + 1)
    assert [len(rows) for rows, _, _ in reading._batches(same)] == [BATCH_SIZE, 1]


def test_a_long_disguised_comment_whose_reading_fits_one_window_reads_no_sentence_alone(tiny_encoder):
    """A long comment of dotted words is one window once undone: its reading's sentences were read alone, so a comment
    longer than a window scored otherwise than without the sentences reading (found in review)."""
    from model.encoder import EncoderRunner
    from model.normalize import undisguised

    both, undone = (EncoderRunner(tiny_encoder["int8"], tiny_encoder["tokenizer"], HOSTILITY_ATTRIBUTES,
                                  undisguised=True, sentences=sentences) for sentences in (True, False))
    text = "The c.o.u.n.c.i.l met. " + "T.h.e b.u.d.g.e.t i.s f.a.i.r. " * 3 + "Y.o.u a.r.e a l.o.s.e.r."
    assert len(undone.windows([text])) > 1 and len(undone.windows([undisguised(text)])) == 1
    assert len(both.undisguised_windows([text])) == len(undone.undisguised_windows([text]))
    np.testing.assert_array_equal(both.logits([text])[0], undone.logits([text])[0])
    short = "The council met. Y.o.u a.r.e a l.o.s.e.r."  # one window as written: its reading's sentences are read
    assert len(both.undisguised_windows([short])) == len(undone.undisguised_windows([short])) + 2


def test_rewindow_chooses_the_sentence_margin_on_validation_data(encoder_bundle, tmp_path):
    from model.encoder import SENTENCE_MARGINS
    from model.training.encoder_bundle import rewindow_bundle

    validation = make_corpus(40, seed=9)
    validation = {"tiny_val": validation.assign(label=validation["toxicity"].astype(int))[["text", "label"]]}
    validation["tiny_val"]["text"] = validation["tiny_val"]["text"] + " Thanks for the report. " + CIVIL
    manifest = rewindow_bundle(encoder_bundle[0], tmp_path / "2.0.7", "2.0.7-test", align="stride",
                               validation=validation, sentences=True)
    origin = manifest["windows_from"]
    tried = {float(margin): auc for margin, auc in origin["sentence_margin_selection"]["mean_validation_toxicity_auc"].items()}
    assert sorted(tried) == sorted(SENTENCE_MARGINS)
    best = max(tried, key=lambda margin: (tried[margin], -margin))
    assert manifest["encoder"]["sentence_margin"] == best
    assert origin["validation_toxicity_auc"]["after"]["tiny_val"] == tried[best]


def test_bundle_loads_scores_and_finds_the_buried_sentence(encoder_bundle):
    from model.scoring import Scorer

    path, summary = encoder_bundle
    scorer = Scorer.load(path)
    assert scorer.model_version == "2.0.0-test"
    held_out = make_corpus(60, seed=8)
    scores = scorer.predict_scores(held_out["text"].tolist())
    assert scores.shape == (60, len(scorer.attributes))
    assert ((scores >= 0) & (scores <= 1)).all()
    column = scorer.attributes.index("toxicity")
    assert scores[held_out["toxicity"] == 1, column].mean() > scores[held_out["toxicity"] == 0, column].mean() + 0.3
    text = CIVIL * 15 + BURIED + " " + CIVIL * 15
    start = text.index(BURIED)
    decision = scorer.moderate([text])[0]
    spans = decision.spans.get("toxicity") or []
    assert decision.scores["toxicity"] >= 0.5
    assert any(start <= span.begin and span.end <= start + len(BURIED) for span in spans), spans
    assert set(summary["calibration"]["slopes"]) == set(HOSTILITY_ATTRIBUTES)


def test_sentence_span_inside_a_window_comes_from_the_encoder(encoder_bundle):
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    text = CIVIL * 15 + BURIED + " " + CIVIL * 15
    start = text.index(BURIED)
    scores, windows = model.encoder_scores([text])
    begin, end = windows[0, 0]
    span = model.sentence_span(text, int(begin), int(end), 0, float(scores[0, 0]))
    assert (span.begin, span.end) == (start, start + len(BURIED))


@pytest.mark.parametrize(("text", "begin"), [
    ("e\u0301vil " + BURIED, 1),  # one sentence, its window beginning between a letter and its accent
    ("He lied.\u0301 " + BURIED + " " + CIVIL, 0),  # the regular expression's sentences end before the accent
])
def test_a_windows_sentence_span_is_made_of_whole_characters(encoder_bundle, text, begin):
    from model.bundle import load_bundle
    from model.characters import whole_characters

    model = load_bundle(encoder_bundle[0]).model
    span = model.sentence_span(text, begin, len(text), 0, 0.9)
    assert 0 <= span.begin < span.end <= len(text)
    assert whole_characters(text, span.begin, span.end) == (span.begin, span.end)


def test_the_manifest_says_how_the_encoder_is_quantised(encoder_bundle):
    from model.bundle import read_manifest
    from model.training.quantisation import SCHEME

    assert read_manifest(encoder_bundle[0])["encoder"]["quantisation"] == SCHEME


@pytest.fixture(scope="module")
def per_tensor_bundle(encoder_bundle, tiny_encoder, tmp_path_factory):
    """The tiny encoder bundle as 2.2.0-2.6.0 were made: quantize_dynamic's graph, activations per tensor."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from model.bundle import read_manifest, sha256_file

    old = tmp_path_factory.mktemp("per_tensor") / "old"
    shutil.copytree(encoder_bundle[0], old)
    quantize_dynamic(str(tiny_encoder["fp32"]), str(old / "encoder.onnx"), weight_type=QuantType.QInt8)
    manifest = read_manifest(old)
    manifest["files"]["encoder.onnx"] = {"sha256": sha256_file(old / "encoder.onnx"),
                                         "bytes": (old / "encoder.onnx").stat().st_size}
    manifest["encoder_training"] = {"steps": 120, "weights": "recorded again by bundle"}
    (old / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return old


def test_requantise_gives_an_old_bundles_encoder_what_export_gives_now(per_tensor_bundle, encoder_bundle, tiny_encoder,
                                                                       tmp_path, capsys):
    from model.bundle import read_manifest, sha256_file
    from model.training.encoder import main

    old, manifest = per_tensor_bundle, read_manifest(per_tensor_bundle)
    assert main(["requantise", "--bundle", str(old), "--work", str(tmp_path / "work")]) == 0
    assert sha256_file(tmp_path / "work" / "export" / "encoder.onnx") == sha256_file(tiny_encoder["int8"])
    log = json.loads((tmp_path / "work" / "train_log.json").read_text())
    assert log == {"steps": 120, "requantised_from": {"model_version": manifest["model_version"],
                                                      "encoder_sha256": manifest["files"]["encoder.onnx"]["sha256"]}}
    # The rewritten graph has no per-tensor step left to rewrite.
    with pytest.raises(SystemExit) as stopped:
        main(["requantise", "--bundle", str(encoder_bundle[0]), "--work", str(tmp_path / "again")])
    assert stopped.value.code == 2 and "no DynamicQuantizeLinear" in capsys.readouterr().err


def test_decisions_alone_and_in_batches_agree_with_per_token_activations_only(per_tensor_bundle, encoder_bundle, tmp_path):
    from model.evaluation.batch_effect import markdown, measure

    kept = measure(encoder_bundle[0], n_texts=60, batch=20, data_dir=tmp_path / "no_data")
    moved = measure(per_tensor_bundle, n_texts=60, batch=20, data_dir=tmp_path / "no_data")
    assert kept["source"].startswith("generated sentences")
    assert max(gap["max"] for gap in kept["attributes"].values()) < 1e-4
    assert max(gap["max"] for gap in moved["attributes"].values()) > 1e-3
    assert "Decisions changed: **0 of 60**" in markdown([kept, moved])


@pytest.mark.parametrize("name", ["encoder.onnx", "tokenizer.json", "model.joblib"])
def test_tampered_bundle_file_is_refused(encoder_bundle, tmp_path, name):
    from model.bundle import BundleError, load_bundle

    copy = tmp_path / "copy"
    shutil.copytree(encoder_bundle[0], copy)
    with open(copy / name, "ab") as handle:
        handle.write(b" ")
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(copy)


def test_manifest_records_every_file_hash(encoder_bundle):
    from model.bundle import read_manifest, sha256_file

    path = encoder_bundle[0]
    manifest = read_manifest(path)
    assert set(manifest["files"]) == {"encoder.onnx", "tokenizer.json"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(path / name)


def test_cascade_rescored_share_follows_the_band(encoder_bundle):
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    texts = make_corpus(60, seed=10)["text"].tolist()
    fast = model.base.predict_hostility(texts)
    model.mode, model.band, model.gate = "cascade", (0.2, 0.8), "long"
    chosen = model.rescored(texts, fast)
    toxicity = fast[:, 0]
    long = model.runner.is_long(texts)
    np.testing.assert_array_equal(chosen, ((toxicity >= 0.2) & (toxicity <= 0.8)) | long)
    model.gate = "sentences"
    chosen = model.rescored(texts, fast)
    np.testing.assert_array_equal(chosen, (model.gate_scores(texts, toxicity) >= 0.2) & (toxicity <= 0.8))
    mixed = model.predict_hostility(texts)
    np.testing.assert_allclose(mixed[~chosen], fast[~chosen])


def test_sentence_gate_sends_a_buried_hostile_sentence_to_the_encoder(encoder_bundle):
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    civil = "The council met on Tuesday to discuss the budget for the library. " * 12
    hostile = "You are a disgusting idiot and I hope you rot."
    texts = [civil + hostile + " " + civil, civil + civil]
    toxicity = model.base.predict_hostility(texts)[:, 0]
    alone = model.base.predict_hostility([hostile])[0, 0]
    gate = model.gate_scores(texts, toxicity)
    # The buried comment's gate is its worst sentence, not the diluted whole; the civil one gains nothing.
    assert gate[0] == pytest.approx(max(alone, toxicity[0]))
    assert gate[0] > toxicity[0]
    assert gate[1] == pytest.approx(max(toxicity[1], model.base.predict_hostility(
        ["The council met on Tuesday to discuss the budget for the library."])[0, 0]))


def test_pickles_without_a_gate_load_with_the_2_0_0_rule(encoder_bundle):
    import pickle

    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    state = dict(model.__getstate__())
    state.pop("gate")
    state.pop("claim_head")
    state.pop("span_floor")
    old = pickle.loads(pickle.dumps(model))
    old.__setstate__(state)
    assert old.gate == "long" and model.gate == "sentences"
    assert old.claim_head is None and model.claim_head is not None  # 2.1.0 and older: TF-IDF claims alone
    assert old.span_floor is None and model.span_floor is not None  # 2.7.0 and older: the base's floor, TF-IDF scores


def test_the_span_floor_is_chosen_on_the_served_scores_and_recorded(encoder_bundle):
    from model.bundle import load_bundle, read_manifest
    from model.training.thresholds import COMMENT_FLOOR_GRID

    chosen = read_manifest(encoder_bundle[0])["span_floor"]
    assert chosen["scores"] == "encoder" and chosen["posts"] == len(make_spans(make_corpus(60, seed=7)))
    assert chosen["floor"] in COMMENT_FLOOR_GRID and set(chosen["span_f1_by_floor"]) == {str(f) for f in COMMENT_FLOOR_GRID}
    assert load_bundle(encoder_bundle[0]).model.span_floor == chosen["floor"]


def test_the_span_floor_compares_the_served_score_not_the_tfidf_one(encoder_bundle):
    """Before 2.8.0 an encoder bundle let the TF-IDF score decide whether words were marked: a comment the encoder
    served at 0.02 could have its words marked as hostile because the TF-IDF heads gave it 0.2."""
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    texts = [text for text in make_corpus(60, seed=8).query("toxicity == 1")["text"]][:12]
    column = model.hostility_attributes.index("toxicity")
    unfloored = model.in_mode("encoder")
    unfloored.span_floor = 0.0
    served, spans = unfloored.predict_and_explain(texts)
    fast = model.base.predict_hostility(texts)[:, column]
    marked = [i for i, found in enumerate(spans) if found.get("toxicity")]
    assert marked, "the tiny model marks words of some toxic comments"
    for i in marked:
        # A floor just above the served score removes the words, whatever the TF-IDF score; just below keeps them.
        for floor, kept in ((served[i, column] + 1e-6, False), (served[i, column] - 1e-6, True)):
            floored = model.in_mode("encoder")
            floored.span_floor = float(floor)
            found = floored.predict_and_explain([texts[i]])[1][0].get("toxicity")
            assert bool(found) is kept, (texts[i], served[i, column], fast[i], floor)


def test_a_policy_span_floor_replaces_the_encoder_bundles_on_the_served_scores(encoder_bundle, tmp_path):
    """A policy file's [spans] floor (bundle 2.13.0's own, 0.10, marked words in 35% of civil UCC comments) replaces
    ``span_floor`` in every surface's scorer, on the served score; another scorer of the bundle keeps the bundle's, and
    /v1/model reports the floor served."""
    from model.bundle import load_bundle
    from model.policy import Policy
    from model.scoring import Scorer
    from service.app import create_app

    bundle = load_bundle(encoder_bundle[0], encoder_mode="encoder")
    texts = [text for text in make_corpus(60, seed=8).query("toxicity == 1")["text"]][:12]
    own = Scorer(bundle)
    before = own.moderate(texts)
    marked = [i for i, decision in enumerate(before) if decision.spans.get("toxicity")]
    assert marked, "the tiny model marks words of some toxic comments"
    for i in marked:
        served = before[i].scores["toxicity"]
        assert served >= bundle.model.span_floor
        # Just above the served score (so above the bundle's floor) removes the words; just below keeps them.
        for floor, kept in ((served + 1e-6, False), (served - 1e-6, True)):
            site = Scorer(bundle, Policy(bundle.policy.reject, bundle.policy.review, span_floor=floor))
            after = site.moderate(texts)[i]
            assert bool(after.spans.get("toxicity")) is kept, (texts[i], served, floor)
            assert (after.action, after.scores) == (before[i].action, before[i].scores)  # spans never decide
    assert [d.to_dict() for d in own.moderate(texts)] == [d.to_dict() for d in before]  # nothing leaked to the bundle
    path = tmp_path / "site-policy.toml"
    path.write_text(bundle.policy.to_toml() + "\n[spans]\nfloor = 0.35\n", encoding="utf-8")
    app = create_app({"TESTING": True, "MODEL": str(encoder_bundle[0]), "DB_URL": "sqlite://", "AUTH_REQUIRED": False,
                      "POLICY": str(path)})
    reported = app.test_client().get("/v1/model").get_json()["card"]["span_thresholds"]
    assert reported == {**bundle.model.base.span_thresholds, "comment_floor": 0.35}
    assert bundle.model.span_floor != 0.35


def test_a_checkable_head_on_the_encoder_joins_the_tfidf_one(encoder_bundle):
    from model.bundle import load_bundle, read_manifest
    from model.claims import split_sentences

    model = load_bundle(encoder_bundle[0]).model
    head = model.claim_head
    manifest = read_manifest(encoder_bundle[0])["claim_head"]
    assert manifest["checkable_weight"] == head.weight
    assert set(manifest["validation_auc"]) == {"tiny_claims"}
    texts = make_claim_sentences(seed=9, n=6)["text"].tolist()
    assert all(len(split_sentences(text)) == 1 for text in texts)
    checkable, supported = model.base.claims.head_scores(texts)
    embeddings = model.runner.encode(texts, sentences=[split_sentences(text) for text in texts])[2]
    encoder = head.encoder_scores(embeddings)
    assert not np.allclose(encoder, checkable, atol=1e-3)
    # The fast path is scikit-learn's own calibrated pipeline, arithmetic for arithmetic.
    np.testing.assert_allclose(encoder, head.checkable.predict_proba(embeddings)[:, 1], rtol=1e-9, atol=1e-12)
    column = model.attributes.index("unsupported_claim")
    for weight in (0.0, 0.6, 1.0):
        head.weight = weight
        expected = head.combine(checkable, encoder) * (1 - supported)
        np.testing.assert_allclose(model.predict_proba(texts)[:, column], expected, atol=1e-6)
    # Weight 1 is the encoder head alone; weight 0 the TF-IDF model alone. The support head is always TF-IDF.
    np.testing.assert_allclose(head.combine(checkable, encoder), encoder, atol=1e-6)
    head.weight = 0.0
    np.testing.assert_allclose(model.predict_proba(texts)[:, column], model.base.claims.predict_proba(texts), atol=1e-6)


def test_a_comment_the_cascade_leaves_to_tfidf_keeps_tfidf_claims(encoder_bundle):
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    model.claim_head.weight = 0.5
    texts = make_claim_sentences(seed=12, n=3)["text"].tolist()
    column = model.attributes.index("unsupported_claim")
    model.mode, model.gate, model.band = "cascade", "long", (2.0, 2.0)  # nothing is re-scored
    np.testing.assert_allclose(model.predict_proba(texts)[:, column], model.base.claims.predict_proba(texts), atol=1e-9)
    model.mode = "encoder"
    assert not np.allclose(model.predict_proba(texts)[:, column], model.base.claims.predict_proba(texts), atol=1e-4)


def test_claims_are_read_in_the_hostility_pass(encoder_bundle, monkeypatch):
    """One encoder pass per comment: the claim sentences' embeddings come from the windows that score hostility."""
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0]).model
    model.claim_head.weight = 0.5
    runs = []
    run = model.runner.session.run
    monkeypatch.setattr(model.runner.session, "run", lambda outputs, feed: runs.append(outputs) or run(outputs, feed))
    texts = [CIVIL + BURIED, "Norway paid $4.5bn for the jets in 2003. " + CIVIL]
    model.predict_proba(texts)
    assert runs == [["logits", "hidden"]]


def test_a_sentence_is_pooled_in_the_window_holding_it(tiny_encoder):
    from model.encoder import sentence_pools

    runner = _runner(tiny_encoder)
    text = CIVIL * 12 + BURIED + " " + CIVIL * 12
    start = text.index(BURIED)
    windows = runner.windows([text, "Short one."])
    pools, n = sentence_pools(windows, [[(0, 20), (start, start + len(BURIED))], [(0, 10)], ])
    assert n == 3
    pooled = {sentence: (w, first, last) for w, found in enumerate(pools) for sentence, first, last in found}
    assert set(pooled) == {0, 1, 2}
    w, first, last = pooled[1]
    window = windows[w]
    assert window.comment == 0 and window.offsets[first - 1][0] >= start and window.offsets[last - 2][1] <= start + len(BURIED)
    # Every piece of the buried sentence is inside that window.
    pieces = runner.tokenizer.encode(BURIED, add_special_tokens=False).ids
    assert last - first == len(pieces)
    assert windows[pooled[2][0]].comment == 1


def _pools_by_every_window(windows, sentences):
    """``sentence_pools`` as it was: every sentence against every window of its comment (the reference)."""
    pools, number = [[] for _ in windows], 0
    for comment, spans in enumerate(sentences):
        for begin, end in spans:
            best = None
            for w, window in enumerate(windows):
                first, last = window.positions(begin, end) if window.comment == comment else (0, 0)
                if last > first and (best is None or last - first > best[2] - best[1]):
                    best = (w, first, last)
            if best is not None:
                pools[best[0]].append((number, best[1], best[2]))
            number += 1
    return pools, number


def test_sentence_pools_looks_only_at_the_windows_reaching_a_sentence_and_finds_what_all_windows_give(tiny_encoder):
    import random

    from model.encoder import sentence_pools

    runner = _runner(tiny_encoder)
    rng = random.Random(5)
    words = ["the", "council", "idiot", "budget", "£4.5bn", "漢", "。", "!!", "😀", "you", "are", "a", "."]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randrange(0, 400))) for _ in range(12)]
    sentences = []
    for text in texts:  # random spans, overlapping and empty ones included
        cuts = sorted(rng.randrange(0, len(text) + 1) for _ in range(2 * rng.randrange(0, 30)))
        sentences.append([(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)] + [(0, len(text))])
    windows = runner.windows(texts)
    assert sentence_pools(windows, sentences) == _pools_by_every_window(windows, sentences)


def test_sentence_pools_reads_a_few_windows_per_sentence_however_long_the_comment(tiny_encoder, monkeypatch):
    from model.encoder import Window, sentence_pools

    runner = _runner(tiny_encoder)
    text = "漢。" * 3000  # 3,000 sentences of one character, about 100 windows
    sentences = [[(i, i + 2) for i in range(0, len(text), 2)]]
    windows = runner.windows([text])
    assert len(windows) > 50
    calls = []
    positions = Window.positions
    monkeypatch.setattr(Window, "positions", lambda self, begin, end: calls.append(1) or positions(self, begin, end))
    pools, n = sentence_pools(windows, sentences)
    assert n == 3000 and sum(map(len, pools)) == 3000
    assert len(calls) <= 4 * n  # every window for every sentence would be 300,000 look-ups


def test_a_graph_without_token_states_cannot_carry_a_claim_head(encoder_bundle, tiny_encoder, tmp_path):
    import onnx

    from model.bundle import load_bundle
    from model.encoder import HIDDEN_NAME, EncoderError, EncoderRunner

    graph = onnx.load(str(tiny_encoder["int8"]))
    kept = [output for output in graph.graph.output if output.name != HIDDEN_NAME]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    onnx.save(graph, str(tmp_path / "old.onnx"))
    runner = EncoderRunner(tmp_path / "old.onnx", tiny_encoder["tokenizer"], HOSTILITY_ATTRIBUTES)
    assert not runner.has_embeddings
    with pytest.raises(EncoderError, match="re-export"):
        runner.encode(["A sentence."], sentences=[[(0, 11)]])
    model = load_bundle(encoder_bundle[0]).model
    model.runner = None
    with pytest.raises(ValueError, match="no hidden-state output"):
        model.attach(runner)


def test_encoder_mode_can_be_chosen_when_loading(encoder_bundle, monkeypatch, tiny_bundle_path):
    from model.bundle import ENCODER_MODE_ENV, BundleError, load_bundle

    assert load_bundle(encoder_bundle[0], encoder_mode="cascade").model.mode == "cascade"
    assert load_bundle(encoder_bundle[0], encoder_mode="encoder").model.mode == "encoder"
    monkeypatch.setenv(ENCODER_MODE_ENV, "cascade")
    assert load_bundle(encoder_bundle[0]).model.mode == "cascade"
    monkeypatch.setenv(ENCODER_MODE_ENV, "fastest")
    with pytest.raises(BundleError, match="fastest"):
        load_bundle(encoder_bundle[0])
    with pytest.raises(BundleError, match="no encoder"):
        load_bundle(tiny_bundle_path, encoder_mode="cascade")


def test_the_command_line_offers_exactly_the_encoder_modes():
    """``moderate score`` and ``serve`` list the modes themselves (importing model.encoder_model would slow
    ``moderate --help``)."""
    from model.encoder_model import MODES
    from service.cli.score import score
    from service.cli.serve import serve

    for command in (score, serve):
        option = next(param for param in command.params if param.name == "encoder_mode")
        assert tuple(option.type.choices) == MODES, command.name


def test_the_services_encoder_mode_setting_is_a_default_a_bundle_without_an_encoder_ignores(encoder_bundle, tiny_bundle_path,
                                                                                            tmp_path, monkeypatch):
    """``ENCODER_MODE`` from a config file (or ``moderate serve --encoder-mode``) serves an encoder bundle in that
    mode, still ready; a server switched to a TF-IDF bundle keeps working (``moderate score --encoder-mode`` refuses
    one instead: there the user named the bundle and the mode together)."""
    from model.bundle import ENCODER_MODE_ENV
    from service.app import create_app, verify_scorer
    from service.config import EXTENSION_KEY, load_config
    from service.ops import OK, READINESS_KEY

    monkeypatch.delenv(ENCODER_MODE_ENV, raising=False)
    config_file = tmp_path / "moderation.toml"
    config_file.write_text('encoder_mode = "cascade"\n', encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(config_file))
    settings = {"TESTING": True, "DB_URL": "sqlite://"}
    app = create_app({**settings, "MODEL": str(encoder_bundle[0])})
    assert app.extensions[EXTENSION_KEY].encoder_mode == "cascade"
    assert app.extensions[READINESS_KEY] == OK
    app = create_app({**settings, "MODEL": str(encoder_bundle[0]), "ENCODER_MODE": "encoder"})  # the option beats the file
    assert app.extensions[EXTENSION_KEY].encoder_mode == "encoder"
    app = create_app({**settings, "MODEL": str(tiny_bundle_path)})
    assert app.extensions[EXTENSION_KEY].encoder_mode is None and app.extensions[READINESS_KEY] == OK
    verify_scorer(load_config({"ENCODER_MODE": "cascade"}), tiny_bundle_path)  # a reload to a TF-IDF bundle passes its check


@pytest.mark.parametrize("value", ["two", "0", "-1", "2.5", ""])
def test_encoder_threads_must_be_a_whole_number_of_at_least_one(value, encoder_bundle, monkeypatch, runner):
    """``MODERATION_ENCODER_THREADS=two`` ended ``moderate score`` in a ValueError traceback, and 0 gave onnxruntime
    every core in each worker."""
    from model.bundle import ENCODER_THREADS_ENV, BundleError, chosen_encoder_threads
    from service.cli import cli

    monkeypatch.setenv(ENCODER_THREADS_ENV, value)
    if value == "":
        assert chosen_encoder_threads() == 1  # set but empty: the default
        return
    with pytest.raises(BundleError, match=f"{ENCODER_THREADS_ENV}='{value}'.*at least 1"):
        chosen_encoder_threads()
    assert chosen_encoder_threads(2) == 2  # the caller's value comes first
    result = runner.invoke(cli, ["score", "--model", str(encoder_bundle[0]), "--text", "A civil remark."])
    assert result.exit_code == 2 and ENCODER_THREADS_ENV in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("chunk_size", [[], ["--chunk-size", "100"]], ids=["settings-read", "chunk-size-given"])
def test_a_bad_encoder_threads_setting_stops_an_archive_job_before_its_spool(chunk_size, encoder_bundle, monkeypatch,
                                                                             runner, tmp_path):
    """It was refused after the spool folder was made, so the message offered --resume for a run of 0 rows. Without
    --chunk-size the settings are read first (SCORE_CHUNK_ROWS), and their check names it; with it, the bundle's."""
    from model.bundle import ENCODER_THREADS_ENV
    from service.cli import cli

    source = tmp_path / "in.csv"
    pd.DataFrame({"id": ["a", "b"], "text": ["A civil remark.", "Another one."]}).to_csv(source, index=False)
    monkeypatch.setenv(ENCODER_THREADS_ENV, "two")
    result = runner.invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(encoder_bundle[0]),
                                 *chunk_size])
    assert result.exit_code == 2 and ENCODER_THREADS_ENV in result.output and "'two'" in result.output, result.output
    assert "--resume" not in result.output and sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


def test_the_services_encoder_threads_setting_reaches_onnxruntime(encoder_bundle, monkeypatch):
    from model.bundle import ENCODER_THREADS_ENV
    from service.app import create_app
    from service.config import EXTENSION_KEY, ConfigError

    def threads(app) -> int:
        return app.extensions[EXTENSION_KEY].bundle.model.runner.session.get_session_options().intra_op_num_threads

    monkeypatch.delenv(ENCODER_THREADS_ENV, raising=False)
    settings = {"TESTING": True, "DB_URL": "sqlite://", "MODEL": str(encoder_bundle[0])}
    assert threads(create_app(settings)) == 1
    assert threads(create_app({**settings, "ENCODER_THREADS": 2})) == 2
    monkeypatch.setenv(ENCODER_THREADS_ENV, "3")
    assert threads(create_app(settings)) == 3
    monkeypatch.setenv(ENCODER_THREADS_ENV, "0")
    with pytest.raises(ConfigError, match="ENCODER_THREADS"):
        create_app(settings)


def test_a_batch_job_gives_each_process_its_share_of_the_cores(monkeypatch):
    """Batch jobs left the second core idle: one `moderate score` process ran its encoder on one thread."""
    import model.parallel
    from model.bundle import ENCODER_THREADS_ENV
    from model.parallel import threads_per_process

    monkeypatch.delenv(ENCODER_THREADS_ENV, raising=False)
    monkeypatch.setattr(model.parallel, "usable_cores", lambda: 4)
    assert [threads_per_process(jobs) for jobs in (1, 2, 3, 4, 8)] == [4, 2, 1, 1, 1]
    monkeypatch.setenv(ENCODER_THREADS_ENV, "3")  # the operator's setting wins
    assert threads_per_process(2) == 3


def test_usable_cores_follows_the_affinity_of_the_process():
    import os

    from model.parallel import usable_cores

    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cores() == expected >= 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_moderate_score_runs_the_encoder_on_the_cores_of_its_share(jobs, encoder_bundle, monkeypatch, tmp_path, runner):
    """With ``--jobs 1`` the one process's encoder has every core; with more, each worker (and the parent) an equal
    share: the parent's count is what ScorerPool hands its workers."""
    import model.parallel
    from model.bundle import ENCODER_THREADS_ENV
    from model.scoring import Scorer
    from service.cli import cli

    monkeypatch.delenv(ENCODER_THREADS_ENV, raising=False)
    monkeypatch.setattr(model.parallel, "usable_cores", lambda: 4)
    started = []
    pool_init = model.parallel.ScorerPool.__init__

    def no_workers(self, scorer, jobs):  # what the workers would be told, then the parent scores alone
        options = scorer.bundle.model.runner.session.get_session_options()
        started.append((scorer.encoder_threads, options.intra_op_num_threads, jobs))
        pool_init(self, scorer, 1)

    monkeypatch.setattr(model.parallel.ScorerPool, "__init__", no_workers)
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": [CIVIL, BURIED]}).to_csv(source, index=False)
    result = runner.invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(encoder_bundle[0]),
                                 "--jobs", str(jobs)])
    assert result.exit_code == 0, result.output
    assert started == [(4 // jobs, 4 // jobs, jobs)]
    assert Scorer.load(encoder_bundle[0], warm_up=False).encoder_threads == 1  # a server worker: one thread


def test_dask_workers_get_their_share_of_the_cores_on_a_local_cluster_and_their_own_setting_elsewhere(
        encoder_bundle, monkeypatch, tmp_path, runner):
    import distributed

    import model.parallel
    from model.bundle import ENCODER_THREADS_ENV
    from service.archive_dask import ScorerPlugin
    from service.cli import cli

    monkeypatch.delenv(ENCODER_THREADS_ENV, raising=False)
    plugin = ScorerPlugin(str(encoder_bundle[0]), None, 3)
    plugin.setup(worker=None)
    assert plugin.error == "" and plugin.scorer.encoder_threads == 3
    remote = ScorerPlugin(str(encoder_bundle[0]))  # a cluster elsewhere: the worker's own setting, else 1
    remote.setup(worker=None)
    assert remote.scorer.encoder_threads == 1
    monkeypatch.setattr(model.parallel, "usable_cores", lambda: 4)
    registered = []
    register = distributed.Client.register_plugin
    monkeypatch.setattr(distributed.Client, "register_plugin",
                        lambda client, plugin, **options: registered.append(plugin) or register(client, plugin, **options))
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": [CIVIL, BURIED]}).to_csv(source, index=False)
    result = runner.invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.csv"), "--model", str(encoder_bundle[0]),
                                 "--engine", "dask", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert [plugin.encoder_threads for plugin in registered] == [2]


def test_pool_workers_load_the_encoder_with_the_parents_threads(encoder_bundle, monkeypatch):
    import model.parallel
    from model.scoring import Scorer

    scorer = Scorer.load(encoder_bundle[0], warm_up=False, encoder_threads=2)
    seen = {}

    class Context:
        def Pool(self, processes, initializer, initargs):  # noqa: N802 - multiprocessing's name
            seen["initargs"] = initargs
            return None

    monkeypatch.setattr(model.parallel.multiprocessing, "get_context", lambda method: Context())
    model.parallel.ScorerPool(scorer, 2)
    model.parallel._start(*seen["initargs"])
    assert model.parallel._scorer().encoder_threads == 2
    assert model.parallel._scorer().bundle.model.runner.session.get_session_options().intra_op_num_threads == 2
    monkeypatch.setattr(model.parallel, "_WORKER", None)


@pytest.mark.parametrize("where", ["file", "environment"])
def test_an_unknown_encoder_mode_setting_stops_the_service_with_one_line(where, tmp_path, monkeypatch, runner):
    from service.cli import cli
    from service.config import ConfigError, load_config

    if where == "file":
        config_file = tmp_path / "moderation.toml"
        config_file.write_text('encoder_mode = "fastest"\n', encoding="utf-8")
        monkeypatch.setenv("MODERATION_CONFIG", str(config_file))
    else:
        monkeypatch.setenv("MODERATION_ENCODER_MODE", "fastest")
    with pytest.raises(ConfigError, match="ENCODER_MODE.*'fastest'.*encoder, cascade"):
        load_config()
    result = runner.invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "ENCODER_MODE" in result.output, result.output
    result = runner.invoke(cli, ["serve", "--encoder-mode", "fastest"])
    assert result.exit_code == 2 and "'fastest' is not one of 'encoder', 'cascade'" in result.output, result.output


def _worker_encoder_mode(_task: int) -> str | None:
    """Run inside a ScorerPool worker: the mode its scorer was loaded in."""
    from model.parallel import _scorer

    return _scorer().encoder_mode


def test_the_encoder_mode_chosen_reaches_pool_and_dask_workers_over_their_environment(encoder_bundle, monkeypatch):
    from model.bundle import ENCODER_MODE_ENV
    from model.parallel import ScorerPool
    from model.scoring import Scorer
    from service.archive_dask import ScorerPlugin

    scorer = Scorer.load(encoder_bundle[0], warm_up=False, encoder_mode="cascade")
    assert scorer.encoder_mode == "cascade"
    monkeypatch.setenv(ENCODER_MODE_ENV, "encoder")  # what a worker started now, or on another machine, would see
    plugin = ScorerPlugin(str(encoder_bundle[0]), scorer.encoder_mode)
    plugin.setup(worker=None)
    assert plugin.error == "" and plugin.scorer.encoder_mode == "cascade"
    with ScorerPool(scorer, 2) as pool:
        assert pool._pool.map(_worker_encoder_mode, range(2)) == ["cascade", "cascade"]


def test_moderate_score_takes_the_encoder_mode_and_a_resume_keeps_it(encoder_bundle, tiny_bundle_path, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from model.scoring import Scorer
    from service import spool
    from service.cli import cli

    texts = make_corpus(40, seed=12)["text"].tolist()
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(tmp_path / "in.csv", index=False)
    env = {"MODERATION_MODEL": str(encoder_bundle[0]), "MODERATION_ENCODER_MODE": "encoder"}

    def score(*args):
        return CliRunner().invoke(cli, ["score", *map(str, args)], env=env)

    outputs = {}
    for mode in ("encoder", "cascade"):
        result = score(tmp_path / "in.csv", "-o", tmp_path / f"{mode}.csv", "--encoder-mode", mode)
        assert result.exit_code == 0, result.output
        outputs[mode] = pd.read_csv(tmp_path / f"{mode}.csv", keep_default_na=False)
        expected = Scorer.load(encoder_bundle[0], warm_up=False, encoder_mode=mode).predict_scores(texts)
        np.testing.assert_allclose(outputs[mode]["toxicity"], expected[:, 0], atol=1e-6)
    assert not np.allclose(outputs["encoder"]["toxicity"], outputs["cascade"]["toxicity"])

    one = json.loads(score("--text", texts[0], "--encoder-mode", "cascade").output)
    assert one["scores"]["toxicity"] == pytest.approx(outputs["cascade"]["toxicity"][0], abs=1e-6)
    for where in (["--text", "hello"], [tmp_path / "in.csv", "-o", tmp_path / "tfidf.csv"]):
        refused = CliRunner().invoke(cli, ["score", *map(str, where), "--model", str(tiny_bundle_path), "--encoder-mode", "cascade"])
        assert refused.exit_code == 2 and "no encoder" in refused.stderr, refused.output

    real_write, calls = spool.TableWriter.write, []

    def write_once_then_fail(self, frame):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(self.path))
        real_write(self, frame)

    monkeypatch.setattr(spool.TableWriter, "write", write_once_then_fail)
    stopped = score(tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--chunk-size", 10, "--encoder-mode", "cascade")
    assert stopped.exit_code == 2 and "--resume" in stopped.stderr
    monkeypatch.setattr(spool.TableWriter, "write", real_write)
    other = score(tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--chunk-size", 10, "--resume")  # env: encoder
    assert other.exit_code == 2 and "(encoder mode cascade), now" in other.stderr
    same = score(tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--chunk-size", 10, "--resume", "--encoder-mode", "cascade")
    assert same.exit_code == 0, same.output
    # The reference is an uninterrupted run in the same chunks (scores of per-tensor int8 graphs depend on the batch).
    assert score(tmp_path / "in.csv", "-o", tmp_path / "whole.csv", "--chunk-size", 10, "--encoder-mode", "cascade").exit_code == 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_service_readiness_check_passes_on_the_built_bundle(encoder_bundle):
    """The service re-scores the manifest's probe texts at start (``check_model``)."""
    from model.scoring import Scorer
    from service.ops import OK, check_model

    assert check_model(Scorer.load(encoder_bundle[0])) == OK


@pytest.mark.parametrize("shift, ready", [(0.03, True), (0.2, False)])
def test_an_encoder_bundles_probe_allows_other_cpus_int8_kernels_but_not_more(encoder_bundle, tmp_path, shift, ready):
    """int8 kernels differ between CPUs (VNNI or AVX2 only) by up to 0.03 on the committed bundles' probes."""
    from model.scoring import Scorer
    from model.bundle import ENCODER_PROBE_TOLERANCE
    from service.ops import OK, check_model

    copy = tmp_path / "bundle"
    shutil.copytree(encoder_bundle[0], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    row = manifest["probe"]["scores"][1]
    name = next(iter(row))
    row[name] = row[name] - shift if row[name] > 0.5 else row[name] + shift
    (copy / "manifest.json").write_text(json.dumps(manifest))
    problem = check_model(Scorer.load(copy))
    assert (problem == OK) is ready
    if not ready:
        assert f"(tolerance {ENCODER_PROBE_TOLERANCE})" in problem


@pytest.mark.parametrize("version", sorted(p.name for p in Path(__file__).resolve().parents[1].joinpath("bundles").iterdir()
                                           if p.is_dir()))
def test_committed_bundles_pass_the_service_readiness_check(version):
    """An int8 encoder's scores depend on the other comments of the batch, so the probe must be recorded in the
    batches the scorer uses: recorded with the empty probe text in the batch, 2.0.0 and 2.1.0 were 0.014 and
    0.031 away and the service never became ready (the tiny encoder above is too small to show it)."""
    from model.scoring import Scorer
    from service.ops import OK, check_model

    assert check_model(Scorer.load(version)) == OK


@pytest.mark.parametrize("version", sorted(p.parent.name for p in Path(__file__).resolve().parents[1].joinpath("bundles").glob("*/encoder.onnx")))
def test_committed_encoder_bundles_are_ready_when_served_in_the_other_mode(version):
    """The probes are recorded in the bundle's own mode; served with MODERATION_ENCODER_MODE=cascade (or encoder)
    a bundle must still pass: the cascade's scores of 2.7.0's probes lie up to 0.33 from them, and the service
    never became ready in that mode."""
    from model.bundle import read_manifest, resolve_bundle_path
    from model.scoring import Scorer
    from service.ops import OK, check_model

    other = {"encoder": "cascade", "cascade": "encoder"}[read_manifest(resolve_bundle_path(version))["mode"]]
    scorer = Scorer.load(version, warm_up=False, encoder_mode=other)
    assert scorer.encoder_mode == other
    assert check_model(scorer) == OK


def test_the_probe_is_recorded_in_the_bundles_own_mode_whatever_the_environment(encoder_bundle, tmp_path, monkeypatch):
    from model.bundle import read_manifest
    from model.encoder_model import EncoderModerationModel
    from model.training.encoder_bundle import record_probe

    copy = tmp_path / "bundle"
    shutil.copytree(encoder_bundle[0], copy)
    recorded = read_manifest(copy)["probe"]
    # The tiny bundle's cascade band re-scores every probe; a cascade that re-scores none would record other scores.
    encoder_mode_rescored = EncoderModerationModel.rescored
    monkeypatch.setattr(EncoderModerationModel, "rescored", lambda self, texts, fast: (
        encoder_mode_rescored(self, texts, fast) if self.mode == "encoder" else np.zeros(len(texts), dtype=bool)))
    monkeypatch.setenv("MODERATION_ENCODER_MODE", "cascade")
    assert record_probe(copy) == recorded


def test_band_is_the_cheapest_that_keeps_the_encoders_decisions():
    from model.training.encoder_bundle import choose_band

    rng = np.random.default_rng(0)
    labels = (rng.random(2000) < 0.2).astype(int)
    slow = np.clip(labels * 0.6 + rng.normal(0.2, 0.15, 2000), 0, 1)
    # The TF-IDF score agrees with the encoder far from the middle and is noise near it.
    fast = np.where(np.abs(slow - 0.5) > 0.3, slow, rng.random(2000))
    band, table = choose_band({"demo": (labels, fast, slow, fast)}, tolerance=0.01)
    assert table["grid"][f"{band[0]}-{band[1]}"]["changed"] <= 0.01
    assert table["grid"][f"{band[0]}-{band[1]}"]["rescored"] < table["grid"]["0.0-1.0"]["rescored"]
    cheaper = [row for row in table["grid"].values() if row["rescored"] < table["grid"][f"{band[0]}-{band[1]}"]["rescored"]]
    assert cheaper and all(row["changed"] > 0.01 for row in cheaper)


def test_wrong_pretrained_weights_are_refused(tmp_path):
    from model.training.encoder_weights import WeightsError, verified_weights

    (tmp_path / "model.safetensors").write_bytes(b"not the published weights")
    with pytest.raises(WeightsError, match="SHA-256"):
        verified_weights(tmp_path)


def test_serving_core_imports_no_torch():
    code = ("import sys, model, model.encoder, model.encoder_model, model.bundle, model.scoring; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batch_order_covers_every_row_once_per_epoch_and_keeps_the_one_pass_order():
    from model.training.encoder_batches import batch_order

    lengths = np.random.default_rng(1).integers(3, 60, size=1000)
    one = batch_order(lengths, 32, seed=7)
    two = batch_order(lengths, 32, seed=7, epochs=2)
    assert sorted(np.concatenate(one).tolist()) == list(range(1000))
    assert [b.tolist() for b in two[: len(one)]] == [b.tolist() for b in one]  # epochs=1 is the old order
    second = two[len(one) :]
    assert sorted(np.concatenate(second).tolist()) == list(range(1000))
    assert [b.tolist() for b in second] != [b.tolist() for b in one]


def test_batch_order_puts_every_early_row_in_the_first_share_of_each_pass():
    from model.training.encoder_batches import batch_order

    lengths = np.random.default_rng(2).integers(3, 60, size=1200)
    early = np.zeros(1200, dtype=bool)
    early[np.random.default_rng(3).choice(1200, 300, replace=False)] = True
    unchanged = batch_order(lengths, 32, seed=7)
    assert [b.tolist() for b in batch_order(lengths, 32, seed=7, early=early)] == [b.tolist() for b in unchanged]
    for epochs in (1, 2):
        batches = batch_order(lengths, 32, seed=7, epochs=epochs, early=early, early_until=0.5)
        per_pass = len(batches) // epochs
        for n in range(epochs):
            rows = [b for b in batches[n * per_pass : (n + 1) * per_pass]]
            flat = np.concatenate(rows)
            assert sorted(flat.tolist()) == list(range(1200))
            last_early = max(i for i, b in enumerate(rows) if early[b].any())
            assert sum(len(b) for b in rows[: last_early + 1]) <= 600  # all read within the first half
            first = np.concatenate(rows[: last_early + 1])
            assert (~early[first]).sum() > 250  # mixed with hostility rows, not a block of claim units
    with pytest.raises(ValueError, match="300 early rows do not fit in the first 0.2 .* at least 0.250"):
        batch_order(lengths, 32, seed=7, early=early, early_until=0.2)


@pytest.mark.parametrize("args, message", [
    (["--claim-units-until", "0"], "--claim-units-until is a share of the pass, above 0 and at most 1, not 0.0"),
    (["--claim-units-until", "1.5"], "not 1.5"),
    (["--claim-units-until", "0.6", "--no-claim-task"], "cannot go with --no-claim-task"),
    (["--threat-sentences", "-5"], "--threat-sentences counts sentences: 0 or more, not -5"),
    (["--idea-sentences", "-1"], "--idea-sentences counts sentences: 0 or more, not -1"),
])
def test_bad_training_options_are_refused_before_any_data_is_read(tmp_path, capsys, args, message):
    from model.training.encoder import main, train

    with pytest.raises(SystemExit) as stopped:
        main(["train", *args, "--work", str(tmp_path), "--data-dir", str(tmp_path / "absent")])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match="cannot go with --no-claim-task"):
        train(tmp_path / "absent", tmp_path, claim_units_until=0.6, claim_task=False)
    assert not any(tmp_path.iterdir())


def test_zero_epochs_is_refused_before_any_data_is_read(tmp_path, capsys):
    from model.training.encoder import main, train

    with pytest.raises(SystemExit) as stopped:
        main(["train", "--epochs", "0", "--work", str(tmp_path), "--data-dir", str(tmp_path / "absent")])
    assert stopped.value.code == 2
    assert "--epochs must be at least 1, not 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--epochs must be at least 1, not 0"):
        train(tmp_path / "absent", tmp_path, epochs=0)
    assert not any(tmp_path.iterdir())


def test_identity_sentences_are_seeded_and_distinct_and_mix_every_kind():
    from model.training.identity_templates import GROUPS, NOUNS, identity_sentences

    first = identity_sentences(200, seed=3)
    assert first == identity_sentences(200, seed=3)
    assert first != identity_sentences(200, seed=4)
    assert len(set(first)) == 200
    assert all(any(group.lower() in sentence.lower() for group in GROUPS + NOUNS) for sentence in first)
    words = [len(sentence.split()) for sentence in first]
    assert sum(n <= 6 for n in words) >= 40  # the short kind: 30% of the sentences
    assert sum(f"a {noun.lower()}" in sentence.lower() or f"an {noun.lower()}" in sentence.lower()
               for sentence in first for noun in NOUNS) >= 20  # the noun kind: 20%, mostly with an article

    assert not any("coachs" in sentence for sentence in identity_sentences(2000, seed=5))


def test_identity_swaps_replace_each_group_name_consistently_within_its_class():
    from model.training.identity_swaps import ADJECTIVES, NOUN_LIKE, swap_identities
    from model.training.identity_templates import indefinite_article

    assert [indefinite_article(word) for word in ("European", "Asian", "atheist", "Muslim")] == ["a", "an", "an", "a"]
    rng = np.random.default_rng(0)
    for _ in range(50):
        swapped = swap_identities("A Muslim wrote it. Muslims agree, MUSLIM voters too; a Jewish family said so.",
                                  rng)
        first = swapped.split()[1]
        assert first.lower() in {name.lower() for name in NOUN_LIKE} and first != "Muslim"
        assert f"{first}s agree, {first.upper()} voters" in swapped
        assert swapped.startswith(f"{indefinite_article(first).capitalize()} ")
        adjective = swapped.split("family")[0].split()[-1]
        assert adjective.lower() in {name.lower() for name in ADJECTIVES} and adjective != "Jewish"
    assert swap_identities("The council met on Tuesday.", rng) == "The council met on Tuesday."
    assert swap_identities("a gayety of analysts", rng) == "a gayety of analysts"


def test_identity_swapped_copies_keep_labels_and_copy_only_rows_naming_a_group():
    from model.training.identity_swaps import swapped_copies

    frame = pd.DataFrame({"text": ["gay people are scum", "the budget is late", "I like my Hindu neighbours"],
                          "source": ["olid", "olid", "ucc"], "toxicity": [1.0, 0.0, np.nan], "weight": 1.0})
    copies = swapped_copies(frame, seed=1)
    assert len(copies) == 2 and set(copies["source"]) == {"identity_swaps"}
    assert copies["toxicity"].iloc[0] == 1.0 and np.isnan(copies["toxicity"].iloc[1])
    assert not copies["text"].str.contains("gay people|Hindu", regex=True).any()
    assert copies["text"].iloc[0].endswith(" people are scum")
    assert copies.equals(swapped_copies(frame, seed=1))
    assert swapped_copies(frame, seed=1, share=0.0).empty
    with pytest.raises(ValueError, match="share must be in"):
        swapped_copies(frame, seed=1, share=1.5)


@pytest.fixture
def stand_in_encoder_data(monkeypatch):
    """``encoder_data`` reading 400 made-up heads rows (olid, davidson) and nothing else; returns the rows."""
    from model.training import added_sets, encoder_data
    from model.training.data import _labelled

    rng = np.random.default_rng(0)
    texts = [f"comment {i} about the {'gay' if i % 3 == 0 else 'budget'} vote" for i in range(400)]
    heads_rows = _labelled(texts, (rng.random(400) < 0.4).astype(float)).assign(
        source=np.where(np.arange(400) % 2 == 0, "olid", "davidson"), weight=1.0)
    empty = pd.DataFrame({"text": pd.Series([], dtype=str)})
    monkeypatch.setattr(encoder_data, "load_training_data", lambda data_dir: heads_rows)
    monkeypatch.setattr(added_sets, "load_test_sets", lambda data_dir: {"test": empty})
    monkeypatch.setattr(added_sets, "load_validation_sets", lambda data_dir: {"val": empty})
    monkeypatch.setattr(added_sets, "load_toxic_spans", lambda split, data_dir: empty)
    monkeypatch.setattr(added_sets, "stormfront_test", lambda data_dir: empty)
    monkeypatch.setattr(added_sets, "hatexplain_rows", lambda root, split: heads_rows.iloc[:0].assign(source="hatexplain"))
    monkeypatch.setattr(added_sets, "convabuse_rows", lambda root, split: heads_rows.iloc[:0].assign(source="convabuse"))
    monkeypatch.setattr(added_sets, "N_IDENTITY_SENTENCES", 20)
    monkeypatch.setattr(added_sets, "_hostility_dir", lambda data_dir: Path("unused"))
    return heads_rows


def test_another_encoder_seed_redraws_the_sample_but_never_the_held_out_rows(stand_in_encoder_data):
    from model.training import encoder_data

    fit_a, holdout_a = encoder_data.encoder_training_frames("unused", seed=1, max_samples=300)
    fit_b, holdout_b = encoder_data.encoder_training_frames("unused", seed=2, max_samples=300)
    assert sorted(holdout_a["text"]) == sorted(holdout_b["text"]) == sorted(
        encoder_data.split_holdout(stand_in_encoder_data, encoder_data.SEED)[1]["text"])
    assert sorted(fit_a["text"]) != sorted(fit_b["text"])
    for fit in (fit_a, fit_b):
        assert not set(fit["text"]) & set(holdout_a["text"])
        assert {"identity_sentences", "identity_swaps"} <= set(fit["source"])


def _written(module: str) -> tuple[list[str], list[str]]:
    """Hostile and civil sentences of a written set, after the checks every set must pass: seeded, distinct, half
    hostile, none of them a behaviour pair's sentence (the pairs measure the result)."""
    from importlib import import_module

    from model.evaluation.behaviour import PAIRS

    draw = getattr(import_module(f"model.training.{module}_templates"), f"{module}_sentences")
    texts, labels = draw(400, seed=3)
    again, _ = draw(400, seed=3)
    assert texts == again and texts != draw(400, seed=4)[0]
    assert len(set(texts)) == len(texts) == 400 and labels.sum() == 200
    assert not ({pair.hostile for pair in PAIRS} | {pair.civil for pair in PAIRS}) & set(texts)
    return ([text for text, label in zip(texts, labels) if label == 1],
            [text for text, label in zip(texts, labels) if label == 0])


def test_threat_sentences_are_distinct_seeded_and_half_threats():
    threats, civil = _written("threat")
    assert not any(text.startswith(("Him ", "Her ", "Them ")) or " they lives" in text or "You deserves" in text
                   for text in threats)
    assert any("the premier" in text.lower() for text in threats) and any("the premier" in text.lower() for text in civil)


def test_idea_sentences_are_distinct_seeded_and_half_insults():
    from model.training.idea_templates import IDEAS, PEOPLE

    insults, judgements = _written("idea")
    assert not any(" you is " in text or "You is " in text or " they is " in text for text in insults)
    # An insult names a person; a judgement names an idea and no person is called anything.
    assert all(any(person in text.lower() for person in PEOPLE) for text in insults)
    assert all(any(idea in text.lower() for idea in IDEAS) for text in judgements)
    assert not any(text.lower().startswith(tuple(PEOPLE)) for text in judgements)
    # The same rude words on both sides, so the target makes the difference.
    assert any("stupid" in text for text in insults) and any("stupid" in text for text in judgements)


@pytest.mark.parametrize("option, source, label, also", [
    ("n_threat_sentences", "threat_sentences", "threat", ("toxicity", "severe_toxicity")),
    ("n_idea_sentences", "idea_sentences", "insult", ("toxicity",)),
])
def test_written_sentences_join_the_training_rows_only_when_asked(stand_in_encoder_data, option, source, label, also):
    from model.training import encoder_data

    plain, holdout = encoder_data.encoder_training_frames("unused", seed=1)
    with_written, holdout_too = encoder_data.encoder_training_frames("unused", seed=1, **{option: 40})
    assert source not in set(plain["source"])
    written = with_written[with_written["source"] == source]
    assert len(written) == 40 and written[label].sum() == 20
    assert all((written[column] == written[label]).all() for column in also)
    others = written[[a for a in HOSTILITY_ATTRIBUTES if a not in (label, *also)]]
    assert others[written[label] == 1].isna().all().all() and (others[written[label] == 0] == 0).all().all()
    # Written sentences get no identity-swapped copies, and the capped sample they join is the one drawn without them.
    assert (with_written["source"] == "identity_swaps").sum() == (plain["source"] == "identity_swaps").sum()
    capped, _ = encoder_data.encoder_training_frames("unused", seed=1, max_samples=len(plain) - 5)
    capped_with, _ = encoder_data.encoder_training_frames("unused", seed=1, max_samples=len(plain) - 5, **{option: 40})
    pd.testing.assert_frame_equal(capped_with[capped_with["source"] != source].reset_index(drop=True), capped)
    pd.testing.assert_frame_equal(holdout, holdout_too)


def test_balancing_sentences_bring_an_over_toxic_group_term_down_to_the_overall_share():
    from model.training.identity_templates import balancing_sentences, term_counts

    # 100 labelled rows, 30 toxic; "Muslims" is named in 20 rows, 15 of them toxic; "gay" in 10, 1 toxic; a row
    # naming "Jews" carries no toxicity label and is not counted.
    texts = ([f"muslims are bad {i}" for i in range(15)] + [f"Muslims vote {i}" for i in range(5)]
             + [f"insult {i}" for i in range(15)] + ["the gay bar is loud"] + [f"my gay friend {i}" for i in range(9)]
             + [f"fine {i}" for i in range(55)] + ["Jews are bad"])
    toxicity = np.array([1.0] * 15 + [0.0] * 5 + [1.0] * 15 + [1.0] + [0.0] * 9 + [0.0] * 55 + [np.nan])
    sentences, added = balancing_sentences(texts, toxicity, seed=3)
    # overall share 0.31 (31 of 100): Muslims need ceil(15 / 0.31 - 20) = 29 civil mentions; gay (1 of 10) and Jews
    # (not labelled) none.
    assert added == {"Muslims": {"rows": 20, "toxic": 15, "added": 29}}
    assert len(sentences) == len(set(sentences)) == 29
    assert all(term_counts([s], np.array([False]), ["Muslims"])["Muslims"][0] == 1 for s in sentences)
    assert sentences == balancing_sentences(texts, toxicity, seed=3)[0] != balancing_sentences(texts, toxicity, seed=4)[0]
    # Whole words only: "gay" is not "gays"; the cap holds.
    assert term_counts(["gays and gay", "gayness"], np.array([True, False]), ["gay", "gays"]) == {"gay": (1, 1), "gays": (1, 1)}
    assert balancing_sentences(texts, toxicity, seed=3, cap=5)[1]["Muslims"]["added"] == 5
    assert balancing_sentences(["a"], np.array([0.0]), seed=3) == ([], {})


def test_balancing_sentences_join_the_training_rows_only_when_asked(stand_in_encoder_data):
    from model.training import encoder_data
    from model.training.identity_templates import group_terms, term_counts

    plain, holdout = encoder_data.encoder_training_frames("unused", seed=1)
    balanced, holdout_too = encoder_data.encoder_training_frames("unused", seed=1, balance_identities=True)
    added = balanced[balanced["source"] == "identity_balance"]
    assert "identity_balance" not in set(plain["source"]) and len(added)
    assert (added[list(HOSTILITY_ATTRIBUTES)] == 0).all().all()
    named = term_counts(added["text"].tolist(), np.zeros(len(added), dtype=bool), list(group_terms()))
    assert sum(rows for rows, _ in named.values()) >= len(added)  # each names a group (gay, or a swapped copy's)
    pd.testing.assert_frame_equal(balanced[balanced["source"] != "identity_balance"].reset_index(drop=True), plain)
    pd.testing.assert_frame_equal(holdout, holdout_too)


def _claim_units():
    return pd.DataFrame({"text": ["Unemployment rose 4% last year.", "I like the park.", "The bill cut taxes by $2 billion.",
                                  "What a lovely day."],
                         "source": ["claimbuster", "claimbuster", "cdcp", "cdcp"], "weight": [1.0, 1.0, 2.0, 2.0],
                         "checkable": [1.0, 0.0, 1.0, 0.0], "supported": [np.nan, np.nan, 0.0, np.nan]})


def test_claim_task_rows_are_labelled_only_for_their_own_source():
    from model.training.encoder_data import CLAIM_TASK_COLUMNS, claim_task_rows

    rows = claim_task_rows(_claim_units())
    assert rows[list(HOSTILITY_ATTRIBUTES)].isna().all().all()
    assert rows["source"].tolist() == ["claims:claimbuster"] * 2 + ["claims:cdcp"] * 2
    assert rows["weight"].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert rows["checkable_claimbuster"].tolist()[:2] == [1.0, 0.0] and rows["checkable_cdcp"].tolist()[2:] == [1.0, 0.0]
    assert rows[list(CLAIM_TASK_COLUMNS)].notna().sum(axis=1).tolist() == [1, 1, 1, 1]


def test_the_claim_task_adds_claim_units_without_moving_the_hostility_sample(stand_in_encoder_data, monkeypatch):
    from model.training import encoder_data

    monkeypatch.setattr(encoder_data, "load_claim_training_data", lambda data_dir: _claim_units())
    plain, holdout = encoder_data.encoder_training_frames("unused", seed=1, max_samples=300)
    with_claims, holdout_too = encoder_data.encoder_training_frames("unused", seed=1, max_samples=300, claim_task=True)
    assert len(with_claims) == len(plain) + 4
    pd.testing.assert_frame_equal(with_claims.iloc[: len(plain)][plain.columns], plain)
    assert with_claims.iloc[: len(plain)][list(encoder_data.CLAIM_TASK_COLUMNS)].isna().all().all()
    pd.testing.assert_frame_equal(holdout, holdout_too)


def test_claim_weight_scales_only_the_claim_units():
    from model.training.encoder_batches import training_weights
    from model.training.encoder_data import claim_task_rows

    hostility = pd.DataFrame({"text": ["You idiot.", "Nice park."], "source": ["olid", "identity_sentences"], "weight": 1.0})
    fit = pd.concat([hostility, claim_task_rows(_claim_units())], ignore_index=True)
    assert training_weights(fit).tolist() == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert training_weights(fit, 0.5).tolist() == [1.0, 1.0, 0.5, 0.5, 1.0, 1.0]


def test_distillation_gives_only_the_claim_units_the_teachers_hostility_targets():
    from model.training.encoder_data import claim_task_rows, distil_claim_units

    hostility = pd.DataFrame({"text": ["You idiot.", "Nice park."], "source": ["olid", "identity_sentences"],
                              "weight": 1.0, **{attribute: [1.0, 0.0] for attribute in HOSTILITY_ATTRIBUTES}})
    fit = pd.concat([hostility, claim_task_rows(_claim_units())], ignore_index=True)
    asked = []

    def teacher(texts):
        asked.extend(texts)
        return np.array([[len(text) / 100.0] * len(HOSTILITY_ATTRIBUTES) for text in texts])

    distilled = distil_claim_units(fit, teacher)
    assert asked == _claim_units()["text"].tolist()
    pd.testing.assert_frame_equal(distilled.iloc[:2], fit.iloc[:2])
    expected = [len(text) / 100.0 for text in asked]
    for attribute in HOSTILITY_ATTRIBUTES:
        assert distilled[attribute].iloc[2:].tolist() == expected
    claim_columns = [c for c in fit.columns if c.startswith("checkable_")]
    pd.testing.assert_frame_equal(distilled[claim_columns], fit[claim_columns])
    assert fit[list(HOSTILITY_ATTRIBUTES)].iloc[2:].isna().all().all(), "the input frame is not modified"


@pytest.mark.parametrize("outputs", [np.zeros((4, 3)), np.full((4, len(HOSTILITY_ATTRIBUTES)), 2.0)])
def test_distillation_refuses_a_teacher_that_gives_no_probabilities_per_attribute(outputs):
    from model.training.encoder_data import claim_task_rows, distil_claim_units

    with pytest.raises(ValueError):
        distil_claim_units(claim_task_rows(_claim_units()), lambda texts: outputs)


def test_soft_targets_pull_the_loss_towards_the_teacher():
    from model.training.encoder_batches import masked_loss

    labels = torch.tensor([[0.2, float("nan")]])
    weights = torch.ones(1)
    at_teacher = masked_loss(torch.logit(torch.tensor([[0.2, 0.9]])), labels, weights)
    away = masked_loss(torch.logit(torch.tensor([[0.6, 0.9]])), labels, weights)
    assert at_teacher < away


def test_a_teacher_bundle_scores_first_windows_with_its_raw_heads(encoder_bundle):
    from model.bundle import load_bundle
    from model.encoder import sigmoid
    from model.training.encoder import bundle_teacher

    path, _ = encoder_bundle
    teacher, record = bundle_teacher(str(path))
    texts = ["you are a disgusting idiot", "the council met on tuesday " * 40]
    runner = load_bundle(path).model.runner
    expected = sigmoid(runner.logits(texts, whole_only=True)[0])
    np.testing.assert_allclose(teacher(texts), expected, atol=1e-6)
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    assert record["encoder_sha256"] == manifest["files"][manifest["encoder"]["onnx_file"]]["sha256"]
    assert record["version"] == manifest["model_version"] == "2.0.0-test"


@pytest.mark.parametrize("extra, message", [(["--no-claim-task"], "cannot go with --no-claim-task"),
                                            ([], "--distil-from 0.0.0-absent")])
def test_distil_from_is_checked_before_any_data_is_read(tmp_path, capsys, extra, message):
    from model.training.encoder import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data-dir", str(tmp_path / "absent"), "--work", str(tmp_path / "work"),
              "--distil-from", "0.0.0-absent", *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_claim_weight_of_zero_is_refused_before_any_data_is_read(tmp_path, capsys):
    from model.training.encoder import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data-dir", str(tmp_path / "absent"), "--work", str(tmp_path / "work"), "--claim-weight", "0"])
    assert exit_info.value.code == 2
    assert "--claim-weight must be above 0" in capsys.readouterr().err


def test_keep_layers_cuts_the_encoder_to_every_other_pretrained_layer():
    from transformers import BertConfig

    from model.training.encoder_weights import build_classifier, keep_layers, layers_in

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    model = build_classifier(config, dropout=0.0).eval()
    before = {i: layer.attention.self.query.weight.detach().clone() for i, layer in enumerate(model.bert.encoder.layer)}
    assert keep_layers(model, None) == [0, 1, 2, 3]
    assert keep_layers(model, 2) == [0, 2]
    assert layers_in(model.state_dict()) == 2 and model.bert.config.num_hidden_layers == 2
    for position, original in enumerate([0, 2]):
        assert torch.equal(model.bert.encoder.layer[position].attention.self.query.weight, before[original])
    ids = torch.randint(5, 50, (2, 6))
    with torch.no_grad():
        assert model(ids, torch.ones_like(ids)).shape == (2, len(HOSTILITY_ATTRIBUTES))
    with pytest.raises(ValueError):
        keep_layers(model, 3)


@pytest.mark.parametrize("args, message", [(["--layers", "7"], "--layers must be between 1 and 6"),
                                           (["--layers", "2", "--frozen-layers", "2"], "would freeze all 2 layers"),
                                           (["--frozen-layers", "6"], "would freeze all 6 layers"),
                                           (["--frozen-layers", "-1"], "0 or more, not -1")])
def test_bad_layer_counts_are_refused_before_any_data_is_read(tmp_path, capsys, args, message):
    from model.training.encoder import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data-dir", str(tmp_path / "absent"), "--work", str(tmp_path / "work"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_export_keeps_only_the_hostility_heads_of_a_claim_task_model(tmp_path):
    import onnxruntime
    from transformers import BertConfig

    from model.training.encoder_export import export_onnx
    from model.training.encoder_weights import build_classifier, hostility_heads_only

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    model = build_classifier(config, n_attributes=len(HOSTILITY_ATTRIBUTES) + 3, dropout=0.0).eval()
    ids = torch.randint(5, 50, (3, 7))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        expected = model(ids, mask)[:, : len(HOSTILITY_ATTRIBUTES)].numpy()
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, UserWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        path = export_onnx(hostility_heads_only(model), tmp_path / "encoder.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    assert logits.shape == (3, len(HOSTILITY_ATTRIBUTES))
    np.testing.assert_allclose(logits, expected, atol=1e-5)


# The ROC AUC figures MODEL_CARD.md and README.md quote for the encoder bundle (`make eval`, official test splits):
# toxicity on the hostility sets, unsupported_claim on the claim sets.
QUOTED_AUC_TOLERANCE = 0.0015
"""How far a probe's ROC AUC, scored again here, may be from the report's: the 0.0011 by which onnxruntime's int8
kernels moved 2.6.0's test AUCs between CPUs with and without AVX-512 VNNI (MODEL_CARD, known limitations), and a
little more. 2.7.0's reports come from a VNNI machine; its 7-bit per-token activations are meant to give the same
integer sums on AVX2-only CPUs (model.training.quantisation), which no machine of this project has checked yet, so the
allowance stays."""
QUOTED_TEST_AUC = {
    "toxicity": {"ucc_test": "0.794", "olid_test": "0.888", "kaggle_test": "0.880", "kaggle_verification": "0.806",
                 "cat_out_of_context": "0.954"},
    "unsupported_claim": {"claimbuster_test": "0.9496", "checkthat2022_test": "0.821", "cdcp_test": "0.867",
                          "regulation_room_test": "0.885", "cmv_test": "0.802"},
}
ENCODER_VERSION = "2.18.0"


def _real_data():
    from tests.real_data import real_claims_dir

    return real_claims_dir()


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.skipif(_real_data() is None, reason="public data directory absent")
@pytest.mark.parametrize("attribute", sorted(QUOTED_TEST_AUC))
def test_quoted_figures_of_the_encoder_bundle(attribute):
    """The docs quote ``reports/eval.json`` (``make eval``), and the served bundle still gives that report's scores.

    Each quoted figure must be the report's, rounded as quoted, and be in README or MODEL_CARD. The bundle is checked
    on each set's probe (every ``PROBE_STEP``-th row, whose ROC AUC the report also records): it scored whole sets
    until the suite neared 15 minutes on two cores, this one test taking two of them. ``make eval`` scores every row.
    """
    from sklearn.metrics import roc_auc_score

    from model.bundle import bundles_dir, read_manifest
    from model.parallel import ScorerPool
    from model.training.quantisation import SCHEME
    from model.scoring import Scorer
    from model.training.claims_data import load_claim_test_sets
    from model.training.data import load_test_sets
    from model.training.metrics import PROBE_STEP

    folder = bundles_dir() / ENCODER_VERSION
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    assert (report["model_version"], report.get("encoder_mode")) == (ENCODER_VERSION, "encoder"), \
        "run `make eval` again, in encoder mode (MODERATION_ENCODER_MODE unset or encoder)"
    results = report["sets"] if attribute == "toxicity" else report["claims"]["sets"]
    unprobed = [name for name in QUOTED_TEST_AUC[attribute] if "probe" not in results[name]]
    assert not unprobed, f"reports/eval.json has no probe for {unprobed} (made before `make eval` recorded one): run it again"
    docs = (root / "MODEL_CARD.md").read_text(encoding="utf-8") + (root / "README.md").read_text(encoding="utf-8")
    for name, quoted in QUOTED_TEST_AUC[attribute].items():
        metrics = results[name]["attributes"]["toxicity"] if attribute == "toxicity" else results[name]["scorers"]["model"]
        assert f"{metrics['roc_auc']:.{len(quoted.split('.')[1])}f}" == quoted, name
        assert f"| {quoted} |" in docs or f"({quoted})" in docs, name
    # Each probe in two halves, scored side by side in two processes, not in the report's batches: a per-token graph
    # scores a comment the same in any batch (2.2.0-2.6.0 did not).
    assert read_manifest(folder)["encoder"]["quantisation"] == SCHEME
    scorer = Scorer.load(folder, encoder_mode=report["encoder_mode"])  # not $MODERATION_ENCODER_MODE's (cascade ranks apart)
    column = scorer.attributes.index(attribute)
    sets = (load_test_sets if attribute == "toxicity" else load_claim_test_sets)(_real_data())
    with ScorerPool(scorer, 2) as pool:
        for name in QUOTED_TEST_AUC[attribute]:
            probe = sets[name].iloc[::PROBE_STEP]
            scores = pool.predict_scores(probe["text"].tolist())[:, column]
            assert (results[name]["probe"]["step"], results[name]["probe"]["n_rows"]) == (PROBE_STEP, len(probe)), name
            assert roc_auc_score(probe["label"], scores) == pytest.approx(results[name]["probe"]["roc_auc"],
                                                                          abs=QUOTED_AUC_TOLERANCE), name


@pytest.mark.slow
@pytest.mark.parametrize(("source", "version", "readings"), [
    pytest.param("2.8.0", "2.9.0", {}, id="rewindowing_the_committed_2_8_0"),
    pytest.param("2.13.0", "2.14.0", {"undisguised": True}, id="undisguising_the_committed_2_13_0"),
    pytest.param("2.14.0", "2.15.0", {"sentences": True}, id="sentences_read_alone_from_the_committed_2_14_0"),
    pytest.param("2.15.0", "2.16.0", {"wider_disguises": True}, id="wider_disguises_undone_from_the_committed_2_15_0"),
    pytest.param("2.16.0", "2.17.0", {"one_letter_words": True}, id="one_letter_words_from_the_committed_2_16_0"),
    pytest.param("2.17.0", "2.18.0", {"symbol_disguises": True}, id="symbol_disguises_from_the_committed_2_17_0"),
])
def test_a_committed_bundle_read_otherwise_gives_the_committed_next_one(source, version, readings, tmp_path):
    """``make rewindow`` (2.9.0: sentence-end windows), ``make undisguise`` (2.14.0: disguised words undone as well),
    ``make sentences`` (2.15.0: each sentence of a one-window comment read alone as well), ``make wider-disguises``
    (2.16.0: wider disguises undone too), ``make one-letter-words`` (2.17.0: "a l o s e r" read "a loser") and ``make
    symbol-disguises`` (2.18.0: "(i)(d)(i)(o)(t)", "i d 1 o t", "b@stard" undone) copy a committed bundle reading
    comments otherwise: the same files, choices
    and policy as the committed next one, and probes scored again that are its (its validation and test figures are
    what the command adds). 2.15.0 is given the margin it chose on validation data (``make sentences`` chooses it
    again, minutes more)."""
    from model.bundle import bundles_dir, read_manifest
    from model.training.encoder_bundle import rewindow_bundle

    committed = bundles_dir() / version
    if not committed.is_dir():
        pytest.skip(f"{committed} absent")
    manifest = read_manifest(committed)
    margin = manifest["encoder"]["sentence_margin"] if readings.get("sentences") else None
    built = rewindow_bundle(source, tmp_path / version, version, align="sentences", sentence_margin=margin, **readings)
    ignored = {"created", "test_metrics", "windows_from"}
    assert {k: v for k, v in built.items() if k not in ignored} == {k: v for k, v in manifest.items() if k not in ignored}
    chosen_on_data = {"validation_toxicity_auc", "sentence_margin_selection"}
    assert built["windows_from"] == {k: v for k, v in manifest["windows_from"].items() if k not in chosen_on_data}
    assert (tmp_path / version / "policy.toml").read_bytes() == (committed / "policy.toml").read_bytes()


def _served_pair(version: str, before: str):
    """The committed bundles ``version`` and ``before`` (the one it was read otherwise from), or a skip without them."""
    from model.bundle import bundles_dir
    from model.scoring import Scorer

    if not (bundles_dir() / version).is_dir():
        pytest.skip(f"bundle {version} absent")
    return Scorer.load(version), Scorer.load(before)


def _actions(scorer, texts) -> list[str]:
    """The decision of each of ``texts``."""
    return [decision.action for decision in scorer.moderate(texts)]


WIDER_DISGUISED = ["You are an i  d  i  o  t", "Y.o.u a.r.e a l.o.s.e.r.", "The council met. Y.o.u a.r.e a l.o.s.e.r. Thanks.",
                   "you\u3164are\u3164an\u3164idiot", "You are a \u026fo\u0279ou",
                   "You are an \U0001f1ee \U0001f1e9 \U0001f1ee \U0001f1f4 \U0001f1f9", "You are an\ni\nd\ni\no\nt"]
"""Insults disguised as 2.14.0 and 2.15.0 read as written (each approved by 2.15.0), written for this test."""
WIDER_LOOK_ALIKES = ["J. R. R. Tolkien wrote a b c d books.", "As a U.S. citizen I disagree with the deal.",
                     "I love the \U0001f1fa\U0001f1f8 and \U0001f1ec\U0001f1e7", "The  quick  brown  fox", "Plan B is better.",
                     "How do you spell it? a n a l y s i s"]


def test_the_served_bundle_reads_wider_disguises_and_leaves_their_civil_look_alikes():
    wider, before = _served_pair("2.16.0", "2.15.0")
    assert _actions(wider, WIDER_DISGUISED) == ["review"] * len(WIDER_DISGUISED)
    # Read as before, or ("as a U.S. citizen": "as a us." where 2.15.0 read "as aus.") hardly otherwise.
    np.testing.assert_allclose(wider.predict_scores(WIDER_LOOK_ALIKES), before.predict_scores(WIDER_LOOK_ALIKES), atol=0.01)
    assert _actions(wider, WIDER_LOOK_ALIKES) == ["approve"] * len(WIDER_LOOK_ALIKES)


PARTED_DISGUISED = ["You are a l o s e r", "What a  l  o  s  e  r", "I h a t e you", "what a p r i c k",
                    "He is a w h o r e", "The council met. You are a l o s e r. Thanks.", "you are a c u n t",
                    "what a s c u m b a g"]
"""Insults with the insult's letters spaced after "a" or "I", which 2.16.0 reads joined to it ("aloser", "ihate"), each
approved by 2.16.0, written for this test ("cunt" and "scumbag" are none of the tokenizer's words: the TF-IDF heads
learned them)."""
PARTED_LOOK_ALIKES = ["I t h i n k so, thanks for asking.", "I a g r e e with the mayor on this.",
                      "He plays in a band as a b a s s i s t.", "We saw a h o r n e t nest in the shed.",
                      "I k i l l e d it on stage last night, thanks all.", "I h o p e you all have a great day."]
"""Civil sentences that 2.17.0 reads parted as 2.16.0 does not ("i think"; "I k i l l e d it" is "i killed it")."""
UNPARTED_LOOK_ALIKES = ["How do you spell it? a n a l y s i s", "There is a c o c k r o a c h in your kitchen.",
                        "The C o c k b u r n family and the P e n i s t o n e family met.", "We spotted a k i l l d e e r.",
                        "a n i m a l"]
"""Civil spaced words that no one-letter word parts (a word of the vocabulary, or a rest that is none): a review of a
first version, which looked for any words that spell them, found "a cock roach" and "penis tone" sent to review."""


def test_the_served_bundle_parts_one_letter_words_from_spaced_letters_and_leaves_civil_look_alikes():
    parted, before = _served_pair("2.17.0", "2.16.0")
    assert _actions(before, PARTED_DISGUISED) == ["approve"] * len(PARTED_DISGUISED)
    assert _actions(parted, PARTED_DISGUISED) == ["review"] * len(PARTED_DISGUISED)
    civil = PARTED_LOOK_ALIKES + UNPARTED_LOOK_ALIKES
    assert _actions(parted, civil) == ["approve"] * len(civil)
    np.testing.assert_array_equal(parted.predict_scores(UNPARTED_LOOK_ALIKES), before.predict_scores(UNPARTED_LOOK_ALIKES))


SYMBOL_DISGUISED = ["You are an (i)(d)(i)(o)(t)", "You are a [c] [u] [n] [t]", "You are an i d 1 o t",
                    "Shut up, you b@stard.", "The council met. You are a m 0 r 0 n. Thanks."]
"""Insults disguised with symbols, each approved by 2.17.0, written for this test."""
SYMBOL_LOOK_ALIKES = ["See section 5(a)(i) and (b).", "Options (a), (b), (c) and (d) are on the ballot.",
                      "Email me at editor@example.com with the details.", "Call 5 5 5 1 2 3 4 after noon.",
                      "The (a)(b)(c) rule applies here.", "@john you are right about the budget.",
                      "Seats F 4 G 5 are free."]
"""Civil look-alikes: brackets around single characters, digits beside letters, an "@"."""


def test_the_served_bundle_reads_symbol_disguises_and_leaves_their_civil_look_alikes():
    symbols, before = _served_pair("2.18.0", "2.17.0")
    assert _actions(before, SYMBOL_DISGUISED) == ["approve"] * len(SYMBOL_DISGUISED)
    assert _actions(symbols, SYMBOL_DISGUISED) == ["review"] * len(SYMBOL_DISGUISED)
    assert _actions(symbols, SYMBOL_LOOK_ALIKES) == ["approve"] * len(SYMBOL_LOOK_ALIKES)
    untouched = PARTED_DISGUISED + PARTED_LOOK_ALIKES + UNPARTED_LOOK_ALIKES
    np.testing.assert_array_equal(symbols.predict_scores(untouched), before.predict_scores(untouched))


@pytest.mark.parametrize("options, message", [
    ({"claim_weight": 0.0}, "--claim-weight must be above 0"),
    ({"layers": 7}, "--layers must be between 1 and 6"),
    ({"layers": 3, "frozen_layers": 3}, "--frozen-layers 3 would freeze all 3 layers"),
    ({"claim_units_until": 0.0}, "above 0 and at most 1, not 0.0"),
    ({"distil_from": "2.4.0", "claim_task": False}, "--distil-from gives the claim units hostility targets"),
])
def test_train_refuses_what_the_command_line_refuses_with_the_same_words(tmp_path, options, message):
    from model.training.encoder import train

    with pytest.raises(ValueError, match=message):
        train(tmp_path / "absent", tmp_path / "work", **options)
    assert not (tmp_path / "work").exists()


def test_test_metrics_of_an_encoder_bundle_are_its_scores_in_the_reports_batches(encoder_bundle, tmp_path):
    from sklearn.metrics import roc_auc_score

    from model.scoring import Scorer
    from model.training.train import record_test_metrics

    copy = tmp_path / "enc"
    shutil.copytree(encoder_bundle[0], copy)
    corpus = make_corpus(60, seed=12)
    test = corpus.assign(label=corpus["toxicity"].astype(int))[["text", "label"]]
    claims = make_claim_sentences(seed=13, n=30)
    claim_test = claims.assign(label=((claims["checkable"] == 1) & (claims["supported"] == 0)).astype(int))
    metrics = record_test_metrics(copy, {"toxicity": {"tiny_test": test}, "unsupported_claim": {"tiny_claims": claim_test}})
    scorer = Scorer.load(copy)  # the manifest gained a key; every file still verifies
    for name, frame, attribute in [("tiny_test", test, "toxicity"), ("tiny_claims", claim_test, "unsupported_claim")]:
        scores = scorer.predict_scores(frame["text"].tolist())[:, scorer.attributes.index(attribute)]
        assert metrics[name]["roc_auc"] == round(roc_auc_score(frame["label"], scores), 4)
        assert metrics[name]["attribute"] == attribute and metrics[name]["rows"] == len(frame)
    assert json.loads((copy / "manifest.json").read_text())["test_metrics"] == metrics


def test_in_mode_shares_the_attached_encoder_and_refuses_unknown_modes(encoder_bundle):
    from model.bundle import load_bundle

    model = load_bundle(encoder_bundle[0], encoder_mode="encoder").model
    cascade = model.in_mode("cascade")
    assert (cascade.mode, model.mode) == ("cascade", "encoder") and cascade.runner is model.runner
    with pytest.raises(ValueError, match="unknown"):
        model.in_mode("fast")


def test_the_load_test_serves_an_encoder_bundle_in_the_mode_asked_for(encoder_bundle, tmp_path):
    from service.loadtest import write_load_test

    out, results = write_load_test(tmp_path / "bench_service_cascade.md", model=encoder_bundle[0], requests_per_level=4,
                                   batch_requests=1, levels=(2,), encoder_mode="cascade")
    assert results["encoder_mode"] == "cascade" and results["errors"] == {"client_seen": 0, "server_5xx": 0}
    assert "(bundle: `%s`, encoder mode: `cascade`)" % encoder_bundle[0] in out.read_text()


def test_the_model_card_of_an_encoder_bundle_has_its_training_rows_sources_and_span_rule(encoder_bundle):
    """GET /v1/model read keys only TF-IDF bundles write: for 2.8.0 training_rows was null, datasets {} and
    span_thresholds null."""
    from model.bundle import load_bundle
    from service.api_v1 import model_card

    bundle = load_bundle(encoder_bundle[0])
    card = model_card(bundle)
    assert card["span_thresholds"] == {**bundle.model.base.span_thresholds, **(
        {"comment_floor": bundle.model.span_floor} if bundle.model.span_floor is not None else {})}
    training = {"rows": 30, "rows_by_source": {"hatexplain": 20, "olid": 10}}
    bundle.manifest = {**bundle.manifest, "encoder_training": training, "encoder_datasets": {"hatexplain": "MIT"}}
    bundle.manifest.pop("datasets", None)
    bundle.manifest.pop("training_rows", None)
    card = model_card(bundle)
    assert card["training_rows"] == 30
    assert card["datasets"] == {"hatexplain": {"rows": 20, "license": "MIT"}, "olid": {"rows": 10}}


@pytest.fixture
def tiny_training(tmp_path, monkeypatch):
    """``encoder.train`` on 120 generated rows and a 2-layer, 16-wide BERT: ``run(work, **options)`` trains."""
    from transformers import BertConfig

    from model.training import encoder
    from model.training.encoder_weights import build_classifier, keep_layers

    frame = make_corpus(120, seed=0)
    _, vocab_size = _tokenizer_file(tmp_path, frame["text"].tolist())

    def frames(data_dir, seed, max_samples=None, **options):
        rows = frame if data_dir is None else frame.assign(insult=1 - frame["insult"])  # "other data"
        return rows.sample(n=max_samples or len(rows), random_state=seed).reset_index(drop=True), None

    def pretrained(n_outputs=len(HOSTILITY_ATTRIBUTES), layers=None):
        config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=32, max_position_embeddings=128)
        model = build_classifier(config, n_outputs)
        keep_layers(model, layers)
        return model, config

    monkeypatch.setattr(encoder, "encoder_training_frames", frames)
    monkeypatch.setattr(encoder, "load_pretrained", pretrained)
    monkeypatch.setattr(encoder, "pretrained_dir", lambda: tmp_path)

    def run(work, data_dir=None, **options):
        return encoder.train(data_dir, work, **({"seed": 42, "claim_task": False, "batch_size": 8, "threads": 1}
                                                 | options))

    return run


def test_a_run_stopped_and_resumed_from_its_checkpoint_ends_where_an_unbroken_run_does(tiny_training, tmp_path):
    whole = torch.load(tiny_training(tmp_path / "whole"))["model"]
    stopped = tiny_training(tmp_path / "stopped", max_steps=6)
    assert stopped.name == "checkpoint.pt" and torch.load(stopped, weights_only=False)["step"] == 6
    resumed = torch.load(tiny_training(tmp_path / "stopped", resume=True))["model"]
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_a_shortened_run_stopped_and_resumed_keeps_its_shortened_schedule(tiny_training, tmp_path):
    """--finish-at was not in the checkpoint: a shortened run stopped again went back to the full pass when resumed
    without it, and with it its learning rate fell from the full schedule's value at the new step."""
    from model.training.encoder import WorkFolderError

    for work in ("whole", "stopped"):
        tiny_training(tmp_path / work, max_steps=4)
    whole = torch.load(tiny_training(tmp_path / "whole", resume=True, finish_at=10))["model"]
    tiny_training(tmp_path / "stopped", resume=True, finish_at=10, max_steps=7)
    with pytest.raises(WorkFolderError, match=re.escape("shortened with --finish-at 10, not 9")):
        tiny_training(tmp_path / "stopped", resume=True, finish_at=9)
    resumed = torch.load(tiny_training(tmp_path / "stopped", resume=True))["model"]
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_resume_without_a_checkpoint_says_the_run_starts_from_its_first_step(tiny_training, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="model.training.encoder"):
        tiny_training(tmp_path / "typo", resume=True, max_steps=1)
    assert "--resume: no checkpoint.pt in" in caplog.text and "starts from its first step" in caplog.text


@pytest.mark.parametrize("options, message", [
    ({"seed": 1}, "--seed 42, not 1"),
    ({"batch_size": 4}, "--batch-size 8, not 4"),
    ({"max_samples": 100}, "--max-samples None, not 100"),
    ({"claim_weight": 2.0}, "--claim-weight 1.0, not 2.0"),  # was resumed as if the same recipe
    ({"layers": 1}, "--layers None, not 1"),
    ({"frozen_layers": 1}, "--frozen-layers 0, not 1"),
    ({"data_dir": "other"}, "other training rows (--data-dir)"),
])
def test_resuming_with_other_options_is_refused_naming_the_option(tiny_training, tmp_path, options, message):
    from model.training.encoder import WorkFolderError

    tiny_training(tmp_path / "work", max_steps=3)
    before = (tmp_path / "work" / "checkpoint.pt").read_bytes()
    with pytest.raises(WorkFolderError, match=re.escape(message) + ".*drop --resume"):
        tiny_training(tmp_path / "work", resume=True, **options)
    assert (tmp_path / "work" / "checkpoint.pt").read_bytes() == before


def test_a_checkpoint_cut_short_or_of_another_model_is_refused_in_one_line(tiny_training, tmp_path, capsys):
    from model.training.encoder import WorkFolderError, main

    tiny_training(tmp_path / "work", max_steps=3)
    checkpoint = tmp_path / "work" / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=False)
    state.pop("recipe", None)  # as written before checkpoints recorded their recipe
    torch.save(state, checkpoint)
    with pytest.raises(WorkFolderError, match="checkpoint.pt holds another model .*: remove it or drop --resume"):
        tiny_training(tmp_path / "work", resume=True, layers=1)
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # killed mid-write without the atomic replace
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--work", str(checkpoint.parent), "--resume", "--no-claim-task"])
    assert stopped.value.code == 2
    assert "checkpoint.pt cannot be read (RuntimeError): remove it or drop --resume" in capsys.readouterr().err


def test_a_work_folder_that_cannot_hold_checkpoints_is_refused_before_any_data_is_read(tmp_path, capsys):
    from model.training.encoder import main

    (tmp_path / "file").write_text("not a folder")
    for work in (tmp_path / "file", tmp_path / "file" / "work"):
        with pytest.raises(SystemExit) as stopped:
            main(["train", "--work", str(work), "--data-dir", str(tmp_path / "absent")])
        assert stopped.value.code == 2
        assert f"--work {work} cannot hold the checkpoints" in capsys.readouterr().err


def test_export_before_training_is_refused_in_one_line(tmp_path, capsys):
    from model.training.encoder import main

    with pytest.raises(SystemExit) as stopped:
        main(["export", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "export")])
    assert stopped.value.code == 2
    assert f"{tmp_path / 'work' / 'final.pt'} not found: train first" in capsys.readouterr().err
    assert not (tmp_path / "export").exists()
