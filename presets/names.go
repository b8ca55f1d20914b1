package presets

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mealab/mealab/model"
)

// variantOf names a model config's variant with the keyword that makes it
// (model.VariantOf, by layer 0's KV heads), and its kv (G for gqa, h' for
// mea/hlc; 0 for the variants that take none).
func variantOf(c model.Config) (string, int) {
	c = c.Normalized()
	c.KVHeads, c.LayerKV = c.KV(0), nil
	v := model.VariantOf(c)
	if v.KV == "" {
		return v.Name, 0
	}
	return v.Name, c.KVHeads
}

// canonicalName is the name a run gets from what it is: mha, mha+gn, mqa,
// gqa2, mea (h' = H), mea-h2, hlc, hlc-h2.
func canonicalName(kw string, kv, heads int) string {
	v, _ := model.LookupVariant(kw)
	switch v.KV {
	case "G":
		return kw + strconv.Itoa(kv)
	case "h'":
		if kv != heads {
			return kw + "-h" + strconv.Itoa(kv)
		}
	}
	return kw
}

// claims reads what a run name says about its variant: the first
// dash-separated part of the name before any '@' when it is a variant
// keyword (mha, mha+gn, gqa, gqa2, mqa, hlc, mea), and an hN or kvN part.
// ok is false for names that claim nothing (baseline, run1).
func claims(name string) (kw string, kv int, ok bool) {
	base, _, _ := strings.Cut(name, "@")
	parts := strings.Split(base, "-")
	first := strings.ToLower(parts[0])
	v, known := model.LookupVariant(first)
	switch {
	case known:
		kw = v.Name
	case strings.HasPrefix(first, "gqa"):
		n, err := strconv.Atoi(first[3:])
		if err != nil || n < 1 {
			return "", 0, false
		}
		kw, kv = "gqa", n
	default:
		return "", 0, false
	}
	for _, p := range parts[1:] {
		p = strings.ToLower(p)
		for _, pre := range []string{"kv", "h"} {
			if n, err := strconv.Atoi(strings.TrimPrefix(p, pre)); strings.HasPrefix(p, pre) && err == nil && n > 0 {
				kv = n
			}
		}
	}
	return kw, kv, true
}

// claimHolds says whether a name's claim is true of a run of variant kw
// with kv (a claim without a number says nothing about kv).
func claimHolds(claimKW string, claimKV int, kw string, kv, heads int) bool {
	if claimKW != kw {
		// gqa with one group is MQA; mea/hlc with h' = H is "mea"/"hlc".
		if !(claimKW == "gqa" && kw == "mqa" && claimKV == 1) {
			return false
		}
		return true
	}
	if claimKV == 0 {
		return true
	}
	if v, _ := model.LookupVariant(kw); v.KV == "h'" && kv == 0 {
		kv = heads
	}
	return claimKV == kv
}

// aliases maps names people bring from other trainers to mealab's keys.
var aliases = map[string]string{
	"learning_rate": "lr", "lr_max": "lr", "max_lr": "lr", "peak_lr": "lr",
	"min_lr": "lr_floor", "lr_min": "lr_floor",
	"n_layer": "layers", "n_layers": "layers", "num_layers": "layers", "depth": "layers",
	"n_head": "heads", "n_heads": "heads", "num_heads": "heads",
	"n_kv_heads": "kv", "kv_heads": "kv", "num_kv_heads": "kv", "groups": "kv",
	"n_embd": "width", "d_model": "width", "hidden": "width", "dim": "width",
	"block_size": "context", "ctx": "context", "max_seq_len": "context",
	"batch_size": "batch", "bs": "batch",
	"max_iters": "steps", "iters": "steps", "max_steps": "steps", "iterations": "steps",
	"warmup_iters": "warmup", "warmup_steps": "warmup",
	"grad_clip": "clip", "wd": "weight_decay",
	"attention": "variant", "attn": "variant",
	"dataset": "data", "eval_interval": "eval_every", "eval_iters": "eval_batches",
}

// unknownKey is the error for a key mealab does not know, with the nearest
// known key (by edit distance to the key or to a common alias of it).
func unknownKey(k string) error {
	known := make([]string, len(Keys))
	for i, x := range Keys {
		known[i] = x.Key
	}
	if s := suggestKey(k); s != "" {
		return fmt.Errorf("unknown key %q; did you mean %s? (`mealab presets --help` lists every key)", k, s)
	}
	return fmt.Errorf("unknown key %q; known keys: %s", k, strings.Join(known, ", "))
}

// suggestKey returns the known key nearest to k, or "" when none is close.
func suggestKey(k string) string {
	lk := strings.ToLower(strings.ReplaceAll(k, "-", "_"))
	if a, ok := aliases[lk]; ok {
		return a
	}
	var names []string
	for _, x := range Keys {
		names = append(names, x.Key)
	}
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(lk, n); d < bestD {
			best, bestD = n, d
		}
	}
	for a, n := range aliases {
		if d := editDistance(lk, a); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= max(1, len(lk)/3) {
		return best
	}
	return ""
}

// nearest returns the candidate nearest to s when it is close.
func nearest(s string, cands []string) string {
	best, bestD := "", 1<<30
	for _, c := range cands {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) && bestD < len(s) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
