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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newSystemFactory())
	stop()
	os.Exit(code)
}
