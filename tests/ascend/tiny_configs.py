"""Tiny `config.json`s of the contract tier's model families (no weights: configs are all vLLM reads here)."""

from __future__ import annotations

from pathlib import Path

SMALL = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 1024, "max_position_embeddings": 1024}


def write_configs(folder: Path) -> dict[str, str]:
    """One model folder per family; returns family -> folder."""
    import transformers as t

    moe = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64}
    glm_moe = {"n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64, "first_k_dense_replace": 1,
               "n_group": 1, "topk_group": 1}
    configs = {
        "llama": t.LlamaConfig(**SMALL, architectures=["LlamaForCausalLM"]),
        "mistral": t.MistralConfig(**SMALL, architectures=["MistralForCausalLM"]),
        "qwen3": t.Qwen3Config(**SMALL, architectures=["Qwen3ForCausalLM"]),
        "qwen3-moe": t.Qwen3MoeConfig(**SMALL, **moe, architectures=["Qwen3MoeForCausalLM"]),
        # (with transformers' default of one MTP layer, which vLLM's method "mtp" drafts with: DeepSeekMTPModel)
        "deepseek-v3": t.DeepseekV3Config(
            **{**SMALL, "num_key_value_heads": 4}, architectures=["DeepseekV3ForCausalLM"], kv_lora_rank=64,
            q_lora_rank=None, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32, n_routed_experts=4,
            num_experts_per_tok=2, moe_intermediate_size=64, first_k_dense_replace=1, n_group=1, topk_group=1),
        # a GLM-series MoE model with one MTP layer (Glm4MoeMTPModel): vLLM Ascend drafts eagerly for GLM
        "glm4-moe-mtp": t.Glm4MoeConfig(**SMALL, **glm_moe, architectures=["Glm4MoeForCausalLM"],
                                        num_nextn_predict_layers=1),
        # an EAGLE3 draft for "llama" (one decoder layer over the target's hidden states)
        "llama-eagle3": t.LlamaConfig(**{**SMALL, "num_hidden_layers": 1}, architectures=["LlamaForCausalLMEagle3"],
                                      draft_vocab_size=SMALL["vocab_size"]),
        "qwen3-vl": t.Qwen3VLConfig(
            text_config={**SMALL, "rope_scaling": {"rope_type": "default", "mrope_section": [4, 6, 6]}},
            vision_config={"depth": 1, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2,
                           "out_hidden_size": 128, "deepstack_visual_indexes": [0]},
            architectures=["Qwen3VLForConditionalGeneration"]),
        "whisper": t.WhisperConfig(
            d_model=128, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
            encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=1024, max_target_positions=1024,
            max_source_positions=1500, pad_token_id=0,
            bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, suppress_tokens=[], begin_suppress_tokens=[],
            architectures=["WhisperForConditionalGeneration"]),
    }
    folders = {}
    for family, config in configs.items():
        target = folder / family
        config.save_pretrained(target)
        folders[family] = str(target)
    return folders
