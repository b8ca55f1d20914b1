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
// The model declares the small compute interface it needs (Compute, and the
// optional VecMath for fast exps); the cpu package provides the fast
// implementation, and Naive is the reference.
//
// # Files
//
// layers.go holds the reference kernels, one forward/backward pair per layer,
// kept forever; attention.go is attention as one unit for training (the
// projection, the mixing folded into it, the fused tiled causal attention that
// keeps only each row's log-sum-exp, and its parallel task); attention_decode.go
// is cached decoding's attention; decode.go the cache, batched decoding and
// prefill; tasks.go the other parallel operations of a step, one task each;
// params.go the slab and the tensor roles (pWQKV, pWlcK, ...), named once.
//
// # Adding an attention variant
//
// A variant is a way of turning the KVHeads cached component heads into the
// keys and values of the H query heads. To add one:
//
//  1. config.go: a Config switch (like HLC or GroupNorm), an entry in
//     Variants (the only variant table: ApplyVariant, the TUI form and the
//     presets read it) and its Variant name; Validate says what it cannot
//     combine with.
//  2. params.go: any new tensors in NewLayout and a role constant bound in
//     bindWeights (initParams in model.go gives their starting values).
//  3. attention.go: projectQKV must leave, per token, H query heads in qkv
//     and set la.k, la.v, la.ldk to where the H composite keys and values
//     are (in qkv, or expanded into kx/vx); attentionBackward returns the
//     gradients through the same path. The fused kernels need nothing: they
//     read queries, keys and values through strides.
//  4. attention_decode.go: decodeAttention scores a query against the
//     cached component heads for the new mixing.
//  5. Tests: add the variant to tinyConfigs (grad_test.go); the float64
//     finite-difference checks, the fast-vs-reference check, cached and
//     batched decoding against the full forward pass all iterate over it.
//  6. gpu/: the CUDA engine's kernels, when the variant should run there.
//
// Nothing outside model/ and gpu/ changes: the TUI, presets and trainer read
// variants through Config.
package model
