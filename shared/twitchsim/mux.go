package twitchsim

import "net/http"

// newMux builds the control API. It is the single place where routes are
// registered: Helix endpoints (helix*.go) hook in here.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("POST /control/reconnect", s.handleReconnect)
	mux.HandleFunc("POST /control/disconnect", s.handleDisconnect)
	mux.HandleFunc("POST /control/rate", s.handleRate)
	mux.HandleFunc("POST /control/raid", s.handleRaid)
	mux.HandleFunc("POST /control/clearchat", s.handleClearChat)
	mux.HandleFunc("POST /control/clearmsg", s.handleClearMsg)
	mux.HandleFunc("POST /control/pause", s.handlePause)
	mux.HandleFunc("POST /control/resume", s.handleResume)
	mux.HandleFunc("POST /control/stop", s.handleStop)
	mux.HandleFunc("GET /control/lookup", s.handleLookup)
	if s.helix != nil {
		// /helix/moderation/..., /control/helix-faults, /control/helix-actions
		s.helix.Register(mux)
	}
	return mux
}
