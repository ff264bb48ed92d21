package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// ErrLost is returned by Hold when the lease was taken by another holder or
// could not be renewed for a whole lease time.
var ErrLost = errors.New("sink lease lost")

// renewScript extends the lease only if owner still holds it.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes the lease only if owner holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Lease is one holder's claim on key.
type Lease struct {
	rdb   redis.UniversalClient
	key   string
	owner string
	ttl   time.Duration
	log   *slog.Logger
}

// New returns the lease on key for owner with time-to-live ttl.
func New(rdb redis.UniversalClient, key, owner string, ttl time.Duration, log *slog.Logger) (*Lease, error) {
	if key == "" || owner == "" || ttl < 100*time.Millisecond {
		return nil, fmt.Errorf("lease: need a key, an owner and a ttl of at least 100ms (got %q, %q, %s)", key, owner, ttl)
	}
	return &Lease{rdb: rdb, key: key, owner: owner, ttl: ttl, log: log}, nil
}

// Acquire waits until the lease is this owner's: free, expired, or already
// held under the same owner name (a restart). It retries every third of
// the ttl, also while Redis is unavailable, until ctx is done.
func (l *Lease) Acquire(ctx context.Context) error {
	waiting := false
	for {
		ok, holder, err := l.try(ctx)
		switch {
		case ok:
			if waiting {
				l.log.Info("lease acquired after waiting", slog.String("lease", l.key))
			}
			return nil
		case err != nil:
			l.log.Warn("lease: Redis unavailable, retrying", slog.String("lease", l.key), logging.Err(err))
		case !waiting:
			l.log.Warn("standby: another sink holds the lease; waiting for it to stop or expire",
				slog.String("lease", l.key), slog.String("holder", holder), slog.Duration("ttl", l.ttl))
			waiting = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("acquire lease %s: %w", l.key, ctx.Err())
		case <-time.After(l.ttl / 3):
		}
	}
}

func (l *Lease) try(ctx context.Context) (ok bool, holder string, err error) {
	cctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	ok, err = l.rdb.SetNX(cctx, l.key, l.owner, l.ttl).Result()
	if err != nil || ok {
		return ok, l.owner, err
	}
	// Held: by this owner (restarted) or by another.
	n, err := renewScript.Run(cctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, "", err
	}
	if n == 1 {
		return true, l.owner, nil
	}
	holder, _ = l.rdb.Get(cctx, l.key).Result()
	return false, holder, nil
}

// Release gives the lease up (if this owner still holds it), so that a
// standby takes over at once. Call it after the last file is committed.
func (l *Lease) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.owner).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// Hold renews the lease every third of its ttl until ctx is done (nil; the
// lease is kept until Release or expiry) or the lease is lost: another
// holder has it, or no renewal succeeded for a whole ttl (ErrLost).
func (l *Lease) Hold(ctx context.Context) error {
	last := time.Now()
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			cctx, cancel := context.WithTimeout(ctx, l.ttl/3)
			n, err := renewScript.Run(cctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
			cancel()
			switch {
			case err == nil && n == 1:
				last = now
			case err == nil:
				return fmt.Errorf("%w: %s is held by another sink", ErrLost, l.key)
			case now.Sub(last) >= l.ttl:
				return fmt.Errorf("%w: no renewal of %s for %s: %w", ErrLost, l.key, now.Sub(last).Round(time.Millisecond), err)
			default:
				l.log.Warn("lease renewal failed, retrying", slog.String("lease", l.key), logging.Err(err))
			}
		}
	}
}
