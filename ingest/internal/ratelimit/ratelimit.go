// Package ratelimit limits events per key (per Twitch channel) with a GCRA
// token bucket whose state lives in Redis, so every ingest replica shares one
// limit per channel. It follows go-redis/redis_rate v10's allowAtMost, for a
// whole batch of keys in one Lua script call: it takes the current time from
// Redis TIME (replicas share one clock), reads each key's theoretical
// arrival time (TAT), grants as many of the n requested events as the bucket
// holds and stores the new TAT.
//
// All buckets of a limiter are fields of ONE Redis hash (binary doubles), so
// a batch costs one HMGET and one HSET whatever its size, and the state is a
// single key (one slot on a Redis Cluster). The hash expires once every
// bucket would be full again; a field left by a channel no longer seen stays
// until then (one field per channel).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKey is the Redis hash holding the chat buckets.
const DefaultKey = "streamsafe:ratelimit:chat"

// Limit is a GCRA rate: Rate events per Period on average, up to Burst at
// once from an idle bucket.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// PerSecond returns a Limit of rate events per second with the given burst.
func PerSecond(rate, burst int) Limit { return Limit{Rate: rate, Burst: burst, Period: time.Second} }

// Validate reports whether l can be used.
func (l Limit) Validate() error {
	if l.Rate <= 0 || l.Burst <= 0 || l.Period <= 0 {
		return fmt.Errorf("ratelimit: invalid limit %d per %v, burst %d: all must be > 0", l.Rate, l.Period, l.Burst)
	}
	return nil
}

// allowAtMost grants, for each key of a batch in order, min(cost,
// available) events, and returns the granted counts. It reads the clock
// (TIME) once and every bucket with one HMGET, and writes the changed ones
// with one HSET; a key named twice sees its own earlier grants. Times are
// seconds since 2017-01-01, stored as little-endian doubles.
//
// KEYS[1]: the hash. ARGV: burst, rate, period (s), n, then n keys (fields)
// and n costs.
var allowAtMost = redis.NewScript(`
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local emission_interval = period / rate
local burst_offset = emission_interval * burst

local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)

local tats = {}
for a = 5, 4 + n, 4000 do
  local b = math.min(a + 3999, 4 + n)
  local got = redis.call("HMGET", KEYS[1], unpack(ARGV, a, b))
  for j = 1, #got do
    local v = got[j]
    if v and #v == 8 then tats[ARGV[a + j - 1]] = struct.unpack("<d", v) end
  end
end

local out, dirty, last = {}, {}, now
for i = 1, n do
  local key = ARGV[4 + i]
  local cost = tonumber(ARGV[4 + n + i])
  local tat = math.max(tats[key] or now, now)
  local remaining = math.floor((now - (tat - burst_offset)) / emission_interval + 1e-6)
  if remaining < 1 or cost < 1 then
    out[i] = 0
  else
    if cost > remaining then cost = remaining end
    tat = tat + emission_interval * cost
    tats[key] = tat
    dirty[key] = true
    if tat > last then last = tat end
    out[i] = cost
  end
end
local l = {}
for key in pairs(dirty) do
  l[#l + 1] = key
  l[#l + 1] = struct.pack("<d", tats[key])
end
for a = 1, #l, 4000 do
  redis.call("HSET", KEYS[1], unpack(l, a, math.min(a + 3999, #l)))
end
if #l > 0 then
  -- Alive until every bucket is full again (then its absence means full).
  local ttl = math.max(1, math.ceil(last - now))
  if redis.call("TTL", KEYS[1]) < ttl then redis.call("EXPIRE", KEYS[1], ttl) end
end
return out
`)

// Request asks for N events on Key; AllowAtMost fills in Allowed (0..N).
type Request struct {
	Key     string
	N       int
	Allowed int
}

// Limiter checks per-key limits against Redis. It is safe for concurrent
// use; instances in different processes sharing one Redis share the limits.
type Limiter struct {
	rdb  redis.UniversalClient
	key  string
	args [3]string // burst, rate, period seconds
}

// New returns a Limiter applying lim to every key, stored as fields of the
// Redis hash named key (DefaultKey if empty).
func New(rdb redis.UniversalClient, key string, lim Limit) (*Limiter, error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	if key == "" {
		key = DefaultKey
	}
	return &Limiter{
		rdb: rdb,
		key: key,
		args: [3]string{
			strconv.Itoa(lim.Burst), strconv.Itoa(lim.Rate),
			strconv.FormatFloat(lim.Period.Seconds(), 'f', -1, 64),
		},
	}, nil
}

// AllowAtMost checks every request in one script call and sets its
// Allowed count. On error no Allowed value is meaningful; callers that fail
// open let the whole batch through.
func (l *Limiter) AllowAtMost(ctx context.Context, reqs []Request) error {
	if len(reqs) == 0 {
		return nil
	}
	args := make([]any, 4, 4+2*len(reqs))
	args[0], args[1], args[2], args[3] = l.args[0], l.args[1], l.args[2], len(reqs)
	for i := range reqs {
		args = append(args, reqs[i].Key)
	}
	for i := range reqs {
		args = append(args, reqs[i].N)
	}
	// Run sends EVALSHA and, when Redis lost its script cache (restart,
	// SCRIPT FLUSH), the script itself.
	vals, err := allowAtMost.Run(ctx, l.rdb, []string{l.key}, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("run rate-limit script for %d keys: %w", len(reqs), err)
	}
	if len(vals) != len(reqs) {
		return fmt.Errorf("rate-limit script returned %d counts for %d keys: %w", len(vals), len(reqs), errBadReply)
	}
	for i, v := range vals {
		reqs[i].Allowed = int(min(max(v, 0), int64(reqs[i].N)))
	}
	return nil
}

var errBadReply = errors.New("ratelimit: unexpected script reply")

// Allower grants up to N events per request key (AllowAtMost); *Limiter
// implements it against Redis.
type Allower interface {
	AllowAtMost(ctx context.Context, reqs []Request) error
}

var _ Allower = (*Limiter)(nil)

// maxLeasedKeys bounds the keys a Leased holds tokens for; past it the
// local tokens are dropped (the limit only gets stricter for a moment).
const maxLeasedKeys = 100_000

// Leased spends tokens taken ahead from a shared limiter, so most batches
// need no round trip: when a key's local tokens do not cover a request, it
// asks the limiter for the shortfall plus lease more, and keeps what is
// granted beyond the shortfall for later requests of the key. Tokens are
// only ever granted by the limiter, so over time a key gets no more than
// its limit; what changes is when: a replica holds up to lease tokens of a
// key ahead of use (another replica sees that many fewer, and a key idle
// for long may take burst + lease at once). It is safe for concurrent use.
type Leased struct {
	inner Allower
	lease int

	mu     sync.Mutex
	local  map[string]int // tokens held per key
	remote []Request      // scratch: the requests sent to inner (shortfall + lease each)
	of     []int          // index in reqs of each remote request
}

// NewLeased returns a Leased taking lease tokens ahead per key from inner
// (lease <= 0: every shortfall is asked for exactly).
func NewLeased(inner Allower, lease int) *Leased {
	return &Leased{inner: inner, lease: max(lease, 0), local: make(map[string]int)}
}

// LeaseTokens is the lease for lim covering d of its rate: ceil(rate * d /
// period), at most the burst (0 when d <= 0).
func LeaseTokens(lim Limit, d time.Duration) int {
	if d <= 0 || lim.Period <= 0 {
		return 0
	}
	n := (int64(lim.Rate)*int64(d) + int64(lim.Period) - 1) / int64(lim.Period)
	return int(min(n, int64(lim.Burst)))
}

// AllowAtMost sets each request's Allowed from the key's local tokens and,
// for the shortfall, one call of the inner limiter. On error no Allowed
// value is meaningful and no local token was spent.
func (l *Leased) AllowAtMost(ctx context.Context, reqs []Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remote, l.of = l.remote[:0], l.of[:0]
	// Spend local tokens, in order (restored if the call fails).
	for i := range reqs {
		r := &reqs[i]
		n := max(r.N, 0)
		take := 0
		if have := l.local[r.Key]; have > 0 {
			take = min(n, have)
			if have -= take; have > 0 {
				l.local[r.Key] = have
			} else {
				delete(l.local, r.Key)
			}
		}
		r.Allowed = take
		if short := n - take; short > 0 {
			l.remote = append(l.remote, Request{Key: r.Key, N: short + l.lease})
			l.of = append(l.of, i)
		}
	}
	if len(l.remote) > 0 {
		if err := l.inner.AllowAtMost(ctx, l.remote); err != nil {
			l.restore(reqs)
			return err
		}
	}
	for j, rr := range l.remote {
		i := l.of[j]
		g := min(max(rr.Allowed, 0), rr.N)
		use := min(g, rr.N-l.lease) // the shortfall
		reqs[i].Allowed += use
		if extra := g - use; extra > 0 {
			l.local[rr.Key] += extra
		}
	}
	if len(l.local) > maxLeasedKeys {
		clear(l.local)
	}
	return nil
}

// restore gives back the local tokens reqs[i].Allowed took (a failed call).
func (l *Leased) restore(reqs []Request) {
	for i := range reqs {
		if n := reqs[i].Allowed; n > 0 {
			l.local[reqs[i].Key] += n
		}
		reqs[i].Allowed = 0
	}
}

// Held returns the tokens held locally for key.
func (l *Leased) Held(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local[key]
}
