package featurestore

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// stored is a decoded (channel, user) history (the binary layout of
// user.lua).
type stored struct {
	n, first, last         int64
	sw, sd, st, hd, ht, hb int32
	lsa, lsw, lgt          int64
	lastHash               uint64
	login                  string
	recent                 []int64
	legacyCached           int // snapshots cached in the history (nc; always written as 0)
}

// history reads and decodes the history of (ch, user) from the newest
// uh:<bucket> holding it; it fails the test when it is missing or
// malformed.
func history(t *testing.T, rdb *redis.Client, ch, user string) stored {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, DefaultPrefix+"uh:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	best, bestKey := int64(-1), ""
	for _, k := range keys {
		b, err := strconv.ParseInt(strings.TrimPrefix(k, DefaultPrefix+"uh:"), 10, 64)
		if err != nil {
			t.Fatalf("history bucket key %q: %v", k, err)
		}
		if ok, _ := rdb.HExists(ctx, k, ch+":"+user).Result(); ok && b > best {
			best, bestKey = b, k
		}
	}
	if bestKey == "" {
		t.Fatalf("no history of %s/%s in %v", ch, user, keys)
	}
	v, err := rdb.HGet(ctx, bestKey, ch+":"+user).Bytes()
	if err != nil {
		t.Fatalf("read history of %s/%s: %v", ch, user, err)
	}
	le := binary.LittleEndian
	if len(v) < 86 {
		t.Fatalf("history of %s/%s: %d bytes, want >= 86", ch, user, len(v))
	}
	h := stored{
		n: int64(le.Uint64(v[0:])), first: int64(le.Uint64(v[8:])), last: int64(le.Uint64(v[16:])),
		sw: int32(le.Uint32(v[24:])), sd: int32(le.Uint32(v[28:])), st: int32(le.Uint32(v[32:])),
		hd: int32(le.Uint32(v[36:])), ht: int32(le.Uint32(v[40:])), hb: int32(le.Uint32(v[44:])),
		lsa: int64(le.Uint64(v[48:])), lsw: int64(le.Uint64(v[56:])), lgt: int64(le.Uint64(v[64:])),
		lastHash: le.Uint64(v[72:]),
	}
	nrt, nc, nl := int(le.Uint16(v[80:])), int(le.Uint16(v[82:])), int(le.Uint16(v[84:]))
	if want := 86 + nl + 8*nrt + (16+snapLen)*nc; len(v) != want {
		t.Fatalf("history of %s/%s: %d bytes, want %d", ch, user, len(v), want)
	}
	o := 86
	h.login = string(v[o : o+nl])
	o += nl
	for range nrt {
		h.recent = append(h.recent, int64(le.Uint64(v[o:])))
		o += 8
	}
	h.legacyCached = nc
	return h
}
