// Package shard splits the configured paths among the replicas of a
// sharded `idleprobe serve`: each path is measured by exactly one shard.
//
// The owner of a path is chosen by rendezvous (highest random weight)
// hashing of the path's name: every shard index gets a pseudo-random weight
// for the name, and the index with the highest weight owns it. Every
// replica computes the same owner from the name and the number of shards
// alone, with no coordination, and changing the number of shards from N to
// N+1 moves only the paths the new shard wins: about 1/(N+1) of them.
package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one replica's part: Index in [0, Total). The zero Shard means
// "not sharded": it owns every path.
type Shard struct {
	Index, Total int
}

// Enabled reports whether s splits the paths (Total > 1 or an explicit
// 0/1 given; the zero Shard is not enabled).
func (s Shard) Enabled() bool { return s.Total > 0 }

// String is the INDEX/TOTAL form Parse reads, or "" for the zero Shard.
func (s Shard) String() string {
	if !s.Enabled() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Total)
}

// Owns reports whether s measures the path named name. The zero Shard owns
// every path.
func (s Shard) Owns(name string) bool {
	if !s.Enabled() {
		return true
	}
	return Owner(name, s.Total) == s.Index
}

// Owner returns the index in [0, total) of the shard that owns the path
// named name: the index with the highest weight for name. It panics if
// total < 1.
func Owner(name string, total int) int {
	if total < 1 {
		panic("shard.Owner: total < 1")
	}
	best, bestW := 0, uint64(0)
	for i := range total {
		if w := weight(name, i); i == 0 || w > bestW {
			best, bestW = i, w
		}
	}
	return best
}

// weight is the pseudo-random weight of shard index i for name: FNV-1a of
// the name and the index, finished with the splitmix64 mixer so that the
// weights of neighbouring indexes are independent. It is stable across
// processes, versions and platforms (no random seed).
func weight(name string, i int) uint64 {
	const prime = 1099511628211
	x := uint64(14695981039346656037) // FNV-1a offset basis
	for j := 0; j < len(name); j++ {
		x ^= uint64(name[j])
		x *= prime
	}
	var b [9]byte // a 0 separator, then the index
	binary.BigEndian.PutUint64(b[1:], uint64(i))
	for _, c := range b {
		x ^= uint64(c)
		x *= prime
	}
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// MaxTotal is the largest number of shards Parse accepts.
const MaxTotal = 1000

// errSyntax is the tail of every Parse error: what would be valid.
const errSyntax = "want INDEX/TOTAL with 0 <= INDEX < TOTAL <= 1000, where INDEX may be a StatefulSet pod name ending in -ORDINAL (examples: 2/5, idleprobe-2/5)"

// Parse reads INDEX/TOTAL. INDEX is a number, or a name ending in
// -ORDINAL (a StatefulSet pod's name, such as "idleprobe-2", whose ordinal
// is the index), so that a pod can pass --shard=$(POD_NAME)/5. The error
// is one line saying what would be valid.
func Parse(s string) (Shard, error) {
	idx, tot, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%q: %s", s, errSyntax)
	}
	total, err := strconv.Atoi(tot)
	if err != nil || total < 1 || total > MaxTotal {
		return Shard{}, fmt.Errorf("%q: TOTAL %q is not a number from 1 to %d; %s", s, tot, MaxTotal, errSyntax)
	}
	index, err := ordinal(idx)
	if err != nil {
		return Shard{}, fmt.Errorf("%q: %w; %s", s, err, errSyntax)
	}
	if index >= total {
		return Shard{}, fmt.Errorf("%q: INDEX %d is not below TOTAL %d; %s", s, index, total, errSyntax)
	}
	return Shard{Index: index, Total: total}, nil
}

// ordinal reads a shard index: a number, or the number after the last "-"
// of a pod name.
func ordinal(s string) (int, error) {
	num := s
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		num = s[i+1:]
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strings.HasPrefix(num, "+") {
		if num == "" {
			return 0, errors.New("INDEX is empty")
		}
		return 0, fmt.Errorf("INDEX %q is neither a number nor a name ending in -ORDINAL", s)
	}
	return n, nil
}
