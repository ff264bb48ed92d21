package twitchsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// errStatus maps package errors to HTTP statuses.
func errStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrUnknownMessage), errors.Is(err, ErrUnknownChannel):
		return http.StatusNotFound
	case errors.Is(err, ErrStopped):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// connParam parses ?conn=ID (absent = 0 = all connections).
func connParam(r *http.Request) (uint64, error) {
	v := r.URL.Query().Get("conn")
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("parse conn %q: must be a positive connection id", v)
	}
	return id, nil
}

// durationParam accepts Go durations ("20s") or plain seconds ("20").
func durationParam(r *http.Request, name string) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("parse %s %q: %w", name, v, err)
	}
	return d, nil
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) handleReconnect(w http.ResponseWriter, r *http.Request) {
	id, err := connParam(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"affected": s.Reconnect(id)})
}

func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	id, err := connParam(r)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	midline := r.URL.Query().Get("midline")
	writeJSON(w, http.StatusOK, map[string]int{"affected": s.Disconnect(id, midline == "1" || midline == "true")})
}

func (s *Server) handleRate(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("value")
	rate, err := strconv.ParseFloat(v, 64)
	if err == nil {
		err = s.SetRate(rate)
	} else {
		err = fmt.Errorf("parse value %q: %w", v, err)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]float64{"rate": s.Rate()})
}

func (s *Server) handleRaid(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := RaidOptions{Channel: q.Get("channel")}
	var err error
	if v := q.Get("viewers"); v != "" {
		if opts.Viewers, err = strconv.Atoi(v); err != nil || opts.Viewers < 1 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("parse viewers %q: must be a positive integer", v))
			return
		}
	}
	if v := q.Get("multiplier"); v != "" {
		if opts.Multiplier, err = strconv.ParseFloat(v, 64); err != nil || opts.Multiplier < 1 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("parse multiplier %q: must be >= 1", v))
			return
		}
	}
	if opts.Duration, err = durationParam(r, "duration"); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if err := s.Raid(opts); err != nil {
		writeErr(w, errStatus(err), err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
}

func (s *Server) handleClearChat(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, err := durationParam(r, "duration")
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	n, err := s.ClearChat(ClearChatOptions{Channel: q.Get("channel"), Login: q.Get("user"), UserID: q.Get("user_id"), Duration: d})
	if err != nil {
		writeErr(w, errStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"affected": n})
}

func (s *Server) handleClearMsg(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := s.ClearMsg(q.Get("channel"), q.Get("msg_id"))
	if err != nil {
		writeErr(w, errStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"affected": n})
}

func (s *Server) handlePause(w http.ResponseWriter, _ *http.Request) {
	s.Pause()
	writeJSON(w, http.StatusOK, map[string]bool{"paused": true})
}

func (s *Server) handleResume(w http.ResponseWriter, _ *http.Request) {
	s.Resume()
	writeJSON(w, http.StatusOK, map[string]bool{"paused": false})
}

func (s *Server) handleStop(w http.ResponseWriter, _ *http.Request) {
	s.Stop()
	writeJSON(w, http.StatusOK, map[string]bool{"stopped": true})
}

// handleLookup answers ?msg_id=... with a TruthRecord or ?user=login|id
// with a User.
func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if id := q.Get("msg_id"); id != "" {
		if rec, ok := s.LookupMessage(id); ok {
			writeJSON(w, http.StatusOK, rec)
			return
		}
		writeErr(w, http.StatusNotFound, ErrUnknownMessage)
		return
	}
	if u, ok := s.LookupUser(q.Get("user")); ok {
		writeJSON(w, http.StatusOK, u)
		return
	}
	writeErr(w, http.StatusNotFound, ErrUnknownUser)
}
