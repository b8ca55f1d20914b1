// Package model is mealab's small decoder-only language model: configuration,
// one slab of parameters with named views, hand-written forward and backward
// passes (one function pair per layer, llm.c style), every attention variant of
// the MEA paper's ablation table, AdamW, the learning-rate schedule, and
// KV-cache decoding.
//
// The model is generic over float32 and float64. Training uses float32; the
// float64 instantiation exists so that every backward pass can be checked
// against central finite differences with tight tolerances.
//
// Attention variants share one mechanism. The K and V projections produce
// KVHeads "component" heads. A head-mixing matrix of shape KVHeads x Heads
// turns them into one composite key/value head per query head:
//
//   - MHA: KVHeads = Heads, mixing is the identity (fixed);
//   - GQA/MQA: KVHeads = G < Heads, mixing is the 0/1 grouping matrix (fixed);
//   - HLC (and MEA): the mixing matrices W_lc^K and W_lc^V are learned,
//     initialised to the identity when KVHeads = Heads and to the GQA grouping
//     when KVHeads < Heads (MEA with virtual heads).
//
// Per-head GroupNorm (an RMSNorm over each head's attention output with a
// learnable gain) is a separate switch, so MHA+GN, HLC-only and MEA are all
// expressible. The KV cache holds only the RoPE'd component heads.
//
// The model declares the small compute interface it needs (Compute); the cpu
// package provides the fast implementation, and Naive is the reference.
package model
