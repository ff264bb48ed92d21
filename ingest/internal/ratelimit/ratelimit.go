// Package ratelimit limits events per key (per Twitch channel) with a GCRA
// token bucket whose state lives in Redis, so every ingest replica shares one
// limit per channel. It follows go-redis/redis_rate v10's allowAtMost: one
// Lua script per key reads the theoretical arrival time (TAT), takes the
// current time from Redis TIME (replicas share one clock), grants as many of
// the n requested events as the bucket holds and stores the new TAT with an
// expiry. A batch of keys is checked in one pipelined round trip.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix prefixes the Redis key of every limited channel.
const DefaultKeyPrefix = "streamsafe:ratelimit:chat:"

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

// allowAtMost grants min(cost, available) events. It returns
// {allowed, remaining}. Times are seconds since 2017-01-01 so that
// microseconds fit a double.
var allowAtMost = redis.NewScript(`
local key = KEYS[1]
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local emission_interval = period / rate
local burst_offset = emission_interval * burst

local jan_1_2017 = 1483228800
local t = redis.call("TIME")
local now = (t[1] - jan_1_2017) + (t[2] / 1000000)

local tat = redis.call("GET", key)
if not tat then
  tat = now
else
  tat = tonumber(tat)
end
tat = math.max(tat, now)

local diff = now - (tat - burst_offset)
local remaining = math.floor(diff / emission_interval + 1e-6)
if remaining < 1 then
  return {0, 0}
end
if cost > remaining then
  cost = remaining
end

local new_tat = tat + emission_interval * cost
local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", key, string.format("%.6f", new_tat), "EX", math.ceil(reset_after))
end
return {cost, remaining - cost}
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
	rdb    redis.UniversalClient
	prefix string
	args   [3]string // burst, rate, period seconds
}

// New returns a Limiter applying lim to every key, stored under prefix+key
// (DefaultKeyPrefix if prefix is empty).
func New(rdb redis.UniversalClient, prefix string, lim Limit) (*Limiter, error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &Limiter{
		rdb:    rdb,
		prefix: prefix,
		args: [3]string{
			strconv.Itoa(lim.Burst), strconv.Itoa(lim.Rate),
			strconv.FormatFloat(lim.Period.Seconds(), 'f', -1, 64),
		},
	}, nil
}

// AllowAtMost checks every request in one pipelined round trip and sets its
// Allowed count. On error no Allowed value is meaningful; callers that fail
// open let the whole batch through.
func (l *Limiter) AllowAtMost(ctx context.Context, reqs []Request) error {
	if len(reqs) == 0 {
		return nil
	}
	err := l.run(ctx, reqs)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis lost its script cache (restart, SCRIPT FLUSH): load it
		// and try once more.
		if lerr := allowAtMost.Load(ctx, l.rdb).Err(); lerr != nil {
			return fmt.Errorf("load rate-limit script: %w", lerr)
		}
		err = l.run(ctx, reqs)
	}
	return err
}

func (l *Limiter) run(ctx context.Context, reqs []Request) error {
	cmds := make([]*redis.Cmd, len(reqs))
	pipe := l.rdb.Pipeline()
	for i := range reqs {
		cmds[i] = allowAtMost.EvalSha(ctx, pipe, []string{l.prefix + reqs[i].Key},
			l.args[0], l.args[1], l.args[2], reqs[i].N)
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		// Exec returns the first failed command's error; keep a NOSCRIPT
		// visible to the caller.
		for _, c := range cmds {
			if e := c.Err(); e != nil && redis.HasErrorPrefix(e, "NOSCRIPT") {
				return e
			}
		}
		return fmt.Errorf("run rate-limit pipeline: %w", err)
	}
	for i, c := range cmds {
		vals, err := c.Int64Slice()
		if err != nil || len(vals) != 2 {
			return fmt.Errorf("read rate-limit reply for %q: %w", reqs[i].Key, errors.Join(err, errBadReply))
		}
		reqs[i].Allowed = int(min(max(vals[0], 0), int64(reqs[i].N)))
	}
	return nil
}

var errBadReply = errors.New("ratelimit: unexpected script reply")
