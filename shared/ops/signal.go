package ops

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext returns a context that is cancelled by the first SIGINT or
// SIGTERM, which starts a graceful shutdown. A second signal exits the
// process at once with status 1, printing "<name>: second signal" to stderr.
func SignalContext(name string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, name+": second signal, exiting now")
		os.Exit(1)
	}()
	return ctx
}
