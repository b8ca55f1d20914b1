// Package stats holds the small statistics the lab uses to tell a real
// difference between runs from seed-to-seed noise: sample mean and standard
// deviation, Student's t distribution, paired and Welch confidence intervals
// for a difference of means, and a plain-language verdict.
//
// Which test and why: replicas of a seeded group share their seed with the
// replicas of every other group (seed i of MHA and seed i of MEA start from
// the same data order), so two groups with the same seeds are compared
// pairwise: the per-seed differences d_i = a_i - b_i are treated as one
// sample, and the interval is mean(d) +/- t(0.975, n-1) * sd(d)/sqrt(n).
// Pairing removes the variance the two runs share (same batches), which is
// most of it. Where pairing does not apply (different seed sets or replica
// counts), Welch's unequal-variance t interval is used, with the
// Welch-Satterthwaite degrees of freedom.
//
// The package imports nothing of mealab: it is plain numbers in, numbers out.
package stats
