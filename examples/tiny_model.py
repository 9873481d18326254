"""Build a tiny random-weight model and a locally trained tokenizer: no download, a few seconds.

    python examples/tiny_model.py DIR [--architecture llama|qwen3]

The model is small enough for vLLM's CPU build (head size 32, float32) and real enough that vLLM
loads it like any Hugging Face checkpoint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CORPUS = [
    "Graph mode captures a model once and replays it for every step of the same shape.",
    "Ascend NPUs run ACL graphs; Npugraph_ex optimises the FX graph before capture.",
    "The quick brown fox jumps over the lazy dog while the scheduler batches requests.",
    "Hello, how are you? I am fine, thank you. The weather is nice today.",
    "Decode batches are uniform: every request adds one token, so one graph serves them all.",
]


def build_tiny_model(directory: str | Path, architecture: str = "llama", seed: int = 0) -> Path:
    """Write config, random weights and tokenizer to `directory`; reuse it if already complete."""
    directory = Path(directory)
    marker = directory / "tiny_model.json"
    wanted = {"architecture": architecture, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return directory

    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )

    common = dict(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=512,
        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, torch_dtype="float32",
    )
    if architecture == "llama":
        config = transformers.LlamaConfig(**common)
        model_cls = transformers.LlamaForCausalLM
    elif architecture == "qwen3":
        config = transformers.Qwen3Config(**common)
        model_cls = transformers.Qwen3ForCausalLM
    else:
        raise SystemExit(f"--architecture: got {architecture!r}; allowed: llama, qwen3")

    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    marker.write_text(json.dumps(wanted))
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--architecture", default="llama", choices=("llama", "qwen3"))
    args = parser.parse_args()
    path = build_tiny_model(args.directory, args.architecture)
    print(f"tiny {args.architecture} model in {path}")


if __name__ == "__main__":
    main()
