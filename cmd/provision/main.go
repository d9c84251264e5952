// Command provision turns an Azure portal click-path into a YAML manifest and reconciles a
// tenant with it through Microsoft Graph and the Exchange Online admin API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := cancelOnSignal(context.Background(), sigs, os.Stderr, os.Exit)
	code := run(ctx, os.Args[1:], newSystemFactory())
	stop()
	signal.Stop(sigs)
	os.Exit(code)
}
