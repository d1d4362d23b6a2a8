"""Our weights in Hugging Face's GPT-2 give the same logits, tokens and greedy replies as in our GPT."""

import logging
import subprocess
import sys
import warnings

import pytest
import torch

from engine.chat_template import stop_ids
from engine.checkpoint import load_model, save_model
from engine.export import export_hf
from engine.generate import SamplingConfig, TokenEvent, generate
from engine.model import GPT, GPTConfig
from engine.tokenizer import END, ENDOFTEXT, train_tokenizer

transformers = pytest.importorskip("transformers")

TEXTS = [
    "The cat sat on the mat. The dog sat on the log.\n",
    "Once upon a time there was a tiny model that learned to talk.\n",
    "Naïve café owners sold crème brûlée for €5 — cheap!\n",
] * 20
SENTENCES = ["The cat sat on the log.", "  two spaces,\nnew line\tand a tab", "crème brûlée for €5 😀"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(our LoadedModel, HF GPT2LMHeadModel, export folder, loading info, warnings seen while loading)."""
    tokenizer = train_tokenizer(TEXTS, vocab_size=320)
    torch.manual_seed(0)
    # a few ids more than the tokenizer has, as when the vocabulary is rounded up
    config = GPTConfig(block_size=32, vocab_size=tokenizer.vocab_size + 3, n_layer=2, n_head=2, n_embd=64)
    model = GPT(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):  # off their init (0s) so a dropped or misplaced one shows
                p.add_(0.1 * torch.randn_like(p))
            elif ".ln_" in name:  # LayerNorm weights off their init (1s)
                p.add_(0.2 * torch.randn_like(p))
            elif name.startswith("transformer.h."):
                # at init the tied embedding makes greedy repeat the last token forever; with bigger
                # block weights the blocks decide, and a greedy reply has several different tokens
                p.mul_(10)
    tmp = tmp_path_factory.mktemp("export")
    save_model(tmp / "ours", model, tokenizer)
    lm = load_model(tmp / "ours")
    out = export_hf(lm, tmp / "hf")

    seen = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hf, info = transformers.GPT2LMHeadModel.from_pretrained(out, output_loading_info=True)
    finally:
        hf_logger.removeHandler(handler)
    hf.eval()
    return lm, hf, out, info, [r.getMessage() for r in seen] + [str(w.message) for w in caught]


def test_loads_without_warnings(exported):
    lm, hf, _, info, seen = exported
    assert info == {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set(), "error_msgs": []}
    assert seen == []
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()  # tied, as ours
    assert hf.config.n_positions == lm.config.block_size and hf.config.vocab_size == lm.config.vocab_size


@pytest.mark.parametrize("T", [32, 5])  # the full block_size, and a short sequence
def test_same_logits(exported, T):
    lm, hf, _, _, _ = exported
    idx = torch.randint(0, lm.config.vocab_size, (3, T), generator=torch.Generator().manual_seed(T))
    with torch.no_grad():
        ours = lm.model(idx).logits
        theirs = hf(idx).logits
    assert theirs.shape == ours.shape
    assert (ours - theirs).abs().max().item() < 1e-4


@pytest.mark.parametrize("load", ["auto", "tokenizer_file"])
@pytest.mark.parametrize("text", SENTENCES)
def test_same_tokens(exported, load, text):
    lm, _, out, _, _ = exported
    if load == "auto":
        hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    else:
        hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    ids = lm.tokenizer.encode(text)
    assert hf_tok(text)["input_ids"] == ids  # no BOS/EOS added
    assert hf_tok.decode(ids) == lm.tokenizer.decode(ids) == text


def test_special_tokens(exported):
    lm, _, out, _, _ = exported
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    eot, end = lm.tokenizer.special_ids[ENDOFTEXT], lm.tokenizer.special_ids[END]
    assert hf_tok.eos_token_id == hf_tok.bos_token_id == hf_tok.pad_token_id == eot
    text = "Hi<|end|>"
    # HF reads special tokens from text by default; with split_special_tokens=True it does as ours does
    assert hf_tok(text)["input_ids"] == lm.tokenizer.encode("Hi") + [end]
    assert hf_tok(text, split_special_tokens=True)["input_ids"] == lm.tokenizer.encode(text)


def test_same_greedy_reply(exported):
    lm, hf, _, _, _ = exported
    prompt = lm.tokenizer.encode("The cat sat")
    stops = stop_ids(lm.tokenizer)
    assert set(hf.generation_config.eos_token_id) == stops  # the export stops where our chat stops

    events = generate(lm.model, prompt, SamplingConfig(temperature=0, max_new_tokens=10), stop_ids=stops)
    ours = [e.token_id for e in events if isinstance(e, TokenEvent)]
    idx = torch.tensor([prompt])
    with torch.no_grad():
        out = hf.generate(idx, attention_mask=torch.ones_like(idx), do_sample=False, max_new_tokens=10)
    assert out[0, len(prompt) :].tolist() == ours
    assert len(ours) == 10 and len(set(ours)) > 1  # no early stop, and not one token over and over


def test_export_does_not_import_transformers():
    code = "import sys, engine.export; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
